"""How a billingctl command is declared: its words, socket method, options, columns."""

from __future__ import annotations

from collections.abc import Callable
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
    # (parameter, method): call ``method`` instead when ``parameter`` is given
    alternate: tuple[str, str] | None = None
    # a command that does more than one call: ``run(client, params)`` returns what to print
    run: Callable[[Any, dict[str, Any]], Any] | None = None


def options(params: dict[str, Any]) -> tuple[Arg, ...]:
    """billingctl options for socket parameters (``billingd.control.params.Param``), so a
    parameter is declared once: ``--name-with-dashes``, integers as ints, booleans as flags."""
    kinds = {"integer": "int", "integer ≥ 1": "int", "boolean": "flag"}
    return tuple(
        opt(
            "--" + name.replace("_", "-"),
            kinds.get(param.type_name, "str"),
            help=param.help.replace("%", "%%"),
        )
        for name, param in params.items()
    )


def opt(flag: str, kind: str = "str", help: str = "", **kw: Any) -> Arg:
    return Arg(flag, flag.lstrip("-").replace("-", "_"), kind, help=help, **kw)


def req(flag: str, kind: str = "str", help: str = "", **kw: Any) -> Arg:
    return opt(flag, kind, help, required=True, **kw)
