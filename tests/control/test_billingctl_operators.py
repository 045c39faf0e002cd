"""billingctl as operators use it (issue 12): pipes, long lists, a stopped daemon, UTF-8."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import RunningDaemon, billingctl

COMMAND = [
    shutil.which("billingctl") or sys.executable,
    *([] if shutil.which("billingctl") else ["-m", "billingd.ctl"]),
]


def test_a_stale_socket_says_billingd_is_not_running(short_dir: Path) -> None:
    path = short_dir / "billingd.sock"
    left_over = socket.socket(socket.AF_UNIX)
    left_over.bind(str(path))  # a daemon that stopped without removing its socket
    left_over.close()
    result = billingctl(path, "status")
    assert result.returncode == 2
    assert "billingd is not running" in result.stdout
    assert "systemctl start billingd" in result.stdout
    assert "Traceback" not in result.stderr


def _enterprise_and_client(daemon: RunningDaemon, name: str = "Jane") -> int:
    enterprise = daemon.call("enterprise.add", name="Acme", currency="EUR")
    return daemon.call("client.add", name=name, enterprise=enterprise["id"])["id"]


@pytest.mark.slow  # 400 invoices, rendered in the background
def test_piped_into_head_it_ends_quietly(daemon: RunningDaemon) -> None:
    client = _enterprise_and_client(daemon)
    daemon.call("invoice.amount", client=client, date="2026-01-05", amount="9.00", count=400)
    pipeline = subprocess.run(
        f"{' '.join(COMMAND)} --socket {daemon.socket} --json invoice list --limit 400"
        " | head -c 20",
        shell=True, capture_output=True, text=True, timeout=60,
        executable="/bin/bash",
    )  # fmt: skip
    assert len(pipeline.stdout) == 20
    assert "Traceback" not in pipeline.stderr and "BrokenPipe" not in pipeline.stderr


def test_json_is_utf_8_whatever_the_locale(daemon: RunningDaemon) -> None:
    _enterprise_and_client(daemon, "Jürgen Ωmega 日本")
    result = subprocess.run(
        [*COMMAND, "--socket", str(daemon.socket), "--json", "client", "list"],
        capture_output=True, timeout=60,
        env={**os.environ, "LC_ALL": "C", "LANG": "C", "PYTHONIOENCODING": "ascii"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Jürgen Ωmega 日本".encode() in result.stdout
    assert json.loads(result.stdout.decode("utf-8"))[0]["name"] == "Jürgen Ωmega 日本"


@pytest.mark.slow
def test_all_fetches_every_page_and_a_full_page_says_there_may_be_more(
    daemon: RunningDaemon,
) -> None:
    client = _enterprise_and_client(daemon)
    for count in (1000, 50):
        daemon.call("invoice.amount", client=client, date="2026-01-05", amount="9.00", count=count)
    page = billingctl(daemon.socket, "invoice", "list")
    assert len(json.loads(page.stdout)) == 200
    assert "200 rows shown; there may be more (--all" in page.stderr
    every = billingctl(daemon.socket, "invoice", "list", "--all")
    numbers = [invoice["number"] for invoice in json.loads(every.stdout)]
    assert len(numbers) == len(set(numbers)) == 1050
    assert "may be more" not in every.stderr
    small = billingctl(daemon.socket, "invoice", "list", "--limit", "2000")
    assert "may be more" not in small.stderr  # 1,050 rows: the page was not full


def test_audit_shows_what_changed(daemon: RunningDaemon) -> None:
    client = _enterprise_and_client(daemon)
    (invoice,) = daemon.call("invoice.amount", client=client, date="2026-01-05", amount="9.00")
    daemon.call("invoice.void", invoice=invoice["id"], reason="typo")
    result = subprocess.run(
        [*COMMAND, "--socket", str(daemon.socket), "audit", str(client)],
        capture_output=True, text=True, timeout=60, env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    voided = next(line for line in result.stdout.splitlines() if "invoice.voided" in line)
    assert "status open, void" in voided and "reason typo" in voided
