"""Plugins: what the daemon loaded, with versions, hooks and what each registers."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Footer, Header, Static

from billingd_tui.connection import Daemon
from billingd_tui.format import assemble, cell
from billingd_tui.messages import RowsLoaded
from billingd_tui.screens.listing import ListScreen


def _registers(plugin: dict[str, Any]) -> str:
    """``renderer pdf, ubl · gateway sandbox`` from ``registers``."""
    registers = plugin.get("registers") or {}
    return " · ".join(f"{kind} {', '.join(names)}" for kind, names in registers.items() if names)


def _plugin(plugin: dict[str, Any]) -> Text:
    """The highlighted plugin in full: every hook it implements, everything it registers."""
    kind = "built in" if plugin.get("builtin") else "third-party"
    return assemble(
        (f"{plugin['name']} {plugin.get('version') or ''}", "bold"),
        (f"  {kind}", "dim"),
        "\n",
        ("Registers ", "dim"),
        _registers(plugin) or "nothing",
        "\n",
        ("Hooks ", "dim"),
        ", ".join(plugin.get("hooks") or ()) or "none",
    )


class PluginsScreen(ListScreen):
    """The loaded plugins (loaded when the daemon starts: nothing to follow)."""

    SUB_TITLE = "Plugins"
    AUTO_FOCUS = "#plugins"
    FIT = (("name", "version"), "hooks")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "refresh", "Refresh", id="plugins.refresh"),
        Binding("escape", "back", "Back", id="plugins.back", show=False),
    ]
    PALETTE: ClassVar[tuple[tuple[str, str, str], ...]] = (
        ("plugins: refresh", "Reload the plugins list", "refresh"),
    )

    def __init__(self, *, daemon: Daemon) -> None:
        super().__init__(daemon=daemon)
        self.plugins: dict[str, dict[str, Any]] = {}
        """The plugins shown, by name."""

    def compose(self) -> ComposeResult:
        yield Header()
        yield DataTable(id="plugins", cursor_type="row", zebra_stripes=True)
        yield Static(id="detail")
        yield Static(id="note")
        yield Footer()

    def setup(self) -> None:
        table = self.query_one(DataTable)
        table.add_column("Plugin", key="name", width=6)
        table.add_column("Version", key="version", width=7)
        table.add_column("State", key="state", width=8)
        table.add_column("Hooks", key="hooks", width=5)
        self.query_one("#detail", Static).border_title = "Plugin"

    def load(self) -> None:
        self.fetch()

    @work(thread=True, exclusive=True, group="plugins")
    def fetch(self) -> None:
        plugins = self.daemon.request(self, "plugins.list")
        if plugins is not None:
            self.post_message(RowsLoaded(0, 0, plugins, False))

    def on_rows_loaded(self, message: RowsLoaded) -> None:
        table = self.query_one(DataTable)
        plugins = message.rows
        self.plugins = {p["name"]: p for p in plugins}
        rows = [
            (
                p["name"],
                (
                    cell(p["name"]),
                    cell(p.get("version")),
                    cell("built in" if p.get("builtin") else "loaded"),
                    cell(", ".join(p.get("hooks") or ())),
                ),
            )
            for p in plugins
        ]
        self.refill(table, rows)
        table.border_title = f"Plugins · {len(rows) or 'none'}"

    def show_detail(self) -> None:
        plugin = self.plugins.get(self.highlighted() or "")
        self.query_one("#detail", Static).update(_plugin(plugin) if plugin else "")
