"""Concurrent clients over the real socket: every request answered, each with its own reply.

(How fast is measured in ``bench/socket_latency.py``; this checks that under load nothing is
lost, mixed up between connections or answered out of order, on SQLite — where the quick
reads run on the event loop — and on PostgreSQL, where they run on the reader threads.)
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from billingd.control.client import ControlClient
from tests.conftest import RunningDaemon

pytestmark = pytest.mark.slow  # eight clients, a thousand requests each

CLIENTS = 8
REQUESTS = 1000


def _seed(daemon: RunningDaemon) -> tuple[list[int], list[dict[str, Any]]]:
    enterprise = daemon.call("enterprise.add", name="Load GmbH", currency="EUR", start=1)
    ids = [
        daemon.call("client.add", name=f"Client {n:02d}", enterprise=enterprise["id"])["id"]
        for n in range(40)
    ]
    invoices = daemon.call(
        "invoice.amount", client=ids[0], date="2026-01-05", amount="119.00", count=CLIENTS
    )
    return ids, invoices


def _client_session(
    daemon: RunningDaemon,
    number: int,
    ids: list[int],
    invoice: dict[str, Any],
    problems: list[str],
    answered: list[int],
) -> None:
    """One connection: status, a page of clients and this session's own invoice, in turn."""
    count = 0
    with ControlClient(daemon.socket, timeout=60) as client:
        for request in range(REQUESTS):
            kind = request % 3
            if kind == 0:
                reply = client.call("status")
                ok = reply["clients"] == len(ids)
            elif kind == 1:
                offset = (number + request) % 30
                reply = client.call("client.list", limit=10, offset=offset)
                ok = [row["id"] for row in reply] == ids[offset : offset + 10]
            else:
                reply = client.call("invoice.show", invoice=invoice["number"])
                ok = (reply["id"], reply["total"]) == (invoice["id"], "119.00")
            if not ok:
                problems.append(f"session {number}, request {request}: {reply!r:.200}")
            count += 1
    answered.append(count)


def test_eight_clients_a_thousand_requests_each_all_answered(
    database_url: str, short_dir: Path
) -> None:
    daemon = RunningDaemon(short_dir, database_url)
    try:
        ids, invoices = _seed(daemon)
        problems: list[str] = []
        answered: list[int] = []
        sessions = [
            threading.Thread(
                target=_client_session, args=(daemon, n, ids, invoices[n], problems, answered)
            )
            for n in range(CLIENTS)
        ]
        for session in sessions:
            session.start()
        for session in sessions:
            session.join(timeout=300)
        assert problems == []
        assert answered == [REQUESTS] * CLIENTS
        assert daemon.process.poll() is None
    finally:
        daemon.stop()
