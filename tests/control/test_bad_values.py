"""Bad values through the real socket and billingctl (SPEC §12, issue 14).

Every bad value is a validation error naming its parameter (-32602 with
``data.field``; a file's row: its line and column), never -32603 "internal error";
nothing is written and the daemon keeps answering. The sweeps walk the registry by
parameter type, so a new method or parameter is swept without a line here:

- in-process, every refused value of each type against every parameter of that type;
- the same frames through one socket connection to a real daemon (fast: refusals);
- the values the issue found, through billingctl and the socket (before: -32603 or
  stored, now refused).

``tests/control/test_bounds.py`` (slow) sends the accepted extremes too.
"""

from __future__ import annotations

import base64
import json
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from billingd.control import api  # noqa: F401  (registers the methods)
from billingd.control.client import RemoteError
from billingd.control.params import Lines, Param, validate_params
from billingd.control.registry import METHODS
from billingd.domain.bounds import TEXT_FIELDS, text_bound
from billingd.errors import INTERNAL_ERROR, INVALID_PARAMS, NOT_FOUND, ValidationError
from billingd.services.import_rows import CLIENT_COLUMNS, CONTRACT_COLUMNS
from tests.conftest import RunningDaemon, audit_length, billingctl
from tests.control.test_bounds import required
from tests.sqlite_template import migrated_sqlite

ARABIC = "١٢.٥٠"  # Arabic-Indic digits: 12.50 to Decimal()
FULL_WIDTH = "１２.５０"  # full-width digits: 12.50 to Decimal()
TOO_BIG = 2**63  # one past what both databases store

REFUSED: dict[str, list[Any]] = {
    "integer": [TOO_BIG, -TOO_BIG - 1, 2**64, "", "12", "١٢", "１２", 1.5, True, [1], {}],
    "decimal string": [
        ARABIC, FULL_WIDTH, "١", "1e3", "12,50", "NaN", "Infinity", "-Infinity", "", " ",
        "1" + "0" * 40, "0x10", "1_000", 12.5, True, ["1"], {},
    ],
    "date": [
        "0001-01-01", "9999-12-31", "1969-12-31", "2200-01-01", "２０２６-01-05",
        "٢٠٢٦-٠١-٠٥", "2026-02-30", "2026-1-5", "", 20260105, True, [],
    ],
    "instant": [
        "0001-01-01T00:00Z", "0001-01-01T00:30+01:00", "9999-12-31T23:59:59-01:00",
        "2200-01-01T00:00Z", "２０２６-01-01T00:00", "", "x", 5, [],
    ],
    "string": ["a\x00b", 42, 1.5, True, ["x"], {}],
    "boolean": ["", "true", "١", 1, 0, [], {}],
    "id or number": [TOO_BIG, -TOO_BIG - 1, "", 1.5, True, [1], {}],
    "list": ["not a list", 5, True, {}],
    Lines().type_name: ["2", [0], [-1], [10**12 + 1], [2**70], ["2"], [1.5], [True], {}],
    "object": ["x", 5, True, []],
}  # fmt: skip
"""Values each parameter of a type refuses, whatever its bound."""
REFUSED["integer ≥ 1"] = [0, -1, *REFUSED["integer"]]


def refused_values(param: Param) -> list[Any]:
    """The values ``param`` must refuse: its type's, and just past its bound."""
    values = list(REFUSED[param.type_name])
    bound = param.bound
    if bound is None:
        return values
    if param.type_name == "string" or param.check.__name__ == "_text":
        return [*values, "x" * (int(bound.high) + 1)]  # type: ignore[arg-type]
    if param.type_name == "decimal string":
        step = f"{bound.high + 1:f}", f"{bound.low - 1:f}"  # type: ignore[operator]
        return [*values, *step]
    if param.type_name.startswith("integer"):
        return [*values, bound.high + 1, bound.low - 1]  # type: ignore[operator]
    return values


def calls() -> Iterator[tuple[str, str, Any, dict[str, Any]]]:
    """(method, parameter, its bad value, the whole params) for every refused value."""
    for name in sorted(METHODS):
        entry = METHODS[name]
        base = required(entry)
        for key, param in entry.params.items():
            if param.check.__name__ == "_text":  # usage.import_rows' csv: any text
                continue
            for value in refused_values(param):
                yield name, key, value, {**base, key: value}


CALLS = list(calls())


def test_every_text_is_bounded_once_by_its_field() -> None:
    """Each text parameter has a bound, its field's unless it declares its own; an
    import column has the bound of the parameter of its name."""
    unbounded = [
        (name, key)
        for name, entry in METHODS.items()
        for key, param in entry.params.items()
        if param.type_name == "string" and param.bound is None and key != "csv"
    ]
    assert unbounded == []
    assert METHODS["client.add"].params["name"].bound == text_bound("name")
    assert "at most 200 characters" in METHODS["client.add"].params["name"].help
    for add, columns in (("client.add", CLIENT_COLUMNS), ("contract.add", CONTRACT_COLUMNS)):
        params = METHODS[add].params
        for column in columns:
            if column.kind != "text":
                continue
            assert column.bound == text_bound(column.name), column.name
            key = column.name.replace("-", "_")
            if key in params:
                assert params[key].bound == column.bound, (add, key)
    assert {"name", "description", "address", "notes", "reference"} <= set(TEXT_FIELDS)


def test_a_text_parameter_without_a_bound_is_refused_at_registration() -> None:
    from billingd.control.params import Str

    with pytest.raises(ValueError, match="'motto' has no bound"):
        Str().named("motto")


def test_every_parameter_refuses_its_types_bad_values_naming_itself() -> None:
    """In-process: each refused value of each type, against every parameter of the type."""
    wrong = []
    for name, key, value, params in CALLS:
        try:
            validate_params(METHODS[name].params, params)
        except ValidationError as exc:
            if exc.data.get("field") != key:
                wrong.append((name, key, repr(value)[:30], exc.message[:80]))
            continue
        wrong.append((name, key, repr(value)[:30], "accepted"))
    assert wrong == [], f"{len(wrong)} of {len(CALLS)}: {wrong[:10]}"
    assert len(CALLS) > 3000
    types = {METHODS[name].params[key].type_name for name, key, _, _ in CALLS}
    assert types == set(REFUSED)


# -- a real daemon ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def seeded() -> Iterator[RunningDaemon]:
    """A daemon with an enterprise, a client with a contract, an issued invoice, and
    operator templates; shared by the module's tests, which are all refused."""
    folder = Path(tempfile.mkdtemp(prefix="bd-", dir="/tmp"))
    running = RunningDaemon(
        folder, migrated_sqlite(folder / "billing.db"), "clock: test\ninvoicing: manual\n"
    )
    company = running.call("enterprise.add", name="Acme", currency="EUR", tax_rate="19")
    client = running.call("client.add", name="Jane", enterprise=company["id"])
    running.call("contract.add", client=client["id"], description="PBX", price="10.00",
                 cycle="month", start="2026-01-01")  # fmt: skip
    running.call("invoice.amount", client=client["id"], date="2026-01-05", amount="119.00")
    templates = folder / "data" / "templates"
    templates.mkdir(parents=True, exist_ok=True)
    (templates / "many.tpl").write_text("heading {number}\n" + "lines\n" * 2_000)
    (templates / "broken.tpl").write_text("heading ok\ntext {totl}\n")
    yield running
    running.stop()
    shutil.rmtree(folder, ignore_errors=True)


def _pipelined(daemon: RunningDaemon, frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Send every frame on one connection (answered in order) and read the replies."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(30)
        sock.connect(str(daemon.socket))
        data = b"".join(json.dumps(f).encode() + b"\n" for f in frames)
        replies = []
        reader = sock.makefile("rb")
        for start in range(0, len(data), 1 << 16):  # the daemon answers as it reads
            sock.sendall(data[start : start + (1 << 16)])
        for _ in frames:
            replies.append(json.loads(reader.readline()))
        return replies


@pytest.mark.parametrize("type_name", sorted(REFUSED))
def test_spec_12_every_bad_value_through_the_socket_names_its_parameter(
    seeded: RunningDaemon, type_name: str
) -> None:
    """Per parameter type, every method's parameters of that type, one connection."""
    before = audit_length(seeded)
    sent = [c for c in CALLS if METHODS[c[0]].params[c[1]].type_name == type_name]
    frames = [
        {"jsonrpc": "2.0", "id": n, "method": name, "params": params}
        for n, (name, _, _, params) in enumerate(sent)
    ]
    replies = _pipelined(seeded, frames)
    wrong = []
    for (name, key, value, _), frame, reply in zip(sent, frames, replies, strict=True):
        error = reply.get("error") or {}
        field = (error.get("data") or {}).get("field")
        if reply.get("id") != frame["id"] or error.get("code") != INVALID_PARAMS or field != key:
            wrong.append((name, key, repr(value)[:30], reply.get("error") or "accepted"))
    assert wrong == [], f"{len(wrong)} of {len(frames)}: {wrong[:5]}"
    assert audit_length(seeded) == before  # nothing written
    assert seeded.call("status")["clients"] == 1


def _refused(daemon: RunningDaemon, *args: str) -> dict[str, Any]:
    """billingctl ``args`` must be refused by a rule (exit 1): its error."""
    result = billingctl(daemon.socket, *args)
    assert result.returncode == 1, (args[:3], result.returncode, result.stdout, result.stderr)
    error = json.loads(result.stdout)["error"]
    assert error["code"] != INTERNAL_ERROR and "internal" not in error["message"], error
    return error


BILLINGCTL_CASES = [
    # (what, arguments, code, field, words): before, all but the last two were taken
    ("money in Arabic-Indic digits", ["payment", "record", "--client", "1", "--amount", ARABIC],
     INVALID_PARAMS, "amount", "digits 0-9"),
    ("money in full-width digits", ["charge", "add", "--client", "1", "--description", "x",
     "--amount", FULL_WIDTH], INVALID_PARAMS, "amount", "digits 0-9"),
    ("a tax rate in Arabic-Indic digits", ["client", "add", "--name", "Y", "--enterprise",
     "1", "--tax-rate", "١٩"], INVALID_PARAMS, "tax_rate", "digits 0-9"),
    ("invoice days in Arabic-Indic digits", ["client", "add", "--name", "Y", "--enterprise",
     "1", "--invoice-days", "١,١٥"], INVALID_PARAMS, "invoice_days", "day of the month"),
    ("a duration in Arabic-Indic digits", ["clock", "advance", "١d"], INVALID_PARAMS, "by",
     "not a duration"),
    ("an advance of 10^9 days", ["clock", "advance", "1000000000d"], INVALID_PARAMS, "by",
     "longer than the test clock's range"),
    ("a year-1 clock", ["clock", "set", "0001-01-01T00:00"], INVALID_PARAMS, "to",
     "from 1970-01-01 to 2199-12-31"),
    ("negative review days", ["billgroup", "add", "--client", "1", "--name", "g",
     "--review-days", "-1"], INVALID_PARAMS, "review_days", "from 0 to 365 days"),
    ("payment terms of 10^9 days", ["enterprise", "add", "--name", "B", "--currency", "EUR",
     "--terms", "1000000000"], INVALID_PARAMS, "terms", "from 0 to 3650 days"),
    ("a price past 10^12", ["contract", "add", "--client", "1", "--description", "d",
     "--price", "1" + "0" * 30, "--cycle", "month", "--start", "2026-01-01"],
     INVALID_PARAMS, "price", "from -10^12 to 10^12"),
    ("a 201-character client name", ["client", "add", "--name", "n" * 201, "--enterprise",
     "1"], INVALID_PARAMS, "name", "at most 200 characters"),
    ("a 1,001-character description", ["charge", "add", "--client", "1", "--description",
     "d" * 1001, "--amount", "1"], INVALID_PARAMS, "description", "at most 1000 characters"),
    ("an invoice named by 20 digits", ["invoice", "show", "9" * 20], NOT_FOUND, None,
     "no invoice '9999"),
    ("an invoice named in Arabic-Indic digits", ["invoice", "show", "١"], NOT_FOUND, None,
     "no invoice '١'"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("what", "args", "code", "field", "words"),
    BILLINGCTL_CASES,
    ids=[c[0] for c in BILLINGCTL_CASES],
)
def test_spec_12_billingctl_refuses_what_was_accepted_or_crashed(
    seeded: RunningDaemon, what: str, args: list[str], code: int, field: str | None, words: str
) -> None:
    error = _refused(seeded, *args)
    assert error["code"] == code, error
    assert error.get("data", {}).get("field") == field, error
    assert words in error["message"], error


@pytest.mark.parametrize(
    ("method", "params", "field"),
    [
        ("invoice.list", {"period": "9999-12"}, "period"),  # was -32603 OverflowError
        ("invoice.list", {"period": "١٢٣٤-٠١"}, "period"),
        ("period.close", {"enterprise": 1, "month": "0001-01"}, "month"),  # was closed
        ("period.close", {"enterprise": 1, "month": "9999-12"}, "month"),
    ],
)
def test_months_are_bounded_like_dates(
    seeded: RunningDaemon, method: str, params: dict[str, Any], field: str
) -> None:
    with pytest.raises(RemoteError) as refused:
        seeded.call(method, **params)
    assert (refused.value.code, refused.value.data["field"]) == (INVALID_PARAMS, field)
    assert seeded.call("period.list") == []


@pytest.mark.parametrize("value", ["١", "１２", "1_000", "0x10", "1.0"])
def test_billingctl_integer_options_take_the_digits_0_9(seeded: RunningDaemon, value: str) -> None:
    """argparse's int() read other scripts' digits and underscores: ``--client ١`` billed
    client 1. Now a usage error (exit 2) before anything is sent."""
    before = audit_length(seeded)
    result = billingctl(seeded.socket, "run", "--client", value, "--until", "2026-02-01")
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "--client: not an integer in the digits 0-9" in result.stderr
    assert audit_length(seeded) == before


@pytest.mark.parametrize("ref", ["9" * 20, "1" + "0" * 19, "١٢", "１"])
def test_invoice_and_credit_note_texts_past_any_id_are_not_found(
    seeded: RunningDaemon, ref: str
) -> None:
    """An all-digit text is an invoice number or else an id: 20 digits overflowed the
    database driver (-32603 OverflowError), other scripts' digits found id 12."""
    for method, key in (("invoice.show", "invoice"), ("credit_note.pdf", "credit_note"),
                        ("credit_note.list", "invoice"), ("outbox.list", "invoice"),
                        ("dunning.show", "invoice")):  # fmt: skip
        reply = seeded.raw(
            json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": {key: ref}})
            .encode() + b"\n"
        )  # fmt: skip
        assert reply["error"]["code"] == NOT_FOUND, (method, reply)


def test_a_million_character_name_is_refused_and_nothing_written(seeded: RunningDaemon) -> None:
    before = audit_length(seeded)
    for method, params in (
        ("client.add", {"name": "n" * 1_000_000, "enterprise": 1}),
        ("client.update", {"id": 1, "address": "a" * 1001}),
        ("billgroup.add", {"client": 1, "name": "g", "custom_fields": {
            f"k{n}": "v" for n in range(51)}}),
        ("enterprise.update", {"id": 1, "pattern": "%num%" + "x" * 96}),
        ("payment.record", {"client": 1, "amount": "1", "notes": "x" * 2001}),
    ):  # fmt: skip
        reply = seeded.raw(
            json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
            .encode() + b"\n"
        )  # fmt: skip
        assert reply["error"]["code"] == INVALID_PARAMS, (method, reply)
        assert reply["error"]["data"]["field"] in params, reply
    assert audit_length(seeded) == before
    assert seeded.call("client.show", id=1)["name"] == "Jane"


USAGE_ROWS = [
    # (what, CSV row after the client, column named)
    ("a year-1 record (was stored)", "0001-01-01T00:00:00Z,G,1,1", "occurred_at"),
    ("a year-1 record with an offset", "0001-01-01T00:30:00+01:00,G,1,1", "occurred_at"),
    ("a record in 2200", "2200-01-01T00:00:00Z,G,1,1", "occurred_at"),
    ("an amount of 10^30", "2026-01-05T00:00:00Z,G,1," + "1" + "0" * 30, "amount"),
    ("a quantity in Arabic-Indic digits", "2026-01-05T00:00:00Z,G,١,1", "quantity"),
    ("an amount in full-width digits", "2026-01-05T00:00:00Z,G,1," + FULL_WIDTH, "amount"),
    ("a 201-character group", "2026-01-05T00:00:00Z," + "G" * 201 + ",1,1", "destination_group"),
]


@pytest.mark.parametrize(("what", "row", "column"), USAGE_ROWS, ids=[r[0] for r in USAGE_ROWS])
def test_spec_12_usage_file_rows_are_bounded_like_parameters(
    seeded: RunningDaemon, tmp_path: Path, what: str, row: str, column: str
) -> None:
    """Through billingctl's streamed CSV import (the quick path for plain rows, the
    row-by-row checks otherwise): line 3 is refused by column, nothing imported."""
    path = tmp_path / "usage.csv"
    path.write_text(
        "client,occurred_at,destination_group,quantity,amount\n"
        "1,2026-01-05T00:00:00Z,G,1,1\n"
        f"1,{row}\n",
        encoding="utf-8",
    )
    error = _refused(seeded, "usage", "import", str(path))
    assert (error["data"]["line"], error["data"]["field"]) == (3, column), error
    assert seeded.call("usage.list", client=1) == []


def test_spec_12_usage_records_through_the_socket_are_bounded(seeded: RunningDaemon) -> None:
    good = {"client": "1", "occurred_at": "2026-01-05T00:00Z", "destination_group": "G",
            "quantity": "1", "amount": "1"}  # fmt: skip
    for column, value in (
        ("occurred_at", "0001-01-01T00:00Z"),
        ("destination", "d" * 201),
        ("unit", "u" * 51),
        ("external_id", "e" * 201),
        ("destination", "a\x00b"),  # PostgreSQL stores no NUL
        ("client", "١"),
        ("contract", str(TOO_BIG)),
    ):
        with pytest.raises(RemoteError) as refused:
            seeded.call("usage.import", records=[good, {**good, column: value}], lines=[2, 3])
        error = refused.value
        assert (error.code, error.data["field"], error.data["line"]) == (INVALID_PARAMS, column, 3)
    assert seeded.call("usage.list", client=1) == []


CLIENT_ROW = {"name": "Imported", "enterprise": "1"}
CONTRACT_ROW = {"client": "1", "description": "d", "price": "1", "cycle": "month",
                "start": "2026-01-01"}  # fmt: skip
IMPORT_CELLS = [
    ("client", "enterprise", "١"),
    ("client", "name", "n" * 201),
    ("client", "tax-id", "t" * 201),
    ("contract", "client", "１"),
    ("contract", "price", ARABIC),
    ("contract", "description", "d" * 1001),
]


@pytest.mark.parametrize(("kind", "column", "value"), IMPORT_CELLS)
def test_spec_12_client_and_contract_files_use_the_parameter_bounds(
    seeded: RunningDaemon, tmp_path: Path, kind: str, column: str, value: str
) -> None:
    row = dict(CLIENT_ROW if kind == "client" else CONTRACT_ROW)
    row[column] = value
    path = tmp_path / f"{kind}s.csv"
    path.write_text(",".join(row) + "\n" + ",".join(row.values()) + "\n", encoding="utf-8")
    before = audit_length(seeded)
    error = _refused(seeded, kind, "import", str(path))
    assert (error["data"]["line"], error["data"]["field"]) == (2, column), error
    assert audit_length(seeded) == before


def test_template_preview_is_bounded_work_and_names_no_server_path(
    seeded: RunningDaemon, tmp_path: Path
) -> None:
    """A viewer's preview of 10,000 ``lines`` directives held a reader thread for 96 s;
    it is refused as it is parsed. Errors name the template's file, no directory."""
    started = time.monotonic()
    error = _refused(seeded, "template", "preview", "many.tpl", "-o", str(tmp_path / "x.pdf"))
    assert time.monotonic() - started < 5
    assert error["message"] == "many.tpl:3: lines may appear once (it is on line 2)"
    for name in ("broken.tpl", "nowhere.tpl"):
        error = _refused(seeded, "template", "preview", name, "-o", str(tmp_path / "x.pdf"))
        assert str(seeded.folder) not in json.dumps(error), error
        assert "/" not in error["message"].replace("data_dir/templates", ""), error
    preview = seeded.call("template.preview", name="invoice.tpl")
    assert base64.b64decode(preview["content_base64"]).startswith(b"%PDF")
