"""Brands: the look of documents (SPEC §1, R-DEL-2), checked before anything is written.

A brand's logo must be a PNG, JPEG or SVG file (by its content) that the peer naming
it may read (SPEC §12: :mod:`billingd.peer_files`); the daemon keeps a copy of its
own. Its templates must be found in the template search path and parse, its colour
is ``#rrggbb``. Every add and
update is one transaction with an audit event giving each field's old and new value.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from billingd.db.connection import write_transaction
from billingd.db.models import Brand
from billingd.domain.bounds import id_value
from billingd.domain.images import LOGO_KINDS, image_kind
from billingd.errors import NotFound, ValidationError
from billingd.files import sync_directory, write_atomically
from billingd.peer_files import PeerFileError, read_as
from billingd.services.audit import record_audit
from billingd.services.context import ServiceContext
from billingd.services.parties import _apply, _choice, _name, checked
from billingd.services.templates_admin import template_dirs
from billingd.templates import find_template, load_template

LAYOUTS = ("default", "din5008")
TEMPLATE_FIELDS = ("invoice_template", "credit_note_template", "reminder_template")
MAX_LOGO_BYTES = 5 * 1024 * 1024
_COLOUR = re.compile(r"#[0-9a-fA-F]{6}\Z")


def check_logo(ctx: ServiceContext, value: str) -> str:
    """Where the daemon keeps its copy of the logo file ``value`` names (an absolute
    path), read with the rights of the peer that named it; a PNG, JPEG or SVG image by
    content.

    The copy (``data_dir/logos/<sha256>.<kind>``, see :func:`keep_logo`) is what
    documents show: a file the peer changes, or replaces with a link to one it may not
    read, later changes nothing."""
    try:
        data = read_as(ctx.peer, value, limit=MAX_LOGO_BYTES)
    except PeerFileError as exc:
        raise ValidationError(f"logo_path: {exc}", field="logo_path") from None
    kind = image_kind(data)
    if kind is None:
        raise ValidationError(
            f"logo_path: {value!r} is not a {', '.join(LOGO_KINDS).upper()} image "
            "(judged by its content, not its name)",
            field="logo_path",
        )
    return str(keep_logo(ctx.data_dir, data, kind))


def keep_logo(data_dir: Path, data: bytes, kind: str) -> Path:
    """``data`` as ``data_dir/logos/<sha256>.<kind>`` (made once: the same image is the
    same file), written whole before it appears under its name."""
    folder = data_dir / "logos"
    name = f"{hashlib.sha256(data).hexdigest()}.{kind}"
    if (folder / name).is_file():
        return folder / name
    folder.mkdir(parents=True, exist_ok=True)
    path = write_atomically(folder, name, data)
    sync_directory(folder)
    return path


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
        "logo_path": functools.partial(check_logo, ctx),
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
            **_logo_source(fields),
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
        record_audit(ctx, "brand.updated", subject=brand, changes=changes, **_logo_source(fields))
    return brand


def _logo_source(fields: dict[str, Any]) -> dict[str, str]:
    """For the audit trail: the file a new logo was copied from."""
    source = fields.get("logo_path")
    return {"logo_source": source} if source is not None else {}


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
