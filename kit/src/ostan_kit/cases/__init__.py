"""The case engine: one engine runs every process definition of a service."""
