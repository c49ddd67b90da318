"""The gateway: one HTTP API over the office services."""
