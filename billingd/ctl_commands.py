"""The ``billingctl`` command table (SPEC §9, "The scripting contract").

Each command names its socket method, its options (flag → parameter) and the
columns of its human table. Names here are a public contract: add, never rename.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Arg:
    """One option or positional argument and the socket parameter it fills."""

    flag: str  # "--name", or "NAME" for a positional
    param: str
    kind: str = "str"  # str | int | flag | no-flag (sets False)
    required: bool = False
    help: str = ""
    choices: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Command:
    words: tuple[str, ...]
    method: str
    help: str
    args: tuple[Arg, ...] = ()
    columns: tuple[str, ...] = ()
    fixed: dict[str, Any] = field(default_factory=dict)


def _opt(flag: str, kind: str = "str", help: str = "", **kw: Any) -> Arg:
    return Arg(flag, flag.lstrip("-").replace("-", "_"), kind, help=help, **kw)


def _req(flag: str, kind: str = "str", help: str = "", **kw: Any) -> Arg:
    return _opt(flag, kind, help, required=True, **kw)


ENTERPRISE_OPTIONS = (
    _opt("--timezone", help="IANA timezone, e.g. Europe/Berlin"),
    _opt("--pattern", help="invoice number pattern: %%year%% %%mon%% %%mday%% %%num%%"),
    _opt("--start", "int", help="first %%num%%"),
    _opt("--reset", help="restart %%num%%", choices=("never", "yearly", "monthly")),
    _opt("--credit-note-pattern", help="credit note pattern (default CN-%%num%%)"),
    _opt("--credit-note-start", "int"),
    _opt("--tax-rate", help="default tax rate in percent, e.g. 19"),
    _opt("--terms", "int", help="payment terms in days"),
    _opt("--address"),
    _opt("--tax-id"),
    _opt("--registration-id"),
    _opt("--iban"),
    _opt("--bic"),
    _opt("--email"),
    _opt("--brand", help="brand name (document look)"),
)
CLIENT_OPTIONS = (
    _opt("--email", help="billing email(s)"),
    _opt("--invoice-days", help="days of the month to invoice on, e.g. 1,15"),
    _opt("--send-stats", "flag", help="attach the statistics file"),
    _opt("--send-email", "flag", help="email invoices to the billing email"),
    _opt("--publish", "flag", help="deliver through the bill group's portal channel"),
    _opt("--currency"),
    _opt("--company"),
    _opt("--tax-id"),
    _opt("--contract-number"),
    _opt("--business-type"),
    _opt("--category-type"),
    _opt("--address"),
    _opt("--tax-rate"),
)
CONTRACT_TERMS = (
    _opt("--quantity"),
    _opt("--interval", "int", help="cycles between invoices (default 1)"),
    _opt("--anchor", help="cycle anchor date (default: start)"),
    _opt("--timing", choices=("advance", "arrears")),
    _opt("--origin", choices=("standard", "manual", "self_checkout", "imported")),
    _opt("--tax-rate"),
    _opt("--gateway", help="payment method: manual or a gateway plugin name"),
)
CYCLES = ("day", "week", "month", "year")
PERIOD = (
    _opt("--client", "int"),
    _opt("--reseller", "int"),
    Arg("--from", "from", required=True, help="first day YYYY-MM-DD"),
    _req("--to", help="last day YYYY-MM-DD (the whole day is included)"),
    _opt("--date", help="issue date (default: today in the enterprise's timezone)"),
)
INVOICE_COLUMNS = (
    "id",
    "number",
    "status",
    "client_id",
    "issue_date",
    "due_date",
    "total",
    "balance",
    "currency",
)
INVOICE = Arg("INV", "invoice", help="invoice id or number")

COMMANDS: tuple[Command, ...] = (
    Command(("status",), "status", "Daemon, clock, database, client count."),
    Command(
        ("enterprise", "add"),
        "enterprise.add",
        "Create an enterprise.",
        (_req("--name"), _req("--currency", help="ISO 4217 code"), *ENTERPRISE_OPTIONS),
    ),
    Command(
        ("enterprise", "list"),
        "enterprise.list",
        "List enterprises.",
        columns=("id", "name", "currency", "timezone", "invoice_pattern"),
    ),
    Command(
        ("enterprise", "show"), "enterprise.show", "Show an enterprise.", (Arg("ID", "id", "int"),)
    ),
    Command(
        ("enterprise", "update"),
        "enterprise.update",
        "Change an enterprise.",
        (Arg("ID", "id", "int"), _opt("--name"), _opt("--currency"), *ENTERPRISE_OPTIONS),
    ),
    Command(
        ("reseller", "add"),
        "reseller.add",
        "Create a reseller.",
        (
            _req("--name"),
            _req("--enterprise", "int"),
            _opt("--email"),
            _opt("--company"),
            _opt("--tax-id"),
            _opt("--address"),
            _opt("--currency"),
            _opt("--tax-rate"),
        ),
    ),
    Command(
        ("reseller", "list"),
        "reseller.list",
        "List resellers.",
        (_opt("--enterprise", "int"),),
        columns=("id", "name", "currency", "email"),
    ),
    Command(
        ("client", "add"),
        "client.add",
        "Create a client with its billing settings.",
        (_req("--name"), _req("--enterprise", "int"), _opt("--reseller", "int"), *CLIENT_OPTIONS),
    ),
    Command(
        ("client", "list"),
        "client.list",
        "List clients.",
        (
            _opt("--enterprise", "int"),
            _opt("--search"),
            _opt("--limit", "int"),
            _opt("--offset", "int"),
        ),
        columns=("id", "name", "company", "email", "currency", "invoice_days", "status"),
    ),
    Command(("client", "show"), "client.show", "Show a client.", (Arg("ID", "id", "int"),)),
    Command(
        ("client", "update"),
        "client.update",
        "Change a client's billing settings.",
        (
            Arg("ID", "id", "int"),
            _opt("--name"),
            _opt("--status", choices=("active", "suspended", "closed")),
            *CLIENT_OPTIONS,
        ),
    ),
    Command(
        ("billgroup", "add"),
        "billgroup.add",
        "Add a bill group to a client.",
        (
            _req("--client", "int"),
            _req("--name"),
            _opt("--address"),
            _opt("--invoicing", choices=("auto", "manual")),
            _opt("--emails"),
            _opt("--uploader"),
            _opt("--review-days", "int"),
        ),
    ),
    Command(
        ("billgroup", "list"),
        "billgroup.list",
        "List a client's bill groups.",
        (_req("--client", "int"),),
        columns=("id", "name", "invoicing", "status", "address"),
    ),
    Command(
        ("billgroup", "update"),
        "billgroup.update",
        "Change a bill group.",
        (
            Arg("ID", "id", "int"),
            _opt("--name"),
            _opt("--address"),
            _opt("--invoicing", choices=("auto", "manual")),
            _opt("--status", choices=("active", "cancelled")),
            _opt("--emails"),
            _opt("--uploader"),
            _opt("--review-days", "int"),
        ),
    ),
    Command(
        ("contract", "add"),
        "contract.add",
        "Create a contract (subscription).",
        (
            _opt("--client", "int"),
            _opt("--reseller", "int"),
            _req("--description"),
            _req("--price"),
            _req("--cycle", choices=CYCLES),
            _req("--start"),
            _opt("--end"),
            _opt("--bill-group", "int"),
            *CONTRACT_TERMS,
        ),
    ),
    Command(
        ("contract", "list"),
        "contract.list",
        "List contracts.",
        (_opt("--client", "int"), _opt("--reseller", "int")),
        columns=(
            "id",
            "client_id",
            "description",
            "price",
            "cycle",
            "interval",
            "timing",
            "status",
        ),
    ),
    Command(("contract", "show"), "contract.show", "Show a contract.", (Arg("ID", "id", "int"),)),
    Command(
        ("contract", "update"),
        "contract.update",
        "Amend a contract.",
        (
            Arg("ID", "id", "int"),
            _opt("--description"),
            _opt("--price"),
            _opt("--cycle", choices=CYCLES),
            _opt("--status", choices=("active", "paused")),
            *CONTRACT_TERMS,
        ),
    ),
    Command(
        ("contract", "cancel"),
        "contract.cancel",
        "Cancel a contract after its end date.",
        (Arg("ID", "id", "int"), _req("--end")),
    ),
    Command(
        ("invoice", "preview"),
        "invoice.preview",
        "Calculate a period's invoice; nothing is written.",
        PERIOD,
    ),
    Command(
        ("invoice", "period"),
        "invoice.period",
        "Create the invoice of a period.",
        (
            *PERIOD,
            _opt("--stats", "flag", help="also produce the statistics file"),
            Arg("--no-document", "document", "no-flag", help="no invoice document"),
            _opt("--preview", "flag", help="calculate only; nothing is written"),
        ),
    ),
    Command(
        ("invoice", "amount"),
        "invoice.amount",
        "Create invoices for an amount.",
        (
            _opt("--client", "int"),
            _opt("--reseller", "int"),
            _req("--date"),
            _req("--amount", help="gross amount"),
            _opt("--count", "int"),
            _opt("--description"),
        ),
        columns=INVOICE_COLUMNS,
    ),
    Command(
        ("invoice", "list"),
        "invoice.list",
        "List invoices, newest first.",
        (
            _opt("--client", "int"),
            _opt("--reseller", "int"),
            _opt("--enterprise", "int"),
            _opt("--status", choices=("draft", "open", "partial", "paid", "void")),
            _opt("--limit", "int"),
            _opt("--offset", "int"),
        ),
        columns=INVOICE_COLUMNS,
    ),
    Command(("invoice", "show"), "invoice.show", "Show an invoice with its lines.", (INVOICE,)),
    Command(
        ("invoice", "pdf"),
        "invoice.pdf",
        "Write an invoice's document to a file.",
        (
            INVOICE,
            Arg("-o", "output", required=True, help="file to write"),
            _opt("--format", choices=("pdf", "stats-csv")),
        ),
    ),
    Command(
        ("audit",),
        "audit.list",
        "The audit trail, newest first.",
        (Arg("CLIENT", "client", "int?"), _opt("--limit", "int")),
        columns=("id", "created_at", "event", "actor", "client_id", "subject_id"),
    ),
    Command(
        ("plugins",),
        "plugins.list",
        "Loaded plugins and their versions.",
        columns=("name", "version", "builtin", "hooks"),
    ),
)
