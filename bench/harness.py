"""What the scenario scripts share: a real ``billingd serve`` with its process tree's
peak memory and CPU time, ``billingctl`` runs, the machine's description, medians and
the 80-column line every scenario prints."""

from __future__ import annotations

import json
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from billingd.control.client import ControlClient
from billingd.db.connection import make_database

PAGE_KB = 4
TICKS = os.sysconf("SC_CLK_TCK")


def start_daemon(folder: Path, database: str, extra: str = "") -> subprocess.Popen[bytes]:
    """``billingd serve`` on ``database`` with its socket and data in ``folder``, once
    it answers ``status``; ``extra`` is YAML added to the config."""
    config = folder / "billingd.yaml"
    config.write_text(
        f"database: {database}\n"
        f"socket: {folder / 'billingd.sock'}\n"
        f"data_dir: {folder / 'data'}\n"
        "log_level: WARNING\n" + extra,
        encoding="utf-8",
    )
    log = (folder / "daemon.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "billingd", "serve", "--config", str(config)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"daemon exited:\n{(folder / 'daemon.log').read_text()}")
        try:
            with ControlClient(folder / "billingd.sock", timeout=5) as probe:
                probe.call("status")
            return process
        except Exception:
            time.sleep(0.05)
    process.kill()
    raise SystemExit("daemon did not start")


def _children() -> dict[int, list[int]]:
    found: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            found.setdefault(ppid, []).append(int(entry.name))
    return found


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (the daemon's document workers, their server)."""
    children, tree, index = _children(), [pid], 0
    while index < len(tree):
        tree.extend(children.get(tree[index], []))
        index += 1
    return tree


def peak_kb(pid: int) -> int:
    """The process's peak resident set (VmHWM), 0 once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_seconds(pids: Sequence[int]) -> float:
    """User + system CPU time of the live processes ``pids``."""
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / TICKS


class Daemon:
    """A real daemon in ``folder``; a thread samples the peak memory of its processes."""

    def __init__(self, folder: Path, database: str, extra: str = "") -> None:
        self.folder = folder
        self.database = database
        self.socket = folder / "billingd.sock"
        self.process = start_daemon(folder, database, extra)
        self.peaks: dict[int, int] = {}
        self._client: ControlClient | None = None
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.25):
            for pid in process_tree(self.process.pid):
                self.peaks[pid] = max(self.peaks.get(pid, 0), peak_kb(pid))

    def peak_mb(self) -> tuple[float, float]:
        """(the daemon's own peak RSS, the sum of the peaks of all its processes), MB."""
        own = max(self.peaks.get(self.process.pid, 0), peak_kb(self.process.pid))
        return own / 1024, (
            sum(self.peaks.values()) - self.peaks.get(self.process.pid, 0) + own
        ) / 1024

    def cpu(self) -> float:
        """CPU seconds used so far by the daemon and its live child processes."""
        return cpu_seconds(process_tree(self.process.pid))

    def call(self, method: str, **params: Any) -> Any:
        if self._client is None:
            self._client = ControlClient(self.socket, timeout=600)
        return self._client.call(method, **params)

    def ctl(self, *args: str) -> tuple[int, Any, str]:
        """``billingctl --json ARGS``: exit code, parsed output (or None), stderr."""
        return billingctl(self.socket, *args)

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        """Rows of a read-only query on the daemon's database, from outside it."""
        if self.database.startswith("sqlite:///"):
            path = self.database.removeprefix("sqlite:///")
            with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30) as con:
                return con.execute(sql).fetchall()
        database = make_database(self.database)
        try:
            return list(database.execute_sql(sql).fetchall())
        finally:
            database.close()

    def stop(self) -> None:
        self._stop.set()
        if self._client is not None:
            self._client.close()
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=60)


def billingctl(socket: Path, *args: str) -> tuple[int, Any, str]:
    program = shutil.which("billingctl", path=str(Path(sys.executable).parent))
    command = [program] if program else [sys.executable, "-m", "billingd.ctl"]
    done = subprocess.run(
        [*command, "--socket", str(socket), "--json", *args], capture_output=True, text=True
    )
    try:
        output = json.loads(done.stdout) if done.stdout.strip() else None
    except json.JSONDecodeError:
        output = done.stdout
    return done.returncode, output, done.stderr.strip()


def timed(action: Callable[[], Any]) -> tuple[float, Any]:
    began = time.perf_counter()
    result = action()
    return time.perf_counter() - began, result


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def percentile(sorted_values: Sequence[int], fraction: float) -> float:
    """Nearest-rank percentile of nanosecond values, in milliseconds."""
    if not sorted_values:
        return float("nan")
    rank = max(0, min(len(sorted_values) - 1, round(fraction * len(sorted_values)) - 1))
    return sorted_values[rank] / 1e6


def _postgres_version(url: str | None) -> str:
    if url:
        try:
            database = make_database(url)
            version = database.execute_sql("SHOW server_version").fetchone()[0]
            database.close()
            return str(version).split()[0]
        except Exception as exc:  # the figure is informative only
            return f"unknown ({type(exc).__name__})"
    try:
        done = subprocess.run(["psql", "--version"], capture_output=True, text=True)
        return done.stdout.split()[2] + " (psql)"
    except OSError:
        return "none"


def machine(postgres: str | None = None) -> dict[str, Any]:
    """CPU model and cores, Python, SQLite and PostgreSQL versions, the system."""
    model = ""
    try:
        for text in Path("/proc/cpuinfo").read_text().splitlines():
            if text.startswith("model name"):
                model = text.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu": model or platform.processor(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "postgresql": _postgres_version(postgres),
        "system": f"{platform.system()} {platform.release()}",
        "load": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def machine_lines(info: dict[str, Any]) -> list[str]:
    """The machine in two lines of at most 80 columns."""
    return [
        f"machine: {info['cpus']} cores, {info['cpu']}"[:80],
        f"Python {info['python']}, SQLite {info['sqlite']}, PostgreSQL {info['postgresql']},"
        f" load {info['load']}"[:80],
    ]
