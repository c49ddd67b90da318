"""The database: engines and sessions, the chassis's tables, Alembic migrations."""
