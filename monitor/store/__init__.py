"""Persistence: the schema, engine setup for SQLite and PostgreSQL, and the repository."""
