"""Configuration and cross-cutting concerns of the reference server."""
