"""Billing runs: catch-up, parking, failures per client, progress and the run record.

A run as of a date bills every client's pending slots, one transaction per slot
(R-RUN-2, R-RUN-9). One failing client never stops it (R-RUN-10); a client whose
catch-up would exceed the safety bound, or whose data is inconsistent, is parked
(R-RUN-14). The caller drives the run in batches of owners (:func:`run_batch`), so
that it can report progress, answer the socket in between and stop cleanly on SIGTERM.

A batch is one transaction with a savepoint per owner: a failing owner rolls back
its savepoint only and is recorded as the run's error (R-RUN-10); the numbers are
drawn inside the transaction, so a crash loses the whole batch and never leaves a
gap or a half-billed owner (R-NUM-3, R-RUN-9).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
import socket
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from typing import Any

from peewee import fn

from billingd.clock import SystemClock, frozen
from billingd.clock import today as clock_today
from billingd.db.connection import write_transaction
from billingd.db.faults import fault_of
from billingd.db.models import (
    Client,
    Invoice,
    ParkedClient,
    Reseller,
    Run,
    RunError,
    utcnow,
)
from billingd.db.prepared import PreparedSelect
from billingd.errors import NotFound
from billingd.services import invoice_actions, invoicing, notifications
from billingd.services.audit import record_audit
from billingd.services.context import ServiceContext
from billingd.services.gateway_charges import charge_self_checkout
from billingd.services.lookup import get_or_refuse
from billingd.services.owner_records import (
    Batch,
    OwnerRecords,
    charged_through_gateway,
    load_batch,
)
from billingd.services.scheduling import (
    IssueDates,
    OwnerPlan,
    SlotTaken,
    bill_planned,
    plan_owner,
)
from billingd.views import plain

log = logging.getLogger("billingd.runs")

OwnerKey = int | str  # a client id, or ``reseller:ID``


@dataclass
class ClientResult:
    invoices: int = 0
    documents: int = 0
    emails: int = 0
    charges: int = 0
    parked: bool = False
    error: str | None = None


def billable_client_ids(
    client_id: int | None = None, clients: Collection[int] | None = None
) -> list[OwnerKey]:
    """Active clients not parked, then active resellers (``reseller:ID``, R-RUN-16); or
    just the client asked for; or, of ``clients`` (a run over an import's clients), the
    active ones not parked."""
    if client_id is not None:
        get_or_refuse(Client, client_id)
        return [client_id]
    parked = ParkedClient.select(ParkedClient.client).where(ParkedClient.released_at.is_null())
    query = Client.select(Client.id).where((Client.status == "active") & Client.id.not_in(parked))
    if clients is not None:
        wanted = set(clients)
        return [c.id for c in query.order_by(Client.id) if c.id in wanted]
    resellers = Reseller.select(Reseller.id).where(Reseller.status == "active")
    return [c.id for c in query.order_by(Client.id)] + [
        f"reseller:{r.id}" for r in resellers.order_by(Reseller.id)
    ]


def is_parked(client_id: int) -> bool:
    return (
        ParkedClient.select()
        .where((ParkedClient.client == client_id) & ParkedClient.released_at.is_null())
        .exists()
    )


def consistency_problems(client: Client, records: OwnerRecords) -> list[str]:
    """Data a run must not guess about (R-RUN-14); an empty list when billable."""
    problems = []
    if client.reseller is not None and client.reseller.enterprise_id != client.enterprise_id:
        problems.append("its reseller belongs to another enterprise")
    own_groups = {group.id for group in records.bill_groups}
    for contract in records.contracts:
        if contract.bill_group_id is not None and contract.bill_group_id not in own_groups:
            problems.append(f"contract {contract.id} uses another client's bill group")
    return problems


def park(ctx: ServiceContext, client: Client, reason: str) -> None:
    with write_transaction():
        ParkedClient.create(client=client, reason=reason)
        record_audit(ctx, "client.parked", client_id=client.id, subject=client, reason=reason)
        notifications.notify(
            ctx, "client.parked", {"client_id": client.id, "name": client.name, "reason": reason},
            client=client,
        )  # fmt: skip
    ctx.emit("client.parked", {"client_id": client.id, "reason": reason})


def release(ctx: ServiceContext, client_id: int) -> int:
    """Release a parked client; the next run bills it."""
    with write_transaction():
        rows = list(
            ParkedClient.select().where(
                (ParkedClient.client == client_id) & ParkedClient.released_at.is_null()
            )
        )
        if not rows:
            raise NotFound(f"client {client_id} is not parked", client=client_id)
        for row in rows:
            row.released_at = utcnow()
            row.released_by = ctx.actor
            row.save()
        record_audit(ctx, "client.released", client_id=client_id)
    ctx.emit("client.released", {"client_id": client_id})
    return len(rows)


def released_for_catch_up(client: Client) -> bool:
    """An operator released the client and nothing was billed since: the run that
    follows the release bills its whole catch-up, beyond the safety bound (R-RUN-14).

    Later catch-ups are bounded again: the waiver ends with the first invoice created
    after the release.
    """
    latest = (
        ParkedClient.select()
        .where(ParkedClient.client == client.id)
        .order_by(ParkedClient.id.desc())
        .first()
    )
    if latest is None or latest.released_at is None:
        return False
    invoiced_since = Invoice.select(Invoice.id).where(
        (Invoice.client == client.id) & (Invoice.created_at > latest.released_at)
    )
    return not invoiced_since.exists()


def list_parked() -> list[ParkedClient]:
    return list(
        ParkedClient.select()
        .where(ParkedClient.released_at.is_null())
        .order_by(ParkedClient.parked_at)
    )


def record_key(key: OwnerKey) -> str:
    """A run's owner key as the batch reads it: ``client:ID`` or ``reseller:ID``."""
    return f"client:{key}" if isinstance(key, int) else key


def find_owner(key: OwnerKey) -> Client | Reseller:
    """The client or reseller a run's step bills: a client id, or ``reseller:ID``."""
    if isinstance(key, int):
        return Client.get_by_id(key)
    kind, _, number = key.partition(":")
    return (Client if kind == "client" else Reseller).get_by_id(int(number))


def bill_client(
    ctx: ServiceContext, client_id: OwnerKey, as_of: dt.date, limit: int, batch: Batch | None = None
) -> ClientResult:
    """Bill one owner's plan, oldest billing date first, one savepoint per invoice.

    ``batch`` is what the run's batch read of its owners; without it, the owner is
    read now the same way.
    """
    result = ClientResult()
    key = record_key(client_id)
    batch = batch if batch is not None else load_batch([key])
    owner = batch.owner(key)
    client = owner if isinstance(owner, Client) else None
    if client is not None and client.id in batch.parked:
        return result
    records = batch.records[key]
    problems = consistency_problems(client, records) if client is not None else []
    plan = plan_owner(owner, as_of, records) if not problems else OwnerPlan([])
    dates = {d.billing_date for d in plan.drafts}
    if client is not None and len(dates) > limit and not released_for_catch_up(client):
        problems.append(
            f"catch-up of {len(dates)} invoices exceeds the safety bound of {limit} per run"
        )
    if problems and client is not None:
        park(ctx, client, "; ".join(problems))
        result.parked = True
        return result
    issue_dates = IssueDates(ctx.today)
    charges = charged_through_gateway(records)
    # a self-checkout charge decides whether its contract's next cycle is due (R-RUN-7)
    while _bill_plan(ctx, owner, plan, issue_dates, result, charges):
        plan = plan_owner(owner, as_of)
    return result


def _bill_plan(
    ctx: ServiceContext,
    owner: Client | Reseller,
    plan: OwnerPlan,
    issue_dates: IssueDates,
    result: ClientResult,
    charges: bool,
) -> bool:
    """Issue a plan's invoices in order; stop after a self-checkout charge (True), which
    is asked for only when the owner ``charges`` through a gateway."""
    client = owner if isinstance(owner, Client) else None
    for planned in plan.drafts:
        try:
            invoice = bill_planned(ctx, planned, issue_dates.date_for(owner, planned.billing_date))
        except SlotTaken:
            return False  # another daemon is billing this owner: the next run re-plans
        if invoice.status == "draft":
            continue
        result.invoices += 1
        result.documents += 1
        if client is not None and client.send_email and invoice.bill_to.get("email"):
            # within a batch, the transaction that issued it holds it: not read again
            held = Invoice._meta.database.in_transaction()
            invoice_actions.send_invoice(ctx, invoice if held else invoice.id)
            result.emails += 1
        if charges and charge_self_checkout(ctx, invoice):
            result.charges += 1
            return True
    return False


def plan_client(
    client_id: OwnerKey, as_of: dt.date, dating: IssueDates, batch: Batch | None = None
) -> list[dict[str, Any]]:
    """What a run would bill for an owner: previews, nothing written (dry run).

    The same plan the run issues, read and dated the same way (R-RUN-16).
    """
    key = record_key(client_id)
    batch = batch if batch is not None else load_batch([key])
    owner = batch.owner(key)
    if isinstance(owner, Client) and owner.id in batch.parked:
        return []
    planned = []
    for draft_plan in plan_owner(owner, as_of, batch.records[key]).drafts:
        draft = invoicing.build_draft(
            owner,
            draft_plan.items,
            dating.date_for(owner, draft_plan.billing_date),
            draft_plan.period,
        )
        draft.billing_date = draft_plan.billing_date
        draft.bill_group = draft_plan.group
        planned.append(invoicing.draft_view(draft))
    return planned


def start_run(
    ctx: ServiceContext,
    *,
    as_of: dt.date,
    client_id: int | None,
    trigger: str,
    clients: Collection[int] | None = None,
    **details: Any,
) -> Run:
    """Record a run (status running, its lease taken now) of one client, of ``clients``,
    or of all (both None); ``details`` go to the audit."""
    clients = sorted(clients) if clients is not None else None
    with write_transaction():
        run = Run.create(
            as_of=as_of,
            client_id=client_id,
            clients=clients,
            trigger=trigger,
            actor=ctx.actor,
            host=socket.gethostname(),
            pid=os.getpid(),
            heartbeat_at=utcnow(),
            total=len(billable_client_ids(client_id, clients)),
        )
        record_audit(
            ctx, "run.started", subject=run, as_of=as_of.isoformat(), trigger=trigger, **details
        )
    return run


def describe_error(exc: BaseException) -> str:
    """How a failure is recorded on a run: the exception's type and message; a fault of
    the database or the disk as such (``database unavailable: …``, ``disk full: …``)."""
    fault = fault_of(exc)
    return fault.message if fault is not None else f"{type(exc).__name__}: {exc}"


def run_step(ctx: ServiceContext, run_id: int, client_id: OwnerKey, limit: int) -> Run:
    """Bill one client of a run and record the outcome on the run (R-RUN-10, R-RUN-11).

    A client whose billing fails in this run and failed in the previous run that
    included it is parked with the error as the reason (R-RUN-14), instead of failing
    at every run.
    """
    run = Run.get_by_id(run_id)
    try:
        result = bill_client(ctx, client_id, run.as_of, limit)
    except Exception as exc:  # one client never stops the run (R-RUN-10)
        if fault_of(exc) is not None:  # the database's fault, not the client's
            raise
        log.exception("run %s: client %s failed", run_id, client_id)
        result = ClientResult(error=describe_error(exc))
    with write_transaction():
        run = Run.get_by_id(run_id)
        record_outcome(ctx, run, client_id, result)
        run.heartbeat_at = utcnow()
        run.save()
    return run


def record_outcome(ctx: ServiceContext, run: Run, key: OwnerKey, result: ClientResult) -> None:
    """Add one owner's outcome to the run's figures (saved by the caller) and record its
    error; a client failing in two consecutive runs is parked (R-RUN-14). Call inside
    the transaction that saves the run."""
    # a reseller's step (``reseller:ID``) is named in the message: the column is a client's
    client = key if isinstance(key, int) else None
    message = result.error if client is not None else f"{key}: {result.error}"
    run.done += 1
    run.invoices += result.invoices
    run.documents += result.documents
    run.emails += result.emails
    run.charges += result.charges
    run.parked += int(result.parked)
    if result.error:
        run.failures += 1
        RunError.create(run=run, client_id=client, message=message)
        if client is not None and failed_in_previous_run(client, run):
            reason = f"billing failed in two consecutive runs: {result.error}"
            park(ctx, Client.get_by_id(client), reason)
            run.parked += 1


def failed_in_previous_run(client_id: int, run: Run) -> bool:
    """Whether the last earlier run that billed ``client_id`` failed for it (R-RUN-14).

    Runs count from the client's latest release (a released client gets two tries
    again). A finished run without an error for the client billed it; a run cut short
    (interrupted, failed) without one may not have reached it and is passed over.
    """
    released = (
        ParkedClient.select(fn.MAX(ParkedClient.released_at))
        .where(ParkedClient.client == client_id)
        .scalar()
    )
    earlier = Run.select(Run.id, Run.status, Run.clients).where(
        (Run.id < run.id)
        & (Run.dry_run == False)  # noqa: E712 (SQL)
        & (Run.status != "running")
        & ((Run.client_id == client_id) | Run.client_id.is_null())
    )
    if released is not None:
        earlier = earlier.where(Run.started_at > released)
    for previous in earlier.order_by(Run.id.desc()).limit(PREVIOUS_RUNS_SEEN):
        if previous.clients is not None and client_id not in previous.clients:
            continue  # a run over other clients
        failed = RunError.select().where(
            (RunError.run == previous.id) & (RunError.client_id == client_id)
        )
        if failed.exists():
            return True
        if previous.status == "done":
            return False
    return False


PREVIOUS_RUNS_SEEN = 20
"""How far back :func:`failed_in_previous_run` looks past runs cut short."""


def finish_run(ctx: ServiceContext, run_id: int, status: str) -> Run:
    """End a run: issue the drafts whose review window ended (R-RUN-12), then record the
    status. An error on the way is the caller's to record with :func:`fail_run`."""
    invoice_actions.approve_due_drafts(ctx, Run.get_by_id(run_id).as_of)
    with write_transaction():
        run = Run.get_by_id(run_id)
        run.status = status
        run.finished_at = utcnow()
        run.save()
        record_audit(
            ctx,
            "run.finished",
            subject=run,
            status=status,
            invoices=run.invoices,
            failures=run.failures,
        )
        if run.failures or run.parked:
            _notify_failures(ctx, run)
    return run


def _notify_failures(ctx: ServiceContext, run: Run) -> None:
    """Tell the operators (R-DEL-5) of a run that failed or left clients behind."""
    first = run.errors.order_by(RunError.id).first()
    notifications.notify(
        ctx,
        "run.failed",
        lambda: {
            "id": run.id, "as_of": str(run.as_of), "status": run.status,
            "invoices": run.invoices, "failures": run.failures, "parked": run.parked,
            "first_error": first.message if first is not None else "",
        },
    )  # fmt: skip


def fail_run(ctx: ServiceContext, run_id: int, error: str) -> Run:
    """A run stopped by an error of its own (not one client's, R-RUN-10): recorded on the
    run with status ``failed``, so that it never stays ``running`` (issue 9, defect 11).
    A run that ended meanwhile (recorded by a try whose reply the database lost) is
    left as it is."""
    with write_transaction():
        run = Run.get_by_id(run_id)
        if run.status != "running":
            return run
        run.status = "failed"
        run.finished_at = utcnow()
        run.failures += 1
        run.save()
        RunError.create(run=run, client_id=None, message=error)
        record_audit(
            ctx,
            "run.finished",
            subject=run,
            status="failed",
            invoices=run.invoices,
            failures=run.failures,
            error=error,
        )
        _notify_failures(ctx, run)
    return run


BATCH_SIZE = 200
"""Owners a scheduler's step bills in one transaction (:func:`run_batch`)."""


def run_batch(
    ctx: ServiceContext,
    run_id: int,
    keys: list[OwnerKey],
    limit: int,
    stop: Callable[[], bool] = lambda: False,
    again_from: int | None = None,
) -> Run:
    """Bill a batch of a run's owners in one transaction and record the outcomes on the
    run (R-RUN-10, R-RUN-11); ``stop()`` is asked between owners (SIGTERM): what was
    billed so far is committed and the rest of the batch is left.

    ``again_from`` bills a batch again after the database failed in it (issue 14): the
    run's count of owners done before it. What of it was committed then (its commit
    may have reached the server unanswered, or its gateway owners' own transactions)
    is found billed and issues nothing twice (R-RUN-9); the count starts over from it.

    Each owner is billed in a savepoint: a failure rolls back that owner's invoices and
    events only. The owners a gateway charges (R-RUN-7) are billed after the commit,
    each on its own as :func:`run_step` does: a charge is asked for only once its
    attempt is committed, never from inside a batch.
    """
    alone: list[OwnerKey] = []
    with write_transaction():
        held = dataclasses.replace(ctx, clock=frozen(ctx.clock))  # the same event queue
        run = Run.get_by_id(run_id)
        if again_from is not None:
            run.done = again_from
        batch = load_batch(record_key(key) for key in keys)
        for key in keys:
            if stop():
                break
            records = batch.records.get(record_key(key))
            if records is not None and charged_through_gateway(records):
                alone.append(key)
                continue
            record_outcome(held, run, key, _bill_in_savepoint(held, run, key, limit, batch))
        run.heartbeat_at = utcnow()
        run.save()
    for key in alone:
        if stop():
            break
        run = run_step(ctx, run_id, key, limit)
    return run


def _bill_in_savepoint(
    ctx: ServiceContext, run: Run, key: OwnerKey, limit: int, batch: Batch
) -> ClientResult:
    """One owner of a batch; a failure rolls back its savepoint and its events."""
    mark = len(ctx.events)
    try:
        with write_transaction():  # nested: a savepoint
            return bill_client(ctx, key, run.as_of, limit, batch)
    except Exception as exc:  # one client never stops the run (R-RUN-10)
        if fault_of(exc) is not None:  # the database's fault: the whole batch fails
            raise
        log.exception("run %s: client %s failed", run.id, key)
        del ctx.events[mark:]
        return ClientResult(error=describe_error(exc))


def run_all(
    ctx: ServiceContext,
    *,
    as_of: dt.date,
    client_id: int | None = None,
    limit: int = 24,
    trigger: str = "manual",
) -> Run:
    """A whole run in one call, in batches as the daemon's scheduler bills it (tests,
    benchmarks)."""
    run = start_run(ctx, as_of=as_of, client_id=client_id, trigger=trigger)
    keys = billable_client_ids(client_id)
    for start in range(0, len(keys), BATCH_SIZE):
        run_batch(ctx, run.id, keys[start : start + BATCH_SIZE], limit)
    return finish_run(ctx, run.id, "done")


def iter_dry_run(
    as_of: dt.date, client_id: int | None = None, today: Callable[[str], dt.date] | None = None
) -> Iterator[dict[str, Any]]:
    """The invoices a run as of ``as_of`` would issue, in the run's order (R-RUN-16);
    ``today`` gives the generation day per timezone (the daemon's clock)."""
    dating = IssueDates(today or (lambda timezone: clock_today(SystemClock(), timezone)))
    keys = billable_client_ids(client_id)
    for start in range(0, len(keys), BATCH_SIZE):
        batch_keys = keys[start : start + BATCH_SIZE]
        batch = load_batch(record_key(key) for key in batch_keys)
        for key in batch_keys:
            yield from plan_client(key, as_of, dating, batch)


RUN_LEASE = dt.timedelta(seconds=60)
"""A running run whose heartbeat is older than this was cut short: its daemon crashed,
was killed, or lost its host (defect 14). Its daemon renews the heartbeat every few
seconds (``billingd.scheduler.HEARTBEAT_SECONDS``) while the run is queued or executing."""


def heartbeat(run_ids: Collection[int]) -> int:
    """Renew the lease of the runs this process is executing or has queued."""
    if not run_ids:
        return 0
    with write_transaction():
        return (
            Run.update(heartbeat_at=utcnow())
            .where(Run.id.in_(sorted(run_ids)) & (Run.status == "running"))
            .execute()
        )


def _cut_short(now: dt.datetime, lease: dt.timedelta, keep: Collection[int]) -> Any:
    """The running runs whose process is gone (see :func:`mark_interrupted_runs`)."""
    beat = fn.COALESCE(Run.heartbeat_at, Run.started_at)
    gone = [
        run.id
        for run in Run.select(Run.id, Run.pid).where(
            (Run.status == "running") & (Run.host == socket.gethostname())
        )
        if run.pid != os.getpid() and not _alive(run.pid)
    ]
    cut_short = (Run.status == "running") & ((beat < now - lease) | Run.id.in_(gone))
    if keep:
        cut_short &= Run.id.not_in(sorted(keep))
    return cut_short


def interrupted_runs(lease: dt.timedelta = RUN_LEASE) -> list[Run]:
    """The runs left "running" whose process is gone, as :func:`mark_interrupted_runs`
    would mark them; reads only (``billingd doctor``)."""
    return list(Run.select().where(_cut_short(utcnow(), lease, ())).order_by(Run.id))


def mark_interrupted_runs(lease: dt.timedelta = RUN_LEASE, keep: Collection[int] = ()) -> int:
    """Mark as interrupted the running runs whose process is gone; how many.

    The lease decides, on any host and whatever the pid: a run whose heartbeat (or
    start, before its first one) is older than ``lease``. A zombie or a reused pid no
    longer keeps a dead run "running". One shortcut is certain: a run of this host
    whose pid no longer exists is gone at once (a restart after a crash need not wait
    for the lease). ``keep`` are this process's own runs.
    """
    return len(interrupt_abandoned(lease, keep))


def interrupt_abandoned(lease: dt.timedelta = RUN_LEASE, keep: Collection[int] = ()) -> list[Run]:
    """:func:`mark_interrupted_runs`, giving the runs it marked (a daemon takes over the
    work of another one that died: ``billingd.scheduler``)."""
    now = utcnow()
    cut_short = _cut_short(now, lease, keep)
    found = [run.id for run in Run.select(Run.id).where(cut_short)]
    if not found:  # the usual case: no write at all
        return []
    marked = []
    with write_transaction():
        for run_id in found:  # one by one: of daemons marking at once, one marks each
            mark = Run.update(status="interrupted", finished_at=now)
            if mark.where(cut_short & (Run.id == run_id)).execute():
                marked.append(run_id)
    return list(Run.select().where(Run.id.in_(marked)).order_by(Run.id)) if marked else []


def _alive(pid: int) -> bool:
    """Whether a process with this pid exists here (it may be a zombie or another one)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def progress(run: Run) -> dict[str, Any]:
    """The live figures of a run, for progress events (R-RUN-11)."""
    return {
        "run_id": run.id,
        "done": run.done,
        "total": run.total,
        "invoices": run.invoices,
        "failures": run.failures,
        "parked": run.parked,
    }


LAST_RUN_COLUMNS = (
    "id",
    "as_of",
    "trigger",
    "status",
    "started_at",
    "finished_at",
    "total",
    "done",
    "invoices",
    "failures",
    "parked",
)
LAST_RUN = PreparedSelect(
    lambda: (
        Run.select(*(Run._meta.columns[name] for name in LAST_RUN_COLUMNS))
        .order_by(Run.id.desc())
        .limit(1)
    )
)


def last_run_summary() -> dict[str, Any] | None:
    """The newest run's figures (status reports it to monitoring), or None before the first."""
    row = LAST_RUN.first()
    if row is None:
        return None
    return {name: plain(value) for name, value in zip(LAST_RUN_COLUMNS, row, strict=True)}
