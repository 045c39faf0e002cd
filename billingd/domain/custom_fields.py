"""A bill group's custom fields (seed 004): what a portal uploader sends with the
documents, e.g. the buyer's supplier id for Ariba. Pure: no database.

Keys are 1-64 characters of ``A-Z a-z 0-9 _ . -``; values are text of at most 1000
characters; a bill group has at most 50 of them. ``billgroup add|update --custom
KEY=VALUE`` merges entries into the stored fields; ``KEY=`` removes the key.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from billingd.errors import ValidationError

KEY = re.compile(r"[A-Za-z0-9_.-]{1,64}")
MAX_KEY = 64
MAX_VALUE = 1000
MAX_FIELDS = 50


def check_key(key: Any, field: str = "custom") -> str:
    if not isinstance(key, str) or not key:
        raise ValidationError(f"{field}: a custom field needs a non-empty key", field=field)
    if len(key) > MAX_KEY:
        raise ValidationError(
            f"{field}: key {key[:20]!r}… is longer than {MAX_KEY} characters", field=field
        )
    if not KEY.fullmatch(key):
        raise ValidationError(
            f"{field}: key {key!r} may only hold letters, digits, '_', '.' and '-'",
            field=field,
        )
    return key


def check_value(key: str, value: Any, field: str = "custom") -> str:
    if not isinstance(value, str):
        raise ValidationError(f"{field}: the value of {key!r} must be text", field=field)
    if len(value) > MAX_VALUE:
        raise ValidationError(
            f"{field}: the value of {key!r} is longer than {MAX_VALUE} characters", field=field
        )
    return value


def check_count(fields: Mapping[str, Any], field: str) -> None:
    if len(fields) > MAX_FIELDS:
        raise ValidationError(
            f"{field}: at most {MAX_FIELDS} custom fields, got {len(fields)}", field=field
        )


def check_fields(fields: Mapping[str, Any], field: str = "custom_fields") -> dict[str, str]:
    """A whole custom-field object (the socket's ``custom_fields``), checked."""
    check_count(fields, field)
    return {check_key(k, field): check_value(k, v, field) for k, v in fields.items()}


def parse_entry(entry: Any) -> tuple[str, str]:
    """``KEY=VALUE`` → (key, value); ``KEY=`` gives an empty value (remove)."""
    if not isinstance(entry, str) or "=" not in entry:
        raise ValidationError(f"custom: expected KEY=VALUE, got {entry!r}", field="custom")
    key, _, value = entry.partition("=")
    return check_key(key.strip()), check_value(key.strip(), value)


def apply_entries(fields: Mapping[str, Any], entries: Iterable[Any]) -> dict[str, Any]:
    """``fields`` with each ``KEY=VALUE`` entry set in order, ``KEY=`` removing KEY."""
    merged = dict(fields)
    for entry in entries:
        key, value = parse_entry(entry)
        if value == "":
            merged.pop(key, None)
        else:
            merged[key] = value
            check_count(merged, "custom")
    return merged
