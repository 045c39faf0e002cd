"""The client ledger (R-LED-1, R-LED-2)."""

from __future__ import annotations

from decimal import Decimal

from billingd.db.models import Client, CreditNote, Invoice, LedgerEntry, Payment, Reseller
from billingd.db.prepared import PreparedInsert

ISSUED = "invoice.issued"
VOIDED = "invoice.voided"
CREDIT_NOTE_ISSUED = "credit_note.issued"
CREDIT_APPLIED = "credit.applied"


def post_entry(
    kind: str,
    amount: Decimal,
    owner: Client | Reseller,
    *,
    invoice: Invoice | None = None,
    payment: Payment | None = None,
    credit_note: CreditNote | None = None,
    memo: str = "",
) -> LedgerEntry:
    """Write one signed ledger entry; call inside the action's transaction (R-TX-1)."""
    entry = LedgerEntry(
        client=owner if isinstance(owner, Client) else None,
        reseller=owner if isinstance(owner, Reseller) else None,
        kind=kind,
        amount=amount,
        currency=owner.currency,
        invoice=invoice,
        payment=payment,
        credit_note=credit_note,
        memo=memo,
    )
    return INSERT_ENTRY.save(entry)


INSERT_ENTRY = PreparedInsert(LedgerEntry)


def _owner_filter(model, owner: Client | Reseller):  # type: ignore[no-untyped-def]
    if isinstance(owner, Client):
        return model.client == owner
    return model.reseller == owner


def ledger_balance(owner: Client | Reseller) -> Decimal:
    entries = LedgerEntry.select(LedgerEntry.amount).where(_owner_filter(LedgerEntry, owner))
    return sum((e.amount for e in entries), Decimal(0))


def unapplied_credit(owner: Client | Reseller) -> Decimal:
    if not isinstance(owner, Client):
        return Decimal(0)
    payments = Payment.select(Payment.unallocated).where(Payment.client == owner)
    return sum((p.unallocated for p in payments), Decimal(0))


def open_balance(owner: Client | Reseller) -> Decimal:
    invoices = Invoice.select(Invoice.balance).where(
        _owner_filter(Invoice, owner) & Invoice.status.in_(("open", "partial"))
    )
    return sum((i.balance for i in invoices), Decimal(0))


def invariant_problems(owner: Client | Reseller) -> list[str]:
    """R-LED-1 for one owner: an empty list when ledger = Σ open balances − unapplied credit."""
    ledger = ledger_balance(owner)
    expected = open_balance(owner) - unapplied_credit(owner)
    if ledger != expected:
        return [
            f"{type(owner).__name__.lower()} {owner.id}: ledger {ledger} != "
            f"open balances − credit {expected}"
        ]
    return []


def summary(client: Client) -> dict[str, Decimal]:
    """The summary cards (R-LED-2): invoiced (non-void), paid, balance due, ledger balance."""
    invoiced = sum(
        (
            i.total
            for i in Invoice.select(Invoice.total).where(
                (Invoice.client == client) & ~Invoice.status.in_(("void", "draft"))
            )
        ),
        Decimal(0),
    )
    paid = sum(  # what was refunded of a payment is no longer paid
        (
            p.amount - p.refunded
            for p in Payment.select(Payment.amount, Payment.refunded).where(
                Payment.client == client
            )
        ),
        Decimal(0),
    )
    return {
        "total_invoiced": invoiced,
        "total_paid": paid,
        "balance_due": invoiced - paid,
        "ledger_balance": ledger_balance(client),
    }
