"""Dunning on the service layer, both storage backends (R-DUN-1): plans, the steps of an
overdue invoice day by day, fees and interest exact, pauses, charge modes, the reminder
PDF and the mail templates."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import io
import threading
from decimal import Decimal
from typing import Any

import pypdf
import pytest

from billingd.db.connection import write_transaction
from billingd.db.models import (
    AuditEvent,
    ChargeAttempt,
    Contract,
    DunningNotice,
    Invoice,
    OutboxMessage,
    PendingCharge,
    database_proxy,
)
from billingd.domain import dunning as rules
from billingd.errors import RuleViolation, ValidationError
from billingd.mail_templates import render_mail
from billingd.rendering import packaged_template_dir
from billingd.services import (
    credit_notes,
    disputes,
    dunning,
    invoice_actions,
    invoicing,
    mail,
    parties,
    payments,
)
from billingd.services.context import ServiceContext
from billingd.views import OBJECTS

PLAN = ["Reminder 1:7", "Reminder 2:21:5.00", "Final notice:35:10.00:9.12"]
ISSUED = dt.date(2030, 1, 1)  # due 2030-01-15 on 14 days' terms
DUE = dt.date(2030, 1, 15)


def at(day: dt.date, hour: int = 9) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour, tzinfo=dt.UTC)


def on(ctx: ServiceContext, day: dt.date) -> ServiceContext:
    return ctx.at(at(day))


def overdue_invoice(
    ctx: ServiceContext, acme: Any, amount: str = "1190.00", **client: Any
) -> Invoice:
    fields = {"name": "Jane", "email": "jane@client.test", **client}
    owner = parties.add_client(ctx, enterprise_id=acme.id, **fields)
    (invoice,) = invoicing.invoice_for_amount(
        ctx, issue_date=ISSUED, amount=Decimal(amount), client_id=owner.id
    )
    assert invoice.due_date == DUE
    return invoice


def walk(ctx: ServiceContext, start: dt.date, end: dt.date) -> dict[dt.date, list[DunningNotice]]:
    """A pass on every day from ``start`` to ``end``, twice a day: the notices per day."""
    taken = {}
    day = start
    while day <= end:
        first = dunning.run_due(on(ctx, day))
        again = dunning.run_due(ctx.at(at(day, 20)))
        assert again == [], f"a second pass on {day} took {again}"
        if first:
            taken[day] = first
        day += dt.timedelta(days=1)
    return taken


# -- the plan -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("steps", "field"),
    [
        (["A:7", "B:7"], "steps[1].days"),
        (["A:7", "B:3"], "steps[1].days"),
        (["A:-1"], "steps[0].days"),
        (["A:3651"], "steps[0].days"),
        (["A:seven"], "steps[0].days"),
        ([":7"], "steps[0].name"),
        (["A:7:-5"], "steps[0].fee"),
        (["A:7:5.001"], "steps[0].fee"),
        (["A:7:five"], "steps[0].fee"),
        (["A:7:0:100.5"], "steps[0].interest_rate"),
        (["A:7:0:-1"], "steps[0].interest_rate"),
        (["A"], "steps[0]"),
        (["A:1:2:3:4"], "steps[0]"),
        ([{"name": "A", "days": 7, "colour": "red"}], "steps[0]"),
    ],
)
def test_R_DUN_1_plan_validation_names_the_field(steps: list[Any], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        rules.validate_steps(steps, "EUR")
    assert caught.value.data["field"] == field


def test_R_DUN_1_plan_set_and_shown(ctx: ServiceContext, acme: Any) -> None:
    assert dunning.plan_view_of(acme.id, dunning.get_plan(acme.id))["steps"] == []
    plan = dunning.set_plan(ctx, acme.id, steps=PLAN, charge_mode="reminder_invoice")
    view = dunning.plan_view_of(acme.id, plan)
    assert tuple(view) == OBJECTS["DunningPlan"]
    assert view["charge_mode"] == "reminder_invoice"
    assert view["steps"] == [
        {"name": "Reminder 1", "days": 7, "fee": "0.00", "interest_rate": "0"},
        {"name": "Reminder 2", "days": 21, "fee": "5.00", "interest_rate": "0"},
        {"name": "Final notice", "days": 35, "fee": "10.00", "interest_rate": "9.12"},
    ]
    # a bad plan writes nothing; the charge mode alone keeps the steps
    with pytest.raises(ValidationError):
        dunning.set_plan(ctx, acme.id, steps=["A:7", "B:7"])
    with pytest.raises(ValidationError) as caught:
        dunning.set_plan(ctx, acme.id, charge_mode="by_pigeon")
    assert caught.value.data["field"] == "charge_mode"
    plan = dunning.set_plan(ctx, acme.id, charge_mode="next_invoice")
    assert dunning.plan_view_of(acme.id, plan)["steps"] == view["steps"]
    events = [e.event for e in AuditEvent.select().where(AuditEvent.event == "dunning.plan_set")]
    assert len(events) == 2


# -- the rules ------------------------------------------------------------------------------


def test_R_DUN_1_interest_is_exact_act_365() -> None:
    # 1190.00 × 9.12 % × 35 / 365 = 10.40679… → 10.41
    assert rules.interest(Decimal("1190.00"), Decimal("9.12"), 35, "EUR") == Decimal("10.41")
    # half up at the minor unit: 1000 × 36.5 % × 1 / 365 = 1.000; 365 × 0.5 % / 365 = 0.005
    assert rules.interest(Decimal("1000.00"), Decimal("36.5"), 1, "EUR") == Decimal("1.00")
    assert rules.interest(Decimal("365.00"), Decimal("0.5"), 1, "EUR") == Decimal("0.01")
    assert rules.interest(Decimal("365"), Decimal("0.5"), 1, "JPY") == Decimal("0")
    # ACT/365 also in a leap year: 366 days are 366/365 of a year
    assert rules.interest(Decimal("365.00"), Decimal("100"), 366, "EUR") == Decimal("366.00")
    assert rules.interest(Decimal("0"), Decimal("9"), 30, "EUR") == Decimal("0.00")


def test_R_DUN_1_steps_in_order_one_a_day_and_gaps_kept_after_a_pause() -> None:
    steps = rules.validate_steps(PLAN, "EUR")
    due = DUE
    assert rules.due_step(steps, due, due + dt.timedelta(days=6), []) is None
    assert rules.due_step(steps, due, due + dt.timedelta(days=7), []) == 1
    # a daemon down until day 40: the first reminder, never the final notice straight away
    assert rules.due_step(steps, due, due + dt.timedelta(days=40), []) == 1
    first = rules.Taken(1, due + dt.timedelta(days=40), 40)
    # the next keeps the plan's 14 days' gap from the reminder actually sent
    assert rules.next_step(steps, due, [first]) == (2, due + dt.timedelta(days=54))
    assert rules.due_step(steps, due, due + dt.timedelta(days=53), [first]) is None
    assert rules.due_step(steps, due, due + dt.timedelta(days=54), [first]) == 2
    # on time, each step on its own day
    on_time = rules.Taken(1, due + dt.timedelta(days=7), 7)
    assert rules.next_step(steps, due, [on_time]) == (2, due + dt.timedelta(days=21))
    done = [on_time, rules.Taken(2, due, 21), rules.Taken(3, due, 35, True)]
    assert rules.next_step(steps, due, done) is None
    # interest only for days not yet charged
    assert rules.interest_days(50, done) == 15
    assert rules.interest_days(50, done[:2]) == 50


# -- the service, day by day ----------------------------------------------------------------


def test_R_DUN_1_unpaid_invoice_walks_through_each_reminder_on_its_day(
    ctx: ServiceContext, acme: Any
) -> None:
    dunning.set_plan(ctx, acme.id, steps=PLAN)
    invoice = overdue_invoice(ctx, acme, email="a@client.test; b@client.test")
    taken = walk(ctx, DUE, DUE + dt.timedelta(days=60))
    assert sorted(taken) == [DUE + dt.timedelta(days=d) for d in (7, 21, 35)]
    notices = list(DunningNotice.select().order_by(DunningNotice.step))
    assert [(n.step, n.name, n.days_overdue) for n in notices] == [
        (1, "Reminder 1", 7),
        (2, "Reminder 2", 21),
        (3, "Final notice", 35),
    ]
    assert [(n.fee, n.interest) for n in notices] == [
        (Decimal("0.00"), Decimal("0.00")),
        (Decimal("5.00"), Decimal("0.00")),
        (Decimal("10.00"), Decimal("10.41")),  # 1190.00 × 9.12 % × 35/365
    ]
    assert all(n.balance == Decimal("1190.00") for n in notices)
    assert all(tuple(dunning.notice_view(n)) == OBJECTS["DunningNotice"] for n in notices)
    # fees and interest as pending charges for the next invoice; no charge for step 1
    assert notices[0].charge_id is None
    charges = list(PendingCharge.select().order_by(PendingCharge.id))
    assert [(c.id, c.amount, c.status, c.client_id) for c in charges] == [
        (notices[1].charge_id, Decimal("5.00"), "pending", invoice.client_id),
        (notices[2].charge_id, Decimal("20.41"), "pending", invoice.client_id),
    ]
    assert f"invoice {invoice.number}" in charges[1].description
    assert "Final notice" in charges[1].description
    # exactly one reminder email per step, to the invoice's recipients
    mails = list(OutboxMessage.select().where(OutboxMessage.kind == "reminder"))
    assert sorted(m.dedupe_key for m in mails) == [f"reminder:{invoice.id}:{s}" for s in (1, 2, 3)]
    for message in mails:
        assert message.channel == "email" and message.invoice_id == invoice.id
        assert message.recipients == ["a@client.test", "b@client.test"]
        assert message.language == "en" and message.enterprise_id == acme.id
        notice = DunningNotice.get_by_id(message.payload["notice_id"])
        assert message.dedupe_key == f"reminder:{invoice.id}:{notice.step}"
    audit = AuditEvent.select().where(AuditEvent.event == "dunning.reminder_sent")
    assert [a.details["step"] for a in audit.order_by(AuditEvent.id)] == [1, 2, 3]
    # the fees are billed on the client's next invoice
    later = invoicing.invoice_for_period(
        ctx,
        client_id=invoice.client_id,
        period_start=dt.date(2030, 3, 1),
        period_end=dt.date(2030, 3, 31),
        issue_date=dt.date(2030, 3, 31),
    ).invoice
    assert later is not None and later.subtotal == Decimal("25.41")
    assert {c.status for c in PendingCharge.select()} == {"invoiced"}


def test_R_DUN_1_paying_midway_stops_the_reminders(ctx: ServiceContext, acme: Any) -> None:
    dunning.set_plan(ctx, acme.id, steps=PLAN)
    invoice = overdue_invoice(ctx, acme)
    walk(ctx, DUE, DUE + dt.timedelta(days=25))
    assert DunningNotice.select().count() == 2
    payments.record_payment(ctx, client_id=invoice.client_id, amount=Decimal("1190.00"))
    walk(ctx, DUE + dt.timedelta(days=26), DUE + dt.timedelta(days=90))
    assert DunningNotice.select().count() == 2
    state = dunning.invoice_state(on(ctx, DUE + dt.timedelta(days=90)), invoice.id)
    assert state["state"] == "closed" and state["next_step"] is None
    # the reminders no worker sent yet (no mail server here) are withdrawn, audited
    reminders = OutboxMessage.select().where(OutboxMessage.kind == "reminder")
    assert [m.state for m in reminders] == ["cancelled", "cancelled"]
    assert AuditEvent.select().where(AuditEvent.event == "outbox.cancelled").count() == 2
    assert dunning.list_states(on(ctx, DUE + dt.timedelta(days=90))) == []


def test_R_DUN_1_a_partial_payment_goes_on_with_interest_on_the_balance(
    ctx: ServiceContext, acme: Any
) -> None:
    dunning.set_plan(ctx, acme.id, steps=PLAN)
    invoice = overdue_invoice(ctx, acme)
    walk(ctx, DUE, DUE + dt.timedelta(days=25))
    payments.record_payment(ctx, client_id=invoice.client_id, amount=Decimal("190.00"))
    walk(ctx, DUE + dt.timedelta(days=26), DUE + dt.timedelta(days=40))
    final = DunningNotice.get(DunningNotice.step == 3)
    # 1000.00 × 9.12 % × 35 / 365 = 8.7452… → 8.75
    assert (final.balance, final.interest) == (Decimal("1000.00"), Decimal("8.75"))


def test_R_DUN_1_credit_note_to_zero_or_void_stops_it(ctx: ServiceContext, acme: Any) -> None:
    dunning.set_plan(ctx, acme.id, steps=PLAN)
    credited = overdue_invoice(ctx, acme)
    voided = overdue_invoice(ctx, acme, name="Joe")
    walk(ctx, DUE, DUE + dt.timedelta(days=10))
    assert DunningNotice.select().count() == 2
    credit_notes.issue_credit_note(ctx, invoice=credited.id, amount=Decimal("1190.00"))
    invoice_actions.void_invoice(ctx, voided.id, "issued in error")
    walk(ctx, DUE + dt.timedelta(days=11), DUE + dt.timedelta(days=60))
    assert DunningNotice.select().count() == 2


def test_R_DUN_1_disputing_pauses_and_undisputing_resumes(ctx: ServiceContext, acme: Any) -> None:
    dunning.set_plan(ctx, acme.id, steps=PLAN)
    invoice = overdue_invoice(ctx, acme)
    walk(ctx, DUE, DUE + dt.timedelta(days=10))
    disputes.dispute_invoice(ctx, invoice.number, "wrong number of seats")
    state = dunning.invoice_state(on(ctx, DUE + dt.timedelta(days=11)), invoice.id)
    assert (state["state"], state["disputed"]) == ("disputed", True)
    assert walk(ctx, DUE + dt.timedelta(days=11), DUE + dt.timedelta(days=50)) == {}
    disputes.undispute_invoice(ctx, invoice.number)
    # resumed: the next step in order at once (its day has passed), the last 14 days later
    taken = walk(ctx, DUE + dt.timedelta(days=51), DUE + dt.timedelta(days=80))
    assert {day: [n.step for n in ns] for day, ns in taken.items()} == {
        DUE + dt.timedelta(days=51): [2],
        DUE + dt.timedelta(days=65): [3],
    }
    final = DunningNotice.get(DunningNotice.step == 3)
    # 1190.00 × 9.12 % × 65 / 365 = 19.3269… → 19.33
    assert (final.days_overdue, final.interest) == (65, Decimal("19.33"))


def test_R_DUN_1_pause_resume_and_pending_payment(ctx: ServiceContext, acme: Any) -> None:
    dunning.set_plan(ctx, acme.id, steps=PLAN)
    invoice = overdue_invoice(ctx, acme)
    dunning.set_paused(ctx, invoice.number, True)
    assert walk(ctx, DUE, DUE + dt.timedelta(days=8)) == {}
    assert dunning.invoice_state(on(ctx, DUE + dt.timedelta(days=8)), invoice.id)["state"] == (
        "paused"
    )
    dunning.set_paused(ctx, invoice.number, False)
    events = [a.event for a in AuditEvent.select().where(AuditEvent.event.startswith("dunning."))]
    assert events[-2:] == ["dunning.paused", "dunning.resumed"]
    contract = Contract.create(
        client=invoice.client_id,
        description="PBX",
        unit_price=Decimal("1"),
        tax_rate=Decimal("19"),
        cycle="monthly",
        anchor_date=ISSUED,
        start_date=ISSUED,
    )
    attempt = ChargeAttempt.create(
        invoice=invoice,
        contract=contract,
        gateway="sandbox",
        idempotency_key="k1",
        amount=Decimal("1190.00"),
        status="requires_action",
    )
    assert walk(ctx, DUE + dt.timedelta(days=9), DUE + dt.timedelta(days=12)) == {}
    assert dunning.invoice_state(on(ctx, DUE + dt.timedelta(days=12)), invoice.id)["state"] == (
        "payment_pending"
    )
    attempt.status = "failed"  # failed, its retry still scheduled (R-RUN-7): waits still
    attempt.retry_at = at(DUE + dt.timedelta(days=13)).replace(tzinfo=None)
    attempt.save()
    assert walk(ctx, DUE + dt.timedelta(days=12), DUE + dt.timedelta(days=12)) == {}
    attempt.retry_at = None  # the retries exhausted
    attempt.save()
    taken = walk(ctx, DUE + dt.timedelta(days=13), DUE + dt.timedelta(days=13))
    assert [n.step for n in taken[DUE + dt.timedelta(days=13)]] == [1]
    payments.record_payment(ctx, client_id=invoice.client_id, amount=Decimal("1190.00"))
    other = overdue_invoice(ctx, acme, name="Joe")
    invoice_actions.void_invoice(ctx, other.id)
    with pytest.raises(RuleViolation):
        dunning.set_paused(ctx, other.id, True)


def test_R_DUN_1_reminder_invoice_mode_issues_an_invoice_for_fee_and_interest(
    ctx: ServiceContext, acme: Any
) -> None:
    dunning.set_plan(ctx, acme.id, steps=PLAN, charge_mode="reminder_invoice")
    invoice = overdue_invoice(ctx, acme)
    walk(ctx, DUE, DUE + dt.timedelta(days=40))
    assert PendingCharge.select().count() == 0
    notices = list(DunningNotice.select().order_by(DunningNotice.step))
    assert notices[0].fee_invoice_id is None
    second, final = notices[1].fee_invoice, notices[2].fee_invoice
    assert second.origin == final.origin == dunning.ORIGIN
    assert second.status == "open" and second.client_id == invoice.client_id
    assert second.issue_date == DUE + dt.timedelta(days=21)
    assert (second.subtotal, final.subtotal) == (Decimal("5.00"), Decimal("20.41"))
    assert [(line.kind, line.net) for line in final.lines.order_by(final.lines.model.position)] == [
        ("dunning_fee", Decimal("10.00")),
        ("dunning_interest", Decimal("10.41")),
    ]
    assert f"invoice {invoice.number}" in final.lines.first().description
    # the fee invoices are booked (ledger) and never dunned themselves
    walk(ctx, DUE + dt.timedelta(days=41), DUE + dt.timedelta(days=200))
    assert DunningNotice.select().count() == 3
    states = dunning.list_states(on(ctx, DUE + dt.timedelta(days=200)))
    assert [s["invoice_id"] for s in states] == [invoice.id]
    assert tuple(states[0]) == OBJECTS["DunningState"]


def test_R_DUN_1_a_step_is_never_taken_twice(ctx: ServiceContext, acme: Any) -> None:
    dunning.set_plan(ctx, acme.id, steps=PLAN)
    invoice = overdue_invoice(ctx, acme)
    day = on(ctx, DUE + dt.timedelta(days=7))
    assert dunning.take_step(day, invoice.id) is not None
    assert dunning.take_step(day, invoice.id) is None
    assert dunning.run_due(day) == []
    # even a writer that skipped the checks is refused by the unique key
    import peewee

    with pytest.raises(peewee.IntegrityError), write_transaction():
        DunningNotice.create(
            invoice=invoice,
            step=1,
            name="again",
            notice_date=DUE,
            days_overdue=7,
            balance=Decimal("1"),
        )
    assert DunningNotice.select().count() == 1
    assert OutboxMessage.select().where(OutboxMessage.kind == "reminder").count() == 1


# -- the reminder PDF and the mail templates ------------------------------------------------


def test_R_DUN_1_reminder_pdf_shows_level_fee_interest_and_amount_due(
    ctx: ServiceContext, acme: Any
) -> None:
    dunning.set_plan(ctx, acme.id, steps=PLAN)
    invoice = overdue_invoice(ctx, acme)
    walk(ctx, DUE, DUE + dt.timedelta(days=35))
    final = DunningNotice.get(DunningNotice.step == 3)
    name, data = dunning.reminder_attachment(final.id, ctx)
    assert name == f"reminder-{invoice.number.replace('/', '_')}-{invoice.id}-3.pdf"
    text = pypdf.PdfReader(io.BytesIO(data)).pages[0].extract_text()
    for expected in ("Final notice", "10.00 EUR", "10.41 EUR", "1210.41 EUR", invoice.number):
        assert expected in text, (expected, text)


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("en", ("Final notice: invoice", "Default interest: 10.41 EUR", "Amount due: ")),
        ("de", ("Final notice: Rechnung", "Verzugszinsen:    10.41 EUR", "Zu zahlen: ")),
    ],
)
def test_R_DUN_1_reminder_mail_templates_fill_with_the_notice(
    ctx: ServiceContext, acme: Any, language: str, expected: tuple[str, ...]
) -> None:
    dunning.set_plan(ctx, acme.id, steps=PLAN)
    invoice = overdue_invoice(ctx, acme, language=language)
    walk(ctx, DUE, DUE + dt.timedelta(days=35))
    final = DunningNotice.get(DunningNotice.step == 3)
    context = {
        **mail.party_context(invoice.enterprise, invoice.client),
        **dunning.reminder_context(final.id),
    }
    text = render_mail("reminder", language, context, [packaged_template_dir()])
    assert text.subject.startswith(expected[0]) and invoice.number in text.subject
    for line in expected[1:]:
        assert line in text.text, text.text
    assert "1210.41 EUR" in text.text
    assert text.html is not None and "1210.41" in text.html
    # the message the outbox worker composes carries the reminder PDF
    message = OutboxMessage.get(OutboxMessage.dedupe_key == f"reminder:{invoice.id}:3")
    message.message_id = "<test@billingd.invalid>"
    raw = mail.compose(message, "billing@acme.test", [packaged_template_dir()])
    composed = email.message_from_bytes(raw, policy=email.policy.default)
    (attachment,) = list(composed.iter_attachments())
    assert attachment.get_filename().endswith("-3.pdf")
    pdf = pypdf.PdfReader(io.BytesIO(attachment.get_content())).pages[0].extract_text()
    assert "10.41 EUR" in pdf


def test_R_DUN_1_two_passes_at_once_take_each_step_once(ctx: ServiceContext, acme: Any) -> None:
    """Two daemons on one database: their passes race, the unique key and the invoice's
    lock leave one notice and one email per step."""
    dunning.set_plan(ctx, acme.id, steps=PLAN)
    invoices = [overdue_invoice(ctx, acme, name=f"Client {n}") for n in range(12)]
    day = on(ctx, DUE + dt.timedelta(days=7))
    barrier = threading.Barrier(2)
    taken: list[list[DunningNotice]] = []

    def pass_() -> None:
        try:
            barrier.wait(10)
            taken.append(dunning.run_due(day.acting_as("system")))
        finally:
            database_proxy.obj.close()

    threads = [threading.Thread(target=pass_) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(taken) == 2 and sum(len(t) for t in taken) == len(invoices)
    assert DunningNotice.select().count() == len(invoices)
    reminders = OutboxMessage.select().where(OutboxMessage.kind == "reminder")
    assert sorted(m.dedupe_key for m in reminders) == sorted(
        f"reminder:{invoice.id}:1" for invoice in invoices
    )
