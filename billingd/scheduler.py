"""The daemon's billing scheduler (R-RUN-1, R-RUN-2, R-RUN-10, R-RUN-11, R-RUN-15).

croniter gives the next fire time of the global schedule; the scheduler sleeps
until then — no polling — and wakes early when an operator asks for a run, moves
the test clock, or creates a contract that bills at once. A run is executed one
client at a time on the database worker, so the socket keeps answering, progress
events go out after each client, and SIGTERM stops after the current client.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

from billingd.db.models import Run
from billingd.domain.schedule import next_fire
from billingd.services import runs
from billingd.services.context import ServiceContext
from billingd.services.gateway_charges import resume_pending_charges
from billingd.views import run_view

log = logging.getLogger("billingd.scheduler")

Publish = Callable[[str, dict[str, Any]], None]


@dataclass(frozen=True)
class Settings:
    schedule: str
    timezone: str
    invoicing: str
    catch_up_limit: int


class Scheduler:
    """Owns the run loop; thread-safe entry points for the socket handlers."""

    def __init__(
        self,
        ctx: ServiceContext,
        executor: Executor,
        settings: Settings,
        publish: Publish,
        stopping: asyncio.Event,
    ) -> None:
        self.ctx = ctx
        self.executor = executor
        self.settings = settings
        self.publish = publish
        self.stopping = stopping
        self._wake = asyncio.Event()
        self._queue: asyncio.Queue[int] = asyncio.Queue()
        self._loop = asyncio.get_running_loop()
        self.next_run: dt.datetime | None = None
        self._planned: tuple[str, str] | None = None  # the schedule next_run was computed for

    # -- called from socket handlers on the database thread ----------------------------

    def wake(self) -> None:
        """Re-check what is due (the clock moved, the config changed)."""
        self._loop.call_soon_threadsafe(self._wake.set)

    def enqueue(self, run_id: int) -> None:
        """Execute a run already recorded by ``runs.start_run``."""
        self._loop.call_soon_threadsafe(self._put, run_id)

    def _put(self, run_id: int) -> None:
        self._queue.put_nowait(run_id)
        self._wake.set()

    def request_client_run(self, client_id: int, actor: str = "system") -> None:
        """Bill one client now (a contract that invoices at creation, R-RUN-5)."""
        if self.settings.invoicing != "auto":
            return
        self._loop.call_soon_threadsafe(
            lambda: asyncio.ensure_future(self._start_and_enqueue(client_id, "contract", actor))
        )

    # -- the loop ------------------------------------------------------------------------

    async def _db(self, function: Callable[..., Any], *args: Any) -> Any:
        return await self._loop.run_in_executor(self.executor, function, *args)

    async def _start_and_enqueue(self, client_id: int | None, trigger: str, actor: str) -> None:
        ctx = self.ctx.acting_as(actor)
        as_of = ctx.today(self.settings.timezone)
        run = await self._db(
            lambda: runs.start_run(ctx, as_of=as_of, client_id=client_id, trigger=trigger)
        )
        self._put(run.id)

    async def serve(self) -> None:
        """Until the daemon stops: run queued runs, and the schedule when it is due."""
        await self._db(runs.mark_interrupted_runs)
        await self._db(resume_pending_charges, self.ctx.acting_as("system"))
        self._plan(self.ctx.clock.now())
        while not self.stopping.is_set():
            if not self._queue.empty():
                await self.execute(self._queue.get_nowait())
                continue
            now = self.ctx.clock.now()
            if self._planned != (self.settings.schedule, self.settings.timezone):
                self._plan(now)  # a reload (SIGHUP) changed the schedule or its timezone
            if self.next_run is not None and now >= self.next_run:
                if self.settings.invoicing == "auto":
                    await self._start_and_enqueue(None, "schedule", "system")
                self._plan(now)
                continue
            await self._sleep(now)

    def _plan(self, now: dt.datetime) -> None:
        """The next fire time of the current schedule after ``now`` (R-RUN-1)."""
        self._planned = (self.settings.schedule, self.settings.timezone)
        self.next_run = next_fire(self.settings.schedule, now, self.settings.timezone)

    async def _sleep(self, now: dt.datetime) -> None:
        """Sleep until the next fire time, a queued run, a wake-up or the stop signal."""
        timeout = (
            None
            if getattr(self.ctx.clock, "is_test", False)
            else ((self.next_run - now).total_seconds() if self.next_run else None)
        )
        waiters = [
            asyncio.ensure_future(self._wake.wait()),
            asyncio.ensure_future(self.stopping.wait()),
        ]
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        for waiter in waiters:
            waiter.cancel()
        self._wake.clear()

    async def execute(self, run_id: int) -> None:
        """Bill the run's clients one by one; stop between clients on SIGTERM."""
        run = await self._db(Run.get_by_id, run_id)
        client_ids = await self._db(runs.billable_client_ids, run.client_id)
        status = "done"
        for client_id in client_ids:
            if self.stopping.is_set():
                status = "interrupted"
                break
            step = self.ctx.acting_as(run.actor)
            run = await self._db(
                runs.run_step, step, run_id, client_id, self.settings.catch_up_limit
            )
            for name, payload in step.events:
                self.publish(name, payload)
            self.publish("run.progress", runs.progress(run))
        closing = self.ctx.acting_as(run.actor)
        run = await self._db(runs.finish_run, closing, run_id, status)
        for name, payload in closing.events:
            self.publish(name, payload)
        self.publish("run.finished", await self._db(run_view, run))
        log.info("run %s %s: %s invoices, %s failures", run_id, status, run.invoices, run.failures)
