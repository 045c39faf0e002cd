"""A yes/no question before an action that cannot be taken back."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Static

from billingd_tui.format import inert


class ConfirmScreen(ModalScreen[bool]):
    """Asks ``question``; dismissed with True only on the confirm button or ``y``.

    Cancel has the focus, so an absent-minded Enter does nothing harmful.
    """

    AUTO_FOCUS = "#cancel"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Yes", id="confirm.yes"),
        Binding("n,escape", "answer(False)", "No", id="confirm.no"),
    ]
    DEFAULT_CSS = """
    ConfirmScreen {
        align: center middle;
    }
    ConfirmScreen #dialog {
        width: 64;
        max-width: 100%;
        height: auto;
        padding: 1 2;
        border: thick $warning;
        border-title-align: center;
        background: $surface;
    }
    ConfirmScreen #question {
        margin-bottom: 1;
    }
    ConfirmScreen #buttons {
        height: auto;
        align-horizontal: right;
    }
    ConfirmScreen Button {
        margin-left: 2;
    }
    """

    def __init__(self, *, title: str, question: str | Text, confirm: str = "Yes") -> None:
        """A ``question`` given as text is shown inert and never read as markup (it may
        name the daemon's data); a Text is shown as it is."""
        super().__init__()
        self.title_text = Text(inert(title))
        self.question = question if isinstance(question, Text) else Text(inert(question))
        self.confirm_label = confirm

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(self.question, id="question")
            with Horizontal(id="buttons"):
                yield Button(self.confirm_label, variant="warning", id="confirm", compact=True)
                yield Button("Cancel", id="cancel", compact=True)
        yield Footer()

    def on_mount(self) -> None:
        dialog = self.query_one("#dialog")
        dialog.border_title = self.title_text

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "confirm")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)
