"""Domain logic of the receiver: plain keyword-only functions over a database session."""
