"""Typed parameters at the socket boundary.

Money is a decimal string (a JSON number with a fraction is refused), dates are
``YYYY-MM-DD``, ids are integers. A bad value is a ValidationError naming it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from billingd.errors import ValidationError
from billingd.money import MoneyError, parse_decimal


@dataclass(frozen=True)
class Param:
    """One named parameter: its type check, whether it is required, its default."""

    check: Callable[[str, Any], Any]
    type_name: str
    required: bool = False
    default: Any = None
    help: str = ""


INT_RANGE = (-(2**63), 2**63 - 1)  # what both databases store


def _int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(f"{name} must be an integer", field=name)
    if not INT_RANGE[0] <= value <= INT_RANGE[1]:
        raise ValidationError(f"{name} is out of range: {value}", field=name)
    return value


def _positive_int(name: str, value: Any) -> int:
    value = _int(name, value)
    if value < 1:
        raise ValidationError(f"{name} must be at least 1", field=name)
    return value


def _str(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise ValidationError(f"{name} must be a string", field=name)
    return value


def _bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValidationError(f"{name} must be true or false", field=name)
    return value


def _date(name: str, value: Any) -> dt.date:
    if not isinstance(value, str):
        raise ValidationError(f"{name} must be a date string YYYY-MM-DD", field=name)
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ValidationError(f"{name} is not a date (YYYY-MM-DD): {value!r}", field=name) from None


def _decimal(name: str, value: Any) -> Decimal:
    if isinstance(value, Decimal | float):
        raise ValidationError(
            f'{name} must be a decimal string such as "12.50", not a JSON number', field=name
        )
    try:
        return parse_decimal(value)
    except MoneyError as exc:
        raise ValidationError(f"{name} {exc}", field=name) from None


def _ref(name: str, value: Any) -> int | str:
    if isinstance(value, bool) or not isinstance(value, int | str) or value == "":
        raise ValidationError(f"{name} must be an id or an invoice number", field=name)
    if isinstance(value, int):
        return _int(name, value)
    return value


def _object(name: str, value: Any) -> dict:
    if not isinstance(value, dict):
        raise ValidationError(f"{name} must be an object", field=name)
    return value


def _list(name: str, value: Any) -> list:
    if not isinstance(value, list):
        raise ValidationError(f"{name} must be a list", field=name)
    return value


def _factory(check: Callable[[str, Any], Any], type_name: str) -> Callable[..., Param]:
    def make(*, required: bool = False, default: Any = None, help: str = "") -> Param:
        return Param(check, type_name, required, default, help)

    return make


Int = _factory(_int, "integer")
PositiveInt = _factory(_positive_int, "integer ≥ 1")
Str = _factory(_str, "string")
Bool = _factory(_bool, "boolean")
Date = _factory(_date, "date")
Money = _factory(_decimal, "decimal string")
Ref = _factory(_ref, "id or number")
Object = _factory(_object, "object")
List = _factory(_list, "list")


def validate_params(spec: dict[str, Param], params: dict[str, Any]) -> dict[str, Any]:
    """Check ``params`` against ``spec``; unknown names and missing required ones are errors."""
    unknown = sorted(set(params) - set(spec))
    if unknown:
        raise ValidationError(f"unknown parameter(s): {', '.join(unknown)}", field=unknown[0])
    checked = {}
    for name, param in spec.items():
        value = params.get(name)
        if value is None:
            if param.required:
                raise ValidationError(f"{name} is required", field=name)
            if param.default is not None:
                checked[name] = param.default
            continue
        checked[name] = param.check(name, value)
    return checked
