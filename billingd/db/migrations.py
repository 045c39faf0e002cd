"""Schema versions and upgrades.

A new database is created from the current models and stamped with
``SCHEMA_VERSION``. An existing one is upgraded step by step: each change to the
models after a release adds a function to ``MIGRATIONS`` (from version N-1 to N)
using ``playhouse.migrate``, so operators never need to delete a database.
"""

from __future__ import annotations

from collections.abc import Callable

import peewee

from billingd.db.connection import is_postgres
from billingd.db.models import ALL_MODELS, SchemaVersion

SCHEMA_VERSION = 1

# version N -> function that upgrades a database from N-1 to N
MIGRATIONS: dict[int, Callable[[peewee.Database], None]] = {}

_SQLITE_APPEND_ONLY = [
    """CREATE TRIGGER IF NOT EXISTS audit_event_no_update BEFORE UPDATE ON audit_event
       BEGIN SELECT RAISE(ABORT, 'audit trail is append-only'); END""",
    """CREATE TRIGGER IF NOT EXISTS audit_event_no_delete BEFORE DELETE ON audit_event
       BEGIN SELECT RAISE(ABORT, 'audit trail is append-only'); END""",
]
_POSTGRES_APPEND_ONLY = [
    """CREATE OR REPLACE FUNCTION billingd_audit_append_only() RETURNS trigger AS $$
       BEGIN RAISE EXCEPTION 'audit trail is append-only'; END; $$ LANGUAGE plpgsql""",
    "DROP TRIGGER IF EXISTS audit_event_append_only ON audit_event",
    """CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE ON audit_event
       FOR EACH ROW EXECUTE FUNCTION billingd_audit_append_only()""",
]


class SchemaError(RuntimeError):
    """The database's schema cannot be used by this version of billingd."""


def current_version(database: peewee.Database) -> int | None:
    """The stamped schema version, or None for an empty database."""
    if not database.table_exists(SchemaVersion._meta.table_name):
        return None
    row = SchemaVersion.select(peewee.fn.MAX(SchemaVersion.version)).scalar()
    return int(row) if row is not None else None


def _protect_audit_trail(database: peewee.Database) -> None:
    statements = _POSTGRES_APPEND_ONLY if is_postgres(database) else _SQLITE_APPEND_ONLY
    for statement in statements:
        database.execute_sql(statement)


def migrate(database: peewee.Database) -> int:
    """Create or upgrade the schema to ``SCHEMA_VERSION``; return the version reached."""
    with database.atomic():
        version = current_version(database)
        if version is None:
            database.create_tables(ALL_MODELS)
            _protect_audit_trail(database)
            SchemaVersion.create(version=SCHEMA_VERSION)
            return SCHEMA_VERSION
        if version > SCHEMA_VERSION:
            raise SchemaError(
                f"database schema version {version} is newer than this billingd "
                f"supports ({SCHEMA_VERSION}); upgrade billingd"
            )
        for step in range(version + 1, SCHEMA_VERSION + 1):
            MIGRATIONS[step](database)
            SchemaVersion.create(version=step)
        return SCHEMA_VERSION
