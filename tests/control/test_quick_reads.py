"""Where the server runs a call: quick reads on the loop (embedded database), other reads on
the reader threads, writes on the writer thread — checked by keeping every thread busy."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from billingd.control.api.parties import QUICK_OFFSET
from billingd.control.registry import METHODS, method
from billingd.control.server import ControlServer
from billingd.db.connection import open_database
from billingd.db.migrations import migrate
from billingd.services.context import ServiceContext


@dataclass
class BusyServer:
    """A real server whose writer and reader threads are all held until ``release``."""

    path: Path
    release: threading.Event

    async def ask(self, method_name: str, **params: Any) -> asyncio.Task[dict[str, Any]]:
        """Send one request on a new connection; the task ends with its reply."""
        reader, writer = await asyncio.open_unix_connection(str(self.path))
        frame = {"jsonrpc": "2.0", "id": 1, "method": method_name, "params": params}
        writer.write(json.dumps(frame).encode() + b"\n")

        async def reply() -> dict[str, Any]:
            try:
                return json.loads(await reader.readline())
            finally:
                writer.close()

        return asyncio.create_task(reply())


async def _busy_server(short_dir: Path, *, inline: bool) -> AsyncIterator[BusyServer]:
    migrate(open_database(f"sqlite:///{short_dir / 'billing.db'}"))
    writer, readers = ThreadPoolExecutor(1), ThreadPoolExecutor(2)
    release = threading.Event()
    for pool, threads in ((writer, 1), (readers, 2)):
        for _ in range(threads):
            pool.submit(release.wait, 30)
    server = ControlServer(
        ServiceContext(),
        writer,
        lambda user, groups: "admin",
        readers=readers,
        quick_reads_inline=inline,
    )
    await server.listen(short_dir / "s.sock")
    try:
        yield BusyServer(short_dir / "s.sock", release)
    finally:
        release.set()
        await server.close()
        writer.shutdown()
        readers.shutdown()


@pytest.fixture
async def inline_server(short_dir: Path) -> AsyncIterator[BusyServer]:
    async for server in _busy_server(short_dir, inline=True):
        yield server


@pytest.fixture
async def threaded_server(short_dir: Path) -> AsyncIterator[BusyServer]:
    async for server in _busy_server(short_dir, inline=False):
        yield server


async def test_quick_reads_are_answered_while_every_database_thread_is_busy(
    inline_server: BusyServer,
) -> None:
    other_read = await inline_server.ask("audit.list")
    write = await inline_server.ask("enterprise.add", name="Acme", currency="EUR")
    search = await inline_server.ask("client.list", search="acme")  # scans: not quick
    deep_page = await inline_server.ask("client.list", offset=QUICK_OFFSET)

    async def answer(name: str, **params: Any) -> dict[str, Any]:
        return await asyncio.wait_for(await inline_server.ask(name, **params), 5)

    assert (await answer("status"))["result"]["clients"] == 0
    assert (await answer("client.list", limit=5))["result"] == []
    assert (await answer("client.show", id=7))["error"]["code"] == 1001
    # the others wait for their threads, then are answered
    await asyncio.sleep(0.3)
    waiting = (other_read, write, search, deep_page)
    assert not any(task.done() for task in waiting)
    inline_server.release.set()
    assert isinstance((await asyncio.wait_for(other_read, 10))["result"], list)
    assert (await asyncio.wait_for(write, 10))["result"]["name"] == "Acme"
    assert (await asyncio.wait_for(search, 10))["result"] == []
    assert (await asyncio.wait_for(deep_page, 10))["result"] == []


async def test_without_inline_quick_reads_keep_to_the_reader_threads(
    threaded_server: BusyServer,
) -> None:
    status = await threaded_server.ask("status")
    await asyncio.sleep(0.3)
    assert not status.done()
    threaded_server.release.set()
    assert "result" in await asyncio.wait_for(status, 10)


def test_quick_methods_are_reads_and_a_quick_write_is_refused() -> None:
    quick = {name for name, entry in METHODS.items() if entry.quick}
    assert {"status", "client.list", "invoice.show"} <= quick
    page = METHODS["client.list"]
    assert page.is_quick({"limit": 20, "offset": 0})
    assert not page.is_quick({"limit": 20, "offset": 0, "search": "acme"})
    assert not page.is_quick({"limit": 20, "offset": QUICK_OFFSET})
    assert METHODS["invoice.show"].is_quick({"invoice": 1})
    assert not METHODS["audit.list"].is_quick({"limit": 200})
    assert not any(METHODS[name].writes for name in quick)
    with pytest.raises(ValueError, match="only reads can be quick"):
        method("test.quick_write", writes=True, result="nothing", quick=True)(lambda ctx: None)
    assert "test.quick_write" not in METHODS
