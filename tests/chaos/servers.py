"""Faults a test may inflict without touching the machine's own services.

The machine's PostgreSQL on 127.0.0.1:5432 serves every test running in parallel:
a test that restarts its database server starts a private one of its own instead
(:class:`PrivatePostgres`, initdb and pg_ctl in a temporary folder, on a free port,
as the ``postgres`` user when run as root since initdb refuses root). A full disk is
a small tmpfs mounted for the test (:class:`SmallDisk`, root only).
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import peewee

from billingd.db.connection import make_database


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def postgres_bin() -> Path | None:
    """The folder of PostgreSQL's server programs (initdb, pg_ctl), None if absent."""
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(versions[-1]).parent if versions else None


class PrivatePostgres:
    """A PostgreSQL server of the test's own: started, stopped, restarted at will."""

    def __init__(self) -> None:
        self.bin = postgres_bin()
        if self.bin is None:
            raise RuntimeError("PostgreSQL's server programs (initdb, pg_ctl) are not installed")
        self.folder = Path(tempfile.mkdtemp(prefix="bd-pg-", dir="/tmp"))
        self.data = self.folder / "data"
        self.port = _free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self._user: list[str] = []
        if os.geteuid() == 0:  # initdb refuses root: the server runs as postgres
            shutil.chown(self.folder, "postgres")
            self._user = ["runuser", "-u", "postgres", "--"]
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres",
                  "--no-sync", "-E", "UTF8")  # fmt: skip
        self.start()

    def _run(self, program: str, *args: str) -> None:
        command = [*self._user, str(self.bin / program), *args]
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise RuntimeError(f"{program} failed: {done.stderr or done.stdout}")

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l",
                  str(self.folder / "server.log"), "-w", "start")  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        """Stop the server: ``fast`` ends every session (what a restart does to clients),
        ``immediate`` as a crash would."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def sql(self, statement: str) -> list[tuple]:
        """Run one statement on a connection of its own; its rows."""
        database = make_database(self.url)
        try:
            database.connect()
            cursor = database.execute_sql(statement)
            return list(cursor.fetchall()) if cursor.description else []
        finally:
            database.close()

    def terminate_clients(self, application: str | None = None) -> int:
        """``pg_terminate_backend`` on the clients' sessions (not this call's own):
        what a restart or a failover does to them; how many were cut."""
        rows = self.sql(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
        )
        return int(rows[0][0])

    def reachable(self) -> bool:
        with contextlib.suppress(peewee.OperationalError):
            self.sql("SELECT 1")
            return True
        return False

    def close(self) -> None:
        with contextlib.suppress(RuntimeError):
            self.stop("immediate")
        shutil.rmtree(self.folder, ignore_errors=True)


class SmallDisk:
    """A tmpfs of ``size`` bytes mounted on ``at`` (made if missing; a temporary folder
    by default): a disk that fills up.

    :meth:`fill` takes all its free space with a ballast file (the last bytes too),
    :meth:`free` gives it back.
    """

    def __init__(self, size: int, at: Path | None = None) -> None:
        if at is not None:
            at.mkdir(parents=True, exist_ok=True)
        self._made = at is None
        self.path = at or Path(tempfile.mkdtemp(prefix="bd-disk-", dir="/tmp"))
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(self.path)],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            if self._made:
                self.path.rmdir()
            raise OSError(f"cannot mount a tmpfs: {done.stderr.strip()}")
        self.ballast = self.path / "ballast"

    def fill(self) -> None:
        """Write until the disk refuses: nothing more fits."""
        chunk = b"\0" * 65536
        with self.ballast.open("ab", buffering=0) as out:
            for size in (65536, 4096, 512, 1):
                with contextlib.suppress(OSError):
                    while True:
                        out.write(chunk[:size])

    def free(self) -> None:
        self.ballast.unlink(missing_ok=True)

    def close(self) -> None:
        """Unmount (what it held goes with it) and remove a folder made for it."""
        subprocess.run(["umount", "-l", str(self.path)], capture_output=True)
        if self._made:
            with contextlib.suppress(OSError):
                self.path.rmdir()
