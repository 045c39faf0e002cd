"""``billingd backup``: a consistent copy of the database while the daemon runs;
``billingd restore``: put one back in place, the daemon stopped, and check it."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import socket
import sqlite3
import stat
import struct
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlencode, urlparse, urlsplit

import peewee

from billingd.config import Config, mask_url
from billingd.db.connection import make_database, open_database
from billingd.db.migrations import SCHEMA_VERSION, current_version
from billingd.db.models import SchemaVersion


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
        address, env = libpq_connection(url)
        result = subprocess.run(
            [pg_dump, "--format=custom", "--file", str(target), "--dbname", address],
            capture_output=True,
            text=True,
            env=env,
        )
        if result.returncode != 0:
            target.unlink(missing_ok=True)
            raise BackupError(f"pg_dump failed: {result.stderr.strip()}")
        return target
    raise BackupError(f"cannot back up database URL {mask_url(url)!r}")


def libpq_connection(url: str) -> tuple[str, dict[str, str]]:
    """``url`` without its password, and an environment that gives the password to
    libpq (``PGPASSWORD``) for ``pg_dump`` and ``pg_restore``: a command line is seen by
    every user (``ps``), a process's environment only by its own user and root.

    The password may stand in the URL's user part or in a ``password`` parameter."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    password = parts.password
    passwords = [value for key, value in query if key == "password"]
    if password is None and not passwords:
        return url, dict(os.environ)
    netloc = parts.netloc
    if password is not None:
        user, _, host = netloc.rpartition("@")
        netloc = f"{user.partition(':')[0]}@{host}"
        password = unquote(password)
    kept = urlencode([(key, value) for key, value in query if key != "password"])
    address = parts._replace(netloc=netloc, query=kept).geturl()
    return address, {**os.environ, "PGPASSWORD": password or passwords[-1]}


class RestoreError(RuntimeError):
    """The backup was not restored; the configured database is as it was."""


def daemon_answers(socket_path: Path) -> bool:
    """Whether something listens on the control socket (a daemon is running)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(2)
        try:
            probe.connect(str(socket_path))
        except OSError:
            return False
    return True


def sqlite_holder(path: Path) -> int | None:
    """The pid of a process that has the SQLite database ``path`` open, None when none
    has (Linux and the BSDs; elsewhere None).

    Every connection to a database in WAL mode holds a read lock on one byte of its
    ``-shm`` file (SQLite's "DMS" byte, at offset 128) for as long as it is open; a
    lock test (``F_GETLK``) sees it without taking any lock itself."""
    shm = path.with_name(path.name + "-shm")
    try:
        descriptor = os.open(shm, os.O_RDONLY)
    except OSError:
        return None  # no shared memory file: no connection in WAL mode
    try:
        query = struct.pack("hhqqi4x", fcntl.F_WRLCK, os.SEEK_SET, SQLITE_DMS_BYTE, 1, 0)
        try:
            answer = fcntl.fcntl(descriptor, fcntl.F_GETLK, query)
        except OSError:
            return None
        kind, _, _, _, pid = struct.unpack("hhqqi4x", answer)
        return None if kind == fcntl.F_UNLCK else pid
    finally:
        os.close(descriptor)


SQLITE_DMS_BYTE = 128
"""Where SQLite's WAL connections hold their shared lock in the ``-shm`` file."""


def backup_version(source: Path) -> int:
    """The schema version of a SQLite backup, after a quick integrity check; refused
    when it is no billingd database, or a damaged one."""
    try:
        copy = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise RestoreError(f"{source} is no SQLite database: {exc}") from None
    try:
        (check,) = copy.execute("PRAGMA quick_check").fetchone()
        if check != "ok":
            raise RestoreError(f"{source} is damaged: {check}")
        (version,) = copy.execute("SELECT MAX(version) FROM schema_version").fetchone()
    except sqlite3.Error as exc:
        raise RestoreError(f"{source} is no billingd backup: {exc}") from None
    finally:
        copy.close()
    if version is None:
        raise RestoreError(f"{source} is no billingd backup: its schema version is not set")
    return int(version)


def restore_sqlite(source: Path, target: Path, *, force: bool = False) -> None:
    """Put the backup ``source`` in place of the database file ``target``: refused while
    a process has ``target`` open, or over an existing database without ``force``.

    The copy is made beside the target (through SQLite's backup API, which reads the
    backup consistently) and renamed over it; the target's write-ahead log and shared
    memory go first, as a log left beside a replaced file would be replayed into it."""
    version = backup_version(source)
    if version > SCHEMA_VERSION:
        raise RestoreError(
            f"{source} has schema version {version}, newer than this billingd's "
            f"{SCHEMA_VERSION}: restore it with the billingd that made it"
        )
    holder = sqlite_holder(target)
    if holder is not None:
        raise RestoreError(
            f"{target} is open in process {holder} (a daemon?); stop it first "
            "(systemctl stop billingd)"
        )
    if target.exists() and target.stat().st_size > 0 and not force:
        raise RestoreError(f"a database is at {target} already; --force replaces it")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{target.name}.restoring")
    partial.unlink(missing_ok=True)
    try:
        reader = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        try:
            with contextlib.closing(sqlite3.connect(partial)) as writer:
                reader.backup(writer)
        finally:
            reader.close()
        _same_owner(partial, target)
        with open(partial, "rb+") as written:
            os.fsync(written.fileno())
        for leftover in ("-wal", "-shm", "-journal"):
            target.with_name(target.name + leftover).unlink(missing_ok=True)
        os.replace(partial, target)
    except (OSError, sqlite3.Error) as exc:
        partial.unlink(missing_ok=True)
        raise RestoreError(f"cannot write {target}: {exc}") from None
    folder = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def _same_owner(path: Path, like: Path) -> None:
    """Give ``path`` the owner and mode of the file it replaces (a daemon running as
    its own user must still open the restored database)."""
    try:
        info = like.stat()
    except FileNotFoundError:
        return
    if os.geteuid() == 0:
        os.chown(path, info.st_uid, info.st_gid)
    os.chmod(path, stat.S_IMODE(info.st_mode))


def restore_postgres(url: str, source: Path, *, force: bool = False) -> None:
    """``pg_restore`` a ``billingd backup`` (``pg_dump -Fc``) into the database of
    ``url``, in one transaction: refused while other sessions use the database, or
    over a billingd schema without ``force`` (then its objects are dropped first)."""
    pg_restore = shutil.which("pg_restore")
    if pg_restore is None:
        raise RestoreError("pg_restore is not installed; install the PostgreSQL client tools")
    database = make_database(url)
    try:
        database.connect()
        others = database.execute_sql(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
        ).fetchone()[0]
        has_schema = database.table_exists(SchemaVersion._meta.table_name)
    except peewee.DatabaseError as exc:
        raise RestoreError(f"cannot reach the database: {str(exc).strip()}") from None
    finally:
        database.close()
    if others:
        raise RestoreError(
            f"{others} other session(s) use the database (a daemon?); stop them first"
        )
    if has_schema and not force:
        raise RestoreError("the database holds a billingd schema already; --force replaces it")
    address, env = libpq_connection(url)
    result = subprocess.run(
        [pg_restore, "--clean", "--if-exists", "--no-owner", "--single-transaction",
         "--exit-on-error", "--dbname", address, str(source)],
        capture_output=True,
        text=True,
        env=env,
    )  # fmt: skip
    if result.returncode != 0:
        raise RestoreError(f"pg_restore failed, nothing restored: {result.stderr.strip()}")


def restore_database(url: str, source: Path, *, force: bool = False) -> None:
    """Restore a backup of :func:`backup_database` into the database of ``url``."""
    if not source.is_file():
        raise RestoreError(f"no backup at {source}")
    parsed = urlparse(url)
    if parsed.scheme == "sqlite":
        restore_sqlite(source, Path(make_database(url).database), force=force)
    elif parsed.scheme in ("postgresql", "postgres"):
        restore_postgres(url, source, force=force)
    else:
        raise RestoreError(f"cannot restore into database URL {mask_url(url)!r}")


def restore_command(config: Config, source: Path, *, force: bool = False) -> int:
    """``billingd restore``: refuse while the daemon answers on its socket, restore,
    upgrade an older schema, then run the doctor's checks. Exit 0 restored and all
    well, 1 refused or failed (nothing changed), 3 restored but the checks found
    problems or could not run."""
    from billingd.db.migrations import migrate
    from billingd.doctor import run_doctor

    if daemon_answers(config.socket):
        print(f"billingd: a daemon answers on {config.socket}; stop it first", file=sys.stderr)
        return 1
    try:
        restore_database(config.database, source, force=force)
    except RestoreError as exc:
        print(f"billingd: {exc}", file=sys.stderr)
        return 1
    print(f"restored {source}")
    database = open_database(config.database)
    try:
        version = current_version(database)
        if version is not None and version < SCHEMA_VERSION:
            print(f"schema upgraded from version {version} to {migrate(database)}")
    finally:
        database.close()
    return 0 if run_doctor(config) == 0 else RESTORED_WITH_PROBLEMS


RESTORED_WITH_PROBLEMS = 3
"""``billingd restore``'s exit status when the restored database did not check clean."""
