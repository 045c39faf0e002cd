"""``billingctl dunning plan|list|show|pause|resume`` (R-DUN-1)."""

from __future__ import annotations

from typing import Any

from billingd.ctl_commands.base import Arg, Command, opt, req

INVOICE = Arg("INV", "invoice", help="invoice id or number")
STATE_COLUMNS = (
    "number",
    "client_id",
    "due_date",
    "balance",
    "days_overdue",
    "state",
    "last_step_name",
    "next_step_name",
    "next_step_date",
)
"""The human table of ``dunning list`` (``--json`` and ``dunning show`` have the notices)."""


def _plan(client: Any, params: dict[str, Any]) -> Any:
    """With --step, --clear or --charge-mode: set the plan; else show it."""
    if params.pop("clear", None):
        params["steps"] = []
    if "steps" in params or "charge_mode" in params:
        return client.call("dunning.set_plan", **params)
    return client.call("dunning.plan", **params)


COMMANDS: tuple[Command, ...] = (
    Command(
        ("dunning", "plan"),
        "dunning.set_plan",
        "Show an enterprise's dunning plan, or set it with --step (repeat for each step, "
        'in order: --step "Reminder 1:7" --step "Reminder 2:21:5.00" '
        '--step "Final notice:35:10.00:9.12" = NAME:DAYS after the due date[:FEE'
        "[:INTEREST_RATE percent a year]]) and --charge-mode.",
        (
            req("--enterprise", "int"),
            Arg(
                "--step",
                "steps",
                "append",
                help="NAME:DAYS[:FEE[:INTEREST_RATE]], once per step, in order",
            ),
            Arg("--clear", "clear", "flag", help="no steps: this enterprise is not dunned"),
            opt(
                "--charge-mode",
                choices=("next_invoice", "reminder_invoice"),
                help="fees and interest on the next invoice or on an invoice of their own",
            ),
        ),
        run=_plan,
    ),
    Command(
        ("dunning", "list"),
        "dunning.list",
        "List overdue invoices with their dunning state (last and next reminder, paused, "
        "disputed) and the reminders sent.",
        (opt("--client", "int"), opt("--enterprise", "int"), opt("--limit", "int")),
        columns=STATE_COLUMNS,
    ),
    Command(
        ("dunning", "show"),
        "dunning.show",
        "Show an invoice's dunning state and the reminders sent for it.",
        (INVOICE,),
    ),
    Command(
        ("dunning", "pause"),
        "dunning.pause",
        "Send no more reminders for an invoice until it is resumed.",
        (INVOICE,),
    ),
    Command(
        ("dunning", "resume"),
        "dunning.resume",
        "Resume reminders for a paused invoice.",
        (INVOICE,),
    ),
)
