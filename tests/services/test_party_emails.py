"""A client's billing emails and a bill group's recipients are checked where they are set,
and changing a client or a bill group is announced to event subscribers (TUI live updates)."""

from __future__ import annotations

from typing import Any

import pytest

from billingd.db.models import AuditEvent, BillGroup, Client
from billingd.errors import ValidationError
from billingd.services import parties
from billingd.services.context import ServiceContext


def test_a_client_email_that_is_no_address_is_refused_naming_the_field(
    ctx: ServiceContext, acme: Any
) -> None:
    with pytest.raises(ValidationError, match="not an email address: 'billing'") as refused:
        parties.add_client(ctx, name="Jane", enterprise_id=acme.id, email="a@x.test, billing")
    assert refused.value.data["field"] == "email"
    client = parties.add_client(ctx, name="Jane", enterprise_id=acme.id, email="a@x.test")
    audit = AuditEvent.select().count()
    with pytest.raises(ValidationError, match="'nobody'") as refused:
        parties.update_client(ctx, client.id, email="Jane <j@x.test>; nobody", company="Ltd")
    assert refused.value.data["field"] == "email"
    stored = Client.get_by_id(client.id)
    assert (stored.email, stored.company) == ("a@x.test", "")  # nothing written
    assert AuditEvent.select().count() == audit
    parties.update_client(ctx, client.id, email="Jane <j@x.test>; b@x.test")
    assert Client.get_by_id(client.id).email == "Jane <j@x.test>; b@x.test"
    parties.update_client(ctx, client.id, email="")  # none is fine
    assert Client.get_by_id(client.id).email == ""


def test_bill_group_recipients_that_are_no_addresses_are_refused(
    ctx: ServiceContext, acme: Any
) -> None:
    client = parties.add_client(ctx, name="Jane", enterprise_id=acme.id)
    with pytest.raises(ValidationError, match="emails: not an email address") as refused:
        parties.add_bill_group(ctx, client_id=client.id, name="Ops", emails="ops")
    assert refused.value.data["field"] == "emails"
    group = parties.add_bill_group(ctx, client_id=client.id, name="Ops", emails="ops@x.test")
    with pytest.raises(ValidationError) as refused:
        parties.update_bill_group(ctx, group.id, emails="ops@x.test, accounts", city="Berlin")
    assert refused.value.data["field"] == "emails"
    stored = BillGroup.get_by_id(group.id)
    assert (stored.emails, stored.city) == ("ops@x.test", "")


def test_client_and_bill_group_changes_are_events(ctx: ServiceContext, acme: Any) -> None:
    client = parties.add_client(ctx, name="Jane", enterprise_id=acme.id)
    ctx.events.clear()
    parties.update_client(ctx, client.id, company="Jane Ltd")
    group = parties.add_bill_group(ctx, client_id=client.id, name="Ops")
    parties.update_bill_group(ctx, group.id, review_days=3)
    assert ctx.events == [
        ("client.updated", {"id": client.id, "client_id": client.id}),
        ("bill_group.created", {"id": group.id, "client_id": client.id}),
        ("bill_group.updated", {"id": group.id, "client_id": client.id}),
    ]
