"""Socket parameters of lists and reports that billingctl turns into options.

Declared once, here, where importing them costs little (no services, no database):
the registrations in :mod:`billingd.control.api` spread these dicts into their
methods' parameters, and billingctl derives its options and page sizes from them
without importing the registry, which imports every service
(``tests/control/test_ctl_options.py`` checks that both agree).
"""

from __future__ import annotations

from billingd.control.params import OFFSET, Int, Param, PositiveInt, Ref, Str
from billingd.domain import outbox_states
from billingd.domain.bounds import Bound

CLIENT_PAGE = dict(limit=PositiveInt(default=100), offset=Int(default=0, bound=OFFSET))
INVOICE_PAGE = dict(limit=PositiveInt(default=200), offset=Int(default=0, bound=OFFSET))
PAGED: dict[str, dict[str, Param]] = {"client.list": CLIENT_PAGE, "invoice.list": INVOICE_PAGE}
"""The methods that page (``limit`` and ``offset``), with their page parameters."""

OUTBOX_FILTERS = dict(
    state=Str(help="|".join(outbox_states.STATES)),
    channel=Str(help="|".join(outbox_states.CHANNELS)),
    client=Int(help="client id"),
    invoice=Ref(help="invoice id or number"),
    limit=PositiveInt(default=200),
)

MONTHS = Bound(1, 120, unit="months")
REVENUE_PARAMS = {
    "months": PositiveInt(default=12, bound=MONTHS, help="how many months, up to this one")
}
