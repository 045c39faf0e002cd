"""Methods for the dashboard's figures: revenue per month, aging of open balances."""

from __future__ import annotations

from typing import Any

from billingd.control.list_params import REVENUE_PARAMS
from billingd.control.registry import method
from billingd.services import reports
from billingd.services.context import ServiceContext


@method(
    "report.revenue",
    writes=False,
    result=(
        "`{as_of, currencies, months}`: `as_of` the day of the daemon's clock it is as of; "
        "`currencies` every currency with figures, sorted; `months` oldest first, each "
        "`{month, invoiced, paid}`: `month` `YYYY-MM`, `invoiced` and `paid` map each "
        "currency to a decimal string (issued totals less credit notes; payments received "
        "less refunds made)"
    ),
    **REVENUE_PARAMS,
)
def report_revenue(ctx: ServiceContext, months: int) -> dict[str, Any]:
    """Invoiced and paid per month and currency, for the last months up to the clock's."""
    return reports.revenue(ctx, months)


@method(
    "report.aging",
    writes=False,
    result=(
        "`{as_of, buckets, currencies}`: `buckets` the bucket names in order (`current`, "
        "`1-30`, `31-60`, `61-90`, `90+` days overdue); `currencies` maps each currency with "
        "open balances to `{bucket: {amount, invoices}}` for every bucket and `total`, "
        "`amount` a decimal string"
    ),
)
def report_aging(ctx: ServiceContext) -> dict[str, Any]:
    """Open and partly paid invoices' balances by days overdue on the clock's day."""
    return reports.aging(ctx)
