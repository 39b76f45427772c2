"""The HTTP API of the reference receiver."""
