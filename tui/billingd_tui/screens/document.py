"""A document (an invoice's PDF) read as text in the terminal, page by page."""

from __future__ import annotations

import base64
import io
from typing import Any, ClassVar

from pypdf import PdfReader
from pypdf.errors import PdfReadError
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Footer, Header, TextArea

from billingd_tui.format import inert


def pdf_text(document: dict[str, Any]) -> str:
    """The text of an ``invoice.pdf`` answer, its pages separated by a rule; a PDF the
    TUI cannot read says so instead of raising."""
    try:
        reader = PdfReader(io.BytesIO(base64.b64decode(document["content_base64"])))
        pages = [page.extract_text() or "" for page in reader.pages]
    except (PdfReadError, ValueError, KeyError) as exc:
        return f"The document cannot be read as text: {exc}"
    rule = "\n" + "─" * 40 + "\n"
    return rule.join(f"Page {n}/{len(pages)}\n\n{text}" for n, text in enumerate(pages, start=1))


class DocumentScreen(Screen[None]):
    """The text, read-only and scrollable; Escape goes back."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,backspace,q", "back", "Back", id="document.back"),
    ]
    DEFAULT_CSS = """
    DocumentScreen TextArea {
        height: 1fr;
    }
    """

    def __init__(self, *, title: str, text: str) -> None:
        """``title`` and ``text`` may hold the daemon's data: both are shown inert."""
        super().__init__()
        self.title_text = inert(title)
        self.text = inert(text)

    def compose(self) -> ComposeResult:
        yield Header()
        yield TextArea(self.text, read_only=True, soft_wrap=True, id="document")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = self.title_text

    def action_back(self) -> None:
        self.dismiss()
