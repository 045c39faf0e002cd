"""Templates: the document templates by name, and a preview of one as text.

``template.preview`` answers a PDF with the placeholders unreplaced; the TUI saves it
(to open with a PDF viewer) and shows its text.
"""

from __future__ import annotations

import base64
import tempfile
from pathlib import Path
from typing import Any, ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Footer, Header, Static

from billingd_tui.format import cell
from billingd_tui.messages import RowsLoaded
from billingd_tui.screens.document import DocumentScreen, pdf_text
from billingd_tui.screens.listing import ListScreen

PREVIEWS = Path(tempfile.gettempdir()) / "billing-tui"
"""Where previews are saved, one file per template."""


def save_preview(preview: dict[str, Any]) -> Path:
    """Write the PDF of a ``template.preview`` answer; its path."""
    PREVIEWS.mkdir(exist_ok=True)
    path = PREVIEWS / f"{Path(str(preview['name'])).stem}-preview.pdf"
    path.write_bytes(base64.b64decode(preview["content_base64"]))
    return path


class TemplatesScreen(ListScreen):
    """The templates (ours, or the operator's copy that overrides it); preview one."""

    SUB_TITLE = "Templates"
    AUTO_FOCUS = "#templates"
    FIT = (("name",), "path")
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("v", "preview", "Preview", id="templates.preview"),
        Binding("r", "refresh", "Refresh", id="templates.refresh"),
        Binding("escape", "back", "Back", id="templates.back", show=False),
    ]
    PALETTE: ClassVar[tuple[tuple[str, str, str], ...]] = (
        ("template: preview", "The highlighted template as text (its PDF saved)", "preview"),
        ("templates: refresh", "Reload the templates", "refresh"),
    )

    def compose(self) -> ComposeResult:
        yield Header()
        yield DataTable(id="templates", cursor_type="row", zebra_stripes=True)
        yield Static(id="note")
        yield Footer()

    def setup(self) -> None:
        table = self.query_one(DataTable)
        table.add_column("Template", key="name", width=8)
        table.add_column("Source", key="source", width=8)
        table.add_column("Path", key="path", width=4)
        self.say("Enter or v: preview the highlighted template.")

    def load(self) -> None:
        self.fetch()

    @work(thread=True, exclusive=True, group="templates")
    def fetch(self) -> None:
        templates = self.daemon.request(self, "template.list")
        if templates is not None:
            self.post_message(RowsLoaded(0, 0, templates, False))

    def on_rows_loaded(self, message: RowsLoaded) -> None:
        table = self.query_one(DataTable)
        templates = message.rows
        rows = [
            (t["name"], (cell(t["name"]), cell(t.get("source")), cell(t.get("path"))))
            for t in templates
        ]
        self.refill(table, rows)
        table.border_title = f"Templates · {len(rows) or 'none'}"

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_preview()

    def action_preview(self) -> None:
        name = self.highlighted()
        if name is not None:
            self.say(f"Rendering {name}…")
            self.preview(name)

    @work(thread=True, group="preview")
    def preview(self, name: str) -> None:
        """Render, save and read ``name``; the document screen shows its text."""
        answer = self.daemon.request(self, "template.preview", name=name)
        if answer is None:
            return  # refused: said on the note line
        path = save_preview(answer)
        text = pdf_text(answer)
        self.app.call_from_thread(self._show_preview, name, path, text)

    def _show_preview(self, name: str, path: Path, text: str) -> None:
        self.say(f"{name}: the PDF is saved as {path}")
        self.app.push_screen(DocumentScreen(title=f"{name} · saved as {path}", text=text))
