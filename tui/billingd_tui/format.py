"""Daemon values as table cells: plain text (never markup), cut with an ellipsis."""

from __future__ import annotations

from typing import Any

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
