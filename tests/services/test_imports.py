"""Client and contract import from CSV (SPEC §2, seed 004): all rows or none.

Service level on SQLite and PostgreSQL, then the real ``billingctl`` against a daemon.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from stdnum.iso7064 import mod_11_10

from billingd.ctl_commands import COMMANDS
from billingd.db.models import AuditEvent, BillGroup, Client, Contract
from billingd.errors import ValidationError
from billingd.services import imports, parties, progress
from billingd.services.context import ServiceContext
from tests.conftest import RunningDaemon, billingctl
from tests.conftest import billingctl_ok as ok


def _counts() -> tuple[int, int, int, int]:
    return (
        Client.select().count(),
        BillGroup.select().count(),
        Contract.select().count(),
        AuditEvent.select().count(),
    )


def _numbered(rows: list[dict[str, Any]]) -> list[tuple[int, dict[str, Any]]]:
    """Rows as they come from a CSV file: the header is line 1."""
    return list(enumerate(rows, start=2))


@pytest.fixture
def acme(ctx: ServiceContext) -> dict[str, int]:
    euro = parties.add_enterprise(ctx, name="Acme", currency="EUR", tax_rate=Decimal("19"))
    yen = parties.add_enterprise(ctx, name="Acme KK", currency="JPY")
    reseller = parties.add_reseller(ctx, name="Channel", enterprise_id=euro.id)
    client = parties.add_client(ctx, name="Jane", enterprise_id=euro.id)
    yen_client = parties.add_client(ctx, name="Taro", enterprise_id=yen.id)
    return {
        "enterprise": euro.id,
        "yen_enterprise": yen.id,
        "reseller": reseller.id,
        "client": client.id,
        "yen_client": yen_client.id,
    }


def _client_row(acme: dict[str, int], n: int, **extra: str) -> dict[str, str]:
    return {"name": f"Client {n}", "enterprise": str(acme["enterprise"]), **extra}


def _contract_row(acme: dict[str, int], n: int, **extra: str) -> dict[str, str]:
    return {
        "client": str(acme["client"]),
        "description": f"Hosted PBX {n}",
        "price": "10.00",
        "cycle": "month",
        "start": "2026-01-01",
        **extra,
    }


# ---------------------------------------------------------------- good files


def test_client_import_writes_every_row_with_its_settings(
    ctx: ServiceContext, acme: dict[str, int]
) -> None:
    rows = [
        {
            "name": "Example Ltd",
            "enterprise": str(acme["enterprise"]),
            "email": "ap@example.com",
            "invoice-days": "15, 1",
            "reseller": str(acme["reseller"]),
            "send-stats": "yes",
            "send-email": "TRUE",
            "publish": "0",
            "company": "Example Ltd",
            "tax_id": "DE136695976",
            "contract-number": "C-1",
            "tax-rate": "7",
        },
        {"name": "Plain", "enterprise": str(acme["enterprise"]), "send-stats": "", "tax_id": ""},
        {"name": "Yen", "enterprise": acme["yen_enterprise"], "send_stats": True},
    ]
    before = _counts()
    created = imports.import_clients(ctx, _numbered(rows), source="clients.csv")
    first, plain, yen = (Client.get_by_id(i) for i in created)
    assert [c.name for c in (first, plain, yen)] == ["Example Ltd", "Plain", "Yen"]
    assert (first.invoice_days, first.reseller_id, first.tax_id) == (
        "1,15",
        acme["reseller"],
        "DE136695976",
    )
    assert (first.send_stats, first.send_email, first.publish) == (True, True, False)
    assert first.tax_rate == Decimal("7") and first.currency == "EUR"
    assert (plain.send_stats, plain.tax_id, plain.tax_rate) == (False, "", None)
    assert yen.currency == "JPY" and yen.send_stats is True
    clients, groups, contracts, audits = _counts()
    assert (clients, groups, contracts) == (before[0] + 3, before[1] + 3, before[2])
    # One client.created per row (from add_client) and one summary event.
    assert audits == before[3] + 4
    summary = AuditEvent.select().where(AuditEvent.event == "clients.imported").get()
    assert summary.details == {"rows": 3, "source": "clients.csv"} and summary.actor == "tester"


def test_header_spellings_tax_id_and_tax_hyphen_id_are_both_accepted(
    ctx: ServiceContext, acme: dict[str, int]
) -> None:
    for spelling in ("tax-id", "tax_id", " Tax_ID "):
        [client] = imports.import_clients(
            ctx, _numbered([_client_row(acme, 1, **{spelling: "ATU13585627"})])
        )
        assert Client.get_by_id(client).tax_id == "ATU13585627"


def test_contract_import_is_origin_imported_unless_the_row_says_otherwise(
    ctx: ServiceContext, acme: dict[str, int]
) -> None:
    group = parties.add_bill_group(ctx, client_id=acme["client"], name="Ariba")
    rows = [
        _contract_row(acme, 1),
        _contract_row(
            acme,
            2,
            quantity="3",
            interval="2",
            anchor="2026-01-31",
            end="2026-12-31",
            timing="arrears",
            origin="manual",
            **{"tax-rate": "7", "gateway": "sandbox", "bill-group": str(group.id)},
        ),
        {
            "reseller": str(acme["reseller"]),
            "description": "Reseller's own line",
            "price": "0.50",
            "cycle": "year",
            "start": "2026-02-01",
            "end": "",
        },
        _contract_row(acme, 4, client=str(acme["yen_client"]), price="1000"),
    ]
    before = _counts()
    created = imports.import_contracts(ctx, _numbered(rows), source="contracts.csv")
    first, second, own, yen = (Contract.get_by_id(i) for i in created)
    assert first.origin == "imported" and first.tax_rate == Decimal("19")
    assert first.anchor_date == dt.date(2026, 1, 1) and first.timing == "advance"
    assert (second.origin, second.quantity, second.interval, second.timing) == (
        "manual",
        Decimal("3"),
        2,
        "arrears",
    )
    assert (second.anchor_date, second.end_date) == (dt.date(2026, 1, 31), dt.date(2026, 12, 31))
    assert (second.tax_rate, second.payment_method, second.bill_group_id) == (
        Decimal("7"),
        "sandbox",
        group.id,
    )
    assert own.reseller_id == acme["reseller"] and own.client_id is None
    assert own.origin == "imported" and own.end_date is None
    assert yen.unit_price == Decimal("1000")
    assert _counts()[2:] == (before[2] + 4, before[3] + 5)


def test_an_empty_file_imports_nothing(ctx: ServiceContext, acme: dict[str, int]) -> None:
    before = _counts()
    assert imports.import_clients(ctx, []) == []
    assert imports.import_contracts(ctx, []) == []
    assert _counts() == before


# ---------------------------------------------------------------- bad rows


def _refused_at_line_7(
    ctx: ServiceContext, importer: Any, good: Any, bad: dict[str, Any]
) -> ValidationError:
    """Rows 2..6 good, row 7 bad, row 8 good: refused, naming line 7; nothing written."""
    rows = [good(n) for n in range(2, 7)] + [bad] + [good(8)]
    before = _counts()
    with pytest.raises(ValidationError) as caught:
        importer(ctx, _numbered(rows))
    assert _counts() == before, "a refused import must write nothing"
    error = caught.value
    assert error.data["line"] == 7 and "line 7" in error.message
    assert error.data["error_count"] == 1
    return error


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("name", "", "is required"),
        ("name", "   ", "is required"),
        ("enterprise", "one", "whole number"),
        ("enterprise", "999", "no enterprise with id 999"),
        ("reseller", "999", "no reseller with id 999"),
        ("currency", "XXX", "unknown currency"),
        ("send-stats", "maybe", "true/false"),
        ("publish", "2", "true/false"),
        ("tax-rate", "101", "from 0 to 100 percent"),
        ("tax-rate", "7,5", "decimal"),
        ("tax-rate", "1e1", "decimal"),
        ("tax-rate", "NaN", "decimal"),
        ("invoice-days", "1,32", "not a day of the month"),
        ("colour", "blue", "unknown column"),
    ],
)
def test_bad_client_row_names_line_and_column_and_writes_nothing(
    ctx: ServiceContext, acme: dict[str, int], column: str, value: str, message: str
) -> None:
    bad = {**_client_row(acme, 7), column: value}
    error = _refused_at_line_7(ctx, imports.import_clients, lambda n: _client_row(acme, n), bad)
    assert error.data["field"] == column, error.message
    assert f"line 7, {column}: " in error.message and message in error.message


def test_bad_client_row_reseller_of_another_enterprise(
    ctx: ServiceContext, acme: dict[str, int]
) -> None:
    bad = _client_row(acme, 7, reseller=str(acme["reseller"]))
    bad["enterprise"] = str(acme["yen_enterprise"])
    error = _refused_at_line_7(ctx, imports.import_clients, lambda n: _client_row(acme, n), bad)
    assert error.data["field"] == "reseller" and "another enterprise" in error.message


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("price", "10.001", "more decimals than EUR allows"),
        ("price", "-1", "must not be negative"),
        ("price", "ten", "decimal"),
        ("description", "", "is required"),
        ("cycle", "fortnight", "cycle must be one of"),
        ("timing", "later", "timing must be one of"),
        ("origin", "stolen", "origin must be one of"),
        ("start", "2026-13-01", "YYYY-MM-DD"),
        ("end", "2025-12-31", "before the start"),
        ("quantity", "0", "quantity must be positive"),
        ("interval", "0", "from 1 to 1000 cycles"),
        ("interval", "1.5", "whole number"),
        ("client", "999", "no client with id 999"),
        ("bill-group", "999", "no bill group with id 999"),
        ("tax_rate", "-1", "from 0 to 100 percent"),
    ],
)
def test_bad_contract_row_names_line_and_column_and_writes_nothing(
    ctx: ServiceContext, acme: dict[str, int], column: str, value: str, message: str
) -> None:
    bad = {**_contract_row(acme, 7), column: value}
    error = _refused_at_line_7(ctx, imports.import_contracts, lambda n: _contract_row(acme, n), bad)
    assert error.data["field"] == column, error.message
    assert f"line 7, {column}: " in error.message and message in error.message


def test_bad_contract_rows_currency_precision_and_ownership(
    ctx: ServiceContext, acme: dict[str, int]
) -> None:
    good = lambda n: _contract_row(acme, n)  # noqa: E731
    yen = _contract_row(acme, 7, client=str(acme["yen_client"]), price="10.50")
    error = _refused_at_line_7(ctx, imports.import_contracts, good, yen)
    assert error.data["field"] == "price" and "JPY" in error.message
    other = parties.add_bill_group(ctx, client_id=acme["yen_client"], name="Other")
    foreign = _contract_row(acme, 7, **{"bill-group": str(other.id)})
    error = _refused_at_line_7(ctx, imports.import_contracts, good, foreign)
    assert error.data["field"] == "bill-group" and "another client" in error.message
    both = _contract_row(acme, 7, reseller=str(acme["reseller"]))
    error = _refused_at_line_7(ctx, imports.import_contracts, good, both)
    assert error.data["field"] == "client" and "exactly one of client or reseller" in error.message


def test_every_bad_row_is_reported_at_once(ctx: ServiceContext, acme: dict[str, int]) -> None:
    rows = [
        _client_row(acme, 2),
        _client_row(acme, 3, currency="EURO"),
        _client_row(acme, 4),
        _client_row(acme, 5, enterprise="404"),
        _client_row(acme, 6, **{"invoice-days": "0"}),
    ]
    before = _counts()
    with pytest.raises(ValidationError) as caught:
        imports.import_clients(ctx, _numbered(rows))
    assert _counts() == before
    error = caught.value
    assert error.data["error_count"] == 3 and error.data["line"] == 3
    assert [(e["line"], e["field"]) for e in error.data["errors"]] == [
        (3, "currency"),
        (5, "enterprise"),
        (6, "invoice-days"),
    ]
    assert "and 2 more bad row(s): line 5, 6" in error.message


def test_a_type_error_is_reported_before_anything_touches_the_database(
    ctx: ServiceContext, acme: dict[str, int]
) -> None:
    rows = [_client_row(acme, 2), _client_row(acme, 3, enterprise="x"), "not an object"]
    with pytest.raises(ValidationError) as caught:
        imports.import_clients(ctx, [(2, rows[0]), (3, rows[1]), (9, rows[2])])
    assert [(e["line"], e["field"]) for e in caught.value.data["errors"]] == [
        (3, "enterprise"),
        (9, None),
    ]


def test_json_values_are_typed_and_json_fractions_refused(
    ctx: ServiceContext, acme: dict[str, int]
) -> None:
    with pytest.raises(ValidationError, match="line 2, price: must be a decimal"):
        imports.import_contracts(ctx, [(2, _contract_row(acme, 2, price=Decimal("1.5")))])
    with pytest.raises(ValidationError, match="line 2, enterprise: must be a whole number"):
        imports.import_clients(ctx, [(2, {"name": "X", "enterprise": True})])
    [client] = imports.import_clients(ctx, [(2, {"name": "X", "enterprise": acme["enterprise"]})])
    assert Client.get_by_id(client).enterprise_id == acme["enterprise"]


def test_a_column_given_twice_is_refused(ctx: ServiceContext, acme: dict[str, int]) -> None:
    with pytest.raises(ValidationError, match="column given twice"):
        imports.import_clients(ctx, [(2, _client_row(acme, 2, tax_id="A", **{"tax-id": "B"}))])


def test_row_limit(
    ctx: ServiceContext, acme: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(imports, "MAX_ROWS", 3)
    rows = _numbered([_client_row(acme, n) for n in range(4)])
    with pytest.raises(ValidationError, match="at most 3 rows"):
        imports.import_clients(ctx, rows)
    assert Client.select().count() == 2


def test_import_columns_are_the_add_commands_options() -> None:
    """The header names are a public contract: the add options, nothing else."""
    for noun, columns in (
        ("client", imports.CLIENT_COLUMNS),
        ("contract", imports.CONTRACT_COLUMNS),
    ):
        add = next(c for c in COMMANDS if c.words == (noun, "add"))
        options = {a.flag[2:] for a in add.args if a.flag.startswith("--")}
        assert {c.name for c in columns} == options
        required = {a.flag[2:] for a in add.args if a.required}
        assert {c.name for c in columns if c.required} == required


# ---------------------------------------------------------------- through billingctl


def refused(daemon: RunningDaemon, *args: str) -> dict[str, Any]:
    result = billingctl(daemon.socket, *args)
    assert result.returncode == 1, result.stdout + result.stderr
    return json.loads(result.stdout)["error"]


def _state(daemon: RunningDaemon) -> tuple[int, int, int]:
    return (
        len(daemon.call("client.list", limit=1000)),
        len(daemon.call("contract.list")),
        len(daemon.call("audit.list", limit=5000)),
    )


def _german_vat_id(n: int) -> str:
    """A valid German VAT id (ISO 7064 MOD 11,10 check digit) of eight digits ``n``."""
    digits = f"{10_000_000 + n:08d}"
    return f"DE{digits}{mod_11_10.calc_check_digit(digits)}"


def test_client_and_contract_import_through_billingctl(
    daemon: RunningDaemon, tmp_path: Path
) -> None:
    enterprise = ok(daemon, "enterprise", "add", "--name", "Acme", "--currency", "EUR")["id"]
    clients_csv = tmp_path / "clients.csv"
    clients_csv.write_text(
        "\ufeffname,enterprise,email,invoice-days,send-stats,send-email,publish,currency,"
        "company,tax_id,contract-number\n"
        + "".join(
            f'"Client {n}, Inc.",{enterprise},c{n}@example.com,"1,15",yes,no,,EUR,'
            f"Client {n},{_german_vat_id(n)},C-{n}\n"
            for n in range(1, 9)
        )
        + "\n",
        encoding="utf-8",
    )
    result = ok(daemon, "client", "import", str(clients_csv))
    assert result["imported"] == 8 and len(result["ids"]) == 8
    shown = daemon.call("client.show", id=result["ids"][0])
    assert shown["name"] == "Client 1, Inc." and shown["invoice_days"] == "1,15"
    assert shown["send_stats"] is True and shown["tax_id"] == _german_vat_id(1)
    client = result["ids"][0]

    before = _state(daemon)
    bad = tmp_path / "contracts.csv"
    header = "client,description,price,quantity,cycle,interval,start,anchor,end,timing,origin,tax-rate,gateway,bill-group\n"  # noqa: E501
    good = f"{client},Hosted PBX,10.00,1,month,1,2026-01-01,,,advance,,19,,\n"
    # Line 7 is the sixth data row: a price with too many decimals for EUR.
    bad.write_text(
        header + good * 5 + f"{client},SIP trunk,10.005,1,month,1,2026-01-01,,,,,,,\n" + good
    )
    error = refused(daemon, "contract", "import", str(bad))
    assert error["data"]["line"] == 7 and error["data"]["field"] == "price"
    assert "contracts.csv" in error["message"] and "line 7, price" in error["message"]
    assert _state(daemon) == before, "nothing of a refused file is written"

    bad.write_text(header + good * 7)
    assert ok(daemon, "contract", "import", str(bad))["imported"] == 7
    contracts = daemon.call("contract.list")
    assert len(contracts) == 7 and {c["origin"] for c in contracts} == {"imported"}
    audit = daemon.call("audit.list", limit=5000)
    assert next(a for a in audit if a["event"] == "contracts.imported")["actor"]


def test_billingctl_checks_the_file_before_sending(daemon: RunningDaemon, tmp_path: Path) -> None:
    before = _state(daemon)
    path = tmp_path / "clients.csv"
    path.write_text("name,enterprise,colour\nJane,1,blue\n")
    error = refused(daemon, "client", "import", str(path))
    assert error["data"] == {"reason": "validation", "line": 1, "field": "colour"}
    path.write_text("name,email\nJane,j@example.com\n")
    assert (
        "missing column(s): enterprise" in refused(daemon, "client", "import", str(path))["message"]
    )
    path.write_text("name,enterprise\nJane,1\nJoe\n")
    error = refused(daemon, "client", "import", str(path))
    assert error["data"]["line"] == 3 and "header has 2 columns" in error["message"]
    path.write_text("name,enterprise\n" + "Jane,1\n" * 30 + "Joe\n")  # after a chunk
    error = refused(daemon, "client", "import", str(path))
    assert error["data"]["line"] == 32 and "header has 2 columns" in error["message"]
    path.write_bytes(b"name,enterprise\n\xff\xfe,1\n")
    assert "not UTF-8" in refused(daemon, "client", "import", str(path))["message"]
    assert _state(daemon) == before


def test_a_large_file_is_checked_and_written_in_one_go(
    ctx: ServiceContext, acme: dict[str, int]
) -> None:
    """1,200 clients, then a contract for each (more ids than one SQL IN list takes)."""
    clients = imports.import_clients(ctx, _numbered([_client_row(acme, n) for n in range(1200)]))
    rows = [_contract_row(acme, n, client=str(c)) for n, c in enumerate(clients)]
    rows[-1]["client"] = "999999"
    before = _counts()
    with pytest.raises(ValidationError, match="line 1201, client: no client with id 999999"):
        imports.import_contracts(ctx, _numbered(rows))
    assert _counts() == before
    rows[-1]["client"] = str(acme["client"])
    assert len(imports.import_contracts(ctx, _numbered(rows))) == 1200


# ---------------------------------------------------------------- progress


def test_import_progress_is_published_live_from_start_to_end(
    ctx: ServiceContext, acme: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(progress, "INTERVAL", 0.0)  # every batch, to see each step
    monkeypatch.setattr(imports, "BATCH_ROWS", 100)
    seen: list[tuple[str, dict[str, Any]]] = []
    ctx.live = lambda name, payload: seen.append((name, payload))
    rows = _numbered([_client_row(acme, n) for n in range(300)])
    imports.import_clients(ctx, rows, source="clients.csv")
    assert {name for name, _ in seen} == {"import.progress"}
    done = [payload["done"] for _, payload in seen]
    assert done == [0, 100, 200, 300]
    assert seen[-1][1] == {
        "kind": "client",
        "source": "clients.csv",
        "actor": "tester",
        "done": 300,
        "total": 300,
    }
    assert [name for name, _ in ctx.events] == ["clients.imported"], (
        "progress is live, never queued with the committed events"
    )


def test_import_progress_is_throttled_but_always_shows_start_and_end(
    ctx: ServiceContext, acme: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(progress, "INTERVAL", 3600.0)
    seen: list[dict[str, Any]] = []
    ctx.live = lambda name, payload: seen.append(payload)
    clients = imports.import_clients(ctx, _numbered([_client_row(acme, n) for n in range(50)]))
    rows = [_contract_row(acme, n, client=str(c)) for n, c in enumerate(clients)]
    imports.import_contracts(ctx, _numbered(rows), source="contracts.csv")
    assert [(p["kind"], p["done"], p["total"]) for p in seen] == [
        ("client", 0, 50),
        ("client", 50, 50),
        ("contract", 0, 50),
        ("contract", 50, 50),
    ]
