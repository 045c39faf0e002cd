"""Client and contract files of any size, staged chunk by chunk (issue 13, SPEC §2).

Service level on both backends (a file is written all at once at the commit, or not
at all), then the real billingctl streaming files past the old one-call limits.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from billingd.db.models import AuditEvent, BillGroup, Client, Contract, ImportRow, UsageImport
from billingd.errors import NotFound, ValidationError
from billingd.services import imports, parties, staging
from billingd.services.context import ServiceContext
from tests.conftest import RunningDaemon, billingctl
from tests.conftest import billingctl_ok as ok


@pytest.fixture
def acme(ctx: ServiceContext) -> int:
    return parties.add_enterprise(ctx, name="Acme", currency="EUR", tax_rate=Decimal(19)).id


def _clients(enterprise: int, first: int, count: int) -> list[tuple[int, dict[str, str]]]:
    return [
        (line, {"name": f"Client {line}", "enterprise": str(enterprise), "tax-rate": "7.5"})
        for line in range(first, first + count)
    ]


def _counts() -> tuple[int, ...]:
    return tuple(m.select().count() for m in (Client, BillGroup, Contract, AuditEvent))


def _nothing_staged() -> bool:
    return UsageImport.select().count() == 0 and ImportRow.select().count() == 0


def test_a_staged_client_file_is_written_at_the_commit_only(ctx: ServiceContext, acme: int) -> None:
    before = _counts()
    token = imports.begin(ctx, "client", source="clients.csv")
    assert imports.stage(ctx, token, "client", _clients(acme, 2, 3000)) == 3000
    assert imports.stage(ctx, token, "client", _clients(acme, 3002, 2000)) == 5000
    assert _counts() == before, "staged rows are invisible until the commit"
    written = imports.commit(ctx, token, "client")
    assert len(written.ids) == 5000 and written.ids == sorted(written.ids)
    clients = list(Client.select().where(Client.id.in_(written.ids)).order_by(Client.id))
    assert [c.name for c in clients[:2]] == ["Client 2", "Client 3"]
    assert {c.tax_rate for c in clients} == {Decimal("7.5")}  # typed back from the stage
    assert {c.currency for c in clients} == {"EUR"}
    groups = BillGroup.select().where(BillGroup.client.in_(written.ids))
    assert groups.count() == 5000 and {g.is_default for g in groups} == {True}
    created = AuditEvent.select().where(AuditEvent.event == "client.created")
    assert created.count() == 5000  # one per new client
    summary = AuditEvent.select().where(AuditEvent.event == "clients.imported").get()
    assert summary.details == {"rows": 5000, "source": "clients.csv"}
    assert _nothing_staged()
    assert ctx.events[-1][0] == "clients.imported"


def test_a_bad_reference_refuses_the_whole_staged_file_at_the_commit(
    ctx: ServiceContext, acme: int
) -> None:
    clients = imports.import_clients(ctx, _clients(acme, 2, 2))
    rows = [
        (line, {"client": str(clients[line % 2]), "description": "Line", "price": "5",
                "cycle": "month", "start": "2026-01-01"})
        for line in range(2, 4002)
    ]  # fmt: skip
    rows[3500] = (3502, {**rows[3500][1], "client": "999999"})
    before = _counts()
    token = imports.begin(ctx, "contract")
    imports.stage(ctx, token, "contract", rows[:2000])
    imports.stage(ctx, token, "contract", rows[2000:])
    with pytest.raises(ValidationError) as caught:
        imports.commit(ctx, token, "contract")
    assert caught.value.data["line"] == 3502 and caught.value.data["field"] == "client"
    assert "no client with id 999999" in caught.value.message
    assert _counts() == before, "a refused file writes nothing, also after 2 batches"
    assert _nothing_staged(), "a refused import is discarded"
    with pytest.raises(NotFound):
        imports.commit(ctx, token, "contract")


def test_a_bad_row_refuses_its_chunk_and_discards_the_import(
    ctx: ServiceContext, acme: int
) -> None:
    token = imports.begin(ctx, "client")
    imports.stage(ctx, token, "client", _clients(acme, 2, 10))
    bad = _clients(acme, 12, 5)
    bad[2] = (14, {"name": "X", "enterprise": "one"})
    bad[4] = (16, {"name": "Y", "enterprise": str(acme), "email": "nobody"})
    with pytest.raises(ValidationError) as caught:
        imports.stage(ctx, token, "client", bad)
    assert [(e["line"], e["field"]) for e in caught.value.data["errors"]] == [
        (14, "enterprise"),
        (16, "email"),
    ]
    assert _nothing_staged()


def test_only_its_user_continues_an_import_and_a_kind_is_its_own(
    ctx: ServiceContext, acme: int
) -> None:
    token = imports.begin(ctx, "client")
    with pytest.raises(NotFound):
        imports.stage(ctx.acting_as("mallory"), token, "client", _clients(acme, 2, 1))
    with pytest.raises(NotFound):
        imports.stage(ctx, token, "contract", [])
    with pytest.raises(NotFound):
        imports.commit(ctx, token, "usage")
    assert staging.abort(ctx.acting_as("mallory"), token) == 0
    assert staging.abort(ctx, token) == 0 and _nothing_staged()


def test_an_abandoned_stage_is_discarded_never_applied(ctx: ServiceContext, acme: int) -> None:
    token = imports.begin(ctx, "client")
    imports.stage(ctx, token, "client", _clients(acme, 2, 5))
    later = dt.datetime.now(dt.UTC).replace(tzinfo=None) + staging.STAGE_TTL + dt.timedelta(1)
    assert staging.discard_stale(now=later) == 1
    with pytest.raises(NotFound, match="import the file again"):
        imports.commit(ctx, token, "client")
    assert Client.select().count() == 0


def test_a_chunk_over_the_limit_is_refused(
    ctx: ServiceContext, acme: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(imports, "MAX_CHUNK", 3)
    token = imports.begin(ctx, "client")
    with pytest.raises(ValidationError, match="at most 3 rows per chunk") as caught:
        imports.stage(ctx, token, "client", _clients(acme, 2, 4))
    assert caught.value.data["field"] == "rows"


# -- through billingctl -----------------------------------------------------------------


@pytest.mark.slow  # over 2 s: 25,000 clients and contracts through billingctl
def test_billingctl_streams_a_file_past_the_one_call_limits(
    daemon: RunningDaemon, tmp_path: Path
) -> None:
    """25,000 clients (more than one call's 20,000 rows and 1 MiB), then a contract
    for each: both imported whole."""
    enterprise = ok(daemon, "enterprise", "add", "--name", "Acme", "--currency", "EUR")["id"]
    clients_csv = tmp_path / "clients.csv"
    rows = "".join(
        f"Klient Ünïcode {n:05d},{enterprise},k{n}@example.com,Straße {n} in einer Stadt\n"
        for n in range(25_000)
    )
    clients_csv.write_text("name,enterprise,email,address\n" + rows, encoding="utf-8")
    assert clients_csv.stat().st_size > 1024 * 1024
    result = ok(daemon, "client", "import", str(clients_csv))
    assert result["imported"] == 25_000 and len(result["ids"]) == 25_000
    assert daemon.call("status")["clients"] == 25_000
    last = daemon.call("client.show", id=result["ids"][-1])
    assert last["name"] == "Klient Ünïcode 24999" and last["email"] == "k24999@example.com"

    contracts_csv = tmp_path / "contracts.csv"
    contracts_csv.write_text(
        "client,description,price,cycle,start\n"
        + "".join(f"{cid},Line,9.90,month,2026-01-01\n" for cid in result["ids"])
    )
    assert ok(daemon, "contract", "import", str(contracts_csv))["imported"] == 25_000


def test_billingctl_refuses_a_bad_line_after_chunks_were_sent(
    daemon: RunningDaemon, tmp_path: Path
) -> None:
    enterprise = ok(daemon, "enterprise", "add", "--name", "Acme", "--currency", "EUR")["id"]
    path = tmp_path / "clients.csv"
    path.write_text(
        "name,enterprise\n" + f"Jane,{enterprise}\n" * 12_000 + "Joe\n" + f"Ann,{enterprise}\n"
    )
    result = billingctl(daemon.socket, "--json", "client", "import", str(path))
    assert result.returncode == 1, result.stdout
    assert "line 12002" in result.stdout and "header has 2 columns" in result.stdout
    assert daemon.call("status")["clients"] == 0, "nothing of a refused file is written"
