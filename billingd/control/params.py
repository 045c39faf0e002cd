"""Typed parameters at the socket boundary, each with its bounds.

Money is a decimal string (a JSON number with a fraction is refused), dates are
``YYYY-MM-DD``, ids are integers. A bad value is a ValidationError naming it.

Every accepted value is bounded (issue 9, defect 11), so that nothing accepted can
overflow later in date arithmetic, a database column or a PDF: the named bounds below
(:data:`REVIEW_DAYS`, :data:`AMOUNT`, …) are declared once, used by the method
registrations in ``billingd.control.api`` and by the CSV import columns of
``billingd.services.imports``. Rules that need the data (a currency's decimals, a
contract's positive quantity) stay in the services, for their direct callers too.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from billingd.domain.bounds import (  # noqa: F401 - re-exported for the registrations
    AMOUNT,
    COUNT,
    DATES,
    FILE_LINES,
    ID_NUMBERS,
    IDENTIFIER,
    INT_RANGE,
    INTERVAL,
    MAX_TEXT,
    NUMBER_START,
    OFFSET,
    PAYMENT_TERMS,
    QUANTITY,
    REVIEW_DAYS,
    TAX_RATE,
    Bound,
    Orderable,
    text_bound,
    text_problem,
)
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
    bound: Bound | None = None

    def validate(self, name: str, value: Any) -> Any:
        """The checked value, within its bound; ValidationError naming ``name`` otherwise."""
        checked = self.check(name, value)
        return self.bound.check(name, checked) if self.bound is not None else checked

    def named(self, name: str) -> Param:
        """This parameter as ``name``: a :data:`Str` without a bound of its own takes the
        bound of its field (:data:`billingd.domain.bounds.TEXT_FIELDS`), stated in its help."""
        if self.check is not _str or self.bound is not None:
            return self
        try:
            bound = text_bound(name)
        except KeyError:
            raise ValueError(
                f"text parameter {name!r} has no bound: declare one, or name it in "
                "billingd.domain.bounds.TEXT_FIELDS"
            ) from None
        help = f"{self.help}; {bound.describe()}" if self.help else bound.describe()
        return dataclasses.replace(self, help=help, bound=bound)


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
    problem = text_problem(value)
    if problem:
        raise ValidationError(f"{name} {problem}", field=name)
    return value


def _bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValidationError(f"{name} must be true or false", field=name)
    return value


def _date(name: str, value: Any) -> dt.date:
    if not isinstance(value, str):
        raise ValidationError(f"{name} must be a date string YYYY-MM-DD", field=name)
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise ValidationError(f"{name} is not a date (YYYY-MM-DD): {value!r}", field=name) from None
    return DATES.check(name, day)


def parse_instant(text: str) -> dt.datetime:
    """An ISO 8601 instant, UTC when it has no offset; ValueError when it is none."""
    instant = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return (instant if instant.tzinfo else instant.replace(tzinfo=dt.UTC)).astimezone(dt.UTC)


def _instant(name: str, value: Any) -> dt.datetime:
    if not isinstance(value, str):
        raise ValidationError(f"{name} must be an ISO 8601 instant string", field=name)
    try:
        instant = parse_instant(value)
    except (ValueError, OverflowError):
        raise ValidationError(
            f"{name} is not an instant (ISO 8601 such as 2026-02-01T00:00, UTC unless an "
            f"offset is given): {value!r}",
            field=name,
        ) from None
    problem = DATES.problem(instant.date())
    if problem:
        raise ValidationError(f"{name} {problem} (its day in UTC)", field=name)
    return instant


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


def _lines(name: str, value: Any) -> list[int]:
    lines = _list(name, value)
    for number in lines:
        if isinstance(number, bool) or not isinstance(number, int) or FILE_LINES.problem(number):
            raise ValidationError(
                f"{name} must be file line numbers {FILE_LINES.describe()}, got {number!r}",
                field=name,
            )
    return lines


def _factory(
    check: Callable[[str, Any], Any], type_name: str, bound: Bound | None = None
) -> Callable[..., Param]:
    """A parameter type; ``bound`` is its default bound, replaced by a declaration's own.

    The bound is appended to the help text, so docs/protocol.md states it.
    """

    def make(
        *, required: bool = False, default: Any = None, help: str = "", bound: Bound | None = None
    ) -> Param:
        chosen = bound or make.bound  # type: ignore[attr-defined]
        if chosen is not None:
            help = f"{help}; {chosen.describe()}" if help else chosen.describe()
        return Param(check, type_name, required, default, help, chosen)

    make.bound = bound  # type: ignore[attr-defined]
    return make


Int = _factory(_int, "integer")
PositiveInt = _factory(_positive_int, "integer ≥ 1")
Str = _factory(_str, "string")
Bool = _factory(_bool, "boolean")
Date = _factory(_date, "date")
Instant = _factory(_instant, "instant")
Money = _factory(_decimal, "decimal string", AMOUNT)
Ref = _factory(_ref, "id or number")
Object = _factory(_object, "object")
List = _factory(_list, "list")
Lines = _factory(_lines, f"list of line numbers ({FILE_LINES.describe()})")
"""The file line of each row of an import, for its error messages."""


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
        checked[name] = param.validate(name, value)
    return checked
