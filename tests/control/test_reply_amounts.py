"""Amounts in the socket's replies are quantised to the currency (R-MONEY-2), also the
zeros the daemon writes itself: a voided invoice's balance, a new client's cards."""

from __future__ import annotations

from tests.conftest import RunningDaemon


def test_R_MONEY_2_zeros_the_daemon_sets_have_the_currencys_minor_unit(
    daemon: RunningDaemon,
) -> None:
    euro = daemon.call("enterprise.add", name="Acme", currency="EUR")
    yen = daemon.call("enterprise.add", name="Nippon", currency="JPY")
    jane = daemon.call("client.add", name="Jane", enterprise=euro["id"])
    taro = daemon.call("client.add", name="Taro", enterprise=yen["id"])
    cards = ("total_invoiced", "total_paid", "balance_due", "ledger_balance", "credit")
    assert {key: daemon.call("summary", client=jane["id"])[key] for key in cards} == dict.fromkeys(
        cards, "0.00"
    )
    assert {key: daemon.call("summary", client=taro["id"])[key] for key in cards} == dict.fromkeys(
        cards, "0"
    )
    (invoice,) = daemon.call("invoice.amount", client=jane["id"], date="2026-01-05", amount="9.00")
    daemon.call("invoice.void", invoice=invoice["id"], reason="typo")
    assert daemon.call("invoice.show", invoice=invoice["id"])["balance"] == "0.00"
    listed = daemon.call("invoice.list", client=jane["id"])
    assert [(i["status"], i["balance"]) for i in listed] == [("void", "0.00")]
