"""An operator's day through billingctl --json (issue 3): every engine operation end to end."""

from __future__ import annotations

import json
from typing import Any

from tests.conftest import RunningDaemon, audit_length, billingctl
from tests.conftest import billingctl_ok as ok


def refused(daemon: RunningDaemon, rule: str | None, *args: str) -> dict[str, Any]:
    """Exit 1 with an error object, and nothing written (the audit trail did not grow)."""
    before = audit_length(daemon)
    result = billingctl(daemon.socket, *args)
    assert result.returncode == 1, result.stdout + result.stderr
    error = json.loads(result.stdout)["error"]
    assert error["message"] and isinstance(error["code"], int)
    if rule:
        assert error["data"]["rule"] == rule, error
    assert audit_length(daemon) == before
    return error


def test_operator_day_through_billingctl(daemon: RunningDaemon) -> None:
    e = ok(
        daemon,
        "enterprise",
        "add",
        "--name",
        "Acme",
        "--currency",
        "EUR",
        "--pattern",
        "%num%/%year%",
        "--start",
        "100001",
        "--tax-rate",
        "19",
        "--timezone",
        "Europe/Berlin",
    )
    c = ok(
        daemon,
        "client",
        "add",
        "--name",
        "Jane",
        "--enterprise",
        str(e["id"]),
        "--email",
        "ap@jane.example",
    )
    cid = str(c["id"])
    contract = ok(
        daemon,
        "contract",
        "add",
        "--client",
        cid,
        "--description",
        "PBX",
        "--price",
        "50.00",
        "--cycle",
        "month",
        "--start",
        "2026-01-01",
    )
    ok(daemon, "charge", "add", "--client", cid, "--description", "Setup", "--amount", "25.00")
    ok(daemon, "price-override", "set", "--contract", str(contract["id"]), "--amount", "40.00")
    jan = ok(
        daemon,
        "invoice",
        "period",
        "--client",
        cid,
        "--from",
        "2026-01-01",
        "--to",
        "2026-01-31",
        "--date",
        "2026-02-01",
    )
    assert [line["kind"] for line in jan["lines"]] == ["contract", "adjustment", "charge"]
    assert jan["total"] == "77.35"  # (50 - 10 + 25) + 19 %
    feb = ok(
        daemon,
        "invoice",
        "period",
        "--client",
        cid,
        "--from",
        "2026-02-01",
        "--to",
        "2026-02-28",
        "--date",
        "2026-03-01",
    )
    assert feb["total"] == "59.50"
    assert ok(daemon, "charge", "list", "--client", cid)[0]["status"] == "invoiced"

    payment = ok(
        daemon, "payment", "record", "--client", cid, "--amount", "80.00", "--reference", "bank-1"
    )
    assert payment["allocations"] == [
        {"invoice_id": jan["id"], "amount": "77.35"},
        {"invoice_id": feb["id"], "amount": "2.65"},
    ]
    assert ok(daemon, "invoice", "show", feb["number"])["status"] == "partial"
    refused(daemon, "R-INV-8", "invoice", "void", jan["number"])
    refused(daemon, "R-CN-1", "credit-note", "issue", feb["number"], "--amount", "56.86")
    note = ok(
        daemon, "credit-note", "issue", feb["number"], "--amount", "4.95", "--reason", "goodwill"
    )
    assert note["number"] == "CN-1"
    assert ok(daemon, "invoice", "show", feb["number"])["balance"] == "51.90"
    assert len(ok(daemon, "credit-note", "list", "--client", cid)) == 1

    amount = ok(
        daemon, "invoice", "amount", "--client", cid, "--date", "2026-03-05", "--amount", "119.00"
    )[0]
    ok(daemon, "invoice", "send", amount["number"])
    ok(daemon, "invoice", "edit-address", amount["number"], "--address", "New Road 1")
    voided = ok(daemon, "invoice", "void", amount["number"], "--reason", "duplicate")
    assert voided["status"] == "void" and voided["number"] == amount["number"]
    refused(daemon, "R-INV-10", "invoice", "send", amount["number"])

    ok(daemon, "contract", "update", str(contract["id"]), "--price", "30.00")
    march = ok(
        daemon,
        "invoice",
        "period",
        "--client",
        cid,
        "--from",
        "2026-03-01",
        "--to",
        "2026-03-31",
        "--date",
        "2026-04-01",
    )
    fixed = ok(daemon, "invoice", "reissue", march["number"])
    assert fixed["replaces"] == march["id"] and fixed["total"] == march["total"]

    summary = ok(daemon, "summary", cid)
    assert summary["total_invoiced"] == "172.55"  # 77.35 + 59.50 + 35.70 (voids excluded)
    assert summary["total_paid"] == "80.00"
    assert summary["ledger_balance"] == "87.60"  # 172.55 - 80.00 - 4.95 credited

    ok(daemon, "period", "close", "--enterprise", str(e["id"]), "--month", "2026-04")
    refused(
        daemon,
        "R-INV-13",
        "invoice",
        "amount",
        "--client",
        cid,
        "--date",
        "2026-04-15",
        "--amount",
        "10.00",
    )
    assert ok(daemon, "period", "list")[0]["month"] == "2026-04"
    refused(
        daemon,
        "R-MONEY-3",
        "payment",
        "record",
        "--client",
        cid,
        "--amount",
        "1.00",
        "--currency",
        "USD",
    )
    refused(daemon, None, "payment", "record", "--client", cid, "--amount", "0.001")

    events = {a["event"] for a in ok(daemon, "audit", cid)}
    assert {
        "invoice.issued",
        "payment.recorded",
        "credit_note.issued",
        "invoice.voided",
        "invoice.sent",
        "invoice.address_edited",
        "invoice.reissued",
        "charge.added",
        "price_override.set",
    } <= events
    assert len(ok(daemon, "payment", "list", "--client", cid)) == 1
