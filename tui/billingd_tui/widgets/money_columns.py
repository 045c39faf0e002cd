"""Money columns sized to their widest amount; a text column gets what is left.

Operators work at 80x24: an amount cut to "1487.50 E…" is worse than a name cut short.
"""

from __future__ import annotations

from collections.abc import Sequence

from textual.widgets import DataTable

from billingd_tui.format import money_width

SCROLLBAR = 2  # a vertical scrollbar's cells, kept free whether it shows or not


def fit_money_columns(
    table: DataTable, money: Sequence[str], flexible: str, *, minimum: int = 6
) -> None:
    """Widen each of the ``money`` columns to its widest cell (amounts as shown, with
    their currency when the cells carry it) and give column ``flexible`` the width that
    is left, down to ``minimum``; other columns keep theirs."""
    columns = {key.value: column for key, column in table.columns.items()}
    for key in money:
        column = columns[key]
        column.width = money_width(table.get_column(key), label=column.label.plain)
    padding = 2 * table.cell_padding
    used = sum(c.get_render_width(table) for key, c in columns.items() if key != flexible)
    # the width without the scrollbar, then its cells kept free: the same whether it shows
    region = table.scrollable_content_region.width + table.scrollbar_size_vertical
    left = region - used - padding - SCROLLBAR
    columns[flexible].width = max(left, minimum)
    # DataTable has no public way to resize a column: re-measure as adding a column does.
    table._require_update_dimensions = True
    table._clear_caches()
    table.check_idle()
    table.refresh()
