"""Billing runs: catch-up, parking, failures per client, progress and the run record.

A run as of a date bills every client's pending slots, one transaction per slot
(R-RUN-2, R-RUN-9). One failing client never stops it (R-RUN-10); a client whose
catch-up would exceed the safety bound, or whose data is inconsistent, is parked
(R-RUN-14). The caller drives the run one client at a time so that it can report
progress, answer the socket in between and stop cleanly on SIGTERM.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from billingd.db.connection import write_transaction
from billingd.db.models import (
    BillGroup,
    Client,
    ParkedClient,
    Run,
    RunError,
    ScheduledSlot,
    utcnow,
)
from billingd.db.prepared import PreparedSelect
from billingd.errors import NotFound
from billingd.services import invoice_actions, invoicing
from billingd.services.audit import record_audit
from billingd.services.context import ServiceContext
from billingd.services.gateway_charges import charge_self_checkout
from billingd.services.lookup import get_or_refuse
from billingd.services.scheduling import (
    SlotTaken,
    bill_slot,
    owner_key,
    pending_slots,
    slot_items,
)
from billingd.views import plain

log = logging.getLogger("billingd.runs")


@dataclass
class ClientResult:
    invoices: int = 0
    documents: int = 0
    emails: int = 0
    charges: int = 0
    parked: bool = False
    error: str | None = None


def billable_client_ids(client_id: int | None = None) -> list[int]:
    """Active clients not parked, or just the one asked for."""
    if client_id is not None:
        get_or_refuse(Client, client_id)
        return [client_id]
    parked = ParkedClient.select(ParkedClient.client).where(ParkedClient.released_at.is_null())
    query = Client.select(Client.id).where((Client.status == "active") & Client.id.not_in(parked))
    return [c.id for c in query.order_by(Client.id)]


def is_parked(client_id: int) -> bool:
    return (
        ParkedClient.select()
        .where((ParkedClient.client == client_id) & ParkedClient.released_at.is_null())
        .exists()
    )


def consistency_problems(client: Client) -> list[str]:
    """Data a run must not guess about (R-RUN-14); an empty list when billable."""
    problems = []
    if client.reseller is not None and client.reseller.enterprise_id != client.enterprise_id:
        problems.append("its reseller belongs to another enterprise")
    for contract in client.contracts:
        if contract.bill_group_id is not None:
            group = BillGroup.get_or_none(BillGroup.id == contract.bill_group_id)
            if group is None or group.client_id != client.id:
                problems.append(f"contract {contract.id} uses another client's bill group")
    return problems


def park(ctx: ServiceContext, client: Client, reason: str) -> None:
    with write_transaction():
        ParkedClient.create(client=client, reason=reason)
        record_audit(ctx, "client.parked", client_id=client.id, subject=client, reason=reason)
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
    return len(rows)


def released_for_catch_up(client: Client) -> bool:
    """An operator released the client and nothing was billed since: the run that
    follows the release bills its whole catch-up, beyond the safety bound (R-RUN-14).

    Later catch-ups are bounded again: the waiver ends with the first slot claimed
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
    billed_since = ScheduledSlot.select().where(
        (ScheduledSlot.owner == owner_key(client)) & (ScheduledSlot.created_at > latest.released_at)
    )
    return not billed_since.exists()


def list_parked() -> list[ParkedClient]:
    return list(
        ParkedClient.select()
        .where(ParkedClient.released_at.is_null())
        .order_by(ParkedClient.parked_at)
    )


def bill_client(
    ctx: ServiceContext, client_id: int, as_of: dt.date, run_id: int | None, limit: int
) -> ClientResult:
    """Bill one client's pending slots, oldest first, each in its own transaction."""
    result = ClientResult()
    client = Client.get_by_id(client_id)
    if is_parked(client_id):
        return result
    problems = consistency_problems(client)
    slots = pending_slots(client, as_of) if not problems else []
    if len(slots) > limit and not released_for_catch_up(client):
        problems.append(
            f"catch-up of {len(slots)} invoices exceeds the safety bound of {limit} per run"
        )
    if problems:
        park(ctx, client, "; ".join(problems))
        result.parked = True
        return result
    for slot in slots:
        try:
            outcome = bill_slot(ctx, client, slot, run_id)
        except SlotTaken:
            continue
        invoice = outcome.invoice
        if invoice is None or invoice.status == "draft":
            continue
        result.invoices += 1
        result.documents += 1
        result.charges += charge_self_checkout(ctx, invoice)
        if client.send_email and client.email:
            invoice_actions.send_invoice(ctx, invoice.id)
            result.emails += 1
    return result


def plan_client(client_id: int, as_of: dt.date) -> list[dict[str, Any]]:
    """What a run would bill for a client: previews, nothing written (dry run)."""
    client = Client.get_by_id(client_id)
    if is_parked(client_id):
        return []
    planned = []
    days = bool(client.invoice_days.strip())
    for slot in pending_slots(client, as_of):
        items = slot_items(client, slot, days)
        if items.lines:
            draft = invoicing.build_draft(
                client, items, slot.issue_date, (slot.period_start, slot.period_end)
            )
            planned.append(invoicing.draft_view(draft))
    return planned


def start_run(ctx: ServiceContext, *, as_of: dt.date, client_id: int | None, trigger: str) -> Run:
    with write_transaction():
        run = Run.create(
            as_of=as_of,
            client_id=client_id,
            trigger=trigger,
            actor=ctx.actor,
            host=socket.gethostname(),
            pid=os.getpid(),
            total=len(billable_client_ids(client_id)),
        )
        record_audit(ctx, "run.started", subject=run, as_of=as_of.isoformat(), trigger=trigger)
    return run


def run_step(ctx: ServiceContext, run_id: int, client_id: int, limit: int) -> Run:
    """Bill one client of a run and record the outcome on the run (R-RUN-10, R-RUN-11)."""
    run = Run.get_by_id(run_id)
    try:
        result = bill_client(ctx, client_id, run.as_of, run_id, limit)
    except Exception as exc:  # one client never stops the run (R-RUN-10)
        log.exception("run %s: client %s failed", run_id, client_id)
        result = ClientResult(error=f"{type(exc).__name__}: {exc}")
    with write_transaction():
        run = Run.get_by_id(run_id)
        run.done += 1
        run.invoices += result.invoices
        run.documents += result.documents
        run.emails += result.emails
        run.charges += result.charges
        run.parked += int(result.parked)
        if result.error:
            run.failures += 1
            RunError.create(run=run, client_id=client_id, message=result.error)
        run.save()
    return run


def finish_run(ctx: ServiceContext, run_id: int, status: str) -> Run:
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
    invoice_actions.approve_due_drafts(ctx, run.as_of)
    return run


def run_all(
    ctx: ServiceContext,
    *,
    as_of: dt.date,
    client_id: int | None = None,
    limit: int = 24,
    trigger: str = "manual",
) -> Run:
    """A whole run in one call (tests and ``billingctl run`` via the daemon's runner)."""
    run = start_run(ctx, as_of=as_of, client_id=client_id, trigger=trigger)
    for cid in billable_client_ids(client_id):
        run_step(ctx, run.id, cid, limit)
    return finish_run(ctx, run.id, "done")


def iter_dry_run(as_of: dt.date, client_id: int | None = None) -> Iterator[dict[str, Any]]:
    for cid in billable_client_ids(client_id):
        yield from plan_client(cid, as_of)


def mark_interrupted_runs() -> int:
    """Runs of this host whose process is gone were cut short by a crash."""
    stale = 0
    host = socket.gethostname()
    for run in Run.select().where((Run.status == "running") & (Run.host == host)):
        if run.pid == os.getpid() or _alive(run.pid):
            continue
        with write_transaction():
            run.status = "interrupted"
            run.finished_at = utcnow()
            run.save()
        stale += 1
    return stale


def _alive(pid: int) -> bool:
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
