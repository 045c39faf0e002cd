"""The billing engine's rules (SPEC §3–6) at the service layer, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from billingd.db.models import (
    Allocation,
    AuditEvent,
    CreditNote,
    Delivery,
    Document,
    DocumentJob,
    Invoice,
    LedgerEntry,
    Payment,
)
from billingd.errors import BillingError, RuleViolation, ValidationError
from billingd.services import (
    charges,
    closed_periods,
    contracts,
    credit_notes,
    document_queue,
    invoice_actions,
    invoicing,
    ledger,
    parties,
    payments,
    usage,
)
from billingd.services.context import ServiceContext

D = Decimal
JAN = dict(period_start=dt.date(2026, 1, 1), period_end=dt.date(2026, 1, 31))


def counts() -> tuple[int, ...]:
    models = (Invoice, Payment, Allocation, CreditNote, LedgerEntry, AuditEvent, Delivery)
    return tuple(m.select().count() for m in models)


def refused(call, *args, **kwargs) -> BillingError:  # type: ignore[no-untyped-def]
    """Assert a call is refused and that it wrote nothing (R-TX-1)."""
    before = counts()
    with pytest.raises(BillingError) as info:
        call(*args, **kwargs)
    assert counts() == before
    return info.value


@pytest.fixture
def jane(ctx: ServiceContext, acme):  # type: ignore[no-untyped-def]
    return parties.add_client(ctx, name="Jane", enterprise_id=acme.id, email="ap@jane.example")


def amount_invoice(ctx: ServiceContext, client, day: int, amount: str) -> Invoice:  # type: ignore[no-untyped-def]
    return invoicing.invoice_for_amount(
        ctx, client_id=client.id, issue_date=dt.date(2026, 1, day), amount=D(amount)
    )[0]


def monthly_contract(ctx: ServiceContext, owner, price: str):  # type: ignore[no-untyped-def]
    """A monthly "PBX" contract from 2026-01-01."""
    return contracts.add_contract(
        ctx,
        client_id=owner.id,
        description="PBX",
        unit_price=D(price),
        cycle="month",
        start_date=dt.date(2026, 1, 1),
    )


def reload(row):  # type: ignore[no-untyped-def]
    return type(row).get_by_id(row.id)


# ---------------------------------------------------------------- payments


def test_r_pay_1_amount_and_currency_checked(ctx: ServiceContext, jane) -> None:
    assert isinstance(
        refused(payments.record_payment, ctx, client_id=jane.id, amount=D("0")), ValidationError
    )
    refused(payments.record_payment, ctx, client_id=jane.id, amount=D("0.001"))
    error = refused(payments.record_payment, ctx, client_id=jane.id, amount=D("5"), currency="USD")
    assert error.data["rule"] == "R-MONEY-3"


def test_r_pay_2_oldest_first_across_invoices_remainder_is_credit(
    ctx: ServiceContext, jane
) -> None:
    # An older issue date with a later number exists only across sequences (R-NUM-6):
    # with a monthly reset, December's 1/12-2025 comes after January's 1/01-2026.
    parties.update_enterprise(
        ctx, jane.enterprise_id, invoice_pattern="%num%/%mon%-%year%", invoice_reset="monthly"
    )
    first = amount_invoice(ctx, jane, 5, "100.00")
    second = invoicing.invoice_for_amount(
        ctx, client_id=jane.id, issue_date=dt.date(2025, 12, 30), amount=D("50.00")
    )[0]
    assert (first.number, second.number) == ("100001/01-2026", "100001/12-2025")
    third = amount_invoice(ctx, jane, 7, "30.00")
    payment = payments.record_payment(ctx, client_id=jane.id, amount=D("170.00"))
    assert [(reload(i).status, reload(i).balance) for i in (second, first, third)] == [
        ("paid", D("0.00")),
        ("paid", D("0.00")),
        ("partial", D("10.00")),
    ]
    assert reload(payment).unallocated == D("0")
    extra = payments.record_payment(ctx, client_id=jane.id, amount=D("25.00"))
    assert reload(third).status == "paid"
    assert reload(extra).unallocated == D("15.00")
    assert ledger.unapplied_credit(jane) == D("15.00")
    fourth = amount_invoice(ctx, jane, 9, "20.00")  # credit applied automatically
    assert (reload(fourth).balance, reload(fourth).status) == (D("5.00"), "partial")
    assert ledger.unapplied_credit(jane) == D("0")
    assert LedgerEntry.get(LedgerEntry.kind == "credit.applied").amount == 0
    assert ledger.invariant_problems(jane) == []


def test_r_pay_2_target_first_then_oldest(ctx: ServiceContext, jane) -> None:
    old = amount_invoice(ctx, jane, 1, "40.00")
    new = amount_invoice(ctx, jane, 9, "40.00")
    payments.record_payment(ctx, client_id=jane.id, amount=D("50.00"), invoice=new.number)
    assert (reload(new).status, reload(old).balance) == ("paid", D("30.00"))


@pytest.mark.parametrize("policy", ["due_date", "target_only"])
def test_r_pay_2_alternative_policies(ctx: ServiceContext, jane, policy: str) -> None:
    ctx.allocation_policy = policy
    a = amount_invoice(ctx, jane, 1, "40.00")
    b = amount_invoice(ctx, jane, 2, "40.00")
    payments.record_payment(ctx, client_id=jane.id, amount=D("60.00"), invoice=b.id)
    assert reload(b).status == "paid"
    if policy == "target_only":
        assert reload(a).balance == D("40.00") and ledger.unapplied_credit(jane) == D("20.00")
    else:
        assert reload(a).balance == D("20.00")


def test_r_pay_3_ledger_and_audit(ctx: ServiceContext, jane) -> None:
    amount_invoice(ctx, jane, 1, "40.00")
    payment = payments.record_payment(ctx, client_id=jane.id, amount=D("40.00"), reference="tx9")
    entry = LedgerEntry.get(LedgerEntry.payment == payment)
    assert (entry.kind, entry.amount) == ("payment.manual", D("-40.00"))
    event = AuditEvent.get(AuditEvent.event == "payment.recorded")
    assert event.actor == "tester" and event.details["reference"] == "tx9"
    assert (
        "payment.recorded",
        {"id": payment.id, "client_id": jane.id, "amount": "40.00"},
    ) in ctx.events


# ---------------------------------------------------------------- credit notes


def test_r_cn_1_limits(ctx: ServiceContext, jane) -> None:
    invoice = amount_invoice(ctx, jane, 1, "100.00")
    assert (
        refused(credit_notes.issue_credit_note, ctx, invoice=invoice.id, amount=D("100.01")).data[
            "rule"
        ]
        == "R-CN-1"
    )
    refused(credit_notes.issue_credit_note, ctx, invoice=invoice.id, amount=D("0"))
    payments.record_payment(ctx, client_id=jane.id, amount=D("100.00"))
    refused(credit_notes.issue_credit_note, ctx, invoice=invoice.id, amount=D("1"))
    other = amount_invoice(ctx, jane, 2, "10.00")
    invoice_actions.void_invoice(ctx, other.id)
    refused(credit_notes.issue_credit_note, ctx, invoice=other.id, amount=D("1"))


def test_r_cn_2_numbered_documented_ledgered(ctx: ServiceContext, jane) -> None:
    invoice = amount_invoice(ctx, jane, 1, "100.00")
    first = credit_notes.issue_credit_note(ctx, invoice=invoice.number, amount=D("30.00"))
    assert reload(invoice).status == "partial" and reload(invoice).balance == D("70.00")
    second = credit_notes.issue_credit_note(
        ctx, invoice=invoice.id, amount=D("70.00"), reason="goodwill"
    )
    assert (first.number, second.number) == ("CN-1", "CN-2")
    assert reload(invoice).status == "paid"
    assert document_queue.render_pending(ctx).rendered >= 2  # after the commits (R-INV-11)
    assert Path(Document.get(Document.credit_note == second).path).read_bytes()[:4] == b"%PDF"
    assert LedgerEntry.get(LedgerEntry.credit_note == second).amount == D("-70.00")
    assert ledger.invariant_problems(jane) == []


# ---------------------------------------------------------------- void, reissue, send, address


def test_r_inv_8_void_rules(ctx: ServiceContext, jane) -> None:
    paid = amount_invoice(ctx, jane, 1, "10.00")
    payments.record_payment(ctx, client_id=jane.id, amount=D("5.00"), invoice=paid.id)
    assert refused(invoice_actions.void_invoice, ctx, paid.id).data["rule"] == "R-INV-8"
    credited = amount_invoice(ctx, jane, 2, "10.00")
    credit_notes.issue_credit_note(ctx, invoice=credited.id, amount=D("1.00"))
    refused(invoice_actions.void_invoice, ctx, credited.id)
    plain = amount_invoice(ctx, jane, 3, "10.00")
    voided = invoice_actions.void_invoice(ctx, plain.number)
    assert (voided.status, voided.number, voided.balance) == ("void", plain.number, 0)
    assert LedgerEntry.get(
        (LedgerEntry.invoice == plain) & (LedgerEntry.kind == "invoice.voided")
    ).amount == D("-10.00")
    refused(invoice_actions.void_invoice, ctx, plain.id)
    assert ledger.invariant_problems(jane) == []


def test_r_inv_9_reissue_after_contract_amendment(ctx: ServiceContext, jane) -> None:
    contract = monthly_contract(ctx, jane, "20.00")
    wrong = invoicing.invoice_for_period(ctx, client_id=jane.id, **JAN).invoice
    assert wrong.total == D("23.80")
    contracts.update_contract(ctx, contract.id, unit_price=D("10.00"))
    right = invoice_actions.reissue_invoice(ctx, wrong.id)
    assert right.total == D("11.90") and right.replaces_id == wrong.id
    assert right.number != wrong.number and reload(wrong).status == "void"
    assert (right.period_start, right.period_end) == (JAN["period_start"], JAN["period_end"])
    with pytest.raises(RuleViolation, match="nothing to invoice"):
        invoicing.invoice_for_period(ctx, client_id=jane.id, **JAN)
    assert ledger.invariant_problems(jane) == []


def test_r_inv_10_send_rules(ctx: ServiceContext, acme, jane) -> None:
    invoice = amount_invoice(ctx, jane, 1, "10.00")
    invoice_actions.send_invoice(ctx, invoice.id)
    invoice_actions.send_invoice(ctx, invoice.id)
    assert [d.recipient for d in invoice_actions.deliveries(invoice.id)] == ["ap@jane.example"] * 2
    silent = parties.add_client(ctx, name="No mail", enterprise_id=acme.id)
    mute = amount_invoice(ctx, silent, 1, "10.00")
    assert refused(invoice_actions.send_invoice, ctx, mute.id).data["rule"] == "R-INV-10"
    invoice_actions.void_invoice(ctx, invoice.id)
    refused(invoice_actions.send_invoice, ctx, invoice.id)


def test_r_inv_12_address_edit_rerenders_and_bill_group_affects_new_only(
    ctx: ServiceContext, jane
) -> None:
    group = parties.list_bill_groups(jane.id)[0]
    parties.update_bill_group(ctx, group.id, address="Old Street 1")
    first = amount_invoice(ctx, jane, 1, "10.00")
    document_queue.render_pending(ctx)
    parties.update_bill_group(ctx, group.id, address="New Street 2")
    assert reload(first).bill_to["address"] == "Old Street 1"
    assert amount_invoice(ctx, jane, 2, "10.00").bill_to["address"] == "New Street 2"
    invoice_actions.edit_address(ctx, first.id, "Fixed Street 3")
    assert reload(first).bill_to["address"] == "Fixed Street 3"
    document_queue.render_pending(ctx)
    files = list(Document.select().where(Document.invoice == first).order_by(Document.id))
    assert len(files) == 2 and [f.current for f in files] == [False, True]
    assert all(Path(f.path).exists() for f in files)
    event = AuditEvent.get(AuditEvent.event == "invoice.address_edited")
    assert (event.details["old"], event.details["new"]) == ("Old Street 1", "Fixed Street 3")


def test_r_inv_13_closed_period(ctx: ServiceContext, acme, jane) -> None:
    before = amount_invoice(ctx, jane, 10, "10.00")
    closed_periods.close_period(ctx, enterprise_id=acme.id, month="2026-01")
    error = refused(
        invoicing.invoice_for_amount,
        ctx,
        client_id=jane.id,
        issue_date=dt.date(2026, 1, 31),
        amount=D("5"),
    )
    assert error.data["rule"] == "R-INV-13"
    refused(invoice_actions.void_invoice, ctx, before.id)
    february = invoicing.invoice_for_amount(
        ctx, client_id=jane.id, issue_date=dt.date(2026, 2, 1), amount=D("5")
    )
    assert february[0].number == "100002/2026"


# ---------------------------------------------------------------- numbering


def test_r_num_4_yearly_reset(ctx: ServiceContext) -> None:
    e = parties.add_enterprise(
        ctx,
        name="Y",
        currency="EUR",
        invoice_pattern="%year%-%num%",
        invoice_start=1,
        invoice_reset="yearly",
    )
    c = parties.add_client(ctx, name="C", enterprise_id=e.id)
    numbers = [
        invoicing.invoice_for_amount(ctx, client_id=c.id, issue_date=day, amount=D("1"))[0].number
        for day in (dt.date(2026, 12, 30), dt.date(2026, 12, 31), dt.date(2027, 1, 1))
    ]
    assert numbers == ["2026-1", "2026-2", "2027-1"]


def test_r_num_4_reset_without_year_field_refused(ctx: ServiceContext) -> None:
    with pytest.raises(RuleViolation, match="R-NUM-4"):
        parties.add_enterprise(ctx, name="Y", currency="EUR", invoice_reset="yearly")


def test_r_inv_5_count_gives_consecutive_numbers(ctx: ServiceContext, jane) -> None:
    made = invoicing.invoice_for_amount(
        ctx, client_id=jane.id, issue_date=dt.date(2026, 3, 1), amount=D("119.00"), count=3
    )
    assert [i.number for i in made] == ["100001/2026", "100002/2026", "100003/2026"]
    assert all((i.subtotal, i.tax, i.total) == (D("100.00"), D("19.00"), D("119.00")) for i in made)


def test_r_inv_4_preview_writes_nothing_and_uses_no_number(ctx: ServiceContext, jane) -> None:
    monthly_contract(ctx, jane, "10.00")
    before = counts()
    preview = invoicing.invoice_for_period(ctx, client_id=jane.id, preview=True, **JAN).preview
    assert preview["number"] is None and preview["total"] == "11.90"
    assert counts() == before
    assert (
        invoicing.invoice_for_period(ctx, client_id=jane.id, **JAN).invoice.number == "100001/2026"
    )


# ---------------------------------------------------------------- what goes on an invoice


def test_r_inv_3_reseller_invoice_groups_its_clients_usage(ctx: ServiceContext, acme) -> None:
    reseller = parties.add_reseller(ctx, name="Voxa", enterprise_id=acme.id)
    a = parties.add_client(ctx, name="A", enterprise_id=acme.id, reseller_id=reseller.id)
    b = parties.add_client(ctx, name="B", enterprise_id=acme.id, reseller_id=reseller.id)
    rows = [
        (
            n,
            {
                "client": c.id,
                "occurred_at": "2026-01-10T10:00:00Z",
                "quantity": "60",
                "destination_group": g,
                "amount": amt,
            },
        )
        for n, (c, g, amt) in enumerate(
            [(a, "Mobile DE", "1.00"), (b, "Mobile DE", "2.00"), (b, "Fixed DE", "0.50")], start=2
        )
    ]
    usage.import_usage(ctx, rows)
    contracts.add_contract(
        ctx,
        reseller_id=reseller.id,
        description="Wholesale port",
        unit_price=D("5.00"),
        cycle="month",
        start_date=dt.date(2026, 1, 1),
    )
    invoice = invoicing.invoice_for_period(ctx, reseller_id=reseller.id, **JAN).invoice
    lines = {(line.kind, line.description): line.net for line in invoice.lines}
    assert lines == {
        ("contract", "Wholesale port (2026-01-01 – 2026-01-31)"): D("5.00"),
        ("usage", "Fixed DE (1 records)"): D("0.50"),
        ("usage", "Mobile DE (2 records)"): D("3.00"),
    }
    assert invoice.reseller_id == reseller.id and invoice.client_id is None
    # billed once to each party: the reseller's invoice leaves the client's own to bill
    own = invoicing.invoice_for_period(ctx, client_id=a.id, **JAN).invoice
    assert [(line.kind, line.net) for line in own.lines] == [("usage", D("1.00"))]
    with pytest.raises(RuleViolation, match="nothing to invoice"):
        invoicing.invoice_for_period(ctx, reseller_id=reseller.id, **JAN)


def test_pending_charges_and_price_overrides(ctx: ServiceContext, jane) -> None:
    contract = monthly_contract(ctx, jane, "50.00")
    now = charges.add_charge(ctx, client_id=jane.id, description="Setup", amount=D("25.00"))
    later = charges.add_charge(
        ctx,
        client_id=jane.id,
        description="Later",
        amount=D("9.00"),
        schedule_date=dt.date(2026, 2, 10),
    )
    gone = charges.add_charge(ctx, client_id=jane.id, description="Gone", amount=D("1.00"))
    charges.cancel_charge(ctx, gone.id)
    with pytest.raises(RuleViolation):
        charges.cancel_charge(ctx, gone.id)
    with pytest.raises(ValidationError):
        charges.add_charge(ctx, client_id=jane.id, description="Tiny", amount=D("0.001"))
    charges.set_price_override(ctx, contract_id=contract.id, final_amount=D("40.00"))
    invoice = invoicing.invoice_for_period(ctx, client_id=jane.id, **JAN).invoice
    assert [(line.kind, line.net) for line in invoice.lines] == [
        ("contract", D("50.00")),
        ("adjustment", D("-10.00")),
        ("charge", D("25.00")),
    ]
    assert reload(now).status == "invoiced" and reload(later).status == "pending"
    february = invoicing.invoice_for_period(
        ctx,
        client_id=jane.id,
        period_start=dt.date(2026, 2, 1),
        period_end=dt.date(2026, 2, 28),
    ).invoice
    assert [(line.kind, line.net) for line in february.lines] == [
        ("contract", D("50.00")),
        ("charge", D("9.00")),
    ]
    assert charges.set_price_override(ctx, contract_id=contract.id, final_amount=D("50.00")) is None


def test_r_led_2_summary(ctx: ServiceContext, jane) -> None:
    a = amount_invoice(ctx, jane, 1, "100.00")
    amount_invoice(ctx, jane, 2, "50.00")
    void = amount_invoice(ctx, jane, 3, "70.00")
    invoice_actions.void_invoice(ctx, void.id)
    payments.record_payment(ctx, client_id=jane.id, amount=D("120.00"), invoice=a.id)
    assert ledger.summary(jane) == {
        "total_invoiced": D("150.00"),
        "total_paid": D("120.00"),
        "balance_due": D("30.00"),
        "ledger_balance": D("30.00"),
    }


@pytest.mark.parametrize(
    ("currency", "amount", "net", "tax"),
    [("JPY", "1190", "1000", "190"), ("BHD", "11.900", "10.000", "1.900")],
)
def test_r_money_2_zero_and_three_decimal_currencies(
    ctx: ServiceContext, currency: str, amount: str, net: str, tax: str
) -> None:
    e = parties.add_enterprise(ctx, name=currency, currency=currency, tax_rate=D("19"))
    c = parties.add_client(ctx, name="C", enterprise_id=e.id)
    invoice = invoicing.invoice_for_amount(
        ctx, client_id=c.id, issue_date=dt.date(2026, 1, 1), amount=D(amount)
    )[0]
    assert (str(invoice.subtotal), str(invoice.tax)) == (net, tax)
    with pytest.raises(ValidationError, match="decimals"):
        payments.record_payment(ctx, client_id=c.id, amount=D(amount) + D("0.0001"))


def test_r_money_3_client_currency_cannot_change_after_invoicing(ctx: ServiceContext, jane) -> None:
    amount_invoice(ctx, jane, 1, "10.00")
    with pytest.raises(RuleViolation, match="R-MONEY-3"):
        parties.update_client(ctx, jane.id, currency="USD")


def test_r_time_2_whole_end_day_on_a_dst_day(ctx: ServiceContext, jane) -> None:
    # 2026-03-29 is the spring-forward day in Berlin; 23:59:59 local is 21:59:59 UTC
    rows = [
        (
            2,
            {
                "client": jane.id,
                "occurred_at": "2026-03-29T21:59:59Z",
                "quantity": "1",
                "destination_group": "G",
                "amount": "1.00",
            },
        ),
        (
            3,
            {
                "client": jane.id,
                "occurred_at": "2026-03-29T22:00:00Z",
                "quantity": "1",
                "destination_group": "G",
                "amount": "7.00",
            },
        ),
    ]
    usage.import_usage(ctx, rows)
    invoice = invoicing.invoice_for_period(
        ctx, client_id=jane.id, period_start=dt.date(2026, 3, 1), period_end=dt.date(2026, 3, 29)
    ).invoice
    assert invoice.subtotal == D("1.00")


def test_r_tx_1_rolled_back_issue_leaves_no_document_file(ctx: ServiceContext, jane) -> None:
    from billingd.db.connection import write_transaction

    with pytest.raises(RuntimeError), write_transaction():
        amount_invoice(ctx, jane, 1, "10.00")
        assert DocumentJob.select().count() == 1  # queued in the issuing transaction
        raise RuntimeError("something later in the same transaction failed")
    assert Invoice.select().count() == 0 and DocumentJob.select().count() == 0
    assert document_queue.render_pending(ctx).rendered == 0
    assert list((ctx.data_dir / "documents").rglob("*.pdf")) == []
    kept = amount_invoice(ctx, jane, 2, "10.00")
    assert document_queue.render_pending(ctx).rendered == 1
    assert Path(Document.get(Document.invoice == kept).path).exists()


def test_r_inv_4_preview_does_not_wait_for_the_write_lock(
    ctx: ServiceContext, jane, database_url: str
) -> None:
    """While another writer holds SQLite's write lock, a preview still answers."""
    import sqlite3
    import threading

    from billingd.db.models import database_proxy

    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite's single write lock; PostgreSQL previews never take one")
    monthly_contract(ctx, jane, "10.00")
    writer = sqlite3.connect(database_url.removeprefix("sqlite:///"))
    writer.execute("BEGIN IMMEDIATE")
    results: list[dict] = []

    def preview() -> None:
        results.append(
            invoicing.invoice_for_period(ctx, client_id=jane.id, preview=True, **JAN).preview
        )
        database_proxy.close()  # this thread's own connection

    try:
        worker = threading.Thread(target=preview)
        worker.start()
        worker.join(timeout=10)  # a write transaction would wait 30 s for the lock
        assert not worker.is_alive() and results[0]["total"] == "11.90"
    finally:
        writer.rollback()
        writer.close()
