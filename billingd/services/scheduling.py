"""What a scheduled run bills for one client, and billing one slot (R-RUN-2..9, R-RUN-13).

A client with invoice days is billed on those days for the period since the
previous one; a client without is billed per contract cycle: advance cycles on
their first day, arrears cycles the day after their last, together with the
usage before that day. Each (client, billing date) is claimed once in
``ScheduledSlot`` in the same transaction as its invoice, so nothing is billed
twice and nothing is skipped, across re-runs, crashes and several daemons.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import peewee

from billingd.db.connection import is_postgres, write_transaction
from billingd.db.models import ChargeAttempt, Client, Contract, Invoice, ScheduledSlot
from billingd.domain.invoice_days import parse_invoice_days
from billingd.domain.periods import local_date, period_bounds
from billingd.domain.schedule import Slot, invoice_day_slots
from billingd.services import invoicing
from billingd.services.billing_items import (
    BillableItems,
    charge_items,
    contract_items,
    default_tax_rate,
    due_cycles,
    is_unanchored_manual,
    owner_contracts,
    usage_items,
)
from billingd.services.context import ServiceContext
from billingd.services.parties import default_bill_group

ONE_DAY = dt.timedelta(days=1)


class SlotTaken(Exception):
    """Another run (or daemon) already billed this slot."""


class _NothingDue(Exception):
    """Rolls back the claim of a per-cycle slot that turned out to bill nothing."""


@dataclass(frozen=True)
class Outcome:
    slot: Slot
    invoice: Invoice | None


def owner_key(client: Client) -> str:
    return f"client:{client.id}"


def self_checkout_blocked(contract: Contract) -> bool:
    """A self-checkout contract with a failed, unsettled charge bills no further cycle (R-RUN-7)."""
    failed = (
        ChargeAttempt.select()
        .join(Invoice)
        .where(
            (ChargeAttempt.contract == contract)
            & (ChargeAttempt.status == "failed")
            & Invoice.status.in_(("open", "partial"))
        )
    )
    return failed.exists()


def schedulable_contracts(client: Client) -> list[Contract]:
    """The contracts a scheduled run may bill (R-RUN-5..8)."""
    found = []
    for contract in owner_contracts(client):
        group = contract.bill_group
        if group is not None and (group.status != "active" or group.invoicing != "auto"):
            continue
        if is_unanchored_manual(contract):
            continue
        if contract.origin == "self_checkout" and self_checkout_blocked(contract):
            continue
        found.append(contract)
    return found


def billing_floor(contract: Contract, timezone: str) -> dt.date:
    """The first billing day a run may bill: imported contracts are not back-billed (R-RUN-8)."""
    if contract.origin != "imported":
        return dt.date.min
    return local_date(contract.created_at, timezone)


def billing_start(client: Client, contracts: list[Contract]) -> dt.date:
    timezone = client.enterprise.timezone
    starts = [c.start_date for c in contracts]
    created = local_date(client.created_at, timezone)
    return min([*starts, created])


def cycle_slots(client: Client, contracts: list[Contract], as_of: dt.date) -> list[Slot]:
    """Billing dates of a client without invoice days: one slot per date any cycle is due."""
    timezone = client.enterprise.timezone
    by_date: dict[dt.date, list[tuple[dt.date, dt.date]]] = {}
    for contract in contracts:
        for _whole, part in due_cycles(contract, dt.date.min, as_of):
            day = part.start if contract.timing == "advance" else part.end + ONE_DAY
            if billing_floor(contract, timezone) <= day <= as_of:
                by_date.setdefault(day, []).append((part.start, part.end))
    return [
        Slot(day, min(s for s, _ in spans), max(e for _, e in spans))
        for day, spans in sorted(by_date.items())
    ]


def pending_slots(client: Client, as_of: dt.date) -> list[Slot]:
    """Every slot due on or before ``as_of`` that is not claimed yet (R-RUN-2)."""
    contracts = schedulable_contracts(client)
    days = parse_invoice_days(client.invoice_days)
    if days:
        slots = invoice_day_slots(days, billing_start(client, contracts), as_of)
    else:
        slots = cycle_slots(client, contracts, as_of)
    claimed = {
        s.slot
        for s in ScheduledSlot.select(ScheduledSlot.slot).where(
            ScheduledSlot.owner == owner_key(client)
        )
    }
    return [s for s in slots if s.issue_date not in claimed]


def slot_items(client: Client, slot: Slot, invoice_days: bool) -> BillableItems:
    """What the invoice of one slot holds; late usage comes along labelled (R-RUN-13).

    With invoice days, every cycle due by the period's end and not billed yet is
    included (so cycles held back, e.g. by a failed self-checkout charge, catch up);
    per cycle, the cycles due on the slot's date.
    """
    timezone = client.enterprise.timezone
    currency, rate = client.currency, default_tax_rate(client)
    if invoice_days:

        def window(c: Contract) -> tuple[dt.date, dt.date]:
            return billing_floor(c, timezone), slot.period_end

        usage_from, usage_to = slot.period_start, slot.period_end
    else:

        def window(c: Contract) -> tuple[dt.date, dt.date]:
            day = slot.issue_date if c.timing == "advance" else slot.issue_date - ONE_DAY
            return day, day

        usage_from, usage_to = slot.period_start, slot.issue_date - ONE_DAY
    items = contract_items(schedulable_contracts(client), window, currency)
    items.extend(charge_items(client, slot.issue_date, rate))
    if usage_to >= usage_from:
        lo, hi = period_bounds(usage_from, usage_to, timezone)
        items.extend(usage_items([client.id], lo, hi, rate, currency, timezone, late=True))
    return items


def _lock_owner(key: str) -> None:
    """On PostgreSQL, serialise daemons working on the same client."""
    if is_postgres():
        ScheduledSlot._meta.database.execute_sql(
            "SELECT pg_advisory_xact_lock(hashtext(%s))", (key,)
        )


def bill_slot(ctx: ServiceContext, client: Client, slot: Slot, run_id: int | None) -> Outcome:
    """Claim one slot and issue (or draft) its invoice, all in one transaction."""
    try:
        return _bill_slot(ctx, client, slot, run_id)
    except _NothingDue:
        return Outcome(slot, None)


def _bill_slot(ctx: ServiceContext, client: Client, slot: Slot, run_id: int | None) -> Outcome:
    key = owner_key(client)
    invoice_days = bool(parse_invoice_days(client.invoice_days))
    with write_transaction():
        _lock_owner(key)
        if (
            ScheduledSlot.select()
            .where((ScheduledSlot.owner == key) & (ScheduledSlot.slot == slot.issue_date))
            .exists()
        ):
            raise SlotTaken(f"{key} {slot.issue_date}")
        try:
            with write_transaction():
                claim = ScheduledSlot.create(
                    owner=key,
                    slot=slot.issue_date,
                    period_start=slot.period_start,
                    period_end=slot.period_end,
                    run_id=run_id,
                )
        except peewee.IntegrityError:
            raise SlotTaken(f"{key} {slot.issue_date}") from None
        items = slot_items(client, slot, invoice_days)
        if not items.lines:
            if not invoice_days:  # nothing due after all (a held-back cycle): keep it open
                raise _NothingDue
            return Outcome(slot, None)
        draft = invoicing.build_draft(
            client, items, slot.issue_date, (slot.period_start, slot.period_end)
        )
        if default_bill_group(client).review_days > 0:
            invoice = invoicing.persist_draft(ctx, draft, origin="schedule")
        else:
            invoice = invoicing.persist(ctx, draft, origin="schedule")
        claim.invoice = invoice
        claim.save()
    return Outcome(slot, invoice)
