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

DEFAULT_TEMPLATES = {"invoice": "invoice.tpl", "credit_note": "credit_note.tpl"}


@dataclass
class RenderContext:
    """Everything a renderer needs besides the document.

    ``template_dirs`` are searched in order (the operator's directory first, see
    :func:`default_template_dirs`); ``settings`` are the renderer plugin's own settings
    (``plugins.settings.<name>``). ``template`` overrides the document's template, and
    ``preview`` renders the template with its placeholders shown unreplaced.
    """

    template_dirs: list[Path]
    settings: dict[str, Any] = field(default_factory=dict)
    template: str | None = None
    preview: bool = False

    def template_name(self, document: dict[str, Any]) -> str:
        """The template to use: the override, else the brand's choice, else the default."""
        if self.template:
            return self.template
        kind = document.get("kind") or "invoice"
        brand = document.get("brand") or {}
        if kind == "invoice" and brand.get("invoice_template"):
            return str(brand["invoice_template"])
        return DEFAULT_TEMPLATES.get(kind, DEFAULT_TEMPLATES["invoice"])


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
