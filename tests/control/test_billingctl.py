"""The scripting contract (SPEC §9) through the real billingctl command."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pypdf

from billingd.ctl_output import render
from tests.conftest import RunningDaemon, billingctl
from tests.conftest import billingctl_ok as ok


def test_billing_flow_through_billingctl_json(daemon: RunningDaemon, tmp_path: Path) -> None:
    enterprise = ok(
        daemon,
        "enterprise",
        "add",
        "--name",
        "Acme Telecom GmbH",
        "--currency",
        "EUR",
        "--timezone",
        "Europe/Berlin",
        "--pattern",
        "%num%/%year%",
        "--start",
        "100001",
        "--tax-rate",
        "19",
        "--terms",
        "14",
    )
    client = ok(
        daemon,
        "client",
        "add",
        "--name",
        "Jane Doe",
        "--enterprise",
        str(enterprise["id"]),
        "--company",
        "Example Ltd",
        "--email",
        "ap@example.com",
        "--invoice-days",
        "1,15",
        "--send-stats",
    )
    assert client["invoice_days"] == "1,15" and client["send_stats"] is True
    contract = ok(
        daemon,
        "contract",
        "add",
        "--client",
        str(client["id"]),
        "--description",
        "Hosted PBX",
        "--price",
        "100.00",
        "--cycle",
        "month",
        "--start",
        "2026-01-01",
    )
    assert contract["price"] == "100.00"
    usage = tmp_path / "usage.csv"
    usage.write_text(
        "client,occurred_at,destination,destination_group,quantity,unit,amount,external_id\n"
        f"{client['id']},2026-01-31T22:59:59Z,+4915112345678,Mobile DE,60,s,0.12,cdr-1\n"
        f"{client['id']},2026-01-31T23:00:00Z,+4915112345678,Mobile DE,60,s,9.99,cdr-2\n"
    )
    assert ok(daemon, "usage", "import", str(usage))["imported"] == 2
    assert ok(daemon, "usage", "import", str(usage))["duplicates"] == 2
    preview = ok(
        daemon,
        "invoice",
        "period",
        "--client",
        str(client["id"]),
        "--from",
        "2026-01-01",
        "--to",
        "2026-01-31",
        "--preview",
    )
    assert preview["number"] is None and preview["total"] == "119.14"
    invoice = ok(
        daemon,
        "invoice",
        "period",
        "--client",
        str(client["id"]),
        "--from",
        "2026-01-01",
        "--to",
        "2026-01-31",
        "--date",
        "2026-02-01",
    )
    assert invoice["number"] == "100001/2026"
    for key in (
        "id",
        "number",
        "status",
        "client_id",
        "reseller_id",
        "issue_date",
        "due_date",
        "period_start",
        "period_end",
        "currency",
        "subtotal",
        "tax",
        "total",
        "balance",
        "origin",
        "lines",
    ):
        assert key in invoice
    assert set(invoice["lines"][0]) >= {
        "kind",
        "description",
        "quantity",
        "unit_price",
        "net",
        "tax_rate",
        "tax",
    }
    listed = ok(daemon, "invoice", "list", "--client", str(client["id"]))
    assert [i["number"] for i in listed] == ["100001/2026"]
    shown = ok(daemon, "invoice", "show", "100001/2026")
    assert shown["total"] == "119.14"
    out = tmp_path / "inv.pdf"
    ok(daemon, "invoice", "pdf", "100001/2026", "-o", str(out))
    text = pypdf.PdfReader(io.BytesIO(out.read_bytes())).pages[0].extract_text()
    assert "100001/2026" in text and "Example Ltd" in text and "119.14" in text
    ubl = tmp_path / "invoice.xml"
    no_plugin = billingctl(
        daemon.socket, "invoice", "pdf", "100001/2026", "-o", str(ubl), "--format", "edifact"
    )
    assert no_plugin.returncode == 1  # refused, not a usage error: a plugin could provide it
    assert "'edifact' needs a renderer plugin" in json.loads(no_plugin.stdout)["error"]["message"]
    # the enterprise has no country: no e-invoice can say where the seller is (BR-09)
    no_country = billingctl(
        daemon.socket, "invoice", "pdf", "100001/2026", "-o", str(ubl), "--format", "ubl"
    )
    error = json.loads(no_country.stdout)["error"]
    assert no_country.returncode == 1 and "BR-09" in error["message"]
    assert error["data"]["field"] == "seller.country"
    assert not ubl.exists()
    amounts = ok(
        daemon,
        "invoice",
        "amount",
        "--client",
        str(client["id"]),
        "--date",
        "2026-02-03",
        "--amount",
        "119.00",
        "--count",
        "3",
    )
    assert [i["number"] for i in amounts] == ["100002/2026", "100003/2026", "100004/2026"]
    assert all(i["total"] == "119.00" for i in amounts)


def test_refusals_exit_1_with_error_json(daemon: RunningDaemon) -> None:
    result = billingctl(
        daemon.socket,
        "enterprise",
        "add",
        "--name",
        "X",
        "--currency",
        "EUR",
        "--pattern",
        "%year%",
    )
    assert result.returncode == 1
    error = json.loads(result.stdout)["error"]
    assert error["code"] == 1002 and "%num%" in error["message"]
    assert error["data"]["rule"] == "R-NUM-2"
    assert ok(daemon, "enterprise", "list") == []


def test_bad_usage_file_names_its_line_and_sends_nothing(
    daemon: RunningDaemon, tmp_path: Path
) -> None:
    enterprise = ok(daemon, "enterprise", "add", "--name", "Acme", "--currency", "EUR")
    client = ok(daemon, "client", "add", "--name", "Jane", "--enterprise", str(enterprise["id"]))
    bad = tmp_path / "usage.csv"
    bad.write_text(
        "client,occurred_at,destination_group,quantity,amount\n"
        f"{client['id']},2026-01-05T10:00:00Z,Mobile DE,1,0.10\n"
        f"{client['id']},2026-01-05T10:00:00Z,Mobile DE,1,0.10\n"
        f"{client['id']},not-a-time,Mobile DE,1,0.10\n"
    )
    result = billingctl(daemon.socket, "usage", "import", str(bad))
    assert result.returncode == 1
    error = json.loads(result.stdout)["error"]
    assert "line 4" in error["message"] and error["data"]["field"] == "occurred_at"
    assert not [a for a in daemon.call("audit.list") if a["event"] == "usage.imported"]


def test_usage_error_and_connection_error_exit_2(tmp_path: Path) -> None:
    result = billingctl(tmp_path / "missing.sock", "status")
    assert result.returncode == 2
    assert "is billingd running" in json.loads(result.stdout)["error"]["message"]
    result = billingctl(tmp_path / "missing.sock", "invoice", "period", "--client", "x")
    assert result.returncode == 2


def test_human_output_is_a_table(daemon: RunningDaemon) -> None:
    ok(daemon, "enterprise", "add", "--name", "Acme", "--currency", "EUR")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "billingd.ctl",
            "--socket",
            str(daemon.socket),
            "enterprise",
            "list",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0
    header, rule, row = result.stdout.splitlines()[:3]
    assert set(rule.replace(" ", "")) == {"-"}
    assert header.split()[:3] == ["id", "name", "currency"]
    assert row.split()[:3] == ["1", "Acme", "EUR"]


def test_human_output_indents_nested_objects_under_their_key() -> None:
    status = {"version": "0.1.0", "last_run": {"id": 7, "status": "done"}, "next_run": None}
    assert render(status, ()).splitlines() == [
        "version   0.1.0",
        "next_run  ",
        "",
        "last_run:",
        "  id      7",
        "  status  done",
    ]
