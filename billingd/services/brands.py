"""Brands: the look of documents (SPEC §1, R-DEL-2), checked before anything is written.

A brand's logo must be a PNG, JPEG or SVG file (by its content), its templates must be
found in the template search path and parse, its colour is ``#rrggbb``. Every add and
update is one transaction with an audit event giving each field's old and new value.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from billingd.db.connection import write_transaction
from billingd.db.models import Brand
from billingd.domain.bounds import id_value
from billingd.domain.images import LOGO_KINDS, image_kind
from billingd.errors import NotFound, ValidationError
from billingd.services.audit import record_audit
from billingd.services.context import ServiceContext
from billingd.services.parties import _apply, _choice, _name, checked
from billingd.services.templates_admin import template_dirs
from billingd.templates import find_template, load_template

LAYOUTS = ("default", "din5008")
TEMPLATE_FIELDS = ("invoice_template", "credit_note_template", "reminder_template")
MAX_LOGO_BYTES = 5 * 1024 * 1024
_COLOUR = re.compile(r"#[0-9a-fA-F]{6}\Z")


def check_logo(value: str) -> str:
    """The logo file's absolute path; it must be a PNG, JPEG or SVG image by content.

    A relative path is taken from the daemon's working directory: clients send absolute
    ones (billingctl resolves them where it runs).
    """
    path = Path(value).expanduser().absolute()
    try:
        if not path.is_file():
            raise ValidationError(f"logo_path: no such file {str(path)!r}", field="logo_path")
        if path.stat().st_size > MAX_LOGO_BYTES:
            raise ValidationError(
                f"logo_path: {str(path)!r} is larger than {MAX_LOGO_BYTES} bytes",
                field="logo_path",
            )
        data = path.read_bytes()
    except OSError as exc:
        raise ValidationError(
            f"logo_path: cannot read {str(path)[:200]!r}: {exc.strerror or exc}",
            field="logo_path",
        ) from None
    if image_kind(data) is None:
        raise ValidationError(
            f"logo_path: {str(path)!r} is not a {', '.join(LOGO_KINDS).upper()} image "
            "(judged by its content, not its name)",
            field="logo_path",
        )
    return str(path)


def check_colour(value: str) -> str:
    """A ``#rrggbb`` colour, in lower case."""
    if not _COLOUR.match(value):
        raise ValidationError(
            f"accent_color must be #rrggbb (six hex digits), not {value[:20]!r}",
            field="accent_color",
        )
    return value.lower()


def check_template(ctx: ServiceContext, name: str, field: str) -> str:
    """A template name found in the search path (the operator's directory, then ours)
    whose file parses; the error names ``field``."""
    try:
        load_template(find_template(name, template_dirs(ctx)))
    except (ValidationError, NotFound) as exc:
        raise ValidationError(f"{field}: {exc.message}", field=field) from None
    except OSError as exc:  # a name too long for the file system
        raise ValidationError(
            f"{field}: no template {name[:50]!r}: {exc.strerror}", field=field
        ) from None
    return name


def _checked(ctx: ServiceContext, fields: dict[str, Any]) -> dict[str, Any]:
    """The given fields (None: not given), each checked; the first bad one is refused."""
    checks: dict[str, Callable[[Any], Any]] = {
        "name": _name,
        "logo_path": check_logo,
        "accent_color": check_colour,
        "layout": lambda value: _choice(value, LAYOUTS, "layout"),
        **{key: functools.partial(check_template, ctx, field=key) for key in TEMPLATE_FIELDS},
    }
    return checked(fields, checks)


def _refuse_taken(name: str, brand_id: int | None = None) -> None:
    query = Brand.select().where(Brand.name == name)
    if brand_id is not None:
        query = query.where(Brand.id != brand_id)
    if query.exists():
        raise ValidationError(f"a brand named {name!r} exists already", field="name")


def add_brand(ctx: ServiceContext, *, name: str, **fields: Any) -> Brand:
    """Create a brand; fields not given keep the model's defaults."""
    values = _checked(ctx, {"name": name, **fields})
    with write_transaction():
        _refuse_taken(values["name"])
        brand = Brand.create(**values)
        record_audit(
            ctx,
            "brand.created",
            subject=brand,
            changes={key: [None, str(value)] for key, value in values.items()},
        )
    return brand


def update_brand(ctx: ServiceContext, ref: int | str, **fields: Any) -> Brand:
    """Change a brand's fields; the audit event holds ``{field: [old, new]}``."""
    values = _checked(ctx, fields)
    with write_transaction():
        brand = find_brand(ref)
        if "name" in values:
            _refuse_taken(values["name"], brand.id)
        changes = _apply(brand, values)
        record_audit(ctx, "brand.updated", subject=brand, changes=changes)
    return brand


def find_brand(ref: int | str) -> Brand:
    """A brand by id (an int) or name (a string; an all-digit string that names no brand
    is an id)."""
    brand = Brand.get_or_none(Brand.name == ref if isinstance(ref, str) else Brand.id == ref)
    by_id = id_value(ref) if isinstance(ref, str) else None
    if brand is None and by_id is not None:
        brand = Brand.get_or_none(Brand.id == by_id)
    if brand is None:
        raise NotFound(f"no brand {ref!r}; `billingctl brand list` shows them", brand=ref)
    return brand


def list_brands() -> list[Brand]:
    return list(Brand.select().order_by(Brand.name))
