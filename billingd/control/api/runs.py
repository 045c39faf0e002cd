"""Methods for billing runs, the parked queue, review drafts and the test clock."""

from __future__ import annotations

import datetime as dt
from typing import Any

from billingd.control.params import Bool, Date, Int, PositiveInt, Ref, Str
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
        planned = list(runs.iter_dry_run(as_of, client))
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


def clock_view(ctx: ServiceContext) -> dict[str, Any]:
    """Which clock, its now, and when the scheduler runs next (None: not scheduled)."""
    runner = ctx.runner
    return {
        "clock": "test" if getattr(ctx.clock, "is_test", False) else "system",
        "now": ctx.clock.now().isoformat().replace("+00:00", "Z"),
        "next_run": runner.next_run.isoformat().replace("+00:00", "Z")
        if runner is not None and runner.next_run
        else None,
    }


def _wake(ctx: ServiceContext) -> None:
    """Let the scheduler re-check what is due: the clock or the data changed."""
    if ctx.runner is not None:
        ctx.runner.wake()


def _clock_moved(ctx: ServiceContext) -> dict[str, Any]:
    _wake(ctx)
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
    to=Str(required=True),
)
def clock_set(ctx: ServiceContext, to: str) -> dict[str, Any]:
    """Move the test clock to an instant (ISO 8601, UTC if no offset); never backwards."""
    clock = _test_clock(ctx)
    try:
        clock.set(dt.datetime.fromisoformat(to.replace("Z", "+00:00")))
    except ValueError as exc:
        raise ValidationError(str(exc), field="to") from None
    return _clock_moved(ctx)


@method(
    "clock.advance",
    writes=True,
    result="`{clock, now, next_run}` after the move",
    admin_only=True,
    by=Str(required=True),
)
def clock_advance(ctx: ServiceContext, by: str) -> dict[str, Any]:
    """Move the test clock forward by a duration such as 31d, 12h, 2w."""
    clock = _test_clock(ctx)
    try:
        clock.advance(by)
    except ValueError as exc:
        raise ValidationError(str(exc), field="by") from None
    return _clock_moved(ctx)
