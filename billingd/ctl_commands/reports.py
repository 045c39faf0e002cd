"""Commands for the dashboard's figures, one row per month or currency for scripts."""

from __future__ import annotations

from typing import Any

from billingd.control.list_params import REVENUE_PARAMS
from billingd.ctl_commands.base import Command, options
from billingd.domain.reports import AGING_BUCKETS

REVENUE_COLUMNS = ("month", "currency", "invoiced", "paid")
AGING_COLUMNS = ("currency", *AGING_BUCKETS, "total", "invoices")


def revenue_rows(client: Any, params: dict[str, Any]) -> list[dict[str, Any]]:
    """``report.revenue`` as one row per month and currency, oldest month first."""
    report = client.call("report.revenue", **params)
    return [
        {"month": m["month"], "currency": c, "invoiced": m["invoiced"][c], "paid": m["paid"][c]}
        for m in report["months"]
        for c in report["currencies"]
    ]


def aging_rows(client: Any, params: dict[str, Any]) -> list[dict[str, Any]]:
    """``report.aging`` as one row per currency: the amount in each bucket, the total and
    how many invoices are open."""
    report = client.call("report.aging", **params)
    return [
        {
            "currency": currency,
            **{bucket: figures[bucket]["amount"] for bucket in (*report["buckets"], "total")},
            "invoices": figures["total"]["invoices"],
        }
        for currency, figures in report["currencies"].items()
    ]


COMMANDS: tuple[Command, ...] = (
    Command(
        ("report", "revenue"),
        "report.revenue",
        "Invoiced and paid per month and currency (credit notes and refunds netted).",
        options(REVENUE_PARAMS),
        columns=REVENUE_COLUMNS,
        run=revenue_rows,
    ),
    Command(
        ("report", "aging"),
        "report.aging",
        "Open balances per currency by days overdue, as of the daemon's clock.",
        columns=AGING_COLUMNS,
        run=aging_rows,
    ),
)
