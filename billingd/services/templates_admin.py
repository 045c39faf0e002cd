"""Listing and previewing the document templates operators can edit (R-DEL-2)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from billingd.errors import RuleViolation
from billingd.rendering import RenderContext, default_template_dirs, packaged_template_dir
from billingd.services.context import ServiceContext
from billingd.templates import PREVIEW_PAGES, find_template, load_template


def template_dirs(ctx: ServiceContext) -> list[Path]:
    return default_template_dirs(ctx.data_dir / "templates")


def list_templates(ctx: ServiceContext) -> list[dict[str, Any]]:
    """Every template by name; an operator's copy in data_dir/templates overrides ours."""
    found: dict[str, dict[str, Any]] = {}
    for directory in reversed(template_dirs(ctx)):
        if not directory.is_dir():
            continue
        packaged = directory == packaged_template_dir()
        for path in sorted(directory.glob("*.tpl")):
            found[path.name] = {
                "name": path.name,
                "path": str(path),
                "source": "packaged" if packaged else "operator",
            }
    return sorted(found.values(), key=lambda t: t["name"])


def preview_template(ctx: ServiceContext, name: str) -> bytes:
    """A PDF of the template with its placeholders shown unreplaced (seed 001)."""
    path = find_template(name, template_dirs(ctx))
    load_template(path)  # a syntax error or unknown placeholder names the file and line
    if ctx.plugins is None:
        raise RuleViolation("R-DEL-1", "no renderer plugins are loaded")
    context = RenderContext(
        template_dirs=template_dirs(ctx),
        settings=ctx.plugins.settings_for("pdf"),
        template=name,
        preview=True,
        max_pages=PREVIEW_PAGES,
    )
    kind = "credit_note" if "credit" in name else "invoice"
    return ctx.plugins.renderer("pdf").render({"kind": kind}, context)
