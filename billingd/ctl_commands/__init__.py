"""The ``billingctl`` command table (SPEC §9, "The scripting contract").

One module per area declares its commands; names are a public contract: add,
never rename.
"""

from __future__ import annotations

from billingd.ctl_commands import (
    brands,
    core,
    dunning,
    events,
    imports,
    money,
    outbox,
    reports,
    runs,
)
from billingd.ctl_commands.base import Arg, Command

COMMANDS: tuple[Command, ...] = (
    *core.COMMANDS,
    *brands.COMMANDS,
    *money.COMMANDS,
    *imports.COMMANDS,
    *events.COMMANDS,
    *runs.COMMANDS,
    *dunning.COMMANDS,
    *outbox.COMMANDS,
    *reports.COMMANDS,
)

__all__ = ["COMMANDS", "Arg", "Command"]
