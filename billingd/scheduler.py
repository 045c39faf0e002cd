"""The daemon's billing scheduler (R-RUN-1, R-RUN-2, R-RUN-5, R-RUN-9..11, R-RUN-14, R-RUN-15).

croniter gives the next fire time of the global schedule; the scheduler sleeps until
then — no polling — and wakes early when an operator asks for a run, moves the test
clock, or creates a contract that bills at once. It works in three lanes, each on a
database thread of its own, so that none waits behind another or behind the socket:

- operator runs (``billingctl run``) have their own queue and start at once;
- the background lane performs the schedule's fire times, then the billing that new
  contracts ask for (R-RUN-5), coalesced per client: one pending request per client,
  however many contracts an import created (issue 9, defect 13);
- the lease keeper renews the heartbeat of this daemon's runs every few seconds while
  it has any, and marks interrupted the runs whose lease expired, of any daemon on the
  database (defect 14), every :data:`MARK_SECONDS`; an idle daemon's keeper sleeps.
  The work of a run it marks (another daemon's, which died) is taken over: the
  background lane runs over the same clients as of the same date (trigger
  ``takeover``), so that billing finishes without that daemon (issue 14). A daemon
  starting after a crash marks its predecessor's runs but takes none over: the next
  run bills the rest, as an operator or the schedule starts it.

A run bills its clients in batches (``runs.BATCH_SIZE`` in one transaction), so
progress events go out after each batch and SIGTERM stops after the current client,
committing what its batch billed so far. The lanes never die (defect 11): an error is
logged with its traceback, recorded on its run (status ``failed``) and reported by
``status`` as the scheduler's health; the background lane pauses (doubling up to a
minute) so that a persistent error does not spin, and goes on. Should a lane end all
the same, the health is ``dead`` and the daemon stops feeding the systemd watchdog.

With the test clock (R-RUN-15), a move past several fire times performs each of them in
order, at its own instant: its run's context reads that instant as now, so the run is
as of the fire's local date and issues what was due then. More than ``fire_limit`` fire
times in one move are collapsed: only the last is performed, and the collapse is logged
and recorded on that run's audit event.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Collection
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from croniter import croniter

from billingd import pausing
from billingd.db.faults import fault_of, log_failure
from billingd.db.models import Run, database_proxy
from billingd.domain.schedule import next_fire
from billingd.errors import DatabaseUnavailable
from billingd.run_gate import RunGate
from billingd.services import dunning, runs
from billingd.services.context import ServiceContext
from billingd.services.gateway_charges import resume_pending_charges, retry_due_charges
from billingd.services.refunds import resume_pending_refunds
from billingd.views import run_view

log = logging.getLogger("billingd.scheduler")

Scope = int | tuple[int, ...]
"""Whom a requested run bills: one client (a new contract), or an import's clients."""

Publish = Callable[[str, dict[str, Any]], None]
T = TypeVar("T")

HEARTBEAT_SECONDS = 5.0
"""How often the lease keeper renews this daemon's runs, while it has queued or running
ones (it wakes when one is added)."""
MARK_SECONDS = 30.0
"""How often the lease keeper marks interrupted the runs whose lease expired (a dead
daemon's): such a run is marked at most this long after its lease
(``runs.RUN_LEASE``, a minute) lapsed."""
FIRE_LIMIT = 400
"""Fire times performed one by one after one move of the test clock (a year of nightly
runs fits); beyond it only the last is performed."""
CATCH_UP_SECONDS = 30.0
"""How long a move of the test clock waits for the fire times it passed to be performed."""
BACKOFF_SECONDS = (1.0, 60.0)
"""The background lane's pause after an error: the first, doubling up to the second."""
FAULT_PAUSE_SECONDS = 5.0
"""The longest pause of a lane after a fault of the database or the disk (issue 14):
work goes on within seconds of the database's return, however long it was away."""
LANES = ("schedule", "operator", "lease")
DUNNING_EVERY = dt.timedelta(hours=1)
"""The dunning pass (R-DUN-1) runs once in every hour of the daemon's clock, after the
hour begins; the background lane wakes for it. After the test clock moved, each day
passed gets a pass of its own, at its own instant."""


@dataclass(frozen=True)
class Fire:
    """A fire time to perform: ``fixed`` runs it at its own instant (the test clock)."""

    at: dt.datetime
    fixed: bool
    collapsed: dict[str, Any]


@dataclass(frozen=True)
class Settings:
    schedule: str
    timezone: str
    invoicing: str
    catch_up_limit: int
    fire_limit: int = FIRE_LIMIT
    lease: dt.timedelta = runs.RUN_LEASE


class Health:
    """The scheduler's health as ``status`` reports it (issue 9, defect 11).

    ``failing`` while the latest attempt of some kind of work failed (``schedule``:
    planning and fire times, ``run``: executing a run, ``recovery``: resuming gateway
    charges at start, ``lease``: heartbeats); ``ok`` again when each kind succeeded
    since. The last error stays on record with its time (UTC, real time).
    """

    def __init__(self) -> None:
        self._failing: dict[str, int] = {}  # kind -> consecutive failures
        self.last_error: str | None = None
        self.last_error_at: dt.datetime | None = None

    def failed(self, kind: str, error: str) -> float:
        """Record a failure; the pause before that kind of work is tried again."""
        streak = self._failing.get(kind, 0) + 1
        self._failing[kind] = streak
        self.last_error = error
        self.last_error_at = dt.datetime.now(dt.UTC)
        first, longest = BACKOFF_SECONDS
        return min(first * 2 ** min(streak - 1, 16), longest)

    def recovered(self, kind: str) -> None:
        self._failing.pop(kind, None)

    def view(self, dead: bool) -> dict[str, Any]:
        state = "dead" if dead else ("failing" if self._failing else "ok")
        at = self.last_error_at
        return {
            "state": state,
            "last_error": self.last_error,
            "last_error_at": at.isoformat().replace("+00:00", "Z") if at else None,
        }


def last_fire(schedule: str, at: dt.datetime, timezone: str) -> dt.datetime:
    """The latest instant (UTC, aware) at or before ``at`` that the schedule fires."""
    local = (at + dt.timedelta(seconds=1)).astimezone(ZoneInfo(timezone))
    return croniter(schedule, local).get_prev(dt.datetime).astimezone(dt.UTC)


def _hour(instant: dt.datetime) -> dt.datetime:
    """The start of the hour of an instant (of :data:`DUNNING_EVERY`)."""
    return instant.replace(minute=0, second=0, microsecond=0)


def _logged(what: str, exc: BaseException) -> str:
    """Log a lane's failure; the error as ``status`` reports it."""
    return log_failure(log, f"scheduler: {what}", exc)


def _close_connection() -> None:
    """Close the calling thread's database connection (each lane has its own)."""
    if not database_proxy.obj.is_closed():
        database_proxy.obj.close()


class Scheduler:
    """Owns the run lanes; thread-safe entry points for the socket handlers."""

    def __init__(
        self,
        ctx: ServiceContext,
        settings: Settings,
        publish: Publish,
        stopping: asyncio.Event,
        on_wake: Callable[[], None] | None = None,
        gate: RunGate | None = None,
    ) -> None:
        self.ctx = ctx
        self.on_wake = on_wake
        """Called on the event loop when the scheduler is told to re-check (the test clock
        moved, a reload): the queue workers' retries may be due now, too."""
        self.gate = gate or RunGate()
        """Closed while a run executes: the queue workers give way to it."""
        self.settings = settings
        self.publish = publish
        self.stopping = stopping
        self.health = Health()
        self.next_run: dt.datetime | None = None
        """The next fire time not yet performed (it may be past while fires are pending)."""
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._operator_runs: asyncio.Queue[int] = asyncio.Queue()
        # (client id, the test clock's now when asked, or None) -> actor, oldest first
        self._requests: dict[tuple[Scope, dt.datetime | None], str] = {}
        self._clock_read: dt.datetime | None = None  # the test clock since the last wake-up
        self._fires: deque[Fire] = deque()
        self._takeovers: deque[Run] = deque()  # dead daemons' runs to finish, oldest first
        self._planned: tuple[str, str] | None = None  # the schedule next_run was computed for
        self._seen: dt.datetime | None = None  # the clock's now when last looked at
        self._owned: set[int] = set()  # this daemon's runs, queued or executing
        self._owning = asyncio.Event()  # set when a run is added: the keeper renews it
        self._finishing = asyncio.Lock()  # one run at a time approves the due drafts
        self._recovered = False
        self._recover_after = 0.0
        self._threads = {
            lane: ThreadPoolExecutor(1, thread_name_prefix=f"billingd-{lane}") for lane in LANES
        }
        self._tasks: list[asyncio.Task[None]] = []
        self._looks = 0  # how often the background lane read the clock
        self._dunned: dt.datetime | None = None  # the clock's now at the last dunning pass
        self._stepped = asyncio.Event()  # set after each background step

    # -- called from socket handlers, on any thread --------------------------------------

    def wake(self) -> None:
        """Re-check what is due (the clock moved, the config changed)."""
        self._loop.call_soon_threadsafe(self._woken)

    def enqueue(self, run_id: int) -> None:
        """Execute an operator's run already recorded by ``runs.start_run``, at once."""
        self._loop.call_soon_threadsafe(self._queue_operator_run, run_id)

    def request_client_run(self, client_id: int, actor: str = "system") -> None:
        """Bill one client soon (a contract that invoices at creation, R-RUN-5).

        Requests coalesce: a client already waiting for its run is not queued again.
        """
        if self.settings.invoicing != "auto":
            return
        self._loop.call_soon_threadsafe(self._request, client_id, actor)

    def request_clients_run(self, client_ids: Collection[int], actor: str = "system") -> None:
        """Bill the clients of a bulk contract import soon, in ONE run over them all
        (R-RUN-5): an import of 10,000 contracts wakes the scheduler once."""
        if self.settings.invoicing != "auto" or not client_ids:
            return
        self._loop.call_soon_threadsafe(self._request, tuple(sorted(client_ids)), actor)

    def catch_up(self, target: dt.datetime, timeout: float = CATCH_UP_SECONDS) -> bool:
        """After the test clock moved to ``target`` (from a socket handler's thread): wait
        until the background lane performed the fire times passed, at most ``timeout``
        seconds, so that what the operator does next happens after them, exactly as if
        that time had passed (R-RUN-15). True when it caught up."""
        future = asyncio.run_coroutine_threadsafe(self._caught_up(target), self._loop)
        try:
            return future.result(timeout)
        except TimeoutError:
            future.cancel()
            return False

    def alive(self) -> bool:
        """False when a lane ended while the daemon is not stopping (a bug: never expected)."""
        return self.stopping.is_set() or not any(task.done() for task in self._tasks)

    def health_view(self) -> dict[str, Any]:
        """``{state: ok|failing|dead, last_error, last_error_at}`` for ``status``."""
        return self.health.view(dead=not self.alive())

    def next_run_at(self, now: dt.datetime) -> dt.datetime | None:
        """The next scheduled run as ``status`` shows it, from the daemon's clock ``now``.

        A pending fire time (the test clock moved past it) is the next run; after a
        reload or a move of the test clock backwards not yet seen by the lane, the
        next fire time after ``now``; None when the schedule cannot be computed.
        """
        try:
            return self._fires[0].at
        except IndexError:  # none pending (or just taken by the lane)
            pass
        moved_back = self._seen is not None and now < self._seen
        if self.next_run is not None and self._planned == self._wanted() and not moved_back:
            return self.next_run
        try:
            return next_fire(self.settings.schedule, now, self.settings.timezone)
        except Exception:  # an instant croniter cannot handle: nothing to show
            return None

    # -- on the event loop --------------------------------------------------------------

    def _own(self, run_id: int) -> None:
        """Note a run of this daemon: the lease keeper renews it until it ends."""
        if run_id not in self._owned:
            self._owned.add(run_id)
            self._owning.set()

    def _queue_operator_run(self, run_id: int) -> None:
        self._own(run_id)
        self._operator_runs.put_nowait(run_id)

    async def _caught_up(self, target: dt.datetime) -> bool:
        looked = self._looks
        self._woken()
        while not (
            self._looks > looked
            and not self._fires
            and (self.next_run is None or self.next_run > target)
        ):
            if self.stopping.is_set() or not self.alive():
                return False
            self._stepped.clear()
            await self._stepped.wait()
        return True

    def _woken(self) -> None:
        self._clock_read = None  # the test clock may have moved
        self._wake.set()
        if self.on_wake is not None:
            self.on_wake()

    def _request(self, who: Scope, actor: str) -> None:
        """Note a client's billing request, at the instant it was made on the test clock:
        it is performed in time order with the fire times (R-RUN-15). Requests of one
        client at one instant are one (defect 13)."""
        at = None
        if getattr(self.ctx.clock, "is_test", False):
            if self._clock_read is None:  # read once per move: an import asks per contract
                self._clock_read = self.ctx.clock.now()
            at = self._clock_read
        self._requests.setdefault((who, at), actor)
        self._wake.set()

    def _wanted(self) -> tuple[str, str]:
        return (self.settings.schedule, self.settings.timezone)

    async def _on(self, lane: str, function: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        """Run ``function`` on the lane's database thread."""
        call = functools.partial(function, *args, **kw)
        return await self._loop.run_in_executor(self._threads[lane], call)

    async def recover(self) -> None:
        """Mark interrupted the runs of dead daemons (before the socket answers).

        A client's first ``run.show`` after a restart then already sees a run the
        crash cut short as interrupted, never as still running.
        """
        try:
            await self._on("lease", runs.mark_interrupted_runs, self.settings.lease)
        except Exception as exc:
            self.health.failed("lease", _logged("marking the runs of dead daemons failed", exc))

    async def serve(self) -> None:
        """Until the daemon stops: the three lanes; then close their database threads."""
        lanes = (
            ("schedule", self._background()),
            ("operator", self._operator_lane()),
            ("lease", self._lease_keeper()),
        )
        for name, lane in lanes:
            task = asyncio.create_task(lane, name=f"billingd-{name}")
            task.add_done_callback(self._lane_ended)
            self._tasks.append(task)
        try:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        finally:
            for pool in self._threads.values():
                try:
                    await self._loop.run_in_executor(pool, _close_connection)
                except Exception:
                    log.exception("scheduler: closing a database connection failed")
                pool.shutdown(wait=True)

    def _lane_ended(self, task: asyncio.Task[None]) -> None:
        if self.stopping.is_set():
            return
        reason = "cancelled" if task.cancelled() else repr(task.exception())
        log.critical("scheduler lane %s ended (%s): billing has stopped", task.get_name(), reason)

    async def _pause(self, seconds: float | None, *, wakes: bool = True) -> None:
        """Wait ``seconds`` (None: no limit), less when stopping (or woken, if ``wakes``)."""
        waiters = [asyncio.ensure_future(self.stopping.wait())]
        if wakes:
            waiters.append(asyncio.ensure_future(self._wake.wait()))
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        for waiter in waiters:
            waiter.cancel()
        if wakes:
            self._wake.clear()

    # -- the background lane: fire times, then creation requests -----------------------

    async def _background(self) -> None:
        try:
            await self._background_loop()
        finally:
            self._stepped.set()  # a move of the test clock waiting for it stops waiting

    async def _background_loop(self) -> None:
        while not self.stopping.is_set():
            try:
                await self._recover()
                worked = await self._background_step()
                self.health.recovered("schedule")
                self._stepped.set()
                if not worked:
                    await self._sleep()
            except Exception as exc:
                error = _logged("the schedule failed; trying again", exc)
                self._stepped.set()
                pause = self.health.failed("schedule", error)
                if fault_of(exc) is not None:  # tried again soon: the database comes back
                    pause = min(pause, FAULT_PAUSE_SECONDS)
                await self._pause(pause)

    async def _recover(self) -> None:
        """Resume gateway charges a crash cut short (R-RUN-7); retried until it works,
        without holding up billing."""
        if self._recovered or time.monotonic() < self._recover_after:
            return
        try:
            await self._on("schedule", resume_pending_charges, self.ctx.acting_as("system"))
            await self._on("schedule", resume_pending_refunds, self.ctx.acting_as("system"))
        except Exception as exc:
            error = _logged("resuming pending gateway charges failed; retried later", exc)
            pause = self.health.failed("recovery", error)
            self._recover_after = time.monotonic() + pause
            return
        self._recovered = True
        self.health.recovered("recovery")

    async def _background_step(self) -> bool:
        """One unit of background work, the earliest due; False when there was none."""
        now = self.ctx.clock.now()
        self._looks += 1
        self._plan(now)
        if self.next_run is not None and now >= self.next_run:
            self._collect_fires(now)
        dunned = await self._dun(now)
        if await self._retry_charges(now):
            return True
        request = next(iter(self._requests), None)
        asked_at = request[1] if request is not None else None
        if self._fires and (asked_at is None or self._fires[0].at <= asked_at):
            await self._perform(self._fires.popleft())
            await self._retry_charges(now)  # those due after it: before a move's reply
            return True
        if self._takeovers:
            await self._take_over(self._takeovers.popleft())
            return True
        if request is not None:
            who, at = request
            actor = self._requests.pop(request)
            ctx = self.ctx.acting_as(actor)
            trigger = "contract" if isinstance(who, int) else "import"
            try:
                await self._run_now(ctx.at(at) if at is not None else ctx, who, trigger)
            except Exception as exc:
                if fault_of(exc) is not None:  # its run was not recorded: asked again
                    self._requests.setdefault(request, actor)
                raise
            return True
        return dunned

    async def _dun(self, now: dt.datetime) -> bool:
        """Take the reminder steps due (R-DUN-1), once per hour of the daemon's clock;
        False when no pass was due. After the test clock moved forward, one pass per day
        passed, each at its own instant (the last at ``now``), so every reminder goes out
        on its day, as if that time had passed. An error is logged, reported by
        ``status`` and tried again at the next pass; billing goes on."""
        last = self._dunned
        if last is not None and _hour(now) == _hour(last):
            return False
        self._dunned = now
        instants = [now]
        test_clock = getattr(self.ctx.clock, "is_test", False)
        if test_clock and last is not None and now > last:
            days = (now - last) // dt.timedelta(days=1)
            first = max(1, days - self.settings.fire_limit + 1)
            instants = [last + dt.timedelta(days=k) for k in range(first, days + 1)]
            if not instants or instants[-1] != now:
                instants.append(now)
        for at in instants:
            ctx = self.ctx.acting_as("system")
            if test_clock:
                ctx = ctx.at(at)
            try:
                await self._on("schedule", dunning.run_due, ctx)
            except Exception as exc:
                error = _logged("the dunning pass failed; tried again at the next", exc)
                self.health.failed("dunning", error)
                break
            self.health.recovered("dunning")
            for name, payload in ctx.events:
                self.publish(name, payload)
        return True

    async def _retry_charges(self, now: dt.datetime) -> bool:
        """Charge again the failed self-checkout invoices whose retry is due (R-RUN-7) by
        the next pending fire time, else by now: on the test clock each at its own
        instant, before the runs after it. False when none was due."""
        horizon = self._fires[0].at if self._fires else now
        ctx = self.ctx.acting_as("system")
        try:
            asked = await self._on("schedule", retry_due_charges, ctx, horizon)
        except Exception as exc:
            error = _logged("retrying failed gateway charges failed; tried again later", exc)
            self.health.failed("retries", error)
            return False
        self.health.recovered("retries")
        for name, payload in ctx.events:
            self.publish(name, payload)
        return asked > 0

    def _plan(self, now: dt.datetime) -> None:
        """Compute the next fire time after ``now`` when there is none yet, the schedule
        changed (a reload) or the test clock went backwards (R-RUN-1)."""
        moved_back = self._seen is not None and now < self._seen
        self._seen = now
        if moved_back:
            self._fires.clear()
        if self.next_run is None or self._planned != self._wanted() or moved_back:
            self.next_run = None
            self.next_run = next_fire(self.settings.schedule, now, self.settings.timezone)
            self._planned = self._wanted()

    def _collect_fires(self, now: dt.datetime) -> None:
        """Queue the fire times from ``next_run`` up to ``now`` (R-RUN-15).

        With the system clock they are one run, now (the daemon slept through them).
        """
        assert self.next_run is not None
        schedule, timezone = self._wanted()
        test_clock = getattr(self.ctx.clock, "is_test", False)
        limit = max(self.settings.fire_limit, 1) if test_clock else 1
        fires: list[dt.datetime] = []
        fire = self.next_run
        while fire <= now and len(fires) <= limit:
            fires.append(fire)
            fire = next_fire(schedule, fire, timezone)
        collapsed: dict[str, Any] = {}
        if len(fires) > limit:
            last = last_fire(schedule, now, timezone)
            fire = next_fire(schedule, last, timezone)
            if test_clock:
                log.warning(
                    "the test clock moved past more than %s fire times (%s … %s): "
                    "only the last is performed",
                    limit,
                    fires[0].isoformat(),
                    last.isoformat(),
                )
                collapsed = {"collapsed": f"more than {limit} fires since {fires[0].isoformat()}"}
            fires = [last]
        self.next_run = fire
        if self.settings.invoicing == "auto":
            self._fires.extend(Fire(at, test_clock, collapsed) for at in fires)

    async def _perform(self, fire: Fire) -> None:
        """Perform a fire time; when the database refuses to record its run (a fault),
        the fire and the requests it took over wait for the next try."""
        ctx = self.ctx.acting_as("system")
        taken = dict(self._requests)
        if fire.fixed:  # the test clock moved past it: the run happens at its own instant
            ctx = ctx.at(fire.at)
            details = {"fire": fire.at.isoformat(), **fire.collapsed}
        else:  # an all-clients run now bills what new contracts asked for, too
            self._requests.clear()
            details = {}
        try:
            await self._run_now(ctx, None, "schedule", **details)
        except Exception as exc:
            if fault_of(exc) is not None:
                self._fires.appendleft(fire)
                self._requests = {**taken, **self._requests}
            raise

    async def _take_over(self, dead: Run) -> None:
        """Bill what a dead daemon's run left: a run over its clients as of its date."""
        scope = dead.client_id if dead.client_id is not None else dead.clients
        log.warning("run %s of %s:%s was cut short: taking over its work", dead.id,
                    dead.host, dead.pid)  # fmt: skip
        try:
            await self._run_now(
                self.ctx.acting_as("system"),
                tuple(scope) if isinstance(scope, list) else scope,
                "takeover",
                as_of=dead.as_of,
                takes_over=dead.id,
            )
        except Exception as exc:
            if fault_of(exc) is not None:  # its run was not recorded: taken over later
                self._takeovers.appendleft(dead)
            raise

    async def _run_now(
        self,
        ctx: ServiceContext,
        who: Scope | None,
        trigger: str,
        as_of: dt.date | None = None,
        **details: Any,
    ) -> None:
        """Record a run as of ``as_of`` (default ``ctx``'s today) of one client, of some,
        of all (None), and execute it on the background lane."""
        run = await self._on(
            "schedule",
            runs.start_run,
            ctx,
            as_of=as_of or ctx.today(self.settings.timezone),
            client_id=who if isinstance(who, int) else None,
            clients=who if isinstance(who, tuple) else None,
            trigger=trigger,
            **details,
        )
        self._own(run.id)
        pause = await self._execute("schedule", run.id, ctx)
        if pause is not None:
            await self._pause(pause)

    async def _sleep(self) -> None:
        """Until the next fire time (system clock), a wake-up or the stop signal."""
        timeout = None
        if not getattr(self.ctx.clock, "is_test", False):
            now = self.ctx.clock.now()
            # wake for the next hour's dunning pass (R-DUN-1), if it comes before the run
            timeout = (_hour(now) + DUNNING_EVERY - now).total_seconds()
            if self.next_run is not None:
                timeout = min(timeout, (self.next_run - now).total_seconds())
            timeout = max(timeout, 0.0)
        await self._pause(timeout)

    # -- the operator lane ----------------------------------------------------------------

    async def _operator_lane(self) -> None:
        while not self.stopping.is_set():
            getter = asyncio.ensure_future(self._operator_runs.get())
            stopper = asyncio.ensure_future(self.stopping.wait())
            await asyncio.wait({getter, stopper}, return_when=asyncio.FIRST_COMPLETED)
            stopper.cancel()
            if not getter.done():
                getter.cancel()
                return
            await self._execute("operator", getter.result(), self.ctx)

    # -- the lease keeper -------------------------------------------------------------------

    async def _lease_keeper(self) -> None:
        """Renew this daemon's runs every :data:`HEARTBEAT_SECONDS` while it has any;
        mark interrupted the runs whose lease expired every :data:`MARK_SECONDS`."""
        marked = -MARK_SECONDS  # monotonic time of the last marking: at once
        while not self.stopping.is_set():
            self._owning.clear()
            owned = frozenset(self._owned)
            try:
                if owned:
                    await self._on("lease", runs.heartbeat, owned)
                if time.monotonic() - marked >= MARK_SECONDS:
                    cut = await self._on(
                        "lease", runs.interrupt_abandoned, self.settings.lease, owned
                    )
                    marked = time.monotonic()
                    self._takeovers.extend(run for run in cut if not run.dry_run)
                    if self._takeovers:
                        self._wake.set()
                self.health.recovered("lease")
            except Exception as exc:
                self.health.failed("lease", _logged("renewing the run leases failed", exc))
                await self._pause(HEARTBEAT_SECONDS, wakes=False)
                continue
            if self._owned:
                await self._pause(HEARTBEAT_SECONDS, wakes=False)
            else:  # nothing to renew: until the next marking, or a run of this daemon
                await pausing.pause(
                    self._owning, self.stopping, marked + MARK_SECONDS - time.monotonic()
                )

    # -- executing a run -----------------------------------------------------------------

    async def _execute(self, lane: str, run_id: int, base: ServiceContext) -> float | None:
        """Bill the run's clients batch by batch; stop between clients on SIGTERM.

        Any error outside one client's billing is recorded on the run (status
        ``failed``) and reported; the pause before more automatic work is returned
        then, else None. ``base`` gives the run's clock. The queue workers give way
        while it executes (:mod:`billingd.run_gate`).
        """
        self._own(run_id)
        try:
            with self.gate.billing():
                return await self._bill(lane, run_id, base)
        finally:
            self._owned.discard(run_id)

    async def _bill(self, lane: str, run_id: int, base: ServiceContext) -> float | None:
        """:meth:`_execute`'s batches and the run's end.

        The database going away on the way (PostgreSQL restarted, connections cut) holds
        the run until it is back; then it goes on where it was (:meth:`_resuming`).
        Another error fails the run; a fault of the disk is recorded once it can be.
        """
        try:
            run = await self._resuming(
                lane, run_id, lambda _: self._on(lane, Run.get_by_id, run_id)
            )
            if run is None:
                return None
            client_ids = await self._resuming(
                lane,
                run_id,
                lambda _: self._on(lane, runs.billable_client_ids, run.client_id, run.clients),
            )
            if client_ids is None:
                return None
            status = "done"
            for start in range(0, len(client_ids), runs.BATCH_SIZE):
                if self.stopping.is_set():
                    status = "interrupted"
                    break
                batch = client_ids[start : start + runs.BATCH_SIZE]
                before = run.done
                billed = await self._batch(lane, run_id, base.acting_as(run.actor), batch, before)
                if billed is None:
                    return None
                run, events = billed
                for name, payload in events:
                    self.publish(name, payload)
                self.publish("run.progress", runs.progress(run))
                if run.done - before < len(batch):  # stopped inside the batch
                    status = "interrupted"
                    break
            closing = base.acting_as(run.actor)
            async with self._finishing:
                finished = await self._resuming(
                    lane, run_id, lambda _: self._on(lane, runs.finish_run, closing, run_id, status)
                )
            if finished is None:
                return None
            run = finished
        except Exception as exc:
            fault = fault_of(exc)
            error = runs.describe_error(exc)
            if fault is None:
                log.exception("run %s failed: %s", run_id, error)
            else:
                log.error("run %s failed: %s", run_id, error)
            pause = self.health.failed("run", f"run {run_id}: {error}")
            await self._record_failure(lane, run_id, error, until_recorded=fault is not None)
            return pause if fault is None else min(pause, FAULT_PAUSE_SECONDS)
        for name, payload in closing.events:
            self.publish(name, payload)
        await self._publish_finished(lane, run)
        log.info("run %s %s: %s invoices, %s failures", run_id, status, run.invoices, run.failures)
        self.health.recovered("run")
        return None

    async def _batch(
        self, lane: str, run_id: int, step: ServiceContext, batch: list[runs.OwnerKey], before: int
    ) -> tuple[Run, list[tuple[str, dict[str, Any]]]] | None:
        """One batch of a run, billed again if the database went away in it; the run and
        the events to publish, or None when the run may not go on (:meth:`_resuming`)."""

        async def attempt(again: bool) -> Run:
            step.events.clear()  # a batch cut short committed nothing to tell
            return await self._on(
                lane,
                runs.run_batch,
                step,
                run_id,
                batch,
                self.settings.catch_up_limit,
                self.stopping.is_set,
                before if again else None,
            )

        run = await self._resuming(lane, run_id, attempt)
        return None if run is None else (run, list(step.events))

    async def _resuming(
        self, lane: str, run_id: int, attempt: Callable[[bool], Awaitable[T]]
    ) -> T | None:
        """``await attempt(again)``, again (``again`` True) each time the database went
        away in it, once it is back. None when the run may not go on: the daemon stops
        meanwhile (the next start marks the run interrupted), or the run is no longer
        running (another daemon marked it interrupted while this one could not renew
        its lease: the next run bills the rest)."""
        again = False
        while True:
            try:
                return await attempt(again)
            except Exception as exc:
                fault = fault_of(exc)
                if not isinstance(fault, DatabaseUnavailable):
                    raise
                log.warning("run %s waits for the database: %s", run_id, fault.message)
                self.health.failed("run", f"run {run_id}: {fault.message}")
            if not await self._database_back(lane, run_id):
                return None
            log.info("run %s goes on: the database is back", run_id)
            again = True

    async def _database_back(self, lane: str, run_id: int) -> bool:
        """Wait until the database answers again (with backoff); True when the run's lease
        could be renewed, so that it goes on; False when stopping or when it ended."""
        pause = FAULT_PAUSE_SECONDS / 16
        while not self.stopping.is_set():
            await self._pause(pause, wakes=False)
            try:
                renewed = await self._on(lane, runs.heartbeat, [run_id])
            except Exception as exc:
                if not isinstance(fault_of(exc), DatabaseUnavailable):
                    raise
                pause = min(pause * 2, FAULT_PAUSE_SECONDS)
                continue
            if not renewed:
                log.warning(
                    "run %s was marked interrupted while the database was away; "
                    "the next run bills the rest",
                    run_id,
                )
            return bool(renewed)
        return False

    async def _publish_finished(self, lane: str, run: Run) -> None:
        try:
            self.publish("run.finished", await self._on(lane, run_view, run))
        except Exception as exc:  # the run is recorded; only its event is lost
            _logged(f"publishing the end of run {run.id} failed", exc)

    async def _record_failure(
        self, lane: str, run_id: int, error: str, *, until_recorded: bool = False
    ) -> None:
        """Record a run's failure (status ``failed``). ``until_recorded``: the failure is
        a fault of the database or the disk, which may refuse the record too (a full
        disk): it is tried again, with backoff, until it is recorded or the daemon stops,
        so that the run never stays "running" once the fault is gone."""
        pause = FAULT_PAUSE_SECONDS / 16
        while True:
            try:
                run = await self._on(
                    lane, runs.fail_run, self.ctx.acting_as("system"), run_id, error
                )
                break
            except Exception as exc:
                if not until_recorded or fault_of(exc) is None or self.stopping.is_set():
                    log.exception("run %s: recording its failure failed too", run_id)
                    return
                _logged(f"recording the failure of run {run_id} waits", exc)
            await self._pause(pause, wakes=False)
            pause = min(pause * 2, FAULT_PAUSE_SECONDS)
        await self._publish_finished(lane, run)
