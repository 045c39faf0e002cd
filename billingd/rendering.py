"""What a document renderer is, and what it is given (SPEC §8).

A renderer turns a *document* — an invoice or credit note as the control socket
returns it, plus the seller, billing address and brand snapshots — into bytes:
a PDF, a UBL XML file, ... Renderers are contributed by plugins through the
``register_renderers`` hook; the built-in PDF renderer is ``billingd_plugins.pdf``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

DEFAULT_TEMPLATES = {
    "invoice": "invoice.tpl",
    "credit_note": "credit_note.tpl",
    "reminder": "reminder.tpl",
    "statistics": "statistics.tpl",
}
# A brand's layout (brand.layout) other than "default" replaces the default template
# of these kinds; a template the brand names itself is always used as it is.
LAYOUT_TEMPLATES = {
    "din5008": {
        "invoice": "invoice_din5008.tpl",
        "credit_note": "invoice_din5008.tpl",
        "reminder": "invoice_din5008.tpl",
    }
}


@dataclass
class RenderContext:
    """Everything a renderer needs besides the document.

    ``template_dirs`` are searched in order (the operator's directory first, see
    :func:`default_template_dirs`); ``settings`` are the renderer plugin's own settings
    (``plugins.settings.<name>``). ``template`` overrides the document's template, and
    ``preview`` renders the template with its placeholders shown unreplaced. A renderer
    appends to ``warnings`` what the reader should know about the output (e.g. text it
    had to replace); they go onto the ``document.rendered`` event and into the audit.
    ``max_pages``, when set, is the most pages the output may have: a renderer stops
    with a :class:`billingd.errors.BillingError` as soon as it needs more (a preview is
    a read, its work bounded).
    """

    template_dirs: list[Path]
    settings: dict[str, Any] = field(default_factory=dict)
    template: str | None = None
    preview: bool = False
    warnings: list[str] = field(default_factory=list)
    max_pages: int | None = None

    def template_name(self, document: dict[str, Any]) -> str:
        """The template to use: the override, else the brand's choice for the document's
        kind (``brand.invoice_template``, ``credit_note_template``, ``reminder_template``),
        else the default of the brand's layout, else the kind's default."""
        if self.template:
            return self.template
        kind = str(document.get("kind") or "invoice")
        if kind not in DEFAULT_TEMPLATES:
            kind = "invoice"
        default = DEFAULT_TEMPLATES[kind]
        brand = document.get("brand") or {}
        chosen = brand.get(f"{kind}_template")
        if chosen and chosen != default:
            return str(chosen)
        layout = LAYOUT_TEMPLATES.get(str(brand.get("layout") or "default"), {})
        return layout.get(kind, default)


@runtime_checkable
class Renderer(Protocol):
    """A document format. ``name`` is unique among loaded renderers (``"pdf"``)."""

    name: str
    media_type: str
    file_extension: str

    def render(self, document: dict[str, Any], context: RenderContext) -> bytes:
        """Render the document; raise :class:`billingd.errors.BillingError` when it cannot."""
        ...


def packaged_template_dir() -> Path:
    """The directory of the templates shipped with billingd (``billingd_templates``).

    In a source checkout, where ``templates/`` is not importable under that name, it is
    the ``templates/`` directory beside the ``billingd`` package.
    """
    try:
        traversable = resources.files("billingd_templates")
    except ModuleNotFoundError:
        return Path(__file__).resolve().parent.parent / "templates"
    return traversable if isinstance(traversable, Path) else Path(str(traversable))


def default_template_dirs(extra: Path | None = None) -> list[Path]:
    """Template search path: the operator's directory (``data_dir/templates``), then ours."""
    dirs = [Path(extra)] if extra is not None else []
    dirs.append(packaged_template_dir())
    return dirs
