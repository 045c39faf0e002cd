"""Empty, migrated SQLite databases by copying one migrated once per test process.

Migrating a new SQLite file takes a few hundred milliseconds; hundreds of tests each
need an empty database. The template is migrated by the same ``migrate`` on first use
and closed (its write-ahead log checkpointed into the file), so a copy is what
``migrate`` would have made. Tests of migrating itself migrate their own files.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

from billingd.db.connection import open_database
from billingd.db.migrations import migrate

_template: Path | None = None


def _migrated_template() -> Path:
    global _template
    if _template is None:
        folder = Path(tempfile.mkdtemp(prefix="billingd-template-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        database = open_database(f"sqlite:///{folder / 'template.db'}")
        migrate(database)
        database.close()
        _template = folder / "template.db"
    return _template


def migrated_sqlite(path: Path) -> str:
    """An empty, migrated database at ``path``, unless one is there already (a daemon
    restarted on its own database); its URL. Copying over a database would lose it, and
    over one with a write-ahead log beside it, corrupt it."""
    if not path.exists():
        shutil.copyfile(_migrated_template(), path)
    return f"sqlite:///{path}"
