"""``billingd demo``: a seeded embedded database, served (issue 2)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from billingd.control.client import ControlClient
from billingd.demo import wait_until_serving


@pytest.mark.slow  # seeds 50 clients and renders their invoices
def test_demo_seeds_and_serves(short_dir: Path) -> None:
    env = {**os.environ, "XDG_DATA_HOME": str(short_dir)}
    process = subprocess.Popen(
        [sys.executable, "-m", "billingd", "demo"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    socket_path = short_dir / "billingd" / "demo" / "billingd.sock"
    try:
        assert wait_until_serving(socket_path, process, timeout=120)
        with ControlClient(socket_path) as client:
            assert client.call("status")["clients"] == 50
            assert len(client.call("enterprise.list")) == 1
            assert len(client.call("reseller.list")) == 1
            invoices = client.call("invoice.list")
            assert len(invoices) == 13
            assert all(i["number"].endswith(f"/{i['issue_date'][:4]}") for i in invoices)
            document = client.call("invoice.pdf", invoice=invoices[-1]["id"])
            assert document["media_type"] == "application/pdf"
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0
    assert f"billing-tui --socket {socket_path}" in stderr
