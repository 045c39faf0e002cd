"""The ``billingctl`` command table (SPEC §9, "The scripting contract").

One module per area declares its commands; names are a public contract: add,
never rename.
"""

from __future__ import annotations

from billingd.ctl_commands import core, money
from billingd.ctl_commands.base import Arg, Command

COMMANDS: tuple[Command, ...] = (*core.COMMANDS, *money.COMMANDS)

__all__ = ["COMMANDS", "Arg", "Command"]
