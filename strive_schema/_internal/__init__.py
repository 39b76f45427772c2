"""Implementation details of the Strive wire formats. Nothing here is public API."""
