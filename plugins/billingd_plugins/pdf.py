"""The built-in PDF renderer (SPEC R-DEL-1): a document template laid out with fpdf2.

Pages are A4. The template comes from the render context, else the brand (its
template for the document's kind, else its layout's), else the kind's default
(:meth:`billingd.rendering.RenderContext.template_name`); see
:mod:`billingd.templates` for the language and :mod:`billingd_plugins.pdf_layout`
for how each directive is laid out. Text in any script is set in embedded
TrueType fonts (:mod:`billingd_plugins.pdf_fonts`); a character no font has is
reported in ``context.warnings``. The same issued document always gives the same
PDF, byte for byte (its creation date is the issue date).

Worker processes render many documents: fonts, logos and templates are parsed
once per process and reused while their files are unchanged.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from billingd.hookspecs import hookimpl
from billingd.rendering import RenderContext
from billingd.templates import Template, find_template, load_template
from billingd_plugins.pdf_layout import Layout

_lock = threading.Lock()


@functools.lru_cache(maxsize=64)
def _parsed_template(path: Path, mtime_ns: int, size: int) -> Template:
    return load_template(path)


def cached_template(path: Path) -> Template:
    """A template file parsed once per process (again when it changes)."""
    try:
        stat = path.stat()
    except OSError:
        return load_template(path)  # the clear error
    with _lock:
        return _parsed_template(path, stat.st_mtime_ns, stat.st_size)


def render_template(
    template: Template,
    document: Mapping[str, Any],
    *,
    preview: bool = False,
    settings: Mapping[str, Any] | None = None,
    warnings: list[str] | None = None,
    max_pages: int | None = None,
) -> bytes:
    """Lay out a parsed template for a document as PDF bytes; ``settings`` are the
    plugin's (``unicode_font``, ``unicode_font_bold``). Warnings are appended to
    ``warnings``. More than ``max_pages`` pages is a TemplateError."""
    layout = Layout(template, document, preview=preview, settings=settings, max_pages=max_pages)
    data = layout.render()
    if warnings is not None:
        warnings.extend(layout.warnings)
    return data


class PdfRenderer:
    """The ``pdf`` renderer: the document's template laid out on A4 pages."""

    name = "pdf"
    media_type = "application/pdf"
    file_extension = "pdf"

    def render(self, document: dict[str, Any], context: RenderContext) -> bytes:
        path = find_template(context.template_name(document), context.template_dirs)
        return render_template(
            cached_template(path),
            document,
            preview=context.preview,
            settings=context.settings,
            warnings=context.warnings,
            max_pages=context.max_pages,
        )


@hookimpl
def register_renderers(register: Any) -> None:
    register(PdfRenderer())


@hookimpl
def plugin_settings_schema() -> dict[str, str]:
    return {"unicode_font": "str", "unicode_font_bold": "str"}
