"""Widgets shared by the screens."""

from billingd_tui.widgets.paged_table import PagedTable
from billingd_tui.widgets.status_bar import StatusBar

__all__ = ["PagedTable", "StatusBar"]
