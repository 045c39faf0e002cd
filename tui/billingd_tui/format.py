"""Daemon values as table cells: plain text (never markup), cut with an ellipsis."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.cells import cell_len
from rich.text import Text


def cell(value: Any, *, right: bool = False) -> Text:
    """A one-line cell for ``value`` (None shows empty); money and counts go ``right``."""
    return Text(
        "" if value is None else str(value),
        justify="right" if right else "left",
        overflow="ellipsis",
        no_wrap=True,
        end="",
    )


def money_width(amounts: Iterable[object], currency: str = "", *, label: str = "") -> int:
    """Cells a money column needs for the widest of ``amounts`` (followed by ``currency``
    when given), and at least its ``label``."""
    suffix = len(f" {currency}") if currency else 0
    return max([cell_len(str(amount)) + suffix for amount in amounts] + [cell_len(label)])
