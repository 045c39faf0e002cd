"""The example plugin against a real billingd plugin host."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from billingd.errors import ValidationError
from billingd.plugins import Gateway, Notifier, PermanentFailure, PluginHost

import billingd_example


def test_registers_a_gateway_and_a_notifier(register_plugin, plugin_host):
    register_plugin(billingd_example, "example")
    assert isinstance(plugin_host.gateway("example"), Gateway)
    assert isinstance(plugin_host.notifiers()["example-file"], Notifier)
    listing = {p["name"]: p for p in plugin_host.plugin_list()}
    assert listing["example"]["registers"]["gateway"] == ["example"]
    assert listing["example"]["registers"]["notifier"] == ["example-file"]


def test_settings_are_checked_against_the_declared_schema(tmp_path):
    host = PluginHost({"example": {"decline_over": 0.5, "colour": "red"}})
    host.register(billingd_example, "example")
    assert host.check_settings() == [
        "plugins.settings.example.decline_over: expected decimal, got 0.5",
        "plugins.settings.example.colour: unknown setting "
        "(known: decline_over, events, events_file, ledger_file)",
    ]
    with pytest.raises(ValidationError):
        host.load(enabled=[])


def test_settings_are_read_at_startup_and_on_a_reload(tmp_path):
    ledger = tmp_path / "ledger.jsonl"
    host = PluginHost({"example": {"ledger_file": str(ledger), "decline_over": "100"}})
    host.register(billingd_example, "example")
    host.load(enabled=[])
    gateway = host.gateway("example")
    assert gateway.charge({"number": "1"}, "150.00", "k1")["status"] == "failed"
    assert host.apply_settings({"example": {"ledger_file": str(ledger)}}) == ["example"]
    assert gateway.charge({"number": "1"}, "150.00", "k2")["status"] == "succeeded"


def test_gateway_charges_once_per_idempotency_key(tmp_path):
    gateway = billingd_example.GATEWAY
    gateway.configure({"ledger_file": str(tmp_path / "ledger.jsonl"), "decline_over": "50"})
    first = gateway.charge({"number": "100001/2026"}, "11.90", "invoice-7-attempt-1")
    again = gateway.charge({"number": "100001/2026"}, "11.90", "invoice-7-attempt-1")
    assert first["status"] == "succeeded" and first["reference"].startswith("ex_")
    assert again == {**first, "replayed": True}
    assert gateway.charge({"number": "2"}, "50.01", "other")["status"] == "failed"
    assert gateway.refund({"id": 3}, "11.90", "refund-1")["status"] == "succeeded"
    assert [(e["kind"], Decimal(e["amount"])) for e in gateway.entries()] == [
        ("charge", Decimal("11.90")),
        ("charge", Decimal("50.01")),
        ("refund", Decimal("11.90")),
    ]


def test_gateway_without_a_ledger_declines():
    outcome = billingd_example.GATEWAY.charge({}, "1.00", "k")
    assert outcome["status"] == "failed" and "ledger_file" in outcome["message"]


def test_notifier_appends_wanted_events_once(tmp_path):
    notifier = billingd_example.NOTIFIER
    assert not notifier.wants("invoice.issued")  # not configured: wants nothing
    events = tmp_path / "events.jsonl"
    notifier.configure({"events_file": str(events), "events": ["invoice.issued"]})
    assert notifier.wants("invoice.issued") and not notifier.wants("payment.recorded")
    event = {"id": "evt-1", "name": "invoice.issued", "at": "2026-02-01T00:00:00Z", "payload": {}}
    notifier.notify(event)
    notifier.notify(event)  # delivered again after a crash: dropped
    assert [json.loads(line)["id"] for line in events.read_text().splitlines()] == ["evt-1"]


def test_notifier_unconfigured_since_queued_fails_permanently():
    with pytest.raises(PermanentFailure):
        billingd_example.NOTIFIER.notify({"id": "e", "name": "x", "at": "", "payload": {}})
