"""Bill group custom fields (``billgroup add|update --custom KEY=VALUE``) and the check that
a bill group's uploader is one a loaded plugin registers (R-DEL-4, seed 004)."""

from __future__ import annotations

from typing import Any

import pytest

from billingd.db.models import AuditEvent, BillGroup
from billingd.errors import ValidationError
from billingd.hookspecs import hookimpl
from billingd.plugins import load_plugins
from billingd.services import parties
from billingd.services.context import ServiceContext
from tests.conftest import RunningDaemon, billingctl
from tests.conftest import billingctl_ok as ok


class PortalUploader:
    name = "test-portal"

    def upload(self, delivery: dict[str, Any]) -> dict[str, Any] | None:
        return {"accepted": True}


class PortalPlugin:
    @hookimpl
    def register_uploaders(self, register) -> None:  # type: ignore[no-untyped-def]
        register(PortalUploader())


@pytest.fixture(scope="module")
def portal_plugins():  # type: ignore[no-untyped-def]
    host = load_plugins({}, None)
    host.register(PortalPlugin(), "test-portal")
    return host


@pytest.fixture
def pctx(ctx: ServiceContext, portal_plugins: Any) -> ServiceContext:
    ctx.plugins = portal_plugins
    return ctx


def test_R_DEL_4_custom_entries_merge_and_remove(pctx: ServiceContext, acme: Any) -> None:
    client = parties.add_client(pctx, name="Jane", enterprise_id=acme.id)
    group = parties.add_bill_group(
        pctx,
        client_id=client.id,
        name="Procurement",
        custom=["supplier_id=AN0100", "buyer.id=ACME-7", "note=a=b"],
        uploader="test-portal",
    )
    assert group.custom_fields == {"supplier_id": "AN0100", "buyer.id": "ACME-7", "note": "a=b"}
    assert group.uploader == "test-portal"
    changed = parties.update_bill_group(
        pctx, group.id, custom=["supplier_id=AN0200", "note=", "missing=", "cost-center=42"]
    )
    stored = BillGroup.get_by_id(changed.id).custom_fields
    assert stored == {"supplier_id": "AN0200", "buyer.id": "ACME-7", "cost-center": "42"}
    audit = AuditEvent.select().where(AuditEvent.event == "bill_group.updated").get()
    assert "custom_fields" in audit.details["changes"]
    # a whole object still replaces them (the raw socket's custom_fields), checked too
    parties.update_bill_group(pctx, group.id, custom_fields={"only": "this"})
    assert BillGroup.get_by_id(group.id).custom_fields == {"only": "this"}
    parties.update_bill_group(pctx, group.id, uploader="")  # none
    assert BillGroup.get_by_id(group.id).uploader is None


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("=value", "non-empty key"),
        ("no equals sign", "expected KEY=VALUE"),
        ("bad key=1", "may only hold letters"),
        ("k" * 65 + "=1", "longer than 64"),
        ("long=" + "v" * 1001, "longer than 1000"),
    ],
)
def test_bad_custom_entries_are_refused_naming_the_field(
    pctx: ServiceContext, acme: Any, entry: str, message: str
) -> None:
    client = parties.add_client(pctx, name="Jane", enterprise_id=acme.id)
    group = parties.add_bill_group(pctx, client_id=client.id, name="G", custom=["a=1"])
    with pytest.raises(ValidationError, match=message) as refused:
        parties.update_bill_group(pctx, group.id, custom=["b=2", entry])
    assert refused.value.data["field"] == "custom"
    assert BillGroup.get_by_id(group.id).custom_fields == {"a": "1"}  # nothing written
    with pytest.raises(ValidationError) as refused:
        parties.update_bill_group(pctx, group.id, custom_fields={"ok": "1", "bad key": "2"})
    assert refused.value.data["field"] == "custom_fields"


def test_R_DEL_4_unknown_uploader_refused_with_the_known_names(
    pctx: ServiceContext, acme: Any
) -> None:
    client = parties.add_client(pctx, name="Jane", enterprise_id=acme.id)
    with pytest.raises(ValidationError, match="'ariba' is not registered") as refused:
        parties.add_bill_group(pctx, client_id=client.id, name="G", uploader="ariba")
    assert refused.value.data["field"] == "uploader"
    assert "test-portal" in refused.value.message
    group = parties.add_bill_group(pctx, client_id=client.id, name="G")
    with pytest.raises(ValidationError, match=r"known: .*test-portal"):
        parties.update_bill_group(pctx, group.id, uploader="ariba")
    assert BillGroup.get_by_id(group.id).uploader is None


def test_billgroup_custom_through_billingctl(daemon: RunningDaemon) -> None:
    enterprise = daemon.call("enterprise.add", name="Acme", currency="EUR", tax_rate="19")
    client = daemon.call("client.add", enterprise=enterprise["id"], name="Jane")
    group = ok(
        daemon,
        "billgroup",
        "add",
        "--client",
        str(client["id"]),
        "--name",
        "Ariba",
        "--custom",
        "supplier_id=AN0100",
        "--custom",
        "buyer_id=ACME",
    )
    assert group["custom_fields"] == {"supplier_id": "AN0100", "buyer_id": "ACME"}
    group = ok(daemon, "billgroup", "update", str(group["id"]), "--custom", "buyer_id=")
    assert group["custom_fields"] == {"supplier_id": "AN0100"}
    refused = billingctl(
        daemon.socket, "billgroup", "update", str(group["id"]), "--custom", "bad key=1"
    )
    assert refused.returncode == 1 and '"field": "custom"' in refused.stdout
    unknown = billingctl(
        daemon.socket, "billgroup", "update", str(group["id"]), "--uploader", "ariba"
    )
    assert unknown.returncode == 1 and '"field": "uploader"' in unknown.stdout
    assert "'ariba' is not registered by any loaded plugin (known: " in unknown.stdout
    (shown,) = [
        g for g in daemon.call("billgroup.list", client=client["id"]) if g["id"] == group["id"]
    ]
    assert shown["custom_fields"] == {"supplier_id": "AN0100"} and shown["uploader"] is None
