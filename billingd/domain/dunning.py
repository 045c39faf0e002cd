"""Dunning plans: which reminder an overdue invoice gets on a day, its fee and interest
(R-DUN-1). Pure: no database, no clock.

A plan is a list of steps ``{name, days, fee, interest_rate}``: step ``n`` (numbered from
1 in plan order) is due ``days`` after the invoice's due date, charges a fixed ``fee``
and annual interest of ``interest_rate`` percent on the open balance.

**One step per invoice per day, in order, never skipped; the gaps are kept.** Step
``n + 1`` is due on the later of

- its own day, ``due_date + days[n + 1]``, and
- the day of the notice actually sent for step ``n`` plus the plan's gap between the
  two steps, ``days[n + 1] - days[n]``.

On a daemon that runs every day both are the same day, so every reminder goes out on
its day. After a pause (a dispute, ``dunning pause``, a payment being processed) or a
daemon that was down, the next step in order goes out at once and the later ones keep
their distance from it: the client always gets the first reminder before the final
notice, and never three letters on three consecutive days. Skipping straight to the
latest due step would send a final notice with its fee to a client who never got a
first reminder; taking the missed steps one per day would send a letter a day, each
with a deadline already past.

**Interest** is exact, ACT/365: ``balance × rate / 100 × days / 365``, rounded once to
the currency's minor unit with ROUND_HALF_UP (R-MONEY-2). ``days`` are the days of
delay not yet charged: from the due date, or from the last notice that charged interest,
to this notice's date. The balance is the invoice's open balance on the notice's date.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from billingd.domain.bounds import digits_value
from billingd.errors import ValidationError
from billingd.money import MoneyError, has_excess_precision, parse_decimal, quantize

CHARGE_MODES = ("next_invoice", "reminder_invoice")
"""Where fees and interest go: a pending charge billed on the client's next invoice, or
an invoice of their own issued with the reminder."""
MAX_DAYS = 3650
MAX_FEE = Decimal(10**9)
MAX_RATE = Decimal(100)
MAX_STEPS = 20
MAX_NAME = 100
DAY_COUNT = 365
"""ACT/365: actual days of delay over a year of 365 days, also in leap years."""


@dataclass(frozen=True, slots=True)
class Step:
    """One step of a plan: ``days`` after the due date, a fixed fee, annual interest %."""

    name: str
    days: int
    fee: Decimal = Decimal(0)
    interest_rate: Decimal = Decimal(0)

    def view(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "days": self.days,
            "fee": str(self.fee),
            "interest_rate": str(self.interest_rate),
        }


@dataclass(frozen=True, slots=True)
class Taken:
    """A notice already sent for an invoice: its step number, date, days overdue and
    whether it charged interest."""

    step: int
    notice_date: dt.date
    days_overdue: int
    charged_interest: bool = False


def parse_step(text: str, index: int = 0) -> dict[str, str]:
    """``NAME:DAYS[:FEE[:INTEREST_RATE]]`` (the command line's ``--step``) as a step's fields.

    The name is everything before the first colon; it may not contain one.
    """
    field = f"steps[{index}]"
    parts = [part.strip() for part in str(text).split(":")]
    if len(parts) < 2 or len(parts) > 4:
        raise ValidationError(
            f"{field} must be NAME:DAYS[:FEE[:INTEREST_RATE]], got {text!r}", field=field
        )
    keys = ("name", "days", "fee", "interest_rate")
    return {key: value for key, value in zip(keys, parts, strict=False) if value != ""}


def _decimal(value: Any, field: str, what: str) -> Decimal:
    if isinstance(value, bool | float):
        raise ValidationError(f"{field} must be a decimal string, got {value!r}", field=field)
    try:
        return parse_decimal(str(value) if isinstance(value, int) else value)
    except (MoneyError, TypeError, ValueError):
        raise ValidationError(f"{field} must be {what}, got {value!r}", field=field) from None


def validate_steps(steps: Iterable[Mapping[str, Any] | str], currency: str) -> list[Step]:
    """The plan's steps checked, in order; ValidationError naming the first bad field
    (``steps[2].days``). Days strictly increasing from 0 to 3650, fees money of the
    currency (≥ 0), interest rates 0..100 percent, names not empty."""
    checked: list[Step] = []
    for index, raw in enumerate(steps):
        item = parse_step(raw, index) if isinstance(raw, str) else raw
        where = f"steps[{index}]"
        if not isinstance(item, Mapping):
            raise ValidationError(
                f"{where} must be an object or NAME:DAYS[:FEE[:RATE]]", field=where
            )
        unknown = sorted(set(item) - {"name", "days", "fee", "interest_rate"})
        if unknown:
            raise ValidationError(f"{where} has unknown field {unknown[0]!r}", field=where)
        name = str(item.get("name") or "").strip()
        if not name:
            raise ValidationError(f"{where}.name must not be empty", field=f"{where}.name")
        if len(name) > MAX_NAME:
            raise ValidationError(
                f"{where}.name must be at most {MAX_NAME} characters", field=f"{where}.name"
            )
        days = _days(item.get("days"), f"{where}.days")
        if checked and days <= checked[-1].days:
            raise ValidationError(
                f"{where}.days must be greater than the step before's {checked[-1].days} "
                f"(days strictly increasing), got {days}",
                field=f"{where}.days",
            )
        fee = _decimal(item.get("fee", "0"), f"{where}.fee", "an amount")
        if fee < 0 or fee > MAX_FEE or has_excess_precision(fee, currency):
            raise ValidationError(
                f"{where}.fee must be an amount from 0 with at most {currency}'s decimals, "
                f"got {fee}",
                field=f"{where}.fee",
            )
        rate = _decimal(item.get("interest_rate", "0"), f"{where}.interest_rate", "a percentage")
        if not Decimal(0) <= rate <= MAX_RATE or rate.normalize().as_tuple().exponent < -4:  # type: ignore[operator]
            raise ValidationError(
                f"{where}.interest_rate must be 0..100 percent with at most 4 decimals, got {rate}",
                field=f"{where}.interest_rate",
            )
        checked.append(Step(name, days, quantize(fee, currency), rate.normalize() + 0))
    if len(checked) > MAX_STEPS:
        raise ValidationError(f"a plan has at most {MAX_STEPS} steps", field="steps")
    return checked


def _days(value: Any, field: str) -> int:
    days = value if isinstance(value, int) and not isinstance(value, bool) else None
    if isinstance(value, str):
        days = digits_value(value)
    if days is None:
        raise ValidationError(
            f"{field} must be a whole number of days (digits 0-9), got {value!r}", field=field
        )
    if not 0 <= days <= MAX_DAYS:
        raise ValidationError(f"{field} must be 0..{MAX_DAYS} days, got {days}", field=field)
    return days


def steps_of(stored: Iterable[Mapping[str, Any]]) -> list[Step]:
    """A stored plan's steps (already validated when stored)."""
    return [
        Step(
            str(s["name"]),
            int(s["days"]),
            Decimal(str(s.get("fee") or "0")),
            Decimal(str(s.get("interest_rate") or "0")),
        )
        for s in stored
    ]


def step_day(steps: Sequence[Step], number: int, due_date: dt.date, last: Taken | None) -> dt.date:
    """The day step ``number`` (1-based) is due, given the last notice taken before it."""
    step = steps[number - 1]
    day = due_date + dt.timedelta(days=step.days)
    if last is not None and 1 <= last.step < number:
        gap = step.days - steps[last.step - 1].days if last.step <= len(steps) else 0
        day = max(day, last.notice_date + dt.timedelta(days=max(gap, 0)))
    return day


def next_step(
    steps: Sequence[Step], due_date: dt.date, taken: Sequence[Taken]
) -> tuple[int, dt.date] | None:
    """The next step in order and the day it is due, or None when every step was taken."""
    last = max(taken, key=lambda t: t.step, default=None)
    number = (last.step if last is not None else 0) + 1
    if number > len(steps):
        return None
    return number, step_day(steps, number, due_date, last)


def due_step(
    steps: Sequence[Step], due_date: dt.date, today: dt.date, taken: Sequence[Taken]
) -> int | None:
    """The step (1-based) to take today, or None: the next one in order, once its day
    has come. One step per call: a later one waits for its own day."""
    upcoming = next_step(steps, due_date, taken)
    if upcoming is None or upcoming[1] > today:
        return None
    return upcoming[0]


def days_overdue(due_date: dt.date, today: dt.date) -> int:
    return max((today - due_date).days, 0)


def interest_days(overdue: int, taken: Sequence[Taken]) -> int:
    """The days of delay not yet charged interest on: since the due date, or since the
    last notice that charged interest."""
    charged = max((t.days_overdue for t in taken if t.charged_interest), default=0)
    return max(overdue - charged, 0)


def interest(balance: Decimal, rate: Decimal, days: int, currency: str) -> Decimal:
    """``balance × rate / 100 × days / 365``, rounded once, half up, to the currency's
    minor unit (ACT/365)."""
    if balance <= 0 or rate <= 0 or days <= 0:
        return quantize(Decimal(0), currency)
    exact = balance * rate * days / (Decimal(100) * DAY_COUNT)
    return quantize(exact, currency)


@dataclass(frozen=True, slots=True)
class Reminder:
    """What taking a step means: its number, name, day, delay, fee and interest."""

    step: int
    name: str
    notice_date: dt.date
    days_overdue: int
    balance: Decimal
    fee: Decimal
    interest: Decimal
    interest_days: int

    @property
    def charged(self) -> Decimal:
        return self.fee + self.interest


def reminder_for(
    steps: Sequence[Step],
    *,
    due_date: dt.date,
    today: dt.date,
    balance: Decimal,
    currency: str,
    taken: Sequence[Taken],
) -> Reminder | None:
    """The reminder to send today for an invoice with ``balance`` open, or None."""
    if balance <= 0:
        return None
    number = due_step(steps, due_date, today, taken)
    if number is None:
        return None
    step = steps[number - 1]
    overdue = days_overdue(due_date, today)
    days = interest_days(overdue, taken) if step.interest_rate > 0 else 0
    return Reminder(
        step=number,
        name=step.name,
        notice_date=today,
        days_overdue=overdue,
        balance=balance,
        fee=quantize(step.fee, currency),
        interest=interest(balance, step.interest_rate, days, currency),
        interest_days=days,
    )
