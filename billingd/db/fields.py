"""Column types that keep money exact and structured values readable."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import peewee

from billingd.money import D


class DecimalTextField(peewee.TextField):
    """An exact decimal stored as its text, on SQLite and PostgreSQL alike (R-MONEY-1).

    SQLite's NUMERIC affinity would turn ``"0.10"`` into a binary float; text keeps
    every digit. Floats are refused on the way in.
    """

    def db_value(self, value: Any) -> str | None:
        if value is None:
            return None
        return str(D(value))

    def python_value(self, value: Any) -> Decimal | None:
        if value is None:
            return None
        return D(str(value))


class JSONTextField(peewee.TextField):
    """A JSON document stored as text (snapshots, details, custom fields)."""

    def db_value(self, value: Any) -> str | None:
        if value is None:
            return None
        return json.dumps(value, sort_keys=True, default=str)

    def python_value(self, value: Any) -> Any:
        if value is None:
            return None
        return json.loads(value)
