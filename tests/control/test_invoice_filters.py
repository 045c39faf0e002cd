"""``invoice.list`` filtered by issue month (period) and by being overdue, over the socket
and through billingctl."""

from __future__ import annotations

import pytest

from billingd.control.client import RemoteError
from tests.conftest import RunningDaemon, billingctl, billingctl_ok


def test_invoice_list_filters_by_period_and_overdue(daemon: RunningDaemon) -> None:
    acme = daemon.call("enterprise.add", name="Acme", currency="EUR")
    jane = daemon.call("client.add", name="Jane", enterprise=acme["id"])
    [january] = daemon.call("invoice.amount", client=jane["id"], date="2026-01-15", amount="9.00")
    [paid] = daemon.call("invoice.amount", client=jane["id"], date="2026-01-20", amount="5.00")
    daemon.call("payment.record", client=jane["id"], amount="5.00", invoice=paid["id"])
    [march] = daemon.call("invoice.amount", client=jane["id"], date="2026-03-31", amount="7.00")
    far = "2099-01-01"  # due long after the clock's day: not overdue
    [future] = daemon.call("invoice.amount", client=jane["id"], date=far, amount="3.00")

    def ids(**filters: object) -> list[int]:
        return [i["id"] for i in daemon.call("invoice.list", **filters)]

    assert ids(period="2026-01") == [paid["id"], january["id"]]
    assert ids(period="2026-03") == [march["id"]]
    assert ids(period="2026-02") == []
    # overdue: open or partly paid, after the due date (paid and future ones are not)
    assert ids(overdue=True) == [march["id"], january["id"]]
    assert ids(overdue=True, period="2026-03") == [march["id"]]
    assert future["id"] in ids(overdue=False)

    with pytest.raises(RemoteError) as refused:
        daemon.call("invoice.list", period="2026-1")
    assert refused.value.data["field"] == "period"
    assert "YYYY-MM" in refused.value.message

    listed = billingctl_ok(daemon, "invoice", "list", "--overdue", "--period", "2026-01")
    assert [i["id"] for i in listed] == [january["id"]]
    assert billingctl(daemon.socket, "invoice", "list", "--period", "January").returncode == 1
