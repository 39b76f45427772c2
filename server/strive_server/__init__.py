"""The Strive reference receiver (law-enforcement side)."""
