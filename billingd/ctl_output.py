"""Human-readable output for billingctl: tables for lists, fields for objects."""

from __future__ import annotations

import os
import shutil
import sys
from typing import Any

DELIVERY_COLUMNS = (
    *("id", "channel", "target", "recipients", "state", "attempts", "sent_at"),
    "last_error",
)
"""An invoice's deliveries in ``invoice show`` (``--json`` adds their ``kind``)."""
NESTED_TABLES = {
    "lines": ("kind", "description", "quantity", "unit", "unit_price", "net", "tax_rate", "tax"),
    "deliveries": DELIVERY_COLUMNS,
}


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(_cell(v) for v in value)
    if isinstance(value, dict):  # e.g. a plugin's registers: "gateway sandbox; notifier x"
        return "; ".join(f"{k} {_cell(v)}" for k, v in value.items() if v not in (None, "", []))
    return str(value).replace("\n", " ")


def table(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> str:
    """A plain aligned table, cut to the terminal width."""
    if not rows:
        return "(none)"
    columns = columns or tuple(rows[0])
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    width = shutil.get_terminal_size((120, 24)).columns

    def line(values: list[str]) -> str:
        return "  ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)).rstrip()[:width]

    return "\n".join(
        [line(list(columns)), line(["-" * w for w in widths])] + [line(r) for r in cells]
    )


def record(obj: dict[str, Any]) -> str:
    """Key: value lines; nested objects indented under their key, nested lists of objects
    as tables."""
    scalar = {k: v for k, v in obj.items() if not isinstance(v, list | dict)}
    width = max((len(k) for k in scalar), default=0)
    out = [f"{k.ljust(width)}  {_cell(v)}" for k, v in scalar.items()]
    for key, value in obj.items():
        if isinstance(value, dict):
            out += ["", f"{key}:", *("  " + line for line in record(value).splitlines())]
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            out += ["", f"{key}:", table(value, NESTED_TABLES.get(key, tuple(value[0])))]
    return "\n".join(out)


def render(result: Any, columns: tuple[str, ...]) -> str:
    if isinstance(result, list):
        return table(result, columns)
    if isinstance(result, dict):
        return record(result)
    return _cell(result)


def terminal_columns() -> int:
    """The width of the terminal stderr is on (80 when it does not say)."""
    try:
        columns = os.get_terminal_size(sys.stderr.fileno()).columns
    except (OSError, ValueError):
        columns = 0
    return columns or shutil.get_terminal_size((80, 24)).columns or 80


class ProgressLine:
    """One line on a terminal's stderr, redrawn in place: ``label [####....] text``.

    Silent when stderr is not a terminal (scripts, pipes, cron); ``--json`` output on
    stdout is never touched.
    """

    WIDTH = 30

    def __init__(self, label: str) -> None:
        self.label = label
        self.enabled = sys.stderr.isatty()
        self.shown = False

    def show(self, done: int, total: int, text: str) -> None:
        if not self.enabled:
            return
        filled = self.WIDTH * done // max(total, 1)
        bar = "#" * filled + "." * (self.WIDTH - filled)
        # one column short of the terminal's width, so the line never wraps; padded, so
        # a shorter redraw leaves nothing of the longer one before it
        width = terminal_columns() - 1
        line = f"{self.label} [{bar}] {text}"[:width].ljust(width)
        print(f"\r{line}", end="", file=sys.stderr, flush=True)
        self.shown = True

    def end(self) -> None:
        """Leave the last state on screen and move to the next line."""
        if self.shown:
            print(file=sys.stderr)
            self.shown = False
