"""The reference model reproduces docs/billing-rules.md's worked examples (no database).

Checks the oracle itself: if the model and the document disagree, the model is wrong.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from .checks import expected_totals
from .model import Charge, Contract, Expected, Group, Model, Party

D = Decimal
BERLIN = "Europe/Berlin"
date = dt.date


def acme() -> Model:
    return Model(BERLIN, D("19"))


def client(model: Model, id: int, days: tuple[int, ...] = (), reseller: int | None = None) -> None:
    model.add(Party("client", id, days, D("19"), reseller, default_group=id))
    model.add(Group(id))


def monthly(
    model: Model,
    id: int,
    owner: tuple[str, int],
    price: str,
    start: date,
    group: int | None = None,
    origin: str = "standard",
    created: date | None = None,
) -> Contract:
    contract = Contract(
        id,
        owner,
        group if group is not None else owner[1],
        D(price),
        D("19"),
        "month",
        1,
        start,
        start,
        None,
        "advance",
        origin,
        created or start,
    )
    if owner[0] == "reseller":
        contract.group = None
    model.add(contract)
    return contract


def gross(invoice: Expected) -> Decimal:
    subtotal, tax = expected_totals(invoice.items)
    return subtotal + tax


def run(model: Model, as_of: date) -> list[Expected]:
    plan = model.plan(as_of)
    for number, invoice in enumerate(plan, start=len(model.items_of) + 1):
        model.commit(number, invoice.items, invoice, as_of)
    return plan


def summary(plan: list[Expected]) -> list[tuple]:
    return [(e.owner, e.group, e.billing_date, gross(e)) for e in plan]


def test_a_client_billed_per_cycle_with_usage() -> None:
    model = acme()
    client(model, 1)
    monthly(model, 1, ("client", 1), "100.00", date(2027, 1, 1))
    for record, (at, amount) in enumerate(
        [
            ("2027-01-10T12:00:00", "0.40"),
            ("2027-01-31T22:59:59", "1.20"),
            ("2027-01-31T23:00:00", "1.20"),
        ],
        start=1,
    ):
        model.add_usage(record, 1, dt.datetime.fromisoformat(at), D(amount), None)
    assert summary(run(model, date(2027, 1, 1))) == [
        (("client", 1), 1, date(2027, 1, 1), D("119.00"))
    ]
    assert summary(run(model, date(2027, 2, 1))) == [
        (("client", 1), 1, date(2027, 2, 1), D("120.90"))
    ]
    assert ("usage", 3, "client") not in model.billed  # 00:00 on February 1 in Berlin
    assert [e.billing_date for e in model.plan(date(2027, 3, 1))] == [date(2027, 3, 1)]


def test_invoice_days_and_a_backlog() -> None:
    model = acme()
    client(model, 1, days=(1, 15))
    monthly(model, 1, ("client", 1), "100.00", date(2027, 1, 1))
    model.add(Charge(1, 1, D("50.00"), date(2027, 1, 5), False, 1, D("19")))
    assert summary(run(model, date(2027, 2, 15))) == [
        (("client", 1), 1, date(2027, 1, 15), D("178.50")),
        (("client", 1), 1, date(2027, 2, 15), D("119.00")),
    ]


def test_a_manual_order() -> None:
    model = acme()
    client(model, 1)
    monthly(model, 1, ("client", 1), "100.00", date(2027, 6, 1), origin="manual")
    assert model.plan(date(2027, 6, 3)) == []
    must, may = model.period_items(
        ("client", 1), date(2027, 6, 1), date(2027, 6, 30), date(2027, 6, 3)
    )
    assert list(must) == [("cycle", 1, date(2027, 6, 1))] and may == {}
    model.commit(1, list(must.values()), issued=date(2027, 6, 3))
    assert model.plan(date(2027, 7, 2)) == []
    assert summary(model.plan(date(2027, 7, 3))) == [
        (("client", 1), 1, date(2027, 7, 3), D("119.00"))
    ]


def test_a_contract_added_after_the_days_invoice() -> None:
    model = acme()
    client(model, 1)
    monthly(model, 1, ("client", 1), "100.00", date(2027, 2, 1))
    run(model, date(2027, 2, 1))
    monthly(model, 2, ("client", 1), "30.00", date(2027, 2, 1))
    assert summary(run(model, date(2027, 2, 1))) == [
        (("client", 1), 1, date(2027, 2, 1), D("35.70"))
    ]


def test_late_usage() -> None:
    model = acme()
    client(model, 1, days=(1,))
    monthly(model, 1, ("client", 1), "100.00", date(2027, 1, 1))
    assert [e.billing_date for e in run(model, date(2027, 2, 1))] == [date(2027, 2, 1)]
    model.add_usage(1, 1, dt.datetime(2027, 1, 20, 10), D("0.60"), None)
    assert summary(run(model, date(2027, 3, 1))) == [
        (("client", 1), 1, date(2027, 3, 1), D("119.71"))
    ]


def test_a_reseller_and_its_client() -> None:
    model = acme()
    model.add(Party("reseller", 1, (), D("19")))
    client(model, 1, days=(1,), reseller=1)
    monthly(model, 1, ("reseller", 1), "500.00", date(2027, 1, 1))
    model.add_usage(1, 1, dt.datetime(2027, 1, 15, 12), D("9.00"), None)
    assert summary(model.plan(date(2027, 2, 1))) == [
        (("reseller", 1), None, date(2027, 1, 1), D("595.00")),
        (("client", 1), 1, date(2027, 2, 1), D("10.71")),
        (("reseller", 1), None, date(2027, 2, 1), D("605.71")),
    ]


def test_bill_groups() -> None:
    model = acme()
    client(model, 1)
    model.add(Group(2))
    monthly(model, 1, ("client", 1), "100.00", date(2027, 1, 1))
    monthly(model, 2, ("client", 1), "40.00", date(2027, 1, 1), group=2)
    assert summary(model.plan(date(2027, 1, 1))) == [
        (("client", 1), 1, date(2027, 1, 1), D("119.00")),
        (("client", 1), 2, date(2027, 1, 1), D("47.60")),
    ]
    model.groups[2].auto = False  # invoiced by hand: never automatically [R-RUN-5]
    assert [e.group for e in model.plan(date(2027, 1, 1))] == [1]


def test_month_end_anchor_and_pro_rata() -> None:
    """Anchored on Jan 31: Feb 28, Mar 31, Apr 30 [R-RUN-4]; an end date clips the last
    cycle, pro rata by days."""
    contract = Contract(
        1,
        ("client", 1),
        1,
        D("31.00"),
        D("19"),
        "month",
        1,
        date(2027, 1, 31),
        date(2027, 1, 31),
        date(2027, 4, 14),
        "arrears",
        "standard",
        date(2027, 1, 31),
    )
    assert list(contract.cycles(date(2027, 12, 31))) == [
        (date(2027, 1, 31), date(2027, 2, 27), D("31.00")),
        (date(2027, 2, 28), date(2027, 3, 30), D("31.00")),
        (date(2027, 3, 31), date(2027, 4, 14), D("15.50")),  # 15 of 30 days
    ]
