"""The urban office service: its catalogue, processes and migrations are data inside this package."""
