"""Invoiced and paid per month as pairs of bars, drawn with block characters.

Plain Rich text, so the chart stays readable at 80x24 and over SSH: one slot per month,
two bars in it (invoiced, paid) scaled to the largest figure, eighth blocks for the
tops, the month's initials under each slot and the scale's top at the left.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from rich.text import Text
from textual.widgets import Static

from billingd.money import money_text

BLOCKS = " ▁▂▃▄▅▆▇█"
INVOICED_STYLE = "bold dodger_blue2"
PAID_STYLE = "bold green3"
MONTH_NAMES = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()


@dataclass(frozen=True)
class MonthFigures:
    month: str  # YYYY-MM
    invoiced: Decimal
    paid: Decimal


def month_figures(report: dict[str, Any], currency: str) -> list[MonthFigures]:
    """One currency's figures from a ``report.revenue`` reply, oldest month first."""
    return [
        MonthFigures(
            str(month["month"]),
            Decimal(str(month["invoiced"].get(currency, "0"))),
            Decimal(str(month["paid"].get(currency, "0"))),
        )
        for month in report.get("months") or ()
    ]


def _column(value: Decimal, top: Decimal, rows: int) -> list[str]:
    """A bar's characters from the top row down (nothing for zero or less)."""
    eighths = int(value * rows * 8 / top) if top > 0 and value > 0 else 0
    eighths = max(eighths, 1) if value > 0 else 0  # a small figure still shows
    return [BLOCKS[min(max(eighths - row * 8, 0), 8)] for row in reversed(range(rows))]


def draw_chart(figures: list[MonthFigures], currency: str, width: int, rows: int) -> Text:
    """The chart in ``width`` columns: ``rows`` rows of bars and a row of month names."""
    top = max([f.invoiced for f in figures] + [f.paid for f in figures] + [Decimal(0)])
    scale = money_text(top, currency) if top > 0 else "0"
    axis = len(scale) + 1
    slot = max((width - axis) // max(len(figures), 1), 3)
    bar = max((slot - 1) // 2, 1)
    columns = [(_column(f.invoiced, top, rows), _column(f.paid, top, rows)) for f in figures]
    text = Text(no_wrap=True, overflow="crop", end="")
    for row in range(rows):
        label = scale if row == 0 else ("0" if row == rows - 1 else "")
        text.append(f"{label:>{axis - 1}} ", style="dim")
        for invoiced, paid in columns:
            text.append(invoiced[row] * bar, style=INVOICED_STYLE)
            text.append(paid[row] * bar, style=PAID_STYLE)
            text.append(" " * (slot - 2 * bar))
        text.append("\n")
    text.append(" " * axis)
    for figure in figures:
        name = MONTH_NAMES[int(figure.month[5:7]) - 1]
        shown = name if slot > 3 else name[0]
        text.append(f"{shown:<{slot}}"[:slot], style="bold" if figure.month[5:7] == "01" else "dim")
    return text


class RevenueChart(Static):
    """The last months' revenue of one currency; redrawn to the width it is given."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(Text("Asking the daemon…", style="italic"), id=id)
        self.figures: list[MonthFigures] = []
        self.currency = ""

    def show(self, figures: list[MonthFigures], currency: str) -> None:
        self.figures, self.currency = figures, currency
        self._draw()

    def on_resize(self) -> None:
        if self.figures:
            self._draw()

    def _draw(self) -> None:
        rows = max(self.content_region.height - 1, 2)
        self.update(draw_chart(self.figures, self.currency, self.content_region.width, rows))
