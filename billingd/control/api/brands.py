"""Methods for brands: the look of the documents (SPEC §1, R-DEL-2)."""

from __future__ import annotations

from typing import Any

from billingd.control.params import IDENTIFIER, Str
from billingd.control.registry import method
from billingd.services import brands
from billingd.services.context import ServiceContext
from billingd.views import brand_view

TEMPLATE_HELP = "a template in the template search path that parses (see template.list)"
BRAND_PARAMS = dict(
    logo_path=Str(
        help="absolute path of a PNG, JPEG or SVG file, judged by its content, read with "
        "the caller's rights (see Access); the brand then shows the daemon's copy"
    ),
    accent_color=Str(help="#rrggbb"),
    footer=Str(),
    layout=Str(help="|".join(brands.LAYOUTS)),
    invoice_template=Str(help=TEMPLATE_HELP, bound=IDENTIFIER),
    credit_note_template=Str(help=TEMPLATE_HELP, bound=IDENTIFIER),
    reminder_template=Str(help=TEMPLATE_HELP, bound=IDENTIFIER),
)
BRAND_REF = Str(required=True, help="the brand's name, or its id")


@method(
    "brand.add",
    writes=True,
    result="the new `Brand`",
    name=Str(required=True, help="unique"),
    **BRAND_PARAMS,
)
def brand_add(ctx: ServiceContext, name: str, **params: Any) -> dict[str, Any]:
    """Create a brand; an enterprise names it with `brand` (enterprise.add, .update)."""
    return brand_view(brands.add_brand(ctx, name=name, **params))


@method(
    "brand.update",
    writes=True,
    result="the changed `Brand`",
    brand=BRAND_REF,
    name=Str(help="a new, unique name"),
    **BRAND_PARAMS,
)
def brand_update(ctx: ServiceContext, brand: str, **params: Any) -> dict[str, Any]:
    """Change a brand; documents rendered afterwards show the new look."""
    return brand_view(brands.update_brand(ctx, brand, **params))


@method("brand.list", writes=False, result="list of `Brand`, by name")
def brand_list(ctx: ServiceContext) -> list[dict[str, Any]]:
    """All brands."""
    return [brand_view(b) for b in brands.list_brands()]


@method("brand.show", writes=False, result="the `Brand`", quick=True, brand=BRAND_REF)
def brand_show(ctx: ServiceContext, brand: str) -> dict[str, Any]:
    """One brand."""
    return brand_view(brands.find_brand(brand))
