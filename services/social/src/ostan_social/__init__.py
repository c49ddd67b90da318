"""The social office service: its catalogue, processes and migrations are data inside this package."""
