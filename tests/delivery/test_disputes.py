"""Invoice disputes (``invoice dispute|undispute``): the state dunning pauses on (R-DUN-1)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from billingd.db.models import AuditEvent, Invoice
from billingd.errors import Conflict, RuleViolation, ValidationError
from billingd.services import disputes, invoice_actions, invoicing, parties, payments
from billingd.services.context import ServiceContext
from billingd.views import OBJECTS, invoice_view
from tests.conftest import RunningDaemon, billingctl
from tests.conftest import billingctl_ok as ok


def _invoice(ctx: ServiceContext, acme: Any) -> Invoice:
    client = parties.add_client(ctx, name="Jane", enterprise_id=acme.id)
    return invoicing.invoice_for_amount(
        ctx, client_id=client.id, issue_date=dt.date(2026, 1, 5), amount=Decimal("119.00")
    )[0]


def test_R_DUN_1_dispute_and_undispute_are_audited_old_to_new(
    ctx: ServiceContext, acme: Any
) -> None:
    invoice = _invoice(ctx, acme)
    assert (
        invoice_view(invoice)["dispute"] == "" and invoice_view(invoice)["dunning_paused"] is False
    )
    disputed = disputes.dispute_invoice(ctx, invoice.number, "  wrong quantity ")
    assert Invoice.get_by_id(invoice.id).dispute == "wrong quantity"
    assert invoice_view(disputed)["dispute"] == "wrong quantity"
    disputes.dispute_invoice(ctx, invoice.id, "wrong price")  # a new reason
    disputes.undispute_invoice(ctx, invoice.id)
    assert Invoice.get_by_id(invoice.id).dispute == ""
    audit = AuditEvent.select().where(AuditEvent.subject_id == invoice.id).order_by(AuditEvent.id)
    trail = [(a.event, a.details.get("dispute")) for a in audit if "disput" in a.event]
    assert trail == [
        ("invoice.disputed", ["", "wrong quantity"]),
        ("invoice.disputed", ["wrong quantity", "wrong price"]),
        ("invoice.undisputed", ["wrong price", ""]),
    ]
    assert [name for name, _ in ctx.events].count("invoice.disputed") == 2


def test_dispute_without_reason_stores_disputed_and_paid_invoices_can_be_disputed(
    ctx: ServiceContext, acme: Any
) -> None:
    invoice = _invoice(ctx, acme)
    payments.record_payment(ctx, client_id=invoice.client_id, amount=Decimal("119.00"))
    assert disputes.dispute_invoice(ctx, invoice.id).dispute == "disputed"
    assert disputes.dispute_invoice(ctx, invoice.id, "   ").dispute == "disputed"  # unchanged
    assert AuditEvent.select().where(AuditEvent.event == "invoice.disputed").count() == 1


def test_only_issued_invoices_are_disputed(ctx: ServiceContext, acme: Any) -> None:
    void = _invoice(ctx, acme)
    invoice_actions.void_invoice(ctx, void.id)
    with pytest.raises(RuleViolation, match="is void"):
        disputes.dispute_invoice(ctx, void.id)
    draft = Invoice.get_by_id(void.id)
    draft.status, draft.number, draft.id = "draft", None, None
    draft.save(force_insert=True)
    with pytest.raises(RuleViolation, match="is draft"):
        disputes.dispute_invoice(ctx, draft.id)
    with pytest.raises(Conflict, match="is not disputed"):
        disputes.undispute_invoice(ctx, _invoice(ctx, acme).id)
    with pytest.raises(ValidationError) as refused:
        disputes.dispute_invoice(ctx, void.id, "x" * 1001)
    assert refused.value.data["field"] == "reason"
    assert not AuditEvent.select().where(AuditEvent.event.startswith("invoice.disput")).exists()


def test_invoice_dispute_through_billingctl(daemon: RunningDaemon) -> None:
    enterprise = daemon.call("enterprise.add", name="Acme", currency="EUR", tax_rate="19")
    client = daemon.call("client.add", enterprise=enterprise["id"], name="Jane")
    (invoice,) = daemon.call(
        "invoice.amount", client=client["id"], date="2026-01-05", amount="119.00"
    )
    shown = ok(daemon, "invoice", "dispute", invoice["number"], "--reason", "never ordered")
    assert shown["dispute"] == "never ordered" and tuple(shown) == OBJECTS["Invoice"]
    assert daemon.call("invoice.show", invoice=invoice["id"])["dispute"] == "never ordered"
    assert ok(daemon, "invoice", "undispute", invoice["number"])["dispute"] == ""
    again = billingctl(daemon.socket, "invoice", "undispute", invoice["number"])
    assert again.returncode == 1 and "is not disputed" in again.stdout
    listed = daemon.call("invoice.list")[0]
    assert listed["dispute"] == "" and listed["dunning_paused"] is False
