"""Closed months: nothing is issued, voided or credited inside one (R-INV-13)."""

from __future__ import annotations

import datetime as dt

from billingd.db.connection import write_transaction
from billingd.db.models import ClosedPeriod, Enterprise
from billingd.db.prepared import PreparedSelect, Slot
from billingd.domain.bounds import first_of_month
from billingd.errors import Conflict, RuleViolation
from billingd.services.audit import record_audit
from billingd.services.context import ServiceContext
from billingd.services.lookup import get_or_refuse


def month_key(day: dt.date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


CLOSED = PreparedSelect(
    lambda: (
        ClosedPeriod.select(ClosedPeriod.id)
        .where(
            (ClosedPeriod.enterprise == Slot("enterprise")) & (ClosedPeriod.month == Slot("month"))
        )
        .limit(1)
    )
)


def check_open(enterprise_id: int, day: dt.date, action: str) -> None:
    """Refuse ``action`` dated ``day`` when its month is closed."""
    month = month_key(day)
    if CLOSED.first(enterprise=enterprise_id, month=month) is not None:
        raise RuleViolation("R-INV-13", f"cannot {action} on {day}: period {month} is closed")


def close_period(ctx: ServiceContext, *, enterprise_id: int, month: str) -> ClosedPeriod:
    first_of_month(month, "month")
    with write_transaction():
        enterprise = get_or_refuse(Enterprise, enterprise_id)
        if (
            ClosedPeriod.select()
            .where((ClosedPeriod.enterprise == enterprise) & (ClosedPeriod.month == month))
            .exists()
        ):
            raise Conflict(f"period {month} is already closed", month=month)
        closed = ClosedPeriod.create(enterprise=enterprise, month=month, actor=ctx.actor)
        record_audit(ctx, "period.closed", subject=closed, month=month)
    return closed


def list_closed(enterprise_id: int | None = None) -> list[ClosedPeriod]:
    query = ClosedPeriod.select().order_by(ClosedPeriod.month)
    if enterprise_id is not None:
        query = query.where(ClosedPeriod.enterprise == enterprise_id)
    return list(query)
