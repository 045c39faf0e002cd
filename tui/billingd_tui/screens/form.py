"""A form whose fields the daemon checks: its error is shown under the field it names.

The form sends what was entered to one socket method (the daemon parses and validates;
the TUI never second-guesses a rule). A refusal naming a ``field`` is shown under that
field and keeps the form open; any other refusal is shown above the buttons. Escape or
Cancel closes it without a call; Enter in a text input or ctrl+s saves.

A long form scrolls at 80x24 and is laid out in two columns on a wide terminal.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Button, Checkbox, Footer, Input, Label, Select, Static, TextArea

from billingd.control.client import ConnectionFailed, RemoteError
from billingd_tui.connection import Daemon
from billingd_tui.format import inert

Kind = Literal["text", "number", "integer", "date", "check", "choice", "lines"]

LONG_FORM = 8
"""A form with more fields than this takes two columns on a wide terminal."""
LABEL_WIDTH = 24
"""Cells of the labels left of their inputs; a longer label goes above its input."""
CHROME = 9
"""Lines of a form's dialog that are not its fields: border, error, buttons, footer."""


@dataclass(frozen=True)
class Field:
    """One input: the socket parameter it fills, its label, its kind and start value.

    Kinds and what they send:

    - ``text``: the text as typed (stripped).
    - ``number``: a decimal string; ``integer``: an integer; ``date``: ``YYYY-MM-DD``.
      An empty one is never sent (the daemon keeps its value or default).
    - ``check``: a checkbox, sent as true or false; ``value`` is a bool.
    - ``choice``: one of ``choices``, ``(label, value)`` pairs (a value ``""`` offers
      "none"); a start value that is not among them is offered too.
    - ``lines``: a text area, sent as the list of its non-empty lines; ``value`` is a
      sequence of lines.
    """

    param: str
    label: str
    value: str | bool | Sequence[str] = ""
    placeholder: str = ""
    kind: Kind = "text"
    choices: tuple[tuple[str, str], ...] = ()


INPUT_TYPES: dict[str, Any] = {
    "text": {},
    "number": {"type": "number"},
    "integer": {"type": "integer"},
    "date": {"restrict": r"[0-9-]*", "max_length": 10},
}


def field_widget(field: Field) -> Widget:
    """The input widget for ``field``, with the id ``in-<param>``; what it shows of the
    daemon's data (start values, choices, placeholders) is inert."""
    wid = f"in-{field.param}"
    if field.kind == "check":
        return Checkbox(check_label(bool(field.value)), bool(field.value), id=wid, compact=True)
    if field.kind == "choice":
        options = [(inert(label), value) for label, value in field.choices]
        value = str(field.value or "")
        if value not in {v for _, v in options}:
            options.append((inert(value) or "none", value))
        return Select(options, value=value, allow_blank=False, id=wid, compact=True)
    placeholder = inert(field.placeholder or ("YYYY-MM-DD" if field.kind == "date" else ""))
    text = start_text(field, inert)
    if field.kind == "lines":
        return TextArea(text, placeholder=placeholder, id=wid, compact=True, soft_wrap=False)
    return Input(text, placeholder=placeholder, id=wid, compact=True, **INPUT_TYPES[field.kind])


def start_text(field: Field, shown: Callable[[str], str]) -> str:
    """The text a text or lines field starts with, each value through ``shown``."""
    if field.kind == "lines":
        lines = [field.value] if isinstance(field.value, str) else list(field.value)
        return "\n".join(shown(str(line)) for line in lines)
    return shown(str(field.value))


def from_text(field: Field, text: str) -> str | list[str]:
    """What a text or lines field sends for ``text``: its non-empty lines, stripped, or
    the text stripped."""
    if field.kind == "lines":
        return [line.strip() for line in text.splitlines() if line.strip()]
    return text.strip()


def check_label(on: bool) -> str:
    """A checkbox says what it is set to, readable without colours (over SSH)."""
    return "yes" if on else "no"


def entered(field: Field, widget: Widget) -> Any:
    """What ``widget`` holds, as the socket parameter of ``field`` takes it ("" or [] when
    left empty)."""
    if isinstance(widget, Checkbox):
        return widget.value
    if isinstance(widget, Select):
        return str(widget.value)
    if isinstance(widget, TextArea):
        return kept_start(field, from_text(field, widget.text))
    assert isinstance(widget, Input)
    text = widget.value.strip()
    if field.kind == "integer" and re.fullmatch(r"-?[0-9]+", text):  # not any script's
        return int(text)
    if field.kind == "text":
        return kept_start(field, text)
    return text  # an integer the daemon cannot read is refused by it, naming the field


def kept_start(field: Field, value: str | list[str]) -> str | list[str]:
    """``value``, unless it is the field's start value as the widget showed it (inert):
    then that start value as the daemon gave it. A name holding a control character is
    shown with it escaped, and a form saved without touching it keeps it as it was."""
    if value == from_text(field, start_text(field, inert)):
        return from_text(field, start_text(field, str))
    return value


class FormScreen(ModalScreen[Any]):
    """Dismissed with the daemon's answer once a call succeeds, or None when cancelled."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="form.cancel"),
        Binding("ctrl+s", "submit", "Save", id="form.submit"),
    ]
    HORIZONTAL_BREAKPOINTS: ClassVar[list[tuple[int, str]] | None] = [
        (0, "-narrow"),
        (120, "-wide"),
    ]
    DEFAULT_CSS = """
    FormScreen {
        align: center middle;
    }
    FormScreen #dialog {
        width: 76;
        max-width: 100%;
        height: auto;
        padding: 0 1;
        border: thick $accent;
        border-title-align: center;
        background: $surface;
    }
    FormScreen.-wide #dialog.-long {
        width: 150;
    }
    FormScreen #fields {
        height: auto;
    }
    FormScreen.-wide #dialog.-long #fields {
        layout: grid;
        grid-size: 2;
        grid-rows: auto;
        grid-gutter: 0 2;
    }
    FormScreen .field {
        height: auto;
    }
    FormScreen .row {
        height: auto;
    }
    FormScreen .row Label {
        width: 24;  /* LABEL_WIDTH */
        padding-right: 1;
        text-style: bold;
    }
    FormScreen .row Input, FormScreen .row Select, FormScreen .row TextArea {
        width: 1fr;
        background: $boost;
    }
    FormScreen .row TextArea {
        height: 4;
    }
    FormScreen .error {
        color: $error;
        height: auto;
        display: none;
    }
    FormScreen .field .error {
        padding-left: 24;  /* LABEL_WIDTH */
    }
    FormScreen .-stacked .row {
        layout: vertical;
    }
    FormScreen .-stacked .row Label {
        width: 1fr;
    }
    FormScreen .-stacked .error {
        padding-left: 0;
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
        aliases: dict[str, str] | None = None,
    ) -> None:
        """``send_empty``: an edit form, which sends every field (an emptied one clears
        the value); otherwise empty fields are left out and the daemon's defaults apply.
        ``aliases`` maps a parameter the daemon may name in a refusal to the field that
        shows it (e.g. ``custom_fields`` to ``custom``)."""
        super().__init__()
        self.daemon = daemon
        self.title_text = title
        self.method = method
        self.fields = fields
        self.fixed = dict(fixed or {})
        self.submit_label = submit
        self.send_empty = send_empty
        self.aliases = dict(aliases or {})

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="-long" if len(self.fields) > LONG_FORM else ""):
            with VerticalScroll(id="fields", can_focus=False):
                for field in self.fields:
                    stacked = len(field.label) >= LABEL_WIDTH  # its label above its input
                    with Vertical(classes="field -stacked" if stacked else "field"):
                        with Horizontal(classes="row"):
                            yield Label(Text(inert(field.label)))
                            yield field_widget(field)
                        yield Static("", classes="error", id=f"err-{field.param}")
            yield Static("", classes="error", id="err-form")
            with Horizontal(id="buttons"):
                yield Button(self.submit_label, variant="primary", id="submit", compact=True)
                yield Button("Cancel", id="cancel", compact=True)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#dialog").border_title = Text(inert(self.title_text))
        self._fit()

    def on_resize(self) -> None:
        self._fit()

    def _fit(self) -> None:
        """Let the fields scroll so that the buttons stay on the screen."""
        self.query_one("#fields").styles.max_height = max(3, self.size.height - CHROME)

    def values(self) -> dict[str, Any]:
        """What was entered; without the empty fields unless ``send_empty`` (numbers,
        integers and dates are never sent empty: no value is not one of them)."""
        out = {}
        for field in self.fields:
            value = entered(field, self.query_one(f"#in-{field.param}"))
            keep_empty = self.send_empty and field.kind not in ("number", "integer", "date")
            if value not in ("", []) or keep_empty:
                out[field.param] = value
        return out

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        event.checkbox.label = check_label(event.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "submit":
            self.action_submit()
        else:
            self.dismiss(None)

    def action_submit(self) -> None:
        self.send(self.values())

    def action_cancel(self) -> None:
        self.dismiss(None)

    @work(thread=True, exclusive=True, group="form")
    def send(self, values: dict[str, Any]) -> None:
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
            error.display = False
        field = self.aliases.get(field or "", field)
        known = {f.param for f in self.fields}
        target = self.query_one(f"#err-{field}" if field in known else "#err-form", Static)
        target.update(Text(inert(message)))
        target.display = True
        if field in known:
            self.query_one(f"#in-{field}").focus()
            target.scroll_visible()
