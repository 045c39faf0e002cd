"""The queue workers give way to a billing run of their daemon (issue 13).

A run issues invoices; the document and outbox workers render and deliver them. All
three share one interpreter, and a worker's Python (reading an invoice for its
document, composing an email) holds the lock the run's thread needs after each
database round trip: on PostgreSQL a run of 1,000 invoices took 38 s beside the
workers and 14 s without them. So while a run of this daemon executes, the workers
finish what they have under way but take no new work, and pick it up when the run
ends: the invoices first, then their documents and emails at full speed.

A worker never waits longer than :data:`GIVE_WAY_SECONDS` in a row: during a very
long run (a catch-up of years) it takes a batch now and then, so nothing waits for
the whole run.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

GIVE_WAY_SECONDS = 120.0
"""The longest a worker waits for a run before it takes one batch anyway."""


class RunGate:
    """Open unless one of the daemon's runs is executing (on the daemon's event loop)."""

    def __init__(self) -> None:
        self._runs = 0
        self._open = asyncio.Event()
        self._open.set()

    @property
    def closed(self) -> bool:
        """Whether a run is executing now."""
        return self._runs > 0

    @contextlib.contextmanager
    def billing(self) -> Iterator[None]:
        """Close the gate while a run executes."""
        self._runs += 1
        self._open.clear()
        try:
            yield
        finally:
            self._runs -= 1
            if not self._runs:
                self._open.set()

    async def wait_open(self, stopping: asyncio.Event, seconds: float = GIVE_WAY_SECONDS) -> None:
        """Until no run executes, the daemon stops, or ``seconds`` passed."""
        if not self.closed:
            return
        waiters = [asyncio.ensure_future(self._open.wait()), asyncio.ensure_future(stopping.wait())]
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        for waiter in waiters:
            waiter.cancel()
