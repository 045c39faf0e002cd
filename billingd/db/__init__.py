"""Storage: peewee models, the connection to SQLite or PostgreSQL, and migrations."""
