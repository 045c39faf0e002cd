"""Every accepted value has a sane bound (issue 9, defect 11; SPEC §12).

Nothing accepted may overflow later — in date arithmetic, a database column or a
document. The bounds are declared once (``billingd.control.params``) and used by the
socket methods and by the CSV import columns. Out of bounds is a clear error naming
the field (-32602, exit 1), and nothing is written.

The sweep at the end sends each parameter of each method its largest, smallest,
empty, non-ASCII and malformed value through a real daemon on both databases: a clear
error or a success, never "Internal error".
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from billingd.control import api  # noqa: F401  (registers the methods)
from billingd.control.params import (
    AMOUNT,
    DATES,
    INTERVAL,
    MAX_TEXT,
    QUANTITY,
    REVIEW_DAYS,
    Bound,
    Param,
    validate_params,
)
from billingd.control.registry import METHODS, Method
from billingd.errors import INTERNAL_ERROR, INVALID_PARAMS, ValidationError
from billingd.services import imports, parties
from billingd.services.context import ServiceContext
from tests.conftest import RunningDaemon, audit_length, billingctl
from tests.daemon.test_crash_recovery import wait_for

BIG = 10**12

# (method, parameter, the extreme accepted, the first refused, words of the message)
EDGES = [
    ("billgroup.update", "review_days", 365, 366, "from 0 to 365 days"),
    ("billgroup.add", "review_days", 0, -1, "from 0 to 365 days"),
    ("enterprise.add", "terms", 3650, 3651, "from 0 to 3650 days"),
    ("enterprise.update", "terms", 0, -1, "from 0 to 3650 days"),
    ("enterprise.add", "start", 10**9, 10**9 + 1, "from 1 to 10^9"),
    ("contract.add", "interval", 1000, 1001, "from 1 to 1000 cycles"),
    ("contract.update", "interval", 1, 0, "at least 1"),
    ("invoice.amount", "count", 1000, 1001, "from 1 to 1000"),
    ("contract.add", "quantity", "1000000000", "1000000000.000001", "from -10^9 to 10^9"),
    ("contract.add", "quantity", "0.000001", "0.0000001", "at most 6 decimals"),
    ("contract.add", "price", "1000000000000", "1000000000000.01", "from -10^12 to 10^12"),
    ("contract.add", "price", "0.125", "0.1255", "at most 3 decimals"),
    ("invoice.amount", "amount", "-1000000000000", "-1000000000001", "from -10^12 to 10^12"),
    ("payment.record", "amount", "999999999999.999", "1" + "0" * 40, "from -10^12"),
    ("charge.add", "amount", "1.00", "1.0001", "at most 3 decimals"),
    ("credit_note.issue", "amount", "1.50", "1e3", "decimal"),
    ("price_override.set", "amount", "0", "Infinity", "decimal"),
    ("client.add", "tax_rate", "100", "100.0001", "from 0 to 100 percent"),
    ("enterprise.add", "tax_rate", "7.1234", "7.12345", "at most 4 decimals"),
    ("contract.add", "start", "2199-12-31", "2200-01-01", "from 1970-01-01 to 2199-12-31"),
    ("invoice.period", "from", "1970-01-01", "1969-12-31", "from 1970-01-01 to 2199-12-31"),
    ("run.start", "until", "2199-12-31", "9999-12-31", "from 1970-01-01 to 2199-12-31"),
    ("clock.set", "to", "2199-12-31T23:59:59Z", "2200-01-01T00:00Z", "its day in UTC"),
    ("clock.set", "to", "1970-01-01T01:00+01:00", "1970-01-01T00:59+01:00", "1970-01-01"),
    ("client.list", "offset", 0, -1, "from 0 to"),
    ("invoice.list", "offset", 2**63 - 1, 2**63, "out of range"),
    ("client.add", "name", "x" * 200, "x" * 201, "at most 200 characters"),
    ("charge.add", "description", "x" * 1000, "x" * 1001, "at most 1000 characters"),
    ("payment.record", "notes", "x" * 2000, "x" * 2001, "at most 2000 characters"),
    ("payment.record", "reference", "x" * 200, "x" * 201, "at most 200 characters"),
    ("enterprise.add", "pattern", "%num%" + "x" * 95, "%num%" + "x" * 96, "at most 100"),
    ("client.add", "address", "Zürich 東京 🧾", "a\x00b", "NUL"),
]


@pytest.mark.parametrize(
    ("method_name", "param", "accepted", "refused", "words"),
    EDGES,
    ids=[f"{m}.{p}={r!r}"[:60] for m, p, _, r, _ in EDGES],
)
def test_each_bound_is_declared_on_the_parameter(
    method_name: str, param: str, accepted: Any, refused: Any, words: str
) -> None:
    spec = {param: METHODS[method_name].params[param]}
    assert param in validate_params(spec, {param: accepted})
    with pytest.raises(ValidationError) as caught:
        validate_params(spec, {param: refused})
    assert caught.value.data["field"] == param
    assert caught.value.message.startswith(param) and words in caught.value.message


def test_bounds_are_stated_in_the_protocol_doc() -> None:
    from billingd.control import docs

    text = docs.generate()
    section = text.split("### `billgroup.update`\n", 1)[1].split("\n### ", 1)[0]
    assert "| `review_days` | integer | no |  | drafts wait this long" in section
    assert "from 0 to 365 days |" in section
    for method_name in ("payment.record", "invoice.amount", "charge.add"):
        section = text.split(f"### `{method_name}`\n", 1)[1].split("\n### ", 1)[0]
        assert "from -10^12 to 10^12, at most 3 decimals" in section, method_name


def test_bound_checks_decimals_exactly() -> None:
    assert AMOUNT.problem(Decimal("1.100000")) is None  # trailing zeros are not decimals
    assert AMOUNT.problem(Decimal("-0.001")) is None
    tiny = QUANTITY.problem(Decimal("0." + "0" * 200 + "1"))
    assert tiny == "must have at most 6 decimals, got 0.000000000000000000…(203 characters)"
    assert Bound(1, 2).problem(3) == "must be from 1 to 2, got 3"
    assert DATES.problem(dt.date(2199, 12, 31)) is None
    assert INTERVAL.describe() == "from 1 to 1000 cycles"
    assert REVIEW_DAYS.problem(10**9) == "must be from 0 to 365 days, got 1000000000"


def test_every_number_date_and_text_parameter_is_bounded() -> None:
    """No parameter accepts an unbounded number: a decimal, an integer that is no id, a
    date, an instant, a text."""
    unbounded = []
    for name, entry in METHODS.items():
        for key, param in entry.params.items():
            if param.type_name == "decimal string" and param.bound is None:
                unbounded.append((name, key))
            integer = param.type_name in ("integer", "integer ≥ 1")
            if integer and param.bound is None and key not in ID_LIKE:
                unbounded.append((name, key))
    assert unbounded == []


ID_LIKE = {
    "id", "client", "reseller", "enterprise", "contract", "invoice", "bill_group", "payment",
    "limit",
}  # fmt: skip
"""Integers naming an object (a wrong one is not found) or a page size (capped)."""


# -- CSV imports use the same declarations -------------------------------------------


@pytest.fixture
def client_id(ctx: ServiceContext) -> int:
    company = parties.add_enterprise(ctx, name="Acme", currency="EUR", tax_rate=Decimal(19))
    return parties.add_client(ctx, name="Jane", enterprise_id=company.id).id


@pytest.mark.parametrize(
    ("column", "value", "words"),
    [
        ("price", "1000000000000.01", "from -10^12 to 10^12"),
        ("quantity", "0.1234567", "at most 6 decimals"),
        ("interval", "1001", "from 1 to 1000 cycles"),
        ("start", "2200-01-01", "from 1970-01-01 to 2199-12-31"),
        ("tax-rate", "101", "from 0 to 100 percent"),
        ("bill-group", "99999999999999999999", "from 1 to 9223372036854775807"),
        ("description", "a\x00b", "NUL"),
    ],
)
def test_contract_import_columns_use_the_parameter_bounds(
    ctx: ServiceContext, client_id: int, column: str, value: str, words: str
) -> None:
    good = {
        "client": str(client_id),
        "description": "Seat",
        "price": "1.00",
        "cycle": "month",
        "start": "2026-01-01",
    }
    with pytest.raises(ValidationError) as caught:
        imports.import_contracts(ctx, [(2, good), (3, dict(good, **{column: value}))])
    assert caught.value.data["line"] == 3 and caught.value.data["field"] == column
    assert words in caught.value.message and "nothing imported" in caught.value.message
    assert imports.import_contracts(ctx, [(2, good)])  # the good row alone


def test_client_import_bounds_ids(ctx: ServiceContext) -> None:
    with pytest.raises(ValidationError) as caught:
        imports.import_clients(ctx, [(2, {"name": "X", "enterprise": str(2**63)})])
    assert caught.value.data["field"] == "enterprise"


# -- the sweep: every parameter, its extreme values, a real daemon ---------------------

TEXTS = {  # valid values for required texts, by parameter name
    "currency": "EUR",
    "cycle": "month",
    "name": "Acme",
    "description": "Setup",
    "month": "2026-01",
    "by": "1d",
    "import_id": "nope",
}
FILL = {  # a valid value of each type, for the other required parameters
    "integer": 1,
    "integer ≥ 1": 1,
    "string": "x",
    "boolean": False,
    "date": "2026-01-05",
    "instant": "2030-01-01T00:00Z",
    "decimal string": "1.00",
    "id or number": 1,
    "list": [],
    "object": {},
}
NON_ASCII = "Zürich 東京 🧾 \u202eabc ١٢٣"


def extremes(param: Param) -> list[Any]:
    """The largest, smallest, empty, non-ASCII and malformed values of a parameter."""
    bound = param.bound
    kind = param.type_name
    if kind in ("integer", "integer ≥ 1"):
        values: list[Any] = [2**63 - 1, -(2**63), 2**63, "", NON_ASCII, 1.5, "12"]
        if bound is not None:
            values += [bound.high, bound.low, bound.high + 1, bound.low - 1]  # type: ignore[operator]
        return values
    if kind == "decimal string":
        return [
            *("1" + "0" * 12, "-1" + "0" * 12, "9" * 60, "", "١٢٫٥", "1e3", "12,50", 12.5),
            *("NaN", "١٢.٥٠", "１２.５０"),
        ]
    if kind == "date":
        return [
            "2199-12-31",
            "1970-01-01",
            "9999-12-31",
            "0001-01-01",
            "",
            "２０２６-01-01",
            "2026-02-30",
        ]
    if kind == "instant":
        return [
            *("2199-12-31T23:59:59Z", "1970-01-01T00:00Z", "9999-12-31T23:00", "", NON_ASCII),
            *("x", "0001-01-01T00:00Z", "0001-01-01T00:30+01:00"),
        ]
    if kind == "string":
        most = bound.high if bound is not None else MAX_TEXT
        return ["x" * most, "x" * (most + 1), "", NON_ASCII, "a\x00b", 42, ["x"]]  # type: ignore[operator]
    if kind == "boolean":
        return [True, False, "", NON_ASCII, "true", 1]
    if kind == "id or number":
        return [2**63 - 1, -(2**63), "", NON_ASCII, 1.5, [1], "9" * 20, "١٢", "１"]
    if kind == "list":
        return [[{"x": "y"}] * 200, [], [NON_ASCII], "not a list", [None]]
    if kind.startswith("list of line numbers"):
        return [[1], [10**12], [], [0], [2**70], ["2"], "2"]
    if kind == "object":
        return [{f"k{n}": "v" * 100 for n in range(50)}, {}, {NON_ASCII: NON_ASCII}, []]
    raise AssertionError(f"no extremes for {kind}")


def required(entry: Method) -> dict[str, Any]:
    """A valid value for each required parameter of a method."""
    return {
        key: TEXTS.get(key, FILL[param.type_name])
        for key, param in entry.params.items()
        if param.required
    }


def calls() -> Iterator[tuple[str, str, Any, dict[str, Any]]]:
    for name in sorted(METHODS):
        entry = METHODS[name]
        base = required(entry)
        for key, param in entry.params.items():
            for value in extremes(param):
                yield name, key, value, {**base, key: value}


@pytest.fixture
def seeded(database_url: str, short_dir: Path) -> Iterator[RunningDaemon]:
    running = RunningDaemon(short_dir, database_url, "clock: test\ninvoicing: manual\n")
    company = running.call("enterprise.add", name="Acme", currency="EUR", tax_rate="19")
    client = running.call("client.add", name="Jane", enterprise=company["id"])
    running.call(
        "contract.add",
        client=client["id"],
        description="Hosted PBX",
        price="10.00",
        cycle="year",
        start="2026-01-01",
    )
    running.call("invoice.amount", client=client["id"], date="2026-01-05", amount="119.00")
    yield running
    running.stop()


@pytest.mark.slow  # over a thousand calls, each checked for writes
def test_every_parameter_at_its_extremes_gets_a_clear_answer(seeded: RunningDaemon) -> None:
    internal = []
    unnamed = []
    wrote = []
    count = 0
    for name, key, value, params in calls():
        count += 1
        frame = {"jsonrpc": "2.0", "id": count, "method": name, "params": params}
        before = _audit_length(seeded) if METHODS[name].writes else None
        reply = seeded.raw(json.dumps(frame).encode() + b"\n")
        assert reply.get("id") == count, reply
        error = reply.get("error")
        if error is None:
            continue
        shown = (name, key, repr(value)[:40], error["message"][:120])
        assert isinstance(error["message"], str) and error["message"], shown
        if error["code"] == INTERNAL_ERROR:
            internal.append(shown)
        data = error.get("data", {})
        if error["code"] == INVALID_PARAMS and not (data.get("field") or data.get("line")):
            unnamed.append(shown)  # a bad value names its field (a bad file row: its line)
        if before is not None and _audit_length(seeded) != before:
            wrote.append(shown)
    assert internal == [], f"{len(internal)} internal errors: {internal[:10]}"
    assert unnamed == [], f"{len(unnamed)} validation errors naming nothing: {unnamed[:10]}"
    assert wrote == [], f"refused writes that wrote: {wrote[:10]}"
    assert count > 1000
    assert seeded.process.poll() is None


def _audit_length(daemon: RunningDaemon) -> int:
    """The audit trail's length (:func:`audit_length`) once the runs started by earlier
    calls have finished."""
    wait_for(lambda: all(r["status"] != "running" for r in daemon.call("run.list")), 30, "the runs")
    return audit_length(daemon)


def test_billingctl_refuses_an_unbounded_value_with_exit_1(seeded: RunningDaemon) -> None:
    result = billingctl(seeded.socket, "invoice", "amount", "--client", "1", "--date",
                        "2026-01-05", "--amount", "1" + "0" * 13)  # fmt: skip
    assert result.returncode == 1, result
    error = json.loads(result.stdout)["error"]
    assert (error["code"], error["data"]["field"]) == (INVALID_PARAMS, "amount")
    assert "from -10^12 to 10^12" in error["message"]


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("quantity", "1000000001", "from 0 to 10^9"),
        ("quantity", "1.1234567", "at most 6 decimals"),
        ("amount", "1000000000001", "from 0 to 10^12"),
        ("amount", "0.00000000001", "at most 10 decimals"),
    ],
)
def test_spec_12_usage_rows_are_bounded_like_parameters(
    column: str, value: str, message: str
) -> None:
    from billingd.domain.usage_rows import RowError, validate_row

    row = {
        "client": "1",
        "occurred_at": "2026-01-01T00:00:00Z",
        "destination_group": "G",
        "quantity": "1",
        "amount": "1",
        column: value,
    }
    with pytest.raises(RowError) as refused:
        validate_row(7, row)
    assert refused.value.line == 7 and refused.value.field == column
    assert message.split(" to ")[-1] in str(refused.value)
