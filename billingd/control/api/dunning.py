"""Methods for dunning: the plan per enterprise, overdue invoices' state, pause and resume
(R-DUN-1)."""

from __future__ import annotations

from typing import Any

from billingd.control.params import Int, List, PositiveInt, Ref, Str
from billingd.control.registry import method
from billingd.services import dunning
from billingd.services.context import ServiceContext

STEPS_HELP = (
    'the steps in order: objects {"name", "days", "fee", "interest_rate"} or '
    '"NAME:DAYS[:FEE[:INTEREST_RATE]]" strings (days after the due date, strictly '
    "increasing, 0..3650; a fixed fee ≥ 0; annual interest 0..100 percent); [] = no dunning"
)


@method(
    "dunning.plan",
    writes=False,
    result="the `DunningPlan` (no steps when the enterprise has none)",
    enterprise=Int(required=True),
)
def dunning_plan(ctx: ServiceContext, enterprise: int) -> dict[str, Any]:
    """An enterprise's dunning plan (R-DUN-1)."""
    return dunning.plan_view_of(enterprise, dunning.get_plan(enterprise))


@method(
    "dunning.set_plan",
    writes=True,
    result="the changed `DunningPlan`",
    enterprise=Int(required=True),
    steps=List(help=STEPS_HELP + "; omitted: the steps stay"),
    charge_mode=Str(
        help="next_invoice (fees and interest billed on the client's next invoice) or "
        "reminder_invoice (an invoice of their own); omitted: unchanged"
    ),
)
def dunning_set_plan(
    ctx: ServiceContext,
    enterprise: int,
    steps: list[Any] | None = None,
    charge_mode: str | None = None,
) -> dict[str, Any]:
    """Set an enterprise's reminder steps, fees, interest and charge mode (R-DUN-1).

    Each step is taken once per overdue invoice, in order, on its day (due date + days,
    and not before the previous reminder's date + the gap between the two steps).
    """
    plan = dunning.set_plan(ctx, enterprise, steps=steps, charge_mode=charge_mode)
    return dunning.plan_view_of(enterprise, plan)


@method(
    "dunning.list",
    writes=False,
    result="list of `DunningState`, oldest due first",
    client=Int(),
    enterprise=Int(),
    limit=PositiveInt(default=500),
)
def dunning_list(
    ctx: ServiceContext, limit: int, client: int | None = None, enterprise: int | None = None
) -> list[dict[str, Any]]:
    """Overdue invoices with their dunning state and the reminders sent (R-DUN-1)."""
    return dunning.list_states(
        ctx, client_id=client, enterprise_id=enterprise, limit=min(limit, 5000)
    )


@method(
    "dunning.show",
    writes=False,
    result="the invoice's `DunningState`",
    invoice=Ref(required=True),
)
def dunning_show(ctx: ServiceContext, invoice: Any) -> dict[str, Any]:
    """One invoice's dunning state and the reminders sent for it (R-DUN-1)."""
    return dunning.invoice_state(ctx, invoice)


@method(
    "dunning.pause",
    writes=True,
    result="the invoice's `DunningState`",
    invoice=Ref(required=True),
)
def dunning_pause(ctx: ServiceContext, invoice: Any) -> dict[str, Any]:
    """Send no more reminders for an invoice until it is resumed (R-DUN-1)."""
    target = dunning.set_paused(ctx, invoice, True)
    return dunning.invoice_state(ctx, target.id)


@method(
    "dunning.resume",
    writes=True,
    result="the invoice's `DunningState`",
    invoice=Ref(required=True),
)
def dunning_resume(ctx: ServiceContext, invoice: Any) -> dict[str, Any]:
    """Resume reminders for a paused invoice: the next step in order, on its day (R-DUN-1)."""
    target = dunning.set_paused(ctx, invoice, False)
    return dunning.invoice_state(ctx, target.id)
