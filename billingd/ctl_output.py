"""Human-readable output for billingctl: tables for lists, fields for objects.

Every text billingctl shows a person goes through
:func:`~billingd.domain.terminal_text.terminal_safe` once, where it is laid out: a
table cell or a field (:func:`_cell`), a key, a message, an event, a progress line;
a control character or a bidi override is printed as a visible escape.
``--json`` keeps the data exact: :func:`json_text` writes the same characters as
JSON escapes (``\u009b``), which parse back to the same strings.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from typing import Any

from billingd.domain.terminal_text import UNSAFE, terminal_safe

_JSON_ESCAPED = {c: f"\\u{c:04x}" for c in UNSAFE if c >= 0x7F}  # json escapes C0


def json_text(value: Any, **options: Any) -> str:
    """``json.dumps(value, ensure_ascii=False, **options)`` with the characters
    :func:`terminal_safe` escapes written as JSON escapes: the same data, safe to
    print."""
    return json.dumps(value, ensure_ascii=False, **options).translate(_JSON_ESCAPED)


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
    """A value as one line of inert text (see :func:`terminal_safe`)."""
    return terminal_safe(_text(value).replace("\n", " "))


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(_text(v) for v in value)
    if isinstance(value, dict):  # e.g. a plugin's registers: "gateway sandbox; notifier x"
        return "; ".join(f"{k} {_text(v)}" for k, v in value.items() if v not in (None, "", []))
    return str(value)


def table(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> str:
    """A plain aligned table, cut to the terminal width."""
    if not rows:
        return "(none)"
    columns = columns or tuple(rows[0])
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    heads = [_cell(c) for c in columns]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(heads)]
    width = shutil.get_terminal_size((120, 24)).columns

    def line(values: list[str]) -> str:
        return "  ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)).rstrip()[:width]

    return "\n".join([line(heads), line(["-" * w for w in widths])] + [line(r) for r in cells])


def record(obj: dict[str, Any]) -> str:
    """Key: value lines; nested objects indented under their key, nested lists of objects
    as tables."""
    scalar = {k: v for k, v in obj.items() if not isinstance(v, list | dict)}
    keys = {k: _cell(k) for k in obj}  # keys too: a bill group's custom fields name theirs
    width = max((len(keys[k]) for k in scalar), default=0)
    out = [f"{keys[k].ljust(width)}  {_cell(v)}" for k, v in scalar.items()]
    for key, value in obj.items():
        if isinstance(value, dict):
            out += ["", f"{keys[key]}:", *("  " + line for line in record(value).splitlines())]
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            out += ["", f"{keys[key]}:", table(value, NESTED_TABLES.get(key, tuple(value[0])))]
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
        line = terminal_safe(f"{self.label} [{bar}] {text}")[:width].ljust(width)
        print(f"\r{line}", end="", file=sys.stderr, flush=True)
        self.shown = True

    def end(self) -> None:
        """Leave the last state on screen and move to the next line."""
        if self.shown:
            print(file=sys.stderr)
            self.shown = False
