"""Daemon values as cells and labels: plain text (never markup), made inert, cut with
an ellipsis.

Names, CDR fields and messages come from whoever wrote them into billingd; Rich and
Textual pass ESC, C1 controls and bidi overrides on to the terminal as they are. So
every value of the daemon's becomes text here, through :func:`inert` — a cell
(:func:`cell`), a pane of labels and values (:func:`assemble`), a title, a
notification — with billingctl's rule (:mod:`billingd.domain.terminal_text`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.cells import cell_len
from rich.text import Text

from billingd.domain.terminal_text import terminal_safe

Part = str | tuple[str, str] | Text
"""A piece of :func:`assemble`: text, ``(text, style)``, or a Text made inert already."""


def inert(value: Any) -> str:
    """``value`` as text that cannot command the terminal: control characters and bidi
    controls shown as escapes (``\\x1b``, ``\\u202e``), line breaks kept (Textual lays
    them out itself). None is empty."""
    return "" if value is None else terminal_safe(str(value), lines=True)


def cell(value: Any, *, right: bool = False) -> Text:
    """A one-line cell for ``value`` (None shows empty); money and counts go ``right``."""
    return Text(
        inert(value),
        justify="right" if right else "left",
        overflow="ellipsis",
        no_wrap=True,
        end="",
    )


def assemble(*parts: Part) -> Text:
    """``Text.assemble`` of labels and values, each made inert."""
    return Text.assemble(*map(_inert_part, parts))


def _inert_part(part: Part) -> Part:
    if isinstance(part, Text):
        return part
    if isinstance(part, tuple):
        return inert(part[0]), part[1]
    return inert(part)


def money_width(amounts: Iterable[object], currency: str = "", *, label: str = "") -> int:
    """Cells a money column needs for the widest of ``amounts`` (followed by ``currency``
    when given), and at least its ``label``."""
    suffix = len(f" {currency}") if currency else 0
    return max([cell_len(str(amount)) + suffix for amount in amounts] + [cell_len(label)])
