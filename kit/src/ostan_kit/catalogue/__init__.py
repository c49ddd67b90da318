"""The service catalogue's schema and loading."""
