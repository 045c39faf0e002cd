"""The main screens an operator goes to by key or from the palette ("clients: open")."""

from __future__ import annotations

from dataclasses import dataclass

from billingd_tui.screens import ClientsScreen, DashboardScreen, RunsScreen
from billingd_tui.screens.dunning import DunningScreen
from billingd_tui.screens.invoices import InvoicesScreen
from billingd_tui.screens.outbox import OutboxScreen
from billingd_tui.screens.plugins import PluginsScreen
from billingd_tui.screens.templates import TemplatesScreen
from billingd_tui.screens.workspace import WorkspaceScreen


@dataclass(frozen=True)
class Section:
    name: str
    key: str
    screen: type[WorkspaceScreen]
    help: str
    footer: bool = True  # False: reached by its key and the palette only


SECTIONS = (
    Section("dashboard", "d", DashboardScreen, "Daemon status, open totals and runs, live"),
    Section("clients", "c", ClientsScreen, "Search clients and see their invoices"),
    Section("runs", "u", RunsScreen, "Recent billing runs, their counts and errors"),
    Section("invoices", "i", InvoicesScreen, "All invoices: filter, send marked (key i)", False),
    Section("outbox", "b", OutboxScreen, "Emails, uploads, notices: retry, cancel (key b)", False),
    Section("dunning", "n", DunningScreen, "Overdue invoices: pause reminders (key n)", False),
    Section("plugins", "g", PluginsScreen, "Loaded plugins: versions and hooks (key g)", False),
    Section("templates", "m", TemplatesScreen, "Document templates; preview one (key m)", False),
)
"""Each screen here takes ``daemon=`` and nothing else."""

BY_NAME = {section.name: section for section in SECTIONS}
