"""The daemon's document worker: drains the document queue after each commit (R-INV-11).

It runs beside the scheduler on the daemon's event loop, with a database thread of
its own, and keeps the renderer processes of :mod:`billingd.document_pool` busy:
it claims a few jobs more than there are processes, hands their documents to the
pool, and records the finished ones (files, Document rows, job states) in one
transaction per batch on its thread, then publishes ``document.rendered`` /
``document.failed``. Billing never waits for it: a run only queues jobs, and a
failed render is recorded on its job and tried again later (backoff on the daemon's
clock). It wakes on ``document.queued`` and on the scheduler's re-checks (a move of
the test clock); idle, it sleeps until the next failed job's retry or another
claimer's lapsed lease, at most :data:`billingd.queue_timing.FALLBACK_SECONDS` (jobs
queued by another process on the database), see :mod:`billingd.queue_timing`.

On start it takes up the jobs a killed daemon left ``rendering``; on stop it
finishes the renders under way (at most :data:`STOP_SECONDS`) and claims no more.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from billingd.db.connection import close_thread_connection
from billingd.db.faults import log_failure
from billingd.db.models import DocumentJob
from billingd.document_pool import render
from billingd.pausing import pause
from billingd.queue_timing import ERROR_SECONDS, FALLBACK_SECONDS, seconds_until_due
from billingd.run_gate import RunGate
from billingd.services import document_queue as queue
from billingd.services.context import ServiceContext
from billingd.services.documents import Rendered, renderer_for

log = logging.getLogger("billingd.documents")

SWEEP_SECONDS = 60.0
"""How often it takes up jobs left ``rendering`` by dead processes on this host."""
STOP_SECONDS = 20.0
"""How long a stopping daemon waits for the renders under way."""
JOBS_PER_PROCESS = 16
"""Jobs in flight per renderer process: enough that none idles while a batch commits,
and that the daemon claims, prepares and records them in batches, not one by one (4:
71 documents/s on 2 cores, the daemon's own share the bottleneck; 16: 101/s)."""

Publish = Callable[[str, dict[str, Any]], None]
PoolFactory = Callable[[], ProcessPoolExecutor]


class DocumentWorker:
    """Claims, renders (in the pool) and records document jobs until the daemon stops."""

    def __init__(
        self,
        ctx: ServiceContext,
        start_pool: PoolFactory,
        size: int,
        publish: Publish,
        stopping: asyncio.Event,
        gate: RunGate | None = None,
    ) -> None:
        self.ctx = ctx
        self.start_pool = start_pool
        self.gate = gate or RunGate()
        self.capacity = max(size, 1) * JOBS_PER_PROCESS
        self.publish = publish
        self.stopping = stopping
        self.claimer = queue.claimer_id()
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="billingd-documents")
        self._pool: ProcessPoolExecutor | None = None
        self._broken = False
        self._inflight: dict[asyncio.Task[queue.Outcome], int] = {}  # task -> job id
        self._swept = 0.0
        self.rendered = 0
        self.failed = 0

    def wake(self) -> None:
        """Look for jobs now (safe from any thread)."""
        self._loop.call_soon_threadsafe(self._wake.set)

    async def _db(self, function: Callable[..., Any], *args: Any) -> Any:
        return await self._loop.run_in_executor(self._thread, functools.partial(function, *args))

    async def serve(self) -> None:
        """Until the daemon stops; then wind down the pool and the database thread."""
        self._pool = self.start_pool()
        try:
            while not self.stopping.is_set():
                try:
                    await self._step()
                except Exception as exc:
                    log_failure(log, "document worker: a step failed; trying again", exc)
                    await pause(self._wake, self.stopping, ERROR_SECONDS)
            await self._drain()
        finally:
            self._pool.shutdown(wait=False, cancel_futures=True)
            await self._db(close_thread_connection)
            self._thread.shutdown(wait=True)

    async def _step(self) -> None:
        if not self._inflight:
            await self.gate.wait_open(self.stopping)  # a run of this daemon goes first
        if time.monotonic() - self._swept > SWEEP_SECONDS:
            await self._db(queue.release_abandoned, self.claimer, set(self._inflight.values()))
            self._swept = time.monotonic()
        room = self.capacity - len(self._inflight)
        if room > 0 and not (self.gate.closed and self._inflight):
            await self._start(await self._db(queue.claim, self.ctx, room, self.claimer))
        if not self._inflight:
            await pause(self._wake, self.stopping, await self._db(self._idle_seconds))
            return
        self._wake.clear()
        waker = asyncio.ensure_future(self._wake.wait())
        await asyncio.wait(
            [*self._inflight, waker], timeout=FALLBACK_SECONDS, return_when=asyncio.FIRST_COMPLETED
        )
        waker.cancel()
        await self._record()

    def _idle_seconds(self) -> float:
        """How long to sleep with nothing in flight: until the next retry or lapsed
        claim, at most until the next sweep (on the database thread)."""
        sweep = self._swept + SWEEP_SECONDS - time.monotonic()
        failed = DocumentJob.state == "failed"
        rendering = DocumentJob.state == "rendering"
        until = seconds_until_due(
            self.ctx, DocumentJob.retry_at, failed, DocumentJob.claimed_at, rendering, queue.LEASE
        )
        return max(min(until, sweep), 0.0)

    async def _start(self, job_ids: list[int]) -> None:
        if not job_ids:
            return
        for task in await self._db(queue.prepare, self.ctx, job_ids):
            running = asyncio.ensure_future(self._render(task))
            self._inflight[running] = task.job_id

    async def _render(self, task: queue.RenderTask) -> queue.Outcome:
        """One job's formats, rendered side by side in the pool."""
        names = list(task.renders)
        calls = [self._submit(renderer_for(name), task.renders[name]) for name in names]
        results = await asyncio.gather(*calls, return_exceptions=True)
        rendered: dict[str, Rendered | BaseException] = dict(zip(names, results, strict=True))
        return queue.outcome_of(task, rendered)

    async def _submit(self, name: str, document: dict[str, Any]) -> Rendered:
        if self._broken:  # the pool is being replaced
            raise BrokenProcessPool("renderer processes restarting")
        assert self._pool is not None
        try:
            return await asyncio.wrap_future(self._pool.submit(render, name, document))
        except BrokenProcessPool:
            self._broken = True
            raise

    async def _record(self) -> None:
        """Commit the finished jobs in one transaction and publish their events."""
        done = [task for task in self._inflight if task.done()]
        if not done:
            return
        outcomes = [task.result() for task in done]
        ctx = self.ctx.acting_as("system")
        try:
            await self._db(queue.finish, ctx, outcomes, self.claimer)
        except Exception as exc:
            log_failure(log, f"document worker: recording {len(outcomes)} renders failed", exc)
            self._swept = 0.0  # they go back to pending at the next sweep
            ctx.events.clear()
        finally:
            for task in done:
                del self._inflight[task]
        for name, payload in ctx.events:
            if name == "document.rendered":
                self.rendered += 1
            elif name == "document.failed":
                self.failed += 1
            self.publish(name, payload)
        if self._broken and not self._inflight:
            log.error("a renderer process died: starting the pool again")
            assert self._pool is not None
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = self.start_pool()
            self._broken = False

    async def _drain(self) -> None:
        """Record the renders under way, waiting at most :data:`STOP_SECONDS`; jobs
        still rendering then are taken up by the next start."""
        if self._inflight:
            await asyncio.wait(list(self._inflight), timeout=STOP_SECONDS)
            await self._record()
        for task in self._inflight:
            task.cancel()
        if self._inflight:
            log.warning("stopping with %s document jobs under way", len(self._inflight))
