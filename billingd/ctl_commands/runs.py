"""Commands for billing runs, the parked queue, review drafts and the test clock."""

from __future__ import annotations

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
