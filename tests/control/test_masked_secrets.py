"""Secrets in what billingd stores and shows (SPEC §12, issue 14): a delivery error
that holds a URL with a password (a webhook endpoint's) is masked in the outbox, the
invoice's deliveries, the audit trail and the log, as a peer sees them through the
socket and ``billingctl``; ``billingd backup`` and ``restore`` give PostgreSQL its
password through the environment, never on a command line (``ps`` shows those to
every user)."""

from __future__ import annotations

import json
import os
import socket
import stat
import time
from pathlib import Path
from typing import Any

import pytest

from billingd.backup import libpq_connection
from billingd.config import mask_url
from billingd.hardening import mask_secrets
from tests.conftest import RunningDaemon, billingctl_ok
from tests.control.test_doctor_restore import billingd, write_config
from tests.control.test_doctor_restore import scratch_pg as scratch_pg  # a fixture
from tests.control.test_terminal_output import billingctl_text

PASSWORD = "Hook-Pw-93e1c7"


def test_mask_url_masks_every_password_of_every_url_in_a_text() -> None:
    text = (
        "webhook 'erp' (http://erp:Hook-Pw@127.0.0.1:9/hook): refused; "
        "then sftp://me:pa:ss@files.example/in and https://a:b@c@host/p?password=zz&q=1"
    )
    assert mask_url(text) == (
        "webhook 'erp' (http://erp:***@127.0.0.1:9/hook): refused; "
        "then sftp://me:***@files.example/in and https://a:***@host/p?password=***&q=1"
    )
    kept = "postgresql://billing@db/billing, sqlite:///var/lib/x.db, mail me@example.com"
    assert mask_url(kept) == kept


def test_mask_secrets_walks_receipts() -> None:
    receipt = {"url": "https://u:pw@portal/x", "files": ["a.pdf"], "status": 200}
    assert mask_secrets(receipt) == {
        "url": "https://u:***@portal/x",
        "files": ["a.pdf"],
        "status": 200,
    }


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _failed_webhook(daemon: RunningDaemon) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for message in daemon.call("outbox.list", channel="notify"):
            if message["target"] == "webhook:erp" and message["last_error"]:
                return message
        time.sleep(0.1)
    raise AssertionError(f"no webhook error in the outbox:\n{daemon.log_text()[-2000:]}")


@pytest.mark.slow
def test_a_webhook_url_password_is_masked_in_the_outbox_audit_and_log(short_dir: Path) -> None:
    port = _closed_port()
    url = f"http://erp:{PASSWORD}@127.0.0.1:{port}/hook"
    config = (
        "invoicing: manual\n"
        "plugins:\n  settings:\n    webhook:\n      endpoints:\n"
        f'        - {{name: erp, url: "{url}", secret: "0123456789abcdef", '
        "events: [payment.received], timeout: 2}\n"
    )
    daemon = RunningDaemon(short_dir, f"sqlite:///{short_dir / 'billing.db'}", config)
    try:
        enterprise = daemon.call("enterprise.add", name="Acme", currency="EUR")
        client = daemon.call("client.add", enterprise=enterprise["id"], name="Jane")
        daemon.call("payment.record", client=client["id"], amount="5.00")
        message = _failed_webhook(daemon)
        assert f"(http://erp:***@127.0.0.1:{port}/hook)" in message["last_error"]
        shown = [
            billingctl_ok(daemon, "outbox", "list"),
            billingctl_ok(daemon, "outbox", "show", str(message["id"])),
            daemon.call("audit.list", limit=100),
        ]
        human = billingctl_text(daemon, "outbox", "show", str(message["id"]))
        assert human.returncode == 0, human.stderr
        assert "erp:***@" in human.stdout
        log = daemon.log_text()
    finally:
        daemon.stop()
    for text in (*map(json.dumps, shown), human.stdout, log):
        assert PASSWORD not in text


# -- backup and restore: no password on a command line ---------------------------------

RECORDER = """#!/bin/sh
# what a PostgreSQL client tool was started with: its argv as ps shows it, and
# whether libpq gets the password from the environment
{{ cat /proc/$$/cmdline | tr '\\0' ' '; echo; echo "PGPASSWORD=$PGPASSWORD"; }} >> {log}
exec {real} "$@"
"""


def _recording(folder: Path, tool: str, log: Path) -> None:
    """``tool`` in ``folder``: the real one, started by a script that records its argv."""
    real = Path("/usr/bin") / tool
    if not real.exists():
        pytest.skip(f"{tool} is not installed")
    script = folder / tool
    script.write_text(RECORDER.format(log=log, real=real), encoding="utf-8")
    script.chmod(stat.S_IRWXU)


def test_libpq_connection_moves_the_password_to_the_environment() -> None:
    address, env = libpq_connection("postgresql://billing:p%40ss:w@db:5433/books?sslmode=require")
    assert address == "postgresql://billing@db:5433/books?sslmode=require"
    assert env["PGPASSWORD"] == "p@ss:w"
    address, env = libpq_connection("postgresql://billing@db/books?password=x%26y&sslmode=off")
    assert address == "postgresql://billing@db/books?sslmode=off"
    assert env["PGPASSWORD"] == "x&y"
    assert libpq_connection("postgresql://billing@db/books")[0] == "postgresql://billing@db/books"


def _with_password(url: str, password: str) -> str:
    scheme, _, rest = url.partition("://")
    user, _, host = rest.partition("@")
    return f"{scheme}://{user}:{password}@{host}"  # the test server trusts any password


@pytest.mark.slow
def test_backup_and_restore_give_pg_tools_no_password_on_the_command_line(
    tmp_path: Path, pg_url: str, scratch_pg: str
) -> None:
    tools, log = tmp_path / "bin", tmp_path / "argv.log"
    tools.mkdir()
    for tool in ("pg_dump", "pg_restore"):
        _recording(tools, tool, log)
    password = "Db-Pw-41f0aa"
    env = {**os.environ, "PATH": f"{tools}:{os.environ['PATH']}"}
    backup = tmp_path / "backup.dump"
    config = write_config(tmp_path, _with_password(pg_url, password))
    done = billingd("backup", "--config", str(config), "-o", str(backup), env=env)
    assert done.returncode == 0, done.stderr
    (tmp_path / "fresh").mkdir()
    target = write_config(tmp_path / "fresh", _with_password(scratch_pg, password))
    restored = billingd("restore", "--config", str(target), str(backup), env=env)
    assert restored.stdout.startswith("restored "), restored.stdout + restored.stderr
    recorded = log.read_text().splitlines()
    assert [line.split()[1].rsplit("/", 1)[-1] for line in recorded[::2]] == [
        "pg_dump",
        "pg_restore",
    ]
    for argv, environment in zip(recorded[::2], recorded[1::2], strict=True):
        assert password not in argv, argv
        assert environment == f"PGPASSWORD={password}"
    for output in (done.stdout, done.stderr, restored.stdout, restored.stderr):
        assert password not in output
