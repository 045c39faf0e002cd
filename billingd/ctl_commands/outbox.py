"""Commands for the outbox: the state of every email, upload and notice."""

from __future__ import annotations

from billingd.control.list_params import OUTBOX_FILTERS
from billingd.ctl_commands.base import Arg, Command, options

MESSAGE = Arg("ID", "id", "int", required=True, help="outbox message id")
COLUMNS = ("id", "channel", "kind", "state", "attempts", "to", "invoice_id", "last_error")

COMMANDS: tuple[Command, ...] = (
    Command(
        ("outbox", "list"),
        "outbox.list",
        "List outbox messages (emails, uploads, notices) with their state.",
        options(OUTBOX_FILTERS),
        columns=COLUMNS,
    ),
    Command(("outbox", "show"), "outbox.show", "Show an outbox message.", (MESSAGE,)),
    Command(("outbox", "retry"), "outbox.retry", "Queue a failed message again.", (MESSAGE,)),
    Command(("outbox", "cancel"), "outbox.cancel", "Cancel a queued message.", (MESSAGE,)),
)
