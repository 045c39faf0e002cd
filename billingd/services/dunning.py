"""Dunning: payment reminders on each enterprise's plan, with fees and interest (R-DUN-1).

The daemon's scheduler calls :func:`run_due` on every pass (at least hourly, and for
every day the test clock moves past). For each issued client invoice still open after
its due date, the next step of its enterprise's plan is taken once its day has come —
one step per invoice per pass, in order (the rules are in :mod:`billingd.domain.dunning`).

Taking a step is one transaction (:func:`take_step`): the :class:`DunningNotice` row,
whose unique key ``(invoice, step)`` makes a step impossible to take twice (a second
pass, a restart, a second daemon on the database), the fee and interest as charges
(a pending charge billed on the client's next invoice, or an invoice of their own,
by the plan's ``charge_mode``), the audit event ``dunning.reminder_sent``, the
``reminder.sent`` event for notifiers and subscribers, and the reminder email in the
outbox under the dedupe key ``reminder:<invoice>:<step>``. Rolled back together, or
committed together.

Dunning waits while the invoice is disputed (``Invoice.dispute``), paused by an
operator (``dunning pause``) or has a gateway payment being processed (a charge
attempt ``pending`` or ``requires_action``, or a failed one whose retry is still
scheduled, R-RUN-7), and stops for good once it is paid, credited to zero or void; a
reminder email still waiting in the outbox then (a mail server that was down) is
cancelled at the next pass. Invoices for reminder fees
(origin ``dunning``) and resellers' invoices are not dunned.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections.abc import Iterable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import peewee

from billingd.db.connection import read_transaction, write_transaction
from billingd.db.models import (
    ChargeAttempt,
    Client,
    DunningNotice,
    DunningPlan,
    Enterprise,
    Invoice,
    OutboxMessage,
    PendingCharge,
)
from billingd.domain import dunning as rules
from billingd.domain.totals import Totals
from billingd.errors import Conflict, RuleViolation, ValidationError
from billingd.services import mail, notifications, outbox
from billingd.services.audit import record_audit
from billingd.services.billing_items import (
    BillableItems,
    DraftLine,
    default_tax_rate,
    vat_parties,
    with_vat,
)
from billingd.services.context import ServiceContext
from billingd.services.lookup import find_invoice, get_or_refuse
from billingd.views import plain

if TYPE_CHECKING:
    from billingd.plugins import PluginHost

log = logging.getLogger("billingd.dunning")

DUNNED_STATUSES = ("open", "partial")
PENDING_PAYMENT = ("pending", "requires_action")
ORIGIN = "dunning"
"""The origin of an invoice for reminder fees and interest (never dunned itself)."""


# -- the plan -----------------------------------------------------------------------------


def get_plan(enterprise_id: int) -> DunningPlan | None:
    get_or_refuse(Enterprise, enterprise_id)
    return DunningPlan.get_or_none(DunningPlan.enterprise == enterprise_id)


def set_plan(
    ctx: ServiceContext,
    enterprise_id: int,
    *,
    steps: Iterable[dict[str, Any] | str] | None = None,
    charge_mode: str | None = None,
) -> DunningPlan:
    """Set an enterprise's plan (steps, charge mode or both); ValidationError naming the
    field, nothing written. Notices already sent keep their step numbers."""
    if charge_mode is not None and charge_mode not in rules.CHARGE_MODES:
        raise ValidationError(
            f"charge_mode must be one of {', '.join(rules.CHARGE_MODES)}, got {charge_mode!r}",
            field="charge_mode",
        )
    with write_transaction():
        enterprise = get_or_refuse(Enterprise, enterprise_id)
        checked = None if steps is None else rules.validate_steps(steps, enterprise.currency)
        plan = DunningPlan.get_or_none(DunningPlan.enterprise == enterprise)
        old = plan_view_of(enterprise.id, plan)
        if plan is None:
            plan = DunningPlan(enterprise=enterprise)
        if checked is not None:
            plan.steps = [step.view() for step in checked]
        if charge_mode is not None:
            plan.charge_mode = charge_mode
        plan.actor = ctx.actor
        plan.updated_at = ctx.now_utc()
        plan.save()
        record_audit(
            ctx,
            "dunning.plan_set",
            subject=enterprise,
            steps=[old["steps"], plan.steps],
            charge_mode=[old["charge_mode"], plan.charge_mode],
        )
        ctx.emit("dunning.plan_set", {"enterprise_id": enterprise.id})
    return plan


def plan_view_of(enterprise_id: int, plan: DunningPlan | None) -> dict[str, Any]:
    """The `DunningPlan` object; an enterprise without a plan has no steps."""
    if plan is None:
        return {
            "enterprise_id": enterprise_id,
            "charge_mode": "next_invoice",
            "steps": [],
            "actor": None,
            "updated_at": None,
        }
    return {
        "enterprise_id": plan.enterprise_id,
        "charge_mode": plan.charge_mode,
        "steps": [step.view() for step in rules.steps_of(plan.steps)],
        "actor": plan.actor,
        "updated_at": plain(plan.updated_at),
    }


# -- pause and resume ---------------------------------------------------------------------


def set_paused(ctx: ServiceContext, invoice: int | str, paused: bool) -> Invoice:
    """``dunning pause`` / ``dunning resume`` an invoice (audited)."""
    with write_transaction():
        target = find_invoice(invoice, lock=True)
        if target.status in ("draft", "void"):
            raise RuleViolation("R-DUN-1", f"a {target.status} invoice is not dunned")
        if target.dunning_paused != paused:
            target.dunning_paused = paused
            target.save()
            event = "dunning.paused" if paused else "dunning.resumed"
            record_audit(
                ctx,
                event,
                client_id=target.client_id,
                subject=target,
                number=target.number,
                dunning_paused=[not paused, paused],
            )
            ctx.emit(event, {"invoice_id": target.id, "number": target.number})
    return target


# -- what has been taken ------------------------------------------------------------------


def _taken(notices: Iterable[DunningNotice]) -> list[rules.Taken]:
    return [
        rules.Taken(n.step, n.notice_date, n.days_overdue, Decimal(n.interest) > 0) for n in notices
    ]


def _notices_by_invoice(invoice_ids: list[int]) -> dict[int, list[DunningNotice]]:
    found: dict[int, list[DunningNotice]] = {i: [] for i in invoice_ids}
    for start in range(0, len(invoice_ids), 900):
        chunk = invoice_ids[start : start + 900]
        query = DunningNotice.select().where(DunningNotice.invoice.in_(chunk))
        for notice in query.order_by(DunningNotice.step):
            found[notice.invoice_id].append(notice)
    return found


def _payment_pending(invoice_ids: list[int]) -> set[int]:
    pending: set[int] = set()
    for start in range(0, len(invoice_ids), 900):
        chunk = invoice_ids[start : start + 900]
        query = ChargeAttempt.select(ChargeAttempt.invoice).where(
            ChargeAttempt.invoice.in_(chunk)
            & (
                ChargeAttempt.status.in_(PENDING_PAYMENT)
                | ((ChargeAttempt.status == "failed") & ChargeAttempt.retry_at.is_null(False))
            )
        )
        pending.update(row.invoice_id for row in query)
    return pending


def hold_reason(invoice: Invoice, payment_pending: bool) -> str | None:
    """Why dunning waits for an invoice now (disputed, paused, payment_pending), or None."""
    if (invoice.dispute or "").strip():
        return "disputed"
    if invoice.dunning_paused:
        return "paused"
    if payment_pending:
        return "payment_pending"
    return None


def _dunned(invoice: Invoice) -> bool:
    return (
        invoice.client_id is not None
        and invoice.origin != ORIGIN
        and invoice.status in DUNNED_STATUSES
        and invoice.due_date is not None
        and Decimal(invoice.balance) > 0
    )


# -- the daily pass -----------------------------------------------------------------------


def run_due(ctx: ServiceContext) -> list[DunningNotice]:
    """Take the due step of every overdue invoice, each in a transaction of its own, as
    of ``ctx``'s clock (the day in each enterprise's timezone), after withdrawing the
    waiting reminders of settled invoices. Events of the steps taken are added to
    ``ctx.events``. One invoice's failure is logged and skipped."""
    withdraw_stale_reminders(ctx)
    taken: list[DunningNotice] = []
    for invoice_id in due_invoice_ids(ctx):
        step_ctx = ctx.acting_as(ctx.actor)
        try:
            notice = take_step(step_ctx, invoice_id)
        except peewee.IntegrityError:  # another daemon took this step first
            log.info("dunning: invoice %s's step was taken by another process", invoice_id)
            continue
        except Exception:
            log.exception("dunning: invoice %s failed; the others go on", invoice_id)
            continue
        if notice is not None:
            taken.append(notice)
            ctx.events.extend(step_ctx.events)
    return taken


def stale_reason(invoice: Invoice) -> str | None:
    """Why a reminder about ``invoice`` should no longer go out: ``void``, or
    ``settled`` (paid or credited in full); None while it is still owed."""
    if invoice.status == "void":
        return "void"
    if invoice.status not in DUNNED_STATUSES or Decimal(invoice.balance) <= 0:
        return "settled"
    return None


def withdraw_stale_reminders(ctx: ServiceContext) -> int:
    """Cancel the reminder emails still waiting in the outbox (a mail server that was
    down) whose invoice was paid, credited in full or voided since: dunning stops the
    moment the invoice is settled. Each cancel is audited (``outbox.cancelled``). A
    reminder that was due when sent still goes out after a dispute or a pause."""
    waiting = list(
        OutboxMessage.select(OutboxMessage.id, OutboxMessage.invoice)
        .where(
            (OutboxMessage.kind == "reminder")
            & (OutboxMessage.state == "queued")
            & OutboxMessage.invoice.is_null(False)
        )
        .order_by(OutboxMessage.id)
    )
    withdrawn = 0
    for message in waiting:
        invoice = Invoice.get_or_none(Invoice.id == message.invoice_id)
        if invoice is None or stale_reason(invoice) is None:
            continue
        step_ctx = ctx.acting_as(ctx.actor)
        try:
            outbox.cancel(step_ctx, message.id)
        except Conflict:  # claimed or sent meanwhile
            continue
        withdrawn += 1
        ctx.events.extend(step_ctx.events)
    return withdrawn


def due_invoice_ids(ctx: ServiceContext) -> list[int]:
    """The invoices with a step due today (read only; :func:`take_step` checks again)."""
    due: list[int] = []
    with read_transaction():
        plans = list(DunningPlan.select(DunningPlan, Enterprise).join(Enterprise))
        for plan in plans:
            steps = rules.steps_of(plan.steps)
            if not steps:
                continue
            today = ctx.today(plan.enterprise.timezone)
            first_day = today - dt.timedelta(days=steps[0].days)
            candidates = [
                invoice
                for invoice in Invoice.select().where(
                    (Invoice.enterprise == plan.enterprise_id)
                    & Invoice.status.in_(DUNNED_STATUSES)
                    & Invoice.client.is_null(False)
                    & (Invoice.origin != ORIGIN)
                    & (Invoice.due_date <= first_day)
                    & (Invoice.dunning_paused == False)  # noqa: E712 - SQL
                    & (Invoice.dispute == "")
                )
                if _dunned(invoice) and not (invoice.dispute or "").strip()
            ]
            ids = [invoice.id for invoice in candidates]
            notices = _notices_by_invoice(ids)
            pending = _payment_pending(ids)
            for invoice in candidates:
                if invoice.id in pending:
                    continue
                if rules.due_step(steps, invoice.due_date, today, _taken(notices[invoice.id])):
                    due.append(invoice.id)
    return sorted(due)


def take_step(ctx: ServiceContext, invoice_id: int) -> DunningNotice | None:
    """Take the step due today for one invoice, or nothing: notice, charges, audit,
    events and the reminder email, in one transaction."""
    with write_transaction():
        invoice = find_invoice(invoice_id, lock=True)
        if not _dunned(invoice):
            return None
        plan = DunningPlan.get_or_none(DunningPlan.enterprise == invoice.enterprise_id)
        if plan is None:
            return None
        pending = bool(_payment_pending([invoice.id]))
        if hold_reason(invoice, pending) is not None:
            return None
        enterprise = invoice.enterprise
        today = ctx.today(enterprise.timezone)
        notices = list(invoice.dunning_notices.order_by(DunningNotice.step))
        reminder = rules.reminder_for(
            rules.steps_of(plan.steps),
            due_date=invoice.due_date,
            today=today,
            balance=Decimal(invoice.balance),
            currency=invoice.currency,
            taken=_taken(notices),
        )
        if reminder is None:
            return None
        if (
            DunningNotice.select()
            .where((DunningNotice.invoice == invoice) & (DunningNotice.step == reminder.step))
            .exists()
        ):
            return None  # the unique key would refuse it: never twice
        client = invoice.client
        charge, fee_invoice = _charge(ctx, plan, invoice, client, reminder)
        notice = DunningNotice.create(
            invoice=invoice,
            step=reminder.step,
            name=reminder.name,
            notice_date=reminder.notice_date,
            days_overdue=reminder.days_overdue,
            balance=reminder.balance,
            fee=reminder.fee,
            interest=reminder.interest,
            charge=charge,
            fee_invoice=fee_invoice,
            actor=ctx.actor,
            created_at=ctx.now_utc(),
        )
        payload = notice_event(notice, invoice)
        record_audit(
            ctx,
            "dunning.reminder_sent",
            client_id=invoice.client_id,
            subject=invoice,
            notice_id=notice.id,
            number=invoice.number,
            step=notice.step,
            name=notice.name,
            notice_date=plain(notice.notice_date),
            days_overdue=notice.days_overdue,
            balance=str(notice.balance),
            fee=str(notice.fee),
            interest=str(notice.interest),
            interest_days=reminder.interest_days,
            charge_mode=plan.charge_mode,
            charge_id=charge.id if charge is not None else None,
            fee_invoice=fee_invoice.number if fee_invoice is not None else None,
        )
        ctx.emit("reminder.sent", payload)
        notifications.notify(ctx, "reminder.sent", payload, client=client, invoice=invoice)
        outbox.enqueue(
            ctx,
            channel=outbox.EMAIL,
            kind="reminder",
            recipients=mail.invoice_recipients(invoice),
            invoice=invoice,
            client=client,
            enterprise=enterprise,
            language=client.language or "en",
            payload={"notice_id": notice.id},
            dedupe_key=f"reminder:{invoice.id}:{notice.step}",
        )
    return notice


def _charge(
    ctx: ServiceContext,
    plan: DunningPlan,
    invoice: Invoice,
    client: Client,
    reminder: rules.Reminder,
) -> tuple[PendingCharge | None, Invoice | None]:
    """The fee and interest as charges, by the plan's charge mode; nothing when both
    are zero. They are net amounts, taxed like any other one-time charge."""
    items = [
        (kind, amount, text)
        for kind, amount, text in (
            ("fee", reminder.fee, f"Reminder fee: {reminder.name}"),
            (
                "interest",
                reminder.interest,
                f"Default interest, {reminder.interest_days} days",
            ),
        )
        if amount > 0
    ]
    if not items:
        return None, None
    about = f"invoice {invoice.number}, {reminder.name} (step {reminder.step})"
    if plan.charge_mode == "reminder_invoice":
        return None, _fee_invoice(ctx, invoice, client, items, about)
    described = " and ".join("fee" if kind == "fee" else "interest" for kind, _, _ in items)
    charge = PendingCharge.create(
        client=client,
        description=f"Reminder {described} for {about}",
        amount=reminder.charged,
        notes="; ".join(f"{text}: {amount}" for _, amount, text in items),
        created_at=ctx.now_utc(),
    )
    record_audit(
        ctx,
        "charge.added",
        client_id=client.id,
        subject=charge,
        description=charge.description,
        amount=str(charge.amount),
        origin=ORIGIN,
    )
    return charge, None


def _fee_invoice(
    ctx: ServiceContext,
    invoice: Invoice,
    client: Client,
    items: list[tuple[str, Decimal, str]],
    about: str,
) -> Invoice:
    """An invoice of its own for the reminder's fee and interest, issued today."""
    from billingd.services import invoicing  # invoicing imports much; only needed here

    rate = default_tax_rate(client)
    lines = [
        DraftLine(
            kind=f"dunning_{kind}",
            description=f"{text} — {about}",
            quantity=Decimal(1),
            unit_price=amount,
            net=amount,
            tax_rate=rate,
        )
        for kind, amount, text in items
    ]
    lines = with_vat(lines, vat_parties(client))
    totals: Totals = invoicing.line_totals(lines, client.currency)
    draft = invoicing.Draft(
        client,
        ctx.today(invoice.enterprise.timezone),
        None,
        None,
        lines,
        totals,
        BillableItems(),
        bill_group=invoice.bill_group,
    )
    return invoicing.persist(ctx, draft, origin=ORIGIN)


def notice_event(notice: DunningNotice, invoice: Invoice) -> dict[str, Any]:
    """The ``reminder.sent`` payload."""
    return {
        "notice_id": notice.id,
        "invoice_id": invoice.id,
        "number": invoice.number,
        "client_id": invoice.client_id,
        "step": notice.step,
        "name": notice.name,
        "notice_date": plain(notice.notice_date),
        "days_overdue": notice.days_overdue,
        "balance": str(notice.balance),
        "fee": str(notice.fee),
        "interest": str(notice.interest),
        "currency": invoice.currency,
    }


# -- reading the state --------------------------------------------------------------------


def notice_view(notice: DunningNotice) -> dict[str, Any]:
    """The `DunningNotice` object."""
    return {
        "id": notice.id,
        "invoice_id": notice.invoice_id,
        "step": notice.step,
        "name": notice.name,
        "notice_date": plain(notice.notice_date),
        "days_overdue": notice.days_overdue,
        "balance": str(notice.balance),
        "fee": str(notice.fee),
        "interest": str(notice.interest),
        "charge_id": notice.charge_id,
        "fee_invoice_id": notice.fee_invoice_id,
        "actor": notice.actor,
        "created_at": plain(notice.created_at),
    }


def state_view(
    ctx: ServiceContext,
    invoice: Invoice,
    plan: DunningPlan | None,
    notices: list[DunningNotice],
    payment_pending: bool,
    today: dt.date | None = None,
) -> dict[str, Any]:
    """The `DunningState` of an invoice: where it stands in its enterprise's plan
    (``today``: the enterprise's day, when the caller knows it)."""
    steps = rules.steps_of(plan.steps) if plan is not None else []
    if today is None:
        today = ctx.today(invoice.enterprise.timezone)
    last = notices[-1] if notices else None
    upcoming = (
        rules.next_step(steps, invoice.due_date, _taken(notices))
        if invoice.due_date is not None
        else None
    )
    hold = hold_reason(invoice, payment_pending)
    if not _dunned(invoice):
        state = "closed"
    elif not steps:
        state = "no_plan"
    elif hold is not None:
        state = hold
    elif upcoming is None:
        state = "completed"
    else:
        state = "active"
    return {
        "invoice_id": invoice.id,
        "number": invoice.number,
        "client_id": invoice.client_id,
        "enterprise_id": invoice.enterprise_id,
        "status": invoice.status,
        "currency": invoice.currency,
        "due_date": plain(invoice.due_date),
        "balance": str(invoice.balance),
        "days_overdue": rules.days_overdue(invoice.due_date, today) if invoice.due_date else 0,
        "state": state,
        "last_step": last.step if last else None,
        "last_step_name": last.name if last else None,
        "last_notice_date": plain(last.notice_date) if last else None,
        "next_step": upcoming[0] if upcoming and state != "closed" else None,
        "next_step_name": steps[upcoming[0] - 1].name if upcoming and state != "closed" else None,
        "next_step_date": plain(upcoming[1]) if upcoming and state != "closed" else None,
        "paused": bool(invoice.dunning_paused),
        "disputed": bool((invoice.dispute or "").strip()),
        "dispute": invoice.dispute or "",
        "payment_pending": payment_pending,
        "notices": [notice_view(n) for n in notices],
    }


def invoice_state(ctx: ServiceContext, invoice: int | str) -> dict[str, Any]:
    """One invoice's `DunningState`."""
    with read_transaction():
        target = find_invoice(invoice)
        plan = DunningPlan.get_or_none(DunningPlan.enterprise == target.enterprise_id)
        notices = _notices_by_invoice([target.id])[target.id]
        pending = bool(_payment_pending([target.id]))
        return state_view(ctx, target, plan, notices, pending)


def list_states(
    ctx: ServiceContext,
    *,
    client_id: int | None = None,
    enterprise_id: int | None = None,
    limit: int = 500,
) -> list[dict[str, Any]]:
    """Overdue client invoices (open after their due date) and the invoices with notices
    still open, oldest due first, with their dunning state."""
    with read_transaction():
        if client_id is not None:
            get_or_refuse(Client, client_id)
        if enterprise_id is not None:
            get_or_refuse(Enterprise, enterprise_id)
        query = Invoice.select().where(
            Invoice.status.in_(DUNNED_STATUSES)
            & Invoice.client.is_null(False)
            & Invoice.due_date.is_null(False)
            & (Invoice.origin != ORIGIN)
        )
        if client_id is not None:
            query = query.where(Invoice.client == client_id)
        if enterprise_id is not None:
            query = query.where(Invoice.enterprise == enterprise_id)
        plans = {p.enterprise_id: p for p in DunningPlan.select()}
        enterprises = Enterprise.select(Enterprise.id, Enterprise.timezone)
        days = {e.id: ctx.today(e.timezone) for e in enterprises}
        rows = []
        for invoice in query.order_by(Invoice.due_date, Invoice.id):
            if invoice.due_date >= days[invoice.enterprise_id]:
                continue
            if Decimal(invoice.balance) <= 0:
                continue
            rows.append(invoice)
            if len(rows) >= limit:
                break
        ids = [invoice.id for invoice in rows]
        notices = _notices_by_invoice(ids)
        pending = _payment_pending(ids)
        return [
            state_view(
                ctx,
                i,
                plans.get(i.enterprise_id),
                notices[i.id],
                i.id in pending,
                days[i.enterprise_id],
            )
            for i in rows
        ]


# -- the reminder document ----------------------------------------------------------------


def reminder_document(notice: DunningNotice) -> dict[str, Any]:
    """The reminder as a renderer receives it: the overdue invoice's document with kind
    ``reminder``, ``reminder_level``, ``fee`` and ``interest``, and the balance open on
    the notice's date (docs/documents.md)."""
    from billingd.services.document_data import invoice_document

    document = invoice_document(notice.invoice)
    total = Decimal(document["total"])
    document.update(
        kind="reminder",
        reminder_level=notice.name,
        reminder_step=notice.step,
        notice_date=plain(notice.notice_date),
        days_overdue=notice.days_overdue,
        fee=str(notice.fee),
        interest=str(notice.interest),
        balance=str(notice.balance),
        paid=str(total - Decimal(notice.balance)),
    )
    document["payment"] = {
        **document["payment"],
        "terms": "This reminder was issued on "
        f"{plain(notice.notice_date)}, {notice.days_overdue} days after the due date. "
        "Please pay the amount due without further delay.",
    }
    return document


def reminder_context(notice_id: int) -> dict[str, Any]:
    """What the reminder mail templates (``templates/mail/reminder.<lang>.*``) may use
    besides the parties: ``invoice`` (number, issue_date, due_date, total, balance —
    open on the notice's date —, currency, …) and ``notice`` (name, step, fee,
    interest, days_overdue, notice_date, amount_due)."""
    notice = get_or_refuse(DunningNotice, notice_id)
    invoice = notice.invoice
    return {
        "invoice": {
            "id": invoice.id,
            "number": invoice.number or "",
            "issue_date": plain(invoice.issue_date) or "",
            "due_date": plain(invoice.due_date) or "",
            "total": str(invoice.total),
            "balance": str(notice.balance),
            "currency": invoice.currency,
            "status": invoice.status,
        },
        "notice": {
            "id": notice.id,
            "name": notice.name,
            "step": notice.step,
            "fee": str(notice.fee),
            "interest": str(notice.interest),
            "days_overdue": notice.days_overdue,
            "notice_date": plain(notice.notice_date),
            "amount_due": str(Decimal(notice.balance) + notice.fee + notice.interest),
        },
    }


def reminder_file_name(notice: DunningNotice) -> str:
    from billingd.services.documents import stem

    invoice = notice.invoice
    return f"reminder-{stem(invoice.number, invoice.id)}-{notice.step}.pdf"


def reminder_attachment(
    notice_id: int,
    ctx: ServiceContext | None = None,
    *,
    plugins: PluginHost | None = None,
    template_dirs: Sequence[Path] | None = None,
) -> tuple[str, bytes]:
    """The reminder PDF of a notice, rendered now in-process: ``(file name, PDF bytes)``.

    The renderer is the ``pdf`` plugin of ``plugins``, else of ``ctx``, else of the
    installed plugins loaded once with their default settings; the templates are
    searched in ``template_dirs``, else ``ctx``'s (the operator's directory first),
    else the packaged ones. The brand's ``reminder_template`` picks the template.
    """
    from billingd.rendering import default_template_dirs
    from billingd.services.documents import render_with, template_dirs_of

    notice = get_or_refuse(DunningNotice, notice_id)
    document = reminder_document(notice)
    host = plugins or (ctx.plugins if ctx is not None else None) or _default_plugins()
    if template_dirs is not None:
        dirs = list(template_dirs)
    else:
        dirs = template_dirs_of(ctx) if ctx is not None else default_template_dirs()
    return reminder_file_name(notice), render_with(host, dirs, "pdf", document).data


@functools.cache
def _default_plugins() -> PluginHost:
    from billingd.plugins import load_plugins

    return load_plugins({}, None)
