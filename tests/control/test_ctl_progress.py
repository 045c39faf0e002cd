"""Long billingctl commands show progress on a terminal, and only there.

billingctl runs with its stderr on a real pseudo-terminal; its stdout stays a pipe, as
when a script captures the result.
"""

from __future__ import annotations

import json
import os
import pty
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.conftest import RunningDaemon, billingctl


def billingctl_on_a_terminal(daemon: RunningDaemon, *args: str) -> tuple[int, str, str]:
    """Exit code, stdout and what reached the terminal (stderr) of a real billingctl."""
    program = shutil.which("billingctl")
    command = [program] if program else [sys.executable, "-m", "billingd.ctl"]
    terminal, stderr = pty.openpty()
    screen = bytearray()

    def read_terminal() -> None:
        while True:
            try:
                chunk = os.read(terminal, 65536)
            except OSError:  # the other end is closed
                return
            if not chunk:
                return
            screen.extend(chunk)

    reader = threading.Thread(target=read_terminal, daemon=True)
    reader.start()
    try:
        process = subprocess.run(
            [*command, "--socket", str(daemon.socket), *args],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            timeout=120,
        )
    finally:
        os.close(stderr)
    reader.join(timeout=10)
    os.close(terminal)
    return process.returncode, process.stdout, screen.decode()


@pytest.fixture
def enterprise(daemon: RunningDaemon) -> int:
    return daemon.call("enterprise.add", name="Acme", currency="EUR", tax_rate="19")["id"]


def test_client_import_shows_rows_added_on_a_terminal(
    daemon: RunningDaemon, enterprise: int, tmp_path: Path
) -> None:
    path = tmp_path / "clients.csv"
    path.write_text("name,enterprise\n" + "".join(f"C{n},{enterprise}\n" for n in range(400)))
    code, out, screen = billingctl_on_a_terminal(daemon, "client", "import", str(path))
    assert code == 0, (out, screen)
    assert "importing clients.csv [" in screen
    assert f"[{'#' * 30}] 400/400 rows added" in screen
    assert "400" in out  # the result table on stdout, untouched by the progress line
    assert daemon.call("status")["clients"] == 400


def test_no_progress_when_stderr_is_not_a_terminal(
    daemon: RunningDaemon, enterprise: int, tmp_path: Path
) -> None:
    path = tmp_path / "clients.csv"
    path.write_text("name,enterprise\n" + "".join(f"C{n},{enterprise}\n" for n in range(50)))
    result = billingctl(daemon.socket, "client", "import", str(path))
    assert result.returncode == 0 and result.stderr == ""


def test_usage_import_shows_records_sent_on_a_terminal(
    daemon: RunningDaemon, enterprise: int, tmp_path: Path
) -> None:
    client = daemon.call("client.add", name="Jane", enterprise=enterprise)["id"]
    path = tmp_path / "usage.csv"
    path.write_text(
        "client,occurred_at,destination_group,quantity,amount,external_id\n"
        + "".join(f"{client},2026-01-05T10:00:00Z,Mobile,1,0.10,cdr-{n}\n" for n in range(30))
    )
    code, out, screen = billingctl_on_a_terminal(daemon, "--json", "usage", "import", str(path))
    assert code == 0, (out, screen)
    assert "importing usage.csv [" in screen and "30/30 records sent" in screen
    assert '"imported": 30' in out


def test_run_shows_clients_done_on_a_terminal(daemon: RunningDaemon, enterprise: int) -> None:
    for name in ("Jane", "Joe"):
        client = daemon.call("client.add", name=name, enterprise=enterprise)["id"]
        daemon.call(
            "contract.add",
            client=client,
            description="Hosted PBX",
            price="10.00",
            cycle="month",
            start="2026-01-01",
        )
    code, out, screen = billingctl_on_a_terminal(daemon, "--json", "run", "--until", "2026-01-01")
    assert code == 0, (out, screen)
    assert "2/2 clients, 2 invoices, 0 failures" in screen and screen.startswith("\rrun ")
    assert json.loads(out)["invoices"] == 2  # stdout is the JSON alone


def test_a_progress_line_never_wraps_at_80_columns(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from billingd import ctl_output

    monkeypatch.setattr(ctl_output, "terminal_columns", lambda: 80)
    line = ctl_output.ProgressLine("run 123456")
    line.enabled = True
    line.show(9999, 10000, "9999/10000 clients, 123456 invoices, 1234 failures")
    line.show(10000, 10000, "done")
    line.end()
    redraws = capsys.readouterr().err.strip("\n").split("\r")[1:]
    assert [len(r) for r in redraws] == [79, 79]  # the second covers the first entirely
    assert redraws[0].startswith("run 123456 [#") and redraws[1].rstrip().endswith("] done")
