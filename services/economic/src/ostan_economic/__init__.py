"""The economic office service: its catalogue and processes are data beside this package."""
