"""Delivery under faulty servers (issue 14, R-DEL-3, R-DEL-5): a mail server or a
webhook receiver that accepts the connection and says nothing, that answers garbage,
or that greets with a refusal.

The daemon's timeout fires (every network call has one), the message goes back to the
queue with backoff on the daemon's clock (no second attempt before it is due), the
socket answers and a run bills meanwhile, and once a working server is back on the
same port the message is delivered exactly once, with the same Message-ID or event id.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import RunningDaemon
from tests.delivery.conftest import mail_daemon, seed_client, wait_until
from tests.delivery.receivers import Receiver
from tests.delivery.smtp_sink import SmtpSink, free_port

GARBAGE = b"\x00\xff\xfe\x1b[2J SSH-2.0-nonsense \xc3\x28\r\n"
TIMEOUT = 3  # seconds: the daemon's smtp.timeout and the webhook endpoint's


class FaultServer:
    """A TCP server on ``port`` that, per connection, says nothing (``hang``), writes
    garbage and closes (``garbage``), or greets with ``reply`` and closes."""

    def __init__(self, port: int, mode: str, reply: bytes = b"") -> None:
        self.mode, self.reply = mode, reply
        self.accepted = 0
        self._held: list[socket.socket] = []
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", port))
        self._listener.listen(16)
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                connection, _ = self._listener.accept()
                self.accepted += 1
                if self.mode == "hang":
                    self._held.append(connection)  # open, silent
                    continue
                with contextlib.suppress(OSError), connection:
                    connection.sendall(GARBAGE if self.mode == "garbage" else self.reply)
                    time.sleep(0.2)

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        for connection in self._held:
            connection.close()
        self._thread.join(timeout=5)


FAULTS = {
    "hang": ("hang", b""),
    "garbage": ("garbage", b""),
    "greeting_421": ("reply", b"421 4.3.2 too busy, come back later\r\n"),
    "greeting_554": ("reply", b"554 5.3.2 no service here\r\n"),
}


@pytest.fixture
def faulty(request: pytest.FixtureRequest) -> Iterator[Callable[[int], FaultServer]]:
    """Makes the fault the test is parametrized with on a port; stopped afterwards."""
    made: list[FaultServer] = []

    def make(port: int) -> FaultServer:
        mode, reply = FAULTS[request.param]
        made.append(FaultServer(port, mode, reply))
        return made[-1]

    yield make
    for server in made:
        server.stop()


def assert_not_blocked(daemon: RunningDaemon, enterprise_id: int) -> None:
    """The socket answers at once, and a run bills a client of ``enterprise_id`` (one
    not invoiced by email), while a delivery is stuck."""
    client = daemon.call("client.add", enterprise=enterprise_id, name="Run Client")
    daemon.call(
        "contract.add", client=client["id"], description="PBX", price="10.00",
        cycle="month", start="2026-01-01",
    )  # fmt: skip
    for _ in range(10):
        began = time.monotonic()
        daemon.call("status")
        assert time.monotonic() - began < 1.0
    run = daemon.call("run.start", client=client["id"])
    wait_until(
        lambda: daemon.call("run.show", id=run["id"])["status"] == "done",
        timeout=TIMEOUT * 3,
        what="the run, while delivery is stuck",
    )


def one_message(daemon: RunningDaemon, channel: str) -> dict[str, Any]:
    """The one email, or the one notice to the webhook endpoint ``erp``."""
    (message,) = [
        m
        for m in daemon.call("outbox.list", channel=channel)
        if channel == "email" or m["target"] == "webhook:erp"
    ]
    return message


def failed_attempts(daemon: RunningDaemon, channel: str, attempts: int) -> dict[str, Any]:
    """The message once its ``attempts``-th attempt failed: queued again, due later."""
    message = wait_until(
        lambda: (
            (m := one_message(daemon, channel))["attempts"] >= attempts
            and m["state"] == "queued"
            and m
        ),
        timeout=TIMEOUT * 6,
        what=f"attempt {attempts} to fail",
    )
    assert message["attempts"] == attempts and message["last_error"]
    assert message["next_attempt_at"] > daemon.call("clock.show")["now"]
    return message


@pytest.mark.slow
@pytest.mark.parametrize("faulty", list(FAULTS), indirect=True)
def test_r_del_3_a_faulty_mail_server_delays_the_email_and_blocks_nothing(
    short_dir: Path, faulty: Callable[[int], FaultServer]
) -> None:
    port = free_port()
    sink = SmtpSink(port)
    server = faulty(port)
    daemon = mail_daemon(short_dir, sink, timeout=TIMEOUT)
    try:
        client = seed_client(daemon)
        (invoice,) = daemon.call(
            "invoice.amount", client=client["id"], date="2026-01-05", amount="119.00"
        )
        daemon.call("invoice.send", invoice=invoice["number"])
        wait_until(lambda: server.accepted >= 1, what="the daemon to connect")
        assert_not_blocked(daemon, client["enterprise_id"])
        first = failed_attempts(daemon, "email", 1)
        time.sleep(0.5)
        assert server.accepted == 1, "tried again before its backoff ended"

        daemon.call("clock.advance", by="2m")  # past the first backoff: fails again
        second = failed_attempts(daemon, "email", 2)
        assert second["next_attempt_at"] > first["next_attempt_at"]
        assert second["message_id"] == first["message_id"]

        server.stop()
        sink.start()  # a working server on the same port
        daemon.call("clock.advance", by="1h")
        (mail,) = sink.wait_for(1, timeout=TIMEOUT * 6)
        wait_until(lambda: one_message(daemon, "email")["state"] == "sent", what="sent")
        daemon.call("clock.advance", by="1d")
        time.sleep(1)
        assert len(sink.messages) == 1
        assert mail["Message-ID"] == first["message_id"]
    finally:
        daemon.stop()
        sink.stop()


@pytest.mark.slow
@pytest.mark.parametrize("faulty", ["hang", "garbage"], indirect=True)
def test_r_del_5_a_faulty_webhook_receiver_delays_the_event_and_blocks_nothing(
    short_dir: Path, faulty: Callable[[int], FaultServer]
) -> None:
    received: list[dict[str, Any]] = []

    def handle(request: dict[str, Any]) -> tuple[int, bytes]:
        received.append(json.loads(request["body"]))
        return 204, b""

    receiver = Receiver(handle).start()
    port = receiver.port
    receiver.stop()
    server = faulty(port)
    config = (
        "invoicing: manual\nclock: test\n"
        "plugins:\n  settings:\n    webhook:\n      endpoints:\n"
        f"        - name: erp\n          url: http://127.0.0.1:{port}/hook\n"
        "          secret: whsec-test-0123456789\n          events: [payment.received]\n"
        f"          timeout: {TIMEOUT}\n"
    )
    daemon = RunningDaemon(short_dir, f"sqlite:///{short_dir / 'billing.db'}", config)
    try:
        enterprise = daemon.call("enterprise.add", name="Acme", currency="EUR", tax_rate="19")
        client = daemon.call("client.add", enterprise=enterprise["id"], name="Jane")
        daemon.call("payment.record", client=client["id"], amount="50.00")
        wait_until(lambda: server.accepted >= 1, what="the daemon to connect")
        assert_not_blocked(daemon, enterprise["id"])
        first = failed_attempts(daemon, "notify", 1)
        daemon.call("clock.advance", by="2h")
        second = failed_attempts(daemon, "notify", 2)
        assert second["next_attempt_at"] > first["next_attempt_at"]

        server.stop()
        receiver.start()
        assert receiver.port == port
        daemon.call("clock.advance", by="1d")
        wait_until(lambda: one_message(daemon, "notify")["state"] == "sent", what="sent")
        daemon.call("clock.advance", by="1d")
        time.sleep(1)
    finally:
        daemon.stop()
        receiver.stop()
    assert [event["name"] for event in received] == ["payment.received"]
