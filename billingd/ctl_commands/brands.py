"""Commands for brands: the look of documents (logo, colour, layout, templates)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from billingd.ctl_commands.base import Arg, Command, opt, req

LAYOUTS = ("default", "din5008")
BRAND = Arg("BRAND", "brand", help="brand name or id")
BRAND_OPTIONS = (
    opt("--logo", help="PNG, JPEG or SVG file (a relative path is taken from here)"),
    opt("--accent-color", help="#rrggbb"),
    opt("--footer", help="footer text"),
    opt("--layout", choices=LAYOUTS),
    opt("--invoice-template", help="template file name, e.g. invoice.tpl"),
    opt("--credit-note-template", help="template file name"),
    opt("--reminder-template", help="template file name"),
)
COLUMNS = ("id", "name", "layout", "accent_color", "invoice_template", "logo_path")


def _with_absolute_logo(method: str) -> Callable[[Any, dict[str, Any]], Any]:
    """Call ``method`` with ``--logo`` resolved here: the daemon has another directory."""

    def run(client: Any, params: dict[str, Any]) -> Any:
        logo = params.pop("logo", None)
        if logo is not None:
            params["logo_path"] = str(Path(logo).expanduser().absolute())
        return client.call(method, **params)

    return run


COMMANDS: tuple[Command, ...] = (
    Command(
        ("brand", "add"),
        "brand.add",
        "Create a brand (the look of an enterprise's documents).",
        (req("--name"), *BRAND_OPTIONS),
        run=_with_absolute_logo("brand.add"),
    ),
    Command(("brand", "list"), "brand.list", "List brands.", columns=COLUMNS),
    Command(("brand", "show"), "brand.show", "Show a brand.", (BRAND,)),
    Command(
        ("brand", "update"),
        "brand.update",
        "Change a brand.",
        (BRAND, opt("--name", help="a new name"), *BRAND_OPTIONS),
        run=_with_absolute_logo("brand.update"),
    ),
)
