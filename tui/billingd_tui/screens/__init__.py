"""The TUI's screens, one per module."""

from billingd_tui.screens.client import ClientScreen
from billingd_tui.screens.clients import ClientsScreen
from billingd_tui.screens.confirm import ConfirmScreen
from billingd_tui.screens.dashboard import DashboardScreen
from billingd_tui.screens.invoice import InvoiceScreen
from billingd_tui.screens.runs import RunsScreen
from billingd_tui.screens.unreachable import UnreachableScreen

__all__ = [
    "ClientScreen",
    "ClientsScreen",
    "ConfirmScreen",
    "DashboardScreen",
    "InvoiceScreen",
    "RunsScreen",
    "UnreachableScreen",
]
