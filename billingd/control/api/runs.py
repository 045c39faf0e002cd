"""Methods for billing runs, the parked queue, review drafts and the test clock."""

from __future__ import annotations

import datetime as dt
from typing import Any

from billingd.clock import ClockRefused
from billingd.control.params import Bool, Date, Instant, Int, PositiveInt, Ref, Str
from billingd.control.registry import method
from billingd.db.models import Run
from billingd.errors import RuleViolation, ValidationError
from billingd.services import invoice_actions, runs
from billingd.services.context import ServiceContext
from billingd.services.lookup import get_or_refuse
from billingd.views import invoice_view, plain, run_view


def _as_of(ctx: ServiceContext, until: dt.date | None) -> dt.date:
    if until is not None:
        return until
    timezone = ctx.runner.settings.timezone if ctx.runner else "UTC"
    return ctx.today(timezone)


@method(
    "run.start",
    writes=True,
    result=(
        "the started `Run` (follow it with `run.show` or `run.` events); with `dry_run`, `{dry_run,"
        " as_of, invoices}`: the list of `Invoice` it would issue (`id` and `number` null), nothing"
        " written"
    ),
    until=Date(help="bill everything due on or before this day"),
    client=Int(),
    dry_run=Bool(default=False),
)
def run_start(
    ctx: ServiceContext, dry_run: bool, until: Any = None, client: int | None = None
) -> dict[str, Any]:
    """Bill now: every invoice due up to a date, for all clients or one (R-RUN-1, R-RUN-2)."""
    as_of = _as_of(ctx, until)
    if dry_run:
        planned = list(runs.iter_dry_run(as_of, client, ctx.today))
        return {"dry_run": True, "as_of": as_of.isoformat(), "invoices": planned}
    if ctx.runner is None:
        raise RuleViolation("R-RUN-1", "no scheduler is running in this daemon")
    run = runs.start_run(ctx, as_of=as_of, client_id=client, trigger="manual")
    ctx.runner.enqueue(run.id)
    return run_view(run)


@method(
    "run.list", writes=False, result="list of `Run`, newest first", limit=PositiveInt(default=20)
)
def run_list(ctx: ServiceContext, limit: int) -> list[dict[str, Any]]:
    """Recent runs, newest first (R-RUN-11)."""
    return [run_view(r) for r in Run.select().order_by(Run.id.desc()).limit(min(limit, 500))]


@method("run.show", writes=False, result="the `Run`", id=Int(required=True))
def run_show(ctx: ServiceContext, id: int) -> dict[str, Any]:
    """One run with its counts and errors."""
    return run_view(get_or_refuse(Run, id))


@method("parked.list", writes=False, result="list of `{client_id, client, reason, parked_at}`")
def parked_list(ctx: ServiceContext) -> list[dict[str, Any]]:
    """Clients the scheduler will not bill until released, with the reason (R-RUN-14)."""
    return [
        {
            "client_id": p.client_id,
            "client": p.client.name,
            "reason": p.reason,
            "parked_at": plain(p.parked_at),
        }
        for p in runs.list_parked()
    ]


@method(
    "parked.release",
    writes=True,
    result="`{client_id, released}`: released is false when the client was not parked",
    client=Int(required=True),
)
def parked_release(ctx: ServiceContext, client: int) -> dict[str, Any]:
    """Release a parked client; the next run bills it."""
    released = runs.release(ctx, client)
    _wake(ctx)
    return {"client_id": client, "released": released}


@method("invoice.approve", writes=True, result="the issued `Invoice`", invoice=Ref(required=True))
def invoice_approve(ctx: ServiceContext, invoice: Any) -> dict[str, Any]:
    """Issue a draft from the review window (R-RUN-12)."""
    return invoice_view(invoice_actions.approve_invoice(ctx, invoice))


def _test_clock(ctx: ServiceContext):  # type: ignore[no-untyped-def]
    if not getattr(ctx.clock, "is_test", False):
        raise RuleViolation("R-RUN-15", "the test clock is off: set 'clock: test' in the config")
    return ctx.clock


def _instant_text(instant: dt.datetime) -> str:
    return instant.isoformat().replace("+00:00", "Z")


def clock_view(ctx: ServiceContext) -> dict[str, Any]:
    """Which clock, its now, and when the scheduler runs next (None: not scheduled).

    The clock is read once; the next run is computed from that reading, the test
    clock's when it is on (R-RUN-15).
    """
    runner = ctx.runner
    now = ctx.clock.now()
    next_run = runner.next_run_at(now) if runner is not None else None
    return {
        "clock": "test" if getattr(ctx.clock, "is_test", False) else "system",
        "now": _instant_text(now),
        "next_run": _instant_text(next_run) if next_run is not None else None,
    }


def _wake(ctx: ServiceContext) -> None:
    """Let the scheduler re-check what is due: the clock or the data changed."""
    if ctx.runner is not None:
        ctx.runner.wake()


def _move_clock(ctx: ServiceContext, field: str, move: Any) -> dict[str, Any]:
    """Move the test clock with ``move(clock)`` (it returns the new now); the scheduler
    performs each fire time passed at its own instant (R-RUN-15), and the reply waits
    for it (a while at most: a ``next_run`` still before ``now`` is being performed)."""
    clock = _test_clock(ctx)
    try:
        target = move(clock)
    except ClockRefused as exc:
        raise RuleViolation("R-RUN-15", str(exc), field=field) from None
    except ValueError as exc:
        raise ValidationError(str(exc), field=field) from None
    if ctx.runner is not None:
        ctx.runner.catch_up(target)
    return clock_view(ctx)


@method(
    "clock.show",
    writes=False,
    result=(
        "`{clock, now, next_run}`: `system` or `test`, the daemon's now (UTC), the next scheduled "
        "run or null"
    ),
    quick=True,
)
def clock_show(ctx: ServiceContext) -> dict[str, Any]:
    """The daemon's now and the next scheduled run (R-RUN-15)."""
    return clock_view(ctx)


@method(
    "clock.set",
    writes=True,
    result="`{clock, now, next_run}` after the move",
    admin_only=True,
    to=Instant(required=True, help="ISO 8601, UTC unless an offset is given"),
)
def clock_set(ctx: ServiceContext, to: dt.datetime) -> dict[str, Any]:
    """Move the test clock to an instant; backwards only until the first document is issued.

    The test clock stays within 1970-01-01 and 2199-12-31 (UTC). On a fresh database it
    may move to any instant, also backwards; once an invoice number or a credit note was
    issued it only moves forward (R-RUN-15, error 1002). The move is performed like
    `clock.advance`'s.
    """
    return _move_clock(ctx, "to", lambda clock: clock.set(to))


@method(
    "clock.advance",
    writes=True,
    result="`{clock, now, next_run}` after the move",
    admin_only=True,
    by=Str(required=True, help="a duration such as 31d, 12h, 2w, 90m, 30s"),
)
def clock_advance(ctx: ServiceContext, by: str) -> dict[str, Any]:
    """Move the test clock forward by a duration such as 31d, 12h, 2w.

    Each scheduled fire time passed is performed as if that time had passed (R-RUN-15):
    one scheduled run per fire time, in order, each at its own instant (as of its local
    date), and the contracts' creation billing in time order between them; the reply
    comes when they are done (after 30 s at the latest: a `next_run` before `now` is
    still being performed). More than 400 fire times in one move (more than a year of
    nightly runs) are collapsed: only the last is performed; the daemon logs it and the
    run's `run.started` audit event says `collapsed`. With the system clock the
    scheduler sleeps instead: fire times it slept through (a suspended host) are one
    run.
    """
    return _move_clock(ctx, "by", lambda clock: clock.advance(by))
