"""``billingd backup``: a consistent copy of the database while the daemon runs."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from pathlib import Path
from urllib.parse import unquote, urlparse


class BackupError(RuntimeError):
    """The backup could not be made; nothing was left at the target."""


def backup_database(url: str, target: Path) -> Path:
    """SQLite through its online backup API; PostgreSQL through ``pg_dump -Fc``."""
    parsed = urlparse(url)
    target.parent.mkdir(parents=True, exist_ok=True)
    if parsed.scheme == "sqlite":
        source = sqlite3.connect(unquote(parsed.path))
        try:
            with sqlite3.connect(target) as copy:
                source.backup(copy)
        finally:
            source.close()
        return target
    if parsed.scheme in ("postgresql", "postgres"):
        pg_dump = shutil.which("pg_dump")
        if pg_dump is None:
            raise BackupError("pg_dump is not installed; install the PostgreSQL client tools")
        result = subprocess.run(
            [pg_dump, "--format=custom", "--file", str(target), url],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            target.unlink(missing_ok=True)
            raise BackupError(f"pg_dump failed: {result.stderr.strip()}")
        return target
    raise BackupError(f"cannot back up database URL {url!r}")
