"""Commands for billing runs, the parked queue, review drafts and the test clock."""

from __future__ import annotations

from typing import Any

from billingd.ctl_commands.base import Arg, Command, opt

RUN_COLUMNS = (
    "id",
    "as_of",
    "trigger",
    "status",
    "done",
    "total",
    "invoices",
    "failures",
    "parked",
    "started_at",
)

DRY_RUN_COLUMNS = ("client", "group", "due_for", "issued", "period", "total")


def dry_run_rows(result: dict[str, Any]) -> list[dict[str, str]]:
    """A dry run's invoices as an 80-column table that names whom each bills: the client
    (or reseller) and bill group, the billing date it is due for, the day it would be
    issued, its period and total (R-RUN-16)."""
    rows = []
    for invoice in result["invoices"]:
        bill_to = invoice["bill_to"]
        group = bill_to.get("bill_group") if invoice["client_id"] is not None else "(reseller)"
        rows.append(
            {
                "client": bill_to["name"],
                "group": group or "",
                "due_for": invoice["billing_date"],
                "issued": invoice["issue_date"],
                "period": f"{invoice['period_start']}..{invoice['period_end']}",
                "total": invoice["total"],
            }
        )
    return rows


COMMANDS: tuple[Command, ...] = (
    Command(
        ("run",),
        "run.start",
        "Bill now: everything due up to a date; waits for the run.",
        (
            opt("--until", help="bill what is due on or before this day (default today)"),
            opt("--client", "int"),
            opt("--dry-run", "flag", help="show, write nothing"),
        ),
    ),
    Command(
        ("runs",),
        "run.list",
        "Recent runs, or one run with its errors.",
        (Arg("ID", "id", "int?"), opt("--limit", "int")),
        columns=RUN_COLUMNS,
        alternate=("id", "run.show"),
    ),
    Command(
        ("parked", "list"),
        "parked.list",
        "Clients parked until released, with reasons.",
        columns=("client_id", "client", "reason", "parked_at"),
    ),
    Command(
        ("parked", "release"),
        "parked.release",
        "Release a parked client.",
        (Arg("CLIENT", "client", "int"),),
    ),
    Command(
        ("invoice", "approve"),
        "invoice.approve",
        "Issue a draft from the review window.",
        (Arg("INV", "invoice", help="invoice id"),),
    ),
    Command(("clock", "show"), "clock.show", "The daemon's now and its next run."),
    Command(
        ("clock", "advance"),
        "clock.advance",
        "Move the test clock forward (31d, 12h).",
        (Arg("BY", "by"),),
    ),
    Command(
        ("clock", "set"),
        "clock.set",
        "Move the test clock to an instant.",
        (Arg("TO", "to", help="e.g. 2026-02-01T00:00 (UTC unless an offset is given)"),),
    ),
)
