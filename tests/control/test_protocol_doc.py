"""docs/protocol.md is generated from the method registry and must not drift from it."""

from __future__ import annotations

import datetime as dt
import difflib
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from billingd.control import docs
from billingd.control.params import validate_params
from billingd.control.registry import METHODS
from billingd.services import runs
from billingd.services.context import ServiceContext
from billingd.views import OBJECTS, run_view

DOC = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"
HOW = f"regenerate it with: {docs.REGENERATE}"


def test_protocol_doc_matches_the_registry() -> None:
    expected = docs.generate()
    actual = DOC.read_text(encoding="utf-8") if DOC.exists() else ""
    if actual != expected:
        diff = "".join(
            list(
                difflib.unified_diff(
                    actual.splitlines(keepends=True),
                    expected.splitlines(keepends=True),
                    "docs/protocol.md",
                    "generated from the registry",
                )
            )[:80]
        )
        raise AssertionError(f"docs/protocol.md is out of date; {HOW}\n\n{diff}")


def test_every_method_is_documented_with_a_summary() -> None:
    text = docs.generate()
    undocumented = sorted(name for name, entry in METHODS.items() if not entry.summary)
    assert not undocumented, f"give these handlers a docstring: {undocumented}"
    for name, entry in METHODS.items():
        section = text.split(f"### `{name}`\n", 1)[1].split("\n### ", 1)[0]
        assert f"Access: **{docs.access_of(entry)}**" in section, name
        for param in entry.params:
            assert f"| `{param}` |" in section, (name, param)


def test_access_levels_follow_the_registration() -> None:
    assert docs.access_of(METHODS["client.list"]) == "read"
    assert docs.access_of(METHODS["client.add"]) == "write"
    assert docs.access_of(METHODS["subscribe"]) == "read"


def test_error_codes_are_all_in_the_table() -> None:
    from billingd import errors

    text = docs.generate()
    for name, value in vars(errors).items():
        if name.isupper() and isinstance(value, int):
            assert f"| {value} | `{name}` |" in text


def test_regeneration_is_one_command() -> None:
    printed = subprocess.run(
        [sys.executable, "-m", "billingd.control.docs"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    assert printed == docs.generate()


# -- results: the objects the document names are the objects the methods return -----------


def test_every_method_documents_its_result_and_errors() -> None:
    text = docs.generate()
    for name, entry in METHODS.items():
        section = text.split(f"### `{name}`\n", 1)[1].split("\n### ", 1)[0]
        assert f"Result: {entry.result}." in section, name
        assert "Errors: -32602 `validation`" in section, name
        named = set(re.findall(r"`([A-Z][A-Za-z]+)`", entry.result))
        assert named <= set(OBJECTS), (name, named - set(OBJECTS))


def test_errors_follow_what_a_method_does() -> None:
    assert docs.errors_of(METHODS["client.list"]) == ["-32602 `validation`"]
    assert "1001 `not_found`" in docs.errors_of(METHODS["invoice.show"])
    assert docs.errors_of(METHODS["invoice.void"])[-2:] == [
        "1002 `rule_violation`",
        "1004 `conflict`",
    ]


def _call(ctx: ServiceContext, method_name: str, /, **params: Any) -> Any:
    entry = METHODS[method_name]
    return entry.handler(ctx, **validate_params(entry.params, params))


def _keys(value: dict[str, Any]) -> tuple[str, ...]:
    return tuple(value)


def test_methods_return_exactly_the_documented_objects(ctx: ServiceContext) -> None:
    """Every object of the document, as real methods return it (SQLite and PostgreSQL)."""
    company = _call(ctx, "enterprise.add", name="Acme", currency="EUR", tax_rate="19")
    assert _keys(company) == OBJECTS["Enterprise"]
    channel = _call(ctx, "reseller.add", name="Channel", enterprise=company["id"])
    assert _keys(channel) == OBJECTS["Reseller"]
    client = _call(ctx, "client.add", name="Jane", enterprise=company["id"], email="j@x.example")
    assert _keys(client) == OBJECTS["Client"]
    assert [_keys(c) for c in _call(ctx, "client.list")] == [OBJECTS["Client"]]
    shown = _call(ctx, "client.show", id=client["id"])
    assert _keys(shown) == (*OBJECTS["Client"], "bill_groups")
    assert [_keys(g) for g in shown["bill_groups"]] == [OBJECTS["BillGroup"]]
    contract = _call(
        ctx,
        "contract.add",
        client=client["id"],
        description="Hosted PBX",
        price="10.00",
        cycle="month",
        start="2026-01-01",
    )
    assert _keys(contract) == OBJECTS["Contract"]
    preview = _call(ctx, "invoice.preview", client=client["id"], to="2026-01-31", **FROM_JAN)
    assert _keys(preview) == OBJECTS["Invoice"] and preview["id"] is None
    (invoice,) = _call(ctx, "invoice.amount", client=client["id"], date="2026-01-05", amount="119")
    for view in (invoice, _call(ctx, "invoice.show", invoice=invoice["number"])):
        assert _keys(view) == OBJECTS["Invoice"]
        assert [_keys(line) for line in view["lines"]] == [OBJECTS["InvoiceLine"]]
        assert [_keys(rate) for rate in view["tax_breakdown"]] == [OBJECTS["TaxBreakdown"]]
    listed = _call(ctx, "invoice.list")[0]
    assert _keys(listed) == OBJECTS["Invoice"][: -len(("lines", "tax_breakdown", "deliveries"))]
    payment = _call(ctx, "payment.record", client=client["id"], amount="50.00")
    assert _keys(payment) == OBJECTS["Payment"]
    note = _call(ctx, "credit_note.issue", invoice=invoice["id"], amount="10.00")
    assert _keys(note) == OBJECTS["CreditNote"]
    charge = _call(ctx, "charge.add", client=client["id"], description="Setup", amount="5.00")
    assert _keys(charge) == OBJECTS["Charge"]
    assert _keys(_call(ctx, "invoice.send", invoice=invoice["id"])) == OBJECTS["Delivery"]
    assert {_keys(event) for event in _call(ctx, "audit.list")} == {OBJECTS["AuditEvent"]}
    run = runs.start_run(ctx, as_of=dt.date(2026, 2, 1), client_id=None, trigger="manual")
    assert _keys(run_view(run)) == OBJECTS["Run"]


FROM_JAN = {"from": "2026-01-01"}
