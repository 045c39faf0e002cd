"""Widgets shared by the screens."""

from billingd_tui.widgets.paged_table import PagedTable
from billingd_tui.widgets.run_progress import RunProgress
from billingd_tui.widgets.runs_table import RunsTable
from billingd_tui.widgets.status_bar import StatusBar

__all__ = ["PagedTable", "RunProgress", "RunsTable", "StatusBar"]
