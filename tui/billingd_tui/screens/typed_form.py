"""A form that sends some fields as integers, booleans or multi-line text."""

from __future__ import annotations

from typing import Any

from billingd_tui.screens.form import FormScreen

TRUE, FALSE = ("yes", "y", "true", "1"), ("no", "n", "false", "0")
LINE_BREAK = " / "
"""How a ``lines`` field shows a line break in its one-line input."""


class TypedForm(FormScreen):
    """A form whose ``kinds`` fields are sent as integers ("int"), booleans ("bool",
    typed yes or no) or text of several lines ("lines", typed with `` / `` between
    them). What does not convert is sent as typed, for the daemon to name the field."""

    def __init__(self, *, kinds: dict[str, str], **form: Any) -> None:
        super().__init__(**form)
        self.kinds = kinds

    def values(self) -> dict[str, Any]:
        values: dict[str, Any] = dict(super().values())
        for param, kind in self.kinds.items():
            text = str(values.get(param, ""))
            if kind == "int" and text.isdigit():
                values[param] = int(text)
            elif kind == "bool" and text.lower() in TRUE + FALSE:
                values[param] = text.lower() in TRUE
            elif kind == "lines" and param in values:
                values[param] = "\n".join(part.strip() for part in text.split(LINE_BREAK.strip()))
        return values
