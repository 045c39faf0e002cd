"""A small form whose fields the daemon checks: its error is shown under the field it names.

The form sends what was typed to one socket method, as strings (the daemon parses and
validates; the TUI never second-guesses a rule). A refusal naming a ``field`` is shown
under that input and keeps the form open; any other refusal is shown above the buttons.
Escape or Cancel closes it without a call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Input, Label, Static

from billingd.control.client import ConnectionFailed, RemoteError
from billingd_tui.connection import Daemon


@dataclass(frozen=True)
class Field:
    """One input: the socket parameter it fills, its label, an optional start value."""

    param: str
    label: str
    value: str = ""
    placeholder: str = ""


class FormScreen(ModalScreen[Any]):
    """Dismissed with the daemon's answer once a call succeeds, or None when cancelled."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="form.cancel"),
    ]
    DEFAULT_CSS = """
    FormScreen {
        align: center middle;
    }
    FormScreen #dialog {
        width: 70;
        max-width: 100%;
        height: auto;
        padding: 1 2;
        border: thick $accent;
        border-title-align: center;
        background: $surface;
    }
    FormScreen .error {
        color: $error;
        height: auto;
    }
    FormScreen #buttons {
        height: auto;
        align-horizontal: right;
        margin-top: 1;
    }
    FormScreen Button {
        margin-left: 2;
    }
    """

    def __init__(
        self,
        *,
        daemon: Daemon,
        title: str,
        method: str,
        fields: list[Field],
        fixed: dict[str, Any] | None = None,
        submit: str = "Save",
        send_empty: bool = False,
    ) -> None:
        """``send_empty``: an edit form, which sends every field (an emptied one clears
        the value); otherwise empty fields are left out and the daemon's defaults apply."""
        super().__init__()
        self.daemon = daemon
        self.title_text = title
        self.method = method
        self.fields = fields
        self.fixed = dict(fixed or {})
        self.submit_label = submit
        self.send_empty = send_empty

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            for field in self.fields:
                yield Label(field.label)
                yield Input(field.value, placeholder=field.placeholder, id=f"in-{field.param}")
                yield Static("", classes="error", id=f"err-{field.param}")
            yield Static("", classes="error", id="err-form")
            with Horizontal(id="buttons"):
                yield Button(self.submit_label, variant="primary", id="submit", compact=True)
                yield Button("Cancel", id="cancel", compact=True)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#dialog").border_title = self.title_text

    def values(self) -> dict[str, str]:
        """What was typed, without the empty fields (the daemon's defaults apply)."""
        typed = {
            f.param: self.query_one(f"#in-{f.param}", Input).value.strip() for f in self.fields
        }
        return {param: value for param, value in typed.items() if value}

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.send(self.values())

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "submit":
            self.send(self.values())
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)

    @work(thread=True, exclusive=True, group="form")
    def send(self, values: dict[str, str]) -> None:
        try:
            answer = self.daemon.call(self.method, **self.fixed, **values)
        except RemoteError as exc:
            self.app.call_from_thread(self.show_error, exc.data.get("field"), exc.message)
        except ConnectionFailed as exc:
            self.app.call_from_thread(self.show_error, None, str(exc))
        else:
            self.app.call_from_thread(self.dismiss, answer)

    def show_error(self, field: str | None, message: str) -> None:
        """Under the field the daemon named, else above the buttons."""
        for error in self.query(".error"):
            error.update("")
        known = {f.param for f in self.fields}
        target = f"#err-{field}" if field in known else "#err-form"
        self.query_one(target, Static).update(message)
        if field in known:
            self.query_one(f"#in-{field}", Input).focus()
