"""The TUI's screens, one per module."""

from billingd_tui.screens.clients import ClientsScreen
from billingd_tui.screens.invoice import InvoiceScreen
from billingd_tui.screens.unreachable import UnreachableScreen

__all__ = ["ClientsScreen", "InvoiceScreen", "UnreachableScreen"]
