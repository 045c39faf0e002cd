"""The database against the model, and the invariants that hold after every step.

Every check reads the stored state through ``billingd.db.models`` only and returns a
list of problems (empty when all is well), so one step reports everything wrong at
once. Item keys are the model's (see ``model.py``).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from decimal import Decimal
from typing import Any

from billingd.db.models import (
    BilledCycle,
    Invoice,
    InvoiceLine,
    PendingCharge,
    PriceOverride,
    UsageRecord,
)
from billingd.money import quantize
from billingd.services import doctor

from .model import CURRENCY, Expected, Item, Key, Model, Owner


def expected_totals(items: list[Item]) -> tuple[Decimal, Decimal]:
    """Subtotal and tax: tax once per rate over the nets at that rate [R-MONEY-2]."""
    by_rate: dict[Decimal, Decimal] = {}
    for item in items:
        by_rate[item.rate.normalize()] = by_rate.get(item.rate.normalize(), Decimal(0)) + item.net
    tax = sum((quantize(n * r / 100, CURRENCY) for r, n in by_rate.items()), Decimal(0))
    return sum((i.net for i in items), Decimal(0)), tax


def report(title: str, problems: list[str], most: int = 12) -> str:
    """An assertion message: the title and the first problems."""
    more = [f"... and {len(problems) - most} more"] if len(problems) > most else []
    return "\n".join([title, *problems[:most], *more])


def describe(key: Key) -> str:
    kind = key[0]
    if kind == "cycle":
        return f"contract {key[1]} cycle {key[2]}"
    if kind == "usage":
        return f"usage {key[1]} to its {key[2]}"
    if kind == "charge":
        return f"charge {key[1]}"
    return f"override {key[2]} of contract {key[1]}"


def stored_billing() -> dict[Key, int]:
    """Every billable item the database holds as billed, and the invoice that bills it."""
    found: dict[Key, int] = {}
    for row in BilledCycle.select():
        found["cycle", row.contract_id, row.cycle_start] = row.invoice_id
    for record in UsageRecord.select():
        if record.invoice_id is not None:
            found["usage", record.id, "client"] = record.invoice_id
        if record.reseller_invoice_id is not None:
            found["usage", record.id, "reseller"] = record.reseller_invoice_id
    for charge in PendingCharge.select().where(PendingCharge.invoice.is_null(False)):
        found["charge", charge.id] = charge.invoice_id
    for override in PriceOverride.select().where(PriceOverride.invoice.is_null(False)):
        found["override", override.contract_id, override.id] = override.invoice_id
    return found


def owner_of(invoice: Invoice) -> Owner:
    return ("client", invoice.client_id) if invoice.client_id else ("reseller", invoice.reseller_id)


def state_problems(model: Model) -> list[str]:
    """(a) every item the model holds billed is billed exactly there; nothing else is."""
    stored, problems = stored_billing(), []
    for key, invoice in sorted(model.billed.items(), key=str):
        if key not in stored:
            problems.append(f"{describe(key)} is due on invoice {invoice} but not billed")
        elif stored[key] != invoice:
            problems.append(f"{describe(key)} is on invoice {stored[key]}, not {invoice}")
    for key, invoice in sorted(stored.items(), key=str):
        if key not in model.billed:
            problems.append(f"{describe(key)} is billed on invoice {invoice} but not due")
    for charge in PendingCharge.select():
        if (charge.status == "invoiced") != (charge.invoice_id is not None):
            problems.append(
                f"charge {charge.id} is {charge.status} with invoice {charge.invoice_id}"
            )
    return problems


def invoice_problems(
    invoice_id: int, items: list[Item], expected: Expected | None, today: dt.date
) -> list[str]:
    """One invoice against the items the model puts on it: owner, bill group, billing
    date and issue date [R-RUN-17, R-NUM-6], line nets and totals [R-MONEY-2]."""
    invoice = Invoice.get_by_id(invoice_id)
    name, problems = f"invoice {invoice_id} ({invoice.number})", []
    owners = {i.owner for i in items}
    groups = {i.group for i in items}
    if owners != {owner_of(invoice)}:
        problems.append(f"{name} is for {owner_of(invoice)}, its items for {owners}")
    if len(groups) == 1 and groups != {invoice.bill_group_id}:
        problems.append(f"{name} is of bill group {invoice.bill_group_id}, its items of {groups}")
    elif len(groups) > 1:
        problems.append(f"{name} mixes bill groups {groups}")
    if invoice.issue_date != today:
        problems.append(f"{name} is dated {invoice.issue_date}, generated on {today}")
    if expected is not None:
        if (invoice.origin, invoice.billing_date) != ("schedule", expected.billing_date):
            problems.append(
                f"{name}: {invoice.origin} for {invoice.billing_date}, "
                f"expected a scheduled invoice for {expected.billing_date}"
            )
        if invoice.status not in ("open", "paid", "partial"):
            problems.append(f"{name} is {invoice.status}")
    lines = list(invoice.lines.order_by(InvoiceLine.position))
    cycles = {(x.contract_id, x.cycle_start): x.net for x in lines if x.kind == "contract"}
    want_cycles = {i.key[1:]: i.net for i in items if i.key[0] == "cycle"}
    if cycles != want_cycles:
        problems.append(f"{name}: cycle lines {_plain(cycles)}, expected {_plain(want_cycles)}")
    for kind, item_kind in (("usage", "usage"), ("charge", "charge"), ("adjustment", "override")):
        got = sum((x.net for x in lines if x.kind == kind), Decimal(0))
        want = sum((i.net for i in items if i.key[0] == item_kind), Decimal(0))
        if got != want:
            problems.append(f"{name}: {kind} lines add up to {got}, expected {want}")
    others = {x.kind for x in lines} - {"contract", "usage", "charge", "adjustment"}
    if others:
        problems.append(f"{name} has lines of kind {others}")
    subtotal, tax = expected_totals(items)
    if (invoice.subtotal, invoice.tax, invoice.total) != (subtotal, tax, subtotal + tax):
        problems.append(
            f"{name}: subtotal/tax/total {invoice.subtotal}/{invoice.tax}/{invoice.total}, "
            f"expected {subtotal}/{tax}/{subtotal + tax}"
        )
    return problems


def _plain(mapping: dict) -> str:
    return str({f"{k[0]}@{k[1]}": str(v) for k, v in sorted(mapping.items(), key=str)})


def match_run(
    model: Model, plan: list[Expected], new: set[int], today: dt.date
) -> tuple[list[str], list[tuple[Expected, int]]]:
    """The invoices a run issued against the model's plan: one invoice per planned
    one, holding exactly its items, and nothing else issued [R-RUN-9, R-RUN-16]."""
    stored, problems, matched = stored_billing(), [], []
    for expected in plan:
        where = {stored.get(i.key) for i in expected.items}
        label = f"{expected.owner} bill group {expected.group} billing date {expected.billing_date}"
        keys = sorted(describe(i.key) for i in expected.items)
        if len(where) != 1 or None in where or not where <= new:
            problems.append(f"{label}: expected one new invoice with {keys}; on {where}")
            continue
        invoice = where.pop()
        if invoice in {m[1] for m in matched}:
            problems.append(f"{label}: its items are on invoice {invoice} with another's")
            continue
        matched.append((expected, invoice))
        held = {k for k, v in stored.items() if v == invoice}
        if held != {i.key for i in expected.items}:
            extra = sorted(describe(k) for k in held - {i.key for i in expected.items})
            problems.append(f"{label}: invoice {invoice} also bills {extra}")
            continue
        problems += invoice_problems(invoice, expected.items, expected, today)
    for invoice in sorted(new - {m[1] for m in matched}):
        row = Invoice.get_by_id(invoice)
        held = sorted(describe(k) for k, v in stored.items() if v == invoice)
        problems.append(
            f"unexpected invoice {invoice} for {owner_of(row)} group {row.bill_group_id} "
            f"billing date {row.billing_date} total {row.total} billing {held}"
        )
    return problems, matched


def operator_problems(
    model: Model, invoices: list[int], must: dict[Key, Item], may: dict[Key, Item], today: dt.date
) -> tuple[list[str], list[tuple[int, list[Item]]]]:
    """Invoices an operator created (period, reissue): each bills only what it may,
    together all that they must [R-INV-1, R-INV-9, R-RUN-6]."""
    stored, problems, billed = stored_billing(), [], []
    allowed = {**may, **must}
    seen: set[Key] = set()
    for invoice in invoices:
        held = {k for k, v in stored.items() if v == invoice}
        unexpected = sorted(describe(k) for k in held - set(allowed))
        if unexpected:
            problems.append(f"invoice {invoice} bills {unexpected}, which it may not")
        items = model.priced([allowed[k] for k in held if k in allowed])
        problems += invoice_problems(invoice, items, None, today)
        billed.append((invoice, items))
        seen |= held
    missing = sorted(describe(k) for k in set(must) - seen)
    if missing:
        problems.append(f"the operator's invoice(s) {invoices} leave out {missing}")
    return problems, billed


def signature(view: dict[str, Any]) -> tuple:
    nets = sorted(Decimal(line["net"]) for line in view["lines"])
    return (
        view.get("client_id"),
        view.get("reseller_id"),
        view.get("bill_group_id"),
        str(view.get("billing_date")),
        Decimal(view["total"]),
        tuple(nets),
    )


def dry_run_problems(previews: list[dict[str, Any]], new: set[int]) -> list[str]:
    """(b) a dry run right before a run projects exactly what the run issues [R-RUN-16]."""
    issued = []
    for invoice in Invoice.select().where(Invoice.id.in_(list(new))):
        lines = [{"net": str(x.net)} for x in invoice.lines]
        issued.append(
            signature(
                {
                    "client_id": invoice.client_id,
                    "reseller_id": invoice.reseller_id,
                    "bill_group_id": invoice.bill_group_id,
                    "billing_date": invoice.billing_date,
                    "total": invoice.total,
                    "lines": lines,
                }
            )
        )
    projected = Counter(signature(p) for p in previews)
    if projected == Counter(issued):
        return []
    return [
        f"the dry run projected {sorted(projected - Counter(issued), key=str)} "
        f"but the run issued {sorted(Counter(issued) - projected, key=str)}"
    ]


def invariant_problems() -> list[str]:
    """(c), (d) what ``billingd doctor`` checks of the stored state: each sequence
    gapless from its start, a higher number never earlier [R-NUM-3..6]; per owner,
    ledger = Σ open balances − unapplied credit [R-LED-1]; totals, balances, statuses
    and allocations that add up [R-MONEY-2, R-INV-7, R-INV-8]."""
    checks = (
        doctor.check_numbering,
        doctor.check_ledger,
        doctor.check_invoices,
        doctor.check_allocations,
    )
    return [f"{p.rule}: {p.subject}: {p.message}" for check in checks for p in check()]
