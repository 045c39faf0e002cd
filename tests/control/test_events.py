"""Server-pushed events (SPEC §9): subscribe, filter, unsubscribe, slow subscribers, billingctl."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from billingd.control.client import ControlClient, RemoteError
from billingd.control.events import DROPPED_EVENT, EventHub
from billingd.control.server import ControlServer
from billingd.db.connection import open_database
from billingd.db.migrations import migrate
from billingd.services.context import ServiceContext
from tests.conftest import RunningDaemon


def _decode(frame: bytes) -> dict[str, Any]:
    message = json.loads(frame)
    assert message["jsonrpc"] == "2.0" and message["method"] == "event"
    assert "id" not in message
    return message["params"]


# --- the hub ---------------------------------------------------------------------------------


async def test_hub_filters_by_prefix_and_numbers_every_event() -> None:
    hub = EventHub()
    invoices = hub.subscribe(["invoice."])
    everything = hub.subscribe()
    hub.publish("invoice.issued", {"id": 1})
    hub.publish("payment.recorded", {"id": 2, "amount": "5.00"})
    hub.publish("invoice.voided", {"id": 1})
    got = [_decode(f) for f in invoices.queue]
    assert [(e["name"], e["seq"]) for e in got] == [("invoice.issued", 1), ("invoice.voided", 3)]
    assert [_decode(f)["seq"] for f in everything.queue] == [1, 2, 3]
    assert _decode(everything.queue[1])["payload"] == {"id": 2, "amount": "5.00"}
    at = dt.datetime.fromisoformat(got[0]["at"])
    assert at.tzinfo is not None and abs(dt.datetime.now(dt.UTC) - at) < dt.timedelta(minutes=1)


async def test_hub_drops_a_full_subscriber_after_its_queued_events() -> None:
    hub = EventHub(queue_limit=3)
    slow = hub.subscribe()
    fast = hub.subscribe()
    received: list[dict[str, Any]] = []
    for number in range(1, 11):
        hub.publish("run.progress", {"n": number})
        while fast.queue:  # a subscriber that keeps up
            received.append(_decode(fast.queue.popleft()))
    assert [e["payload"]["n"] for e in received] == list(range(1, 11))
    assert slow.dropped and slow.closed and slow not in hub.subscriptions
    frames = []
    while (frame := await slow.next_frame()) is not None:
        frames.append(_decode(frame))
    assert [e["name"] for e in frames] == ["run.progress"] * 3 + [DROPPED_EVENT]
    assert frames[-1]["payload"] == {"reason": "queue_full", "limit": 3, "missed_from_seq": 4}
    assert frames[-1]["seq"] == 4
    assert hub.dropped == 1


async def test_hub_unsubscribe_discards_what_was_queued() -> None:
    hub = EventHub()
    subscription = hub.subscribe()
    hub.publish("invoice.issued", {})
    hub.unsubscribe(subscription)
    hub.publish("invoice.issued", {})
    assert await subscription.next_frame() is None


async def test_hub_accepts_events_from_other_threads() -> None:
    hub = EventHub()
    hub.bind(asyncio.get_running_loop())
    subscription = hub.subscribe()
    thread = threading.Thread(target=hub.publish, args=("run.finished", {"id": 7}))
    thread.start()
    thread.join()
    frame = await asyncio.wait_for(subscription.next_frame(), 5)
    assert frame is not None and _decode(frame)["payload"] == {"id": 7}


# --- a real daemon ---------------------------------------------------------------------------


@pytest.fixture
def seeded(daemon: RunningDaemon) -> RunningDaemon:
    enterprise = daemon.call("enterprise.add", name="Acme", currency="EUR", start=100001)
    daemon.call("client.add", name="Jane", enterprise=enterprise["id"])
    return daemon


def _issue(daemon: RunningDaemon, count: int = 1) -> list[dict[str, Any]]:
    return daemon.call("invoice.amount", client=1, date="2026-01-05", amount="119.00", count=count)


def test_subscriber_receives_committed_events(seeded: RunningDaemon) -> None:
    with ControlClient(seeded.socket, timeout=10) as watcher:
        events = watcher.subscribe(["invoice."])
        issued = _issue(seeded, count=2)
        first, second = next(events), next(events)
    numbers = [i["number"] for i in issued] if isinstance(issued, list) else None
    assert [first["name"], second["name"]] == ["invoice.issued", "invoice.issued"]
    assert second["seq"] > first["seq"]
    got = [first["payload"]["number"], second["payload"]["number"]]
    assert got == (numbers or got) and got[0] != got[1]
    assert first["payload"]["total"] == "119.00"
    dt.datetime.fromisoformat(first["at"])


def test_run_progress_reaches_subscribers(seeded: RunningDaemon) -> None:
    with ControlClient(seeded.socket, timeout=10) as watcher:
        watcher.subscribe(["run."])
        started = seeded.call("run.start", until="2026-01-31")
        names = []
        while not names or names[-1] != "run.finished":
            event = watcher.next_event(timeout=30)
            assert event is not None, names
            names.append(event["name"])
    assert event["payload"]["id"] == started["id"]
    assert set(names) <= {"run.progress", "run.finished", "run.started"}


def test_filter_keeps_other_events_away(seeded: RunningDaemon) -> None:
    with (
        ControlClient(seeded.socket, timeout=10) as invoices,
        ControlClient(seeded.socket, timeout=10) as others,
    ):
        invoices.subscribe(["invoice."])
        others.subscribe(["nothing.like.this."])
        _issue(seeded)
        assert invoices.next_event(timeout=10)["name"] == "invoice.issued"
        assert others.next_event(timeout=0.5) is None


def test_subscribed_connection_still_answers_calls(seeded: RunningDaemon) -> None:
    with ControlClient(seeded.socket, timeout=10) as client:
        client.subscribe()
        client.call("invoice.amount", client=1, date="2026-01-05", amount="50.00")
        # the event may arrive before the reply: the client keeps it for later
        assert client.call("status")["clients"] == 1
        assert client.next_event(timeout=10)["name"] == "invoice.issued"


def test_unsubscribe_stops_the_stream(seeded: RunningDaemon) -> None:
    with ControlClient(seeded.socket, timeout=10) as client:
        client.subscribe()
        assert client.call("unsubscribe") == {"unsubscribed": True}
        _issue(seeded)
        assert client.next_event(timeout=0.5) is None
        assert client.call("unsubscribe") == {"unsubscribed": False}


def test_resubscribing_replaces_the_filter(seeded: RunningDaemon) -> None:
    with ControlClient(seeded.socket, timeout=10) as client:
        client.subscribe(["payment."])
        result = client.call("subscribe", events=["invoice."])
        assert result["subscribed"] == ["invoice."]
        _issue(seeded)
        assert client.next_event(timeout=10)["name"] == "invoice.issued"
        assert client.next_event(timeout=0.3) is None  # one subscription, not two


def test_refused_write_publishes_nothing(seeded: RunningDaemon) -> None:
    with ControlClient(seeded.socket, timeout=10) as client:
        client.subscribe()
        with pytest.raises(RemoteError):
            seeded.call("invoice.amount", client=99, date="2026-01-05", amount="1.00")
        assert client.next_event(timeout=0.5) is None


def test_subscribe_refuses_bad_filters(daemon: RunningDaemon) -> None:
    bad: list[Any] = [5, "invoice.", [1], ["x" * 201], [f"p{n}." for n in range(65)], {"a": 1}]
    for events in bad:
        frame = {"jsonrpc": "2.0", "id": 1, "method": "subscribe", "params": {"events": events}}
        reply = daemon.raw(json.dumps(frame).encode() + b"\n")
        assert reply["error"]["code"] == -32602, events
        assert reply["error"]["data"]["field"] == "events"


def test_subscriber_that_never_reads_does_not_block_the_daemon(seeded: RunningDaemon) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as stuck:
        stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stuck.connect(str(seeded.socket))
        stuck.sendall(b'{"jsonrpc": "2.0", "id": 1, "method": "subscribe"}\n')
        started = time.monotonic()
        for _ in range(10):
            _issue(seeded, count=5)
        assert seeded.call("status")["clients"] == 1
        assert time.monotonic() - started < 30
        with ControlClient(seeded.socket, timeout=10) as other:
            other.subscribe(["invoice."])
            _issue(seeded)
            assert other.next_event(timeout=10)["name"] == "invoice.issued"


# --- a slow subscriber against the real server, in process -----------------------------------


async def test_slow_subscriber_is_dropped_and_others_keep_up(short_dir: Path) -> None:
    migrate(open_database(f"sqlite:///{short_dir / 'billing.db'}"))
    executor = ThreadPoolExecutor(max_workers=1)
    hub = EventHub(queue_limit=50)
    server = ControlServer(ServiceContext(), executor, lambda user, groups: "admin", events=hub)
    path = short_dir / "s.sock"
    await server.listen(path)
    try:
        # the stuck subscriber: subscribes, then never reads
        stuck = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stuck.setblocking(False)
        await asyncio.get_running_loop().sock_connect(stuck, str(path))
        stuck.send(b'{"jsonrpc": "2.0", "id": 1, "method": "subscribe"}\n')
        # a subscriber that reads
        reader, writer = await asyncio.open_unix_connection(str(path), limit=1 << 20)
        writer.write(b'{"jsonrpc": "2.0", "id": 1, "method": "subscribe"}\n')
        assert "result" in json.loads(await reader.readline())
        while len(hub.subscriptions) < 2:
            await asyncio.sleep(0.01)

        total = 3000
        seen: list[int] = []

        async def read_all() -> None:
            while len(seen) < total:  # (no wait_for per line: that alone would fall behind)
                seen.append(_decode(await reader.readline())["payload"]["n"])

        reading = asyncio.create_task(read_all())
        payload = {"text": "x" * 1000}
        started = time.perf_counter()
        for number in range(total):
            hub.publish("run.progress", {"n": number, **payload})
            if number % 5 == 0:
                await asyncio.sleep(0)  # a daemon does other work between events
        publishing = time.perf_counter() - started
        await asyncio.wait_for(reading, 20)
        assert seen == list(range(total))
        assert publishing < 2.0  # publishing never waited for the stuck socket
        assert hub.dropped == 1 and len(hub.subscriptions) == 1

        # a call on a new connection is answered at once
        r2, w2 = await asyncio.open_unix_connection(str(path))
        w2.write(b'{"jsonrpc": "2.0", "id": 9, "method": "status"}\n')
        reply = json.loads(await asyncio.wait_for(r2.readline(), 5))
        assert reply["id"] == 9 and reply["result"]["clients"] == 0
        w2.close()

        # the stuck client finally reads (in a thread: the server runs on this loop):
        # the events still queued for it, then the drop notice, last
        def read_stuck() -> list[dict[str, Any]]:
            stuck.setblocking(True)
            stuck.settimeout(10)
            stream = stuck.makefile("rb")
            assert "result" in json.loads(stream.readline())
            got = [_decode(stream.readline())]
            while got[-1]["name"] != DROPPED_EVENT:
                got.append(_decode(stream.readline()))
            return got

        got = await asyncio.to_thread(read_stuck)
        names = [e["name"] for e in got]
        assert got[-1]["payload"]["reason"] == "queue_full"
        assert got[-1]["payload"]["missed_from_seq"] == got[-1]["seq"] == len(got)
        assert set(names[:-1]) == {"run.progress"} and len(names) - 1 < total
        stuck.close()
        writer.close()
    finally:
        await server.close()
        executor.shutdown()


# --- billingctl events -----------------------------------------------------------------------


def _billingctl(socket_path: Path, *args: str) -> subprocess.Popen[str]:
    program = shutil.which("billingctl")
    command = [program] if program else [sys.executable, "-m", "billingd.ctl"]
    return subprocess.Popen(
        [*command, "--socket", str(socket_path), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_billingctl_events_json_lines_until_ctrl_c(seeded: RunningDaemon) -> None:
    process = _billingctl(seeded.socket, "--json", "events", "--filter", "invoice.")
    try:
        assert process.stderr is not None and process.stdout is not None
        assert "following invoice." in process.stderr.readline()
        _issue(seeded, count=2)
        lines = [json.loads(process.stdout.readline()) for _ in range(2)]
        assert [e["name"] for e in lines] == ["invoice.issued", "invoice.issued"]
        assert set(lines[0]) == {"name", "payload", "at", "seq"}
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_billingctl_events_human_lines(seeded: RunningDaemon) -> None:
    process = _billingctl(seeded.socket, "events")
    try:
        assert process.stderr is not None and process.stdout is not None
        assert "following all events" in process.stderr.readline()
        _issue(seeded)
        line = process.stdout.readline()
        assert "invoice.issued" in line and "total=119.00" in line
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_billingctl_events_without_daemon_is_a_connection_error(short_dir: Path) -> None:
    process = _billingctl(short_dir / "none.sock", "--json", "events")
    out, _ = process.communicate(timeout=30)
    assert process.returncode == 2
    assert "no daemon socket" in json.loads(out)["error"]["message"]


def test_daemon_publish_feeds_subscribers_and_plugin_listeners(tmp_path: Path) -> None:
    """A committed event reaches socket subscribers and, on their own thread, plugins."""
    from billingd.config import parse_config
    from billingd.daemon import start
    from billingd.hookspecs import hookimpl

    heard: list[tuple[str, dict[str, Any], str]] = []

    class Listener:
        @hookimpl
        def event_emitted(self, name: str, payload: dict[str, Any]) -> None:
            heard.append((name, payload, threading.current_thread().name))

    config = parse_config(
        f"database: sqlite:///{tmp_path / 'b.db'}\nsocket: {tmp_path / 's'}\n"
        f"data_dir: {tmp_path / 'data'}\n"
    )
    daemon = start(config)
    daemon.plugins.register(Listener(), "listener")
    subscription = daemon.events.subscribe()
    try:
        daemon.publish("invoice.issued", {"id": 1})
        daemon.listeners.shutdown(wait=True)
    finally:
        daemon.executor.shutdown(wait=True)
        daemon.database.close()
    assert [(name, payload) for name, payload, _ in heard] == [("invoice.issued", {"id": 1})]
    assert heard[0][2].startswith("billingd-listeners")
    assert _decode(subscription.queue[0])["name"] == "invoice.issued"
