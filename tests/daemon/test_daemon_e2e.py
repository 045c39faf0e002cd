"""The walking skeleton end to end: a real daemon, its socket, its PDF."""

from __future__ import annotations

import base64
import io
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pypdf
import pytest

from billingd.control.client import ControlClient, RemoteError
from tests.conftest import RunningDaemon

PERIOD = {"from": "2026-01-01", "to": "2026-01-31"}


def _pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(data)).pages)


def create_billing_flow(call) -> dict:  # type: ignore[no-untyped-def]
    """Enterprise → client → contract → usage → invoice for a period; returns the invoice."""
    enterprise = call(
        "enterprise.add",
        name="Acme Telecom GmbH",
        currency="EUR",
        timezone="Europe/Berlin",
        pattern="%num%/%year%",
        start=100001,
        tax_rate="19",
        terms=14,
    )
    client = call(
        "client.add",
        name="Jane Doe",
        enterprise=enterprise["id"],
        company="Example Ltd",
        email="ap@example.com",
    )
    call(
        "contract.add",
        client=client["id"],
        description="Hosted PBX",
        price="100.00",
        cycle="month",
        start="2026-01-01",
    )
    imported = call(
        "usage.import",
        records=[
            {
                "client": client["id"],
                "occurred_at": "2026-01-31T22:59:59Z",
                "destination": "+4915112345678",
                "destination_group": "Mobile DE",
                "quantity": "60",
                "unit": "s",
                "amount": "0.12",
                "external_id": "cdr-1",
            },
            {
                "client": client["id"],
                "occurred_at": "2026-01-31T23:00:00Z",
                "destination": "+4915112345678",
                "destination_group": "Mobile DE",
                "quantity": "60",
                "unit": "s",
                "amount": "9.99",
                "external_id": "cdr-2",
            },
        ],
    )
    assert imported == {"imported": 2, "duplicates": 0}
    return call("invoice.period", client=client["id"], date="2026-02-01", **PERIOD)


def test_daemon_flow_over_socket_with_pdf(daemon: RunningDaemon) -> None:
    invoice = create_billing_flow(daemon.call)
    assert invoice["number"] == "100001/2026"
    assert invoice["status"] == "open"
    assert (invoice["subtotal"], invoice["tax"], invoice["total"]) == ("100.12", "19.02", "119.14")
    assert invoice["period_start"] == "2026-01-01" and invoice["period_end"] == "2026-01-31"
    assert [line["kind"] for line in invoice["lines"]] == ["contract", "usage"]
    document = daemon.call("invoice.pdf", invoice="100001/2026")
    text = _pdf_text(base64.b64decode(document["content_base64"]))
    assert "100001/2026" in text
    assert "Example Ltd" in text
    assert "119.14" in text
    shown = daemon.call("invoice.show", invoice=invoice["id"])
    assert shown["total"] == "119.14"
    listed = daemon.call("invoice.list", client=invoice["client_id"])
    assert [i["number"] for i in listed] == ["100001/2026"]
    audit = daemon.call("audit.list", client=invoice["client_id"])
    assert {"client.created", "contract.created", "invoice.issued"} <= {a["event"] for a in audit}
    assert {a["actor"] for a in audit} == {_me()}


def _me() -> str:
    import pwd

    return pwd.getpwuid(os.getuid()).pw_name


def test_socket_file_mode_is_0660(daemon: RunningDaemon) -> None:
    assert stat.S_IMODE(daemon.socket.stat().st_mode) == 0o660


def test_sigterm_stops_cleanly(daemon: RunningDaemon) -> None:
    daemon.call("status")
    daemon.process.send_signal(signal.SIGTERM)
    assert daemon.process.wait(timeout=20) == 0
    assert "stopped" in daemon.log_text()


def test_ready_is_notified_to_systemd(short_dir: Path) -> None:
    notify = short_dir / "notify.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(str(notify))
    listener.settimeout(20)
    os.environ["NOTIFY_SOCKET"] = str(notify)
    try:
        running = RunningDaemon(short_dir, f"sqlite:///{short_dir / 'b.db'}")
    finally:
        del os.environ["NOTIFY_SOCKET"]
    try:
        assert b"READY=1" in listener.recv(4096)
        running.stop()
        assert b"STOPPING=1" in listener.recv(4096)
    finally:
        running.stop()
        listener.close()


def test_bad_config_refused_with_key_and_line(short_dir: Path) -> None:
    config = short_dir / "bad.yaml"
    config.write_text("database: sqlite:////tmp/x.db\nschedule: '* * * * * *'\n")
    result = subprocess.run(
        [sys.executable, "-m", "billingd", "serve", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "bad.yaml:2" in result.stderr and "schedule" in result.stderr


def test_not_running_daemon_is_a_clear_connection_error(short_dir: Path) -> None:
    with pytest.raises(Exception, match="is billingd running"):
        ControlClient(short_dir / "none.sock").call("status")


def test_restart_keeps_data(daemon: RunningDaemon) -> None:
    create_billing_flow(daemon.call)
    daemon.stop()
    again = RunningDaemon(daemon.folder, f"sqlite:///{daemon.folder / 'billing.db'}")
    try:
        assert again.call("invoice.show", invoice="100001/2026")["total"] == "119.14"
        with pytest.raises(RemoteError, match="nothing to invoice"):
            again.call("invoice.period", client=1, **PERIOD)
    finally:
        again.stop()


def test_socket_activation_serves_the_inherited_socket(short_dir: Path) -> None:
    """systemd's billingd.socket hands the daemon a listening socket as fd 3 (LISTEN_FDS)."""
    path = short_dir / "activated.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen()
    config = short_dir / "billingd.yaml"
    config.write_text(
        f"database: sqlite:///{short_dir / 'b.db'}\nsocket: {short_dir / 'unused.sock'}\n"
        f"data_dir: {short_dir / 'data'}\ninvoicing: manual\n"
    )
    launcher = (
        "import os, sys\n"
        f"os.dup2({listener.fileno()}, 3)\n"
        "os.environ.update(LISTEN_PID=str(os.getpid()), LISTEN_FDS='1')\n"
        "os.execv(sys.executable, [sys.executable, '-m', 'billingd', 'serve', '--config', "
        f"{str(config)!r}])\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", launcher],
        pass_fds=(listener.fileno(),),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    listener.close()
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with ControlClient(path, timeout=5) as client:
                    assert client.call("status")["database"] == "sqlite"
                break
            except Exception:
                assert time.monotonic() < deadline, "the daemon did not answer on fd 3"
                time.sleep(0.05)
        assert not (short_dir / "unused.sock").exists()
    finally:
        process.terminate()
        assert process.wait(timeout=20) == 0
