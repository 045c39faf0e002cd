"""A daemon killed (SIGKILL) while it writes a staged contract file: after a restart
the file is there whole or not at all (SPEC §2, §12; issue 13)."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from billingd.db.connection import open_database
from billingd.db.models import AuditEvent, Contract, ImportRow
from tests.conftest import RunningDaemon, billingctl_ok

ROWS = 40_000


def _billingctl(daemon: RunningDaemon, *args: str) -> subprocess.Popen[str]:
    program = shutil.which("billingctl")
    command = [program] if program else [sys.executable, "-m", "billingd.ctl"]
    return subprocess.Popen(
        [*command, "--socket", str(daemon.socket), "--json", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow
@pytest.mark.parametrize("delay", [0.0, 0.3, 1.5])
def test_spec_12_daemon_killed_while_committing_a_contract_file_keeps_all_or_nothing(
    short_dir: Path, tmp_path: Path, delay: float
) -> None:
    url = f"sqlite:///{short_dir / 'billing.db'}"
    daemon = RunningDaemon(short_dir, url)
    open_database(url)
    enterprise = daemon.call("enterprise.add", name="Acme", currency="EUR")["id"]
    client = daemon.call("client.add", name="Jane", enterprise=enterprise)["id"]
    path = tmp_path / "contracts.csv"
    path.write_text(
        "client,description,price,cycle,start\n" + f"{client},Seat,1.00,month,2026-01-01\n" * ROWS
    )
    process = _billingctl(daemon, "contract", "import", str(path))
    deadline = time.monotonic() + 120
    while ImportRow.select().count() < ROWS:  # every chunk staged: the commit comes next
        assert time.monotonic() < deadline and process.poll() is None, "not staged in time"
        time.sleep(0.01)
    time.sleep(delay)
    daemon.process.send_signal(signal.SIGKILL)
    daemon.process.wait(timeout=30)
    process.communicate(timeout=60)
    daemon.stop()

    restarted = RunningDaemon(short_dir, url)
    try:
        written = Contract.select().count()
        assert written in (0, ROWS), f"{written} of {ROWS} contracts: half a file"
        summary = AuditEvent.select().where(AuditEvent.event == "contracts.imported")
        assert summary.count() == (1 if written else 0)
        if not written:  # the stage left behind is never applied; the file imports again
            result = billingctl_ok(restarted, "contract", "import", str(path))
            assert result["imported"] == ROWS
        assert Contract.select().count() == ROWS
    finally:
        restarted.stop()
