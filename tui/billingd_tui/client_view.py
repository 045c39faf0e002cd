"""How a client's workspace shows the daemon's answers: cards, tables sized to their
money, the upcoming invoice and the audit trail's details. Pure: no widgets, no calls."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from rich.text import Text

from billingd_tui.format import assemble, cell, inert

CARDS = (
    ("total_invoiced", "Total invoiced"),
    ("total_paid", "Total paid"),
    ("balance_due", "Balance due"),
    ("ledger_balance", "Ledger balance"),
)
"""The summary cards (seed 003 §1): ``summary``'s key and the card's title."""


@dataclass(frozen=True)
class Column:
    """A table column: ``flex`` 0 is sized to its widest cell (money, dates, statuses);
    columns with a ``flex`` share what is left in that ratio, so text shrinks first."""

    key: str
    label: str
    flex: int = 0
    right: bool = False
    wrap: bool = False
    """The cell wraps onto more lines instead of being cut (the audit's details)."""
    wide: bool = False
    """Shown only in a table at least :data:`WIDE` cells wide (details that 80 columns
    leave out)."""


Row = tuple[str, Sequence[Any]]
"""A table row: its key and one value per column."""

WIDE = 120
"""From this many cells a table shows its ``wide`` columns too."""


def for_width(
    columns: Sequence[Column], rows: Iterable[Row], width: int
) -> tuple[list[Column], list[Row]]:
    """The columns a table ``width`` cells wide shows, and the rows cut to them."""
    keep = [i for i, c in enumerate(columns) if not c.wide or width >= WIDE]
    return [columns[i] for i in keep], [(k, [v[i] for i in keep]) for k, v in rows]


def column_widths(columns: Sequence[Column], rows: Iterable[Row], width: int) -> list[int]:
    """Widths for ``columns`` in a table ``width`` cells wide (its scrollbar included):
    each fixed column as wide as its widest value, the flexible ones share the rest."""
    widths = [len(c.label) for c in columns]
    for _, values in rows:
        for i, value in enumerate(values):
            if not columns[i].flex:
                widths[i] = max(widths[i], len(_text(value)))
    spare = (
        width
        - 2 * len(columns)
        - 2
        - sum(w for w, c in zip(widths, columns, strict=True) if not c.flex)
    )
    shares = sum(c.flex for c in columns)
    for i, column in enumerate(columns):
        if column.flex:
            widths[i] = max(len(column.label), 6, spare * column.flex // shares)
    return widths


def table_cell(value: Any, column: Column) -> Text:
    if column.wrap:
        return Text(inert(value), end="")
    return cell(value, right=column.right)


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def money(amount: Any, currency: str | None) -> str:
    return f"{amount} {currency}" if currency else str(amount)


def cards(summary: dict[str, Any]) -> list[tuple[str, str]]:
    """(title, amount with currency) for each card."""
    currency = summary.get("currency")
    return [(title, money(summary.get(key, "—"), currency)) for key, title in CARDS]


# -- upcoming invoice -----------------------------------------------------------


def upcoming_head(planned: list[dict[str, Any]], until: str) -> Text:
    """The next invoice a run would issue: its dates and totals; how many more follow."""
    if not planned:
        return Text(inert(f"Nothing to invoice up to {until}."), style="italic")
    first = planned[0]
    currency = first.get("currency")
    text = assemble(
        ("Next invoice ", "dim"),
        (f"{first.get('period_start') or '—'} – {first.get('period_end') or '—'}", "bold"),
        ("  issued ", "dim"),
        str(first.get("issue_date")),
        ("  due ", "dim"),
        str(first.get("due_date")),
        "\n",
        ("Subtotal ", "dim"),
        str(first.get("subtotal")),
        ("  Tax ", "dim"),
        str(first.get("tax")),
        ("  Total ", "dim"),
        (money(first.get("total"), currency), "bold"),
    )
    if len(planned) > 1:
        text.append(inert(f"  · {len(planned) - 1} more up to {until}"), style="dim")
    return text


def next_amount(contract: dict[str, Any], planned: list[dict[str, Any]]) -> str:
    """The service's net on the next invoice: its line plus its price adjustment (an
    override, seed 003 "Edit price"); empty when it is not on that invoice."""
    if not planned:
        return ""
    description = str(contract.get("description") or "")
    total, seen = Decimal(0), False
    for line in planned[0].get("lines") or ():
        text = str(line.get("description") or "")
        ours = (line.get("kind") == "contract" and text.startswith(f"{description} (")) or (
            line.get("kind") == "adjustment" and text.endswith(f": {description}")
        )
        if ours:
            total += Decimal(str(line.get("net")))
            seen = True
    return str(total) if seen else ""


# -- audit trail ------------------------------------------------------------------


CHANGES = frozenset({"status", "state", "dispute", "dunning_paused", "charge_mode", "steps"})
"""Audit details whose value is ``[old, new]``, as the daemon records a change of state."""


def audit_details(details: dict[str, Any]) -> str:
    """An audit event's details in one line: amounts, numbers, ``old → new`` values."""
    rest = dict(details)
    parts: list[str] = []
    for old, new in (("old", "new"), ("base", "final")):
        if old in rest and new in rest:
            parts.append(f"{old} {_value(rest.pop(old))} → {new} {_value(rest.pop(new))}")
    changes = dict(rest.pop("changes", None) or {})
    changes.update({k: rest.pop(k) for k in CHANGES & rest.keys() if _is_change(rest[k])})
    for field, (before, after) in sorted(changes.items()):
        parts.append(f"{field}: {_value(before)} → {_value(after)}")
    for key, value in sorted(rest.items()):
        if key == "allocations" and isinstance(value, list):
            paid = ", ".join(f"#{a.get('invoice_id')} {a.get('amount')}" for a in value)
            parts.append(f"allocated {paid}")
        else:
            parts.append(f"{key} {_value(value)}")
    return " · ".join(parts)


def _is_change(value: Any) -> bool:
    return isinstance(value, list | tuple) and len(value) == 2


def _value(value: Any) -> str:
    """A detail's value as text: empty as ∅, lists joined, line breaks as `` / ``."""
    if value is None or value == "" or value == [] or value == {}:
        return "∅"
    if isinstance(value, list | tuple):
        return ", ".join(_value(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k} {_value(v)}" for k, v in value.items())
    return str(value).replace("\n", " / ")


def allocations(payment: dict[str, Any], numbers: dict[int, str]) -> str:
    """Where a payment went: invoice number and amount each, then what stays as credit."""
    parts = [
        f"{numbers.get(a['invoice_id'], '#' + str(a['invoice_id']))}: {a['amount']}"
        for a in payment.get("allocations") or ()
    ]
    if Decimal(str(payment.get("unallocated") or 0)):
        parts.append(f"credit {payment['unallocated']}")
    return ", ".join(parts)
