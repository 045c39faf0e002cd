"""Commands for payments, credit notes, charges, price overrides, summaries and periods,
and the actions on an issued invoice."""

from __future__ import annotations

from billingd.ctl_commands.base import Arg, Command, opt, req
from billingd.ctl_commands.core import WAIT

INVOICE = Arg("INV", "invoice", help="invoice id or number")
PAYMENT_COLUMNS = (
    "id",
    "client_id",
    "amount",
    "currency",
    "unallocated",
    "reference",
    "received_at",
)
CHARGE_COLUMNS = ("id", "client_id", "description", "amount", "schedule_date", "status")

COMMANDS: tuple[Command, ...] = (
    Command(
        ("invoice", "void"),
        "invoice.void",
        "Void an invoice with no payments or credit notes.",
        (INVOICE, opt("--reason")),
    ),
    Command(
        ("invoice", "reissue"),
        "invoice.reissue",
        "Void an invoice and regenerate its period as a new invoice.",
        (INVOICE, opt("--reason")),
    ),
    Command(
        ("invoice", "send"), "invoice.send", "Email an invoice (each send is recorded).", (INVOICE,)
    ),
    Command(
        ("invoice", "edit-address"),
        "invoice.edit_address",
        "Change the billing address on an issued invoice and re-render it.",
        (INVOICE, req("--address")),
    ),
    Command(
        ("payment", "record"),
        "payment.record",
        "Record a manual payment.",
        (
            req("--client", "int"),
            req("--amount"),
            opt("--invoice", help="pay this first"),
            opt("--reference"),
            opt("--notes"),
            opt("--currency"),
        ),
    ),
    Command(
        ("payment", "refund"),
        "payment.refund",
        "Refund part or all of a payment (default: what is left); reopens invoices.",
        (
            Arg("PAYMENT", "payment", "int", help="payment id"),
            opt("--amount", help="default: all that is left unrefunded"),
            opt("--reason"),
        ),
    ),
    Command(
        ("invoice", "dispute"),
        "invoice.dispute",
        "Mark an invoice disputed by the client: dunning pauses on it.",
        (INVOICE, opt("--reason", help='why (default "disputed")')),
    ),
    Command(
        ("invoice", "undispute"),
        "invoice.undispute",
        "Clear an invoice's dispute: dunning goes on.",
        (INVOICE,),
    ),
    Command(
        ("payment", "list"),
        "payment.list",
        "List payments, newest first.",
        (opt("--client", "int"), opt("--limit", "int")),
        columns=PAYMENT_COLUMNS,
    ),
    Command(
        ("credit-note", "issue"),
        "credit_note.issue",
        "Credit part of an invoice.",
        (INVOICE, req("--amount"), opt("--reason")),
    ),
    Command(
        ("credit-note", "pdf"),
        "credit_note.pdf",
        "Write a credit note's document to a file.",
        (
            Arg("CN", "credit_note", help="credit note id or number"),
            Arg("-o", "output", required=True, help="file to write"),
            opt("--format", help="pdf (default)"),
            WAIT,
        ),
    ),
    Command(
        ("credit-note", "list"),
        "credit_note.list",
        "List credit notes.",
        (opt("--client", "int"), opt("--invoice")),
        columns=("id", "number", "invoice_id", "amount", "currency", "issue_date", "reason"),
    ),
    Command(
        ("charge", "add"),
        "charge.add",
        "Add a pending one-time charge.",
        (
            req("--client", "int"),
            req("--description"),
            req("--amount"),
            opt("--contract", "int"),
            opt("--date", help="eligible from this day"),
            opt("--notes"),
            opt("--currency"),
        ),
    ),
    Command(
        ("charge", "list"),
        "charge.list",
        "List a client's charges.",
        (req("--client", "int"), opt("--status")),
        columns=CHARGE_COLUMNS,
    ),
    Command(
        ("charge", "cancel"), "charge.cancel", "Cancel a pending charge.", (Arg("ID", "id", "int"),)
    ),
    Command(
        ("price-override", "set"),
        "price_override.set",
        "Set a contract's final amount on its next invoice.",
        (req("--contract", "int"), req("--amount")),
    ),
    Command(
        ("price-override", "clear"),
        "price_override.clear",
        "Remove a contract's price override.",
        (req("--contract", "int"),),
    ),
    Command(
        ("summary",),
        "summary",
        "A client's invoiced, paid, balance due and ledger.",
        (Arg("CLIENT", "client", "int"),),
    ),
    Command(
        ("period", "close"),
        "period.close",
        "Close a month (YYYY-MM) of an enterprise.",
        (req("--enterprise", "int"), req("--month")),
    ),
    Command(
        ("period", "list"),
        "period.list",
        "List closed months.",
        (opt("--enterprise", "int"),),
        columns=("enterprise_id", "month", "actor", "closed_at"),
    ),
)
