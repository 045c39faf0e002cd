"""Credit notes split over the credited invoice's VAT rates (R-CN-1, R-CN-2) and numbered
in their own sequence with their own reset policy (R-NUM-5); SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import io
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pypdf
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billingd.control import api  # noqa: F401  (registers the methods)
from billingd.control.params import validate_params
from billingd.control.registry import METHODS
from billingd.db.models import AuditEvent, CreditNote, Document, Invoice, LedgerEntry
from billingd.domain.credit_split import gross_by_rate, rate_text, split_credit
from billingd.domain.totals import compute_totals, line_net
from billingd.errors import RuleViolation
from billingd.money import quantize, quantum
from billingd.services import contracts, credit_notes, document_queue, invoicing, ledger, parties
from billingd.services.context import ServiceContext
from billingd.views import OBJECTS, credit_note_view
from tests.conftest import RunningDaemon, billingctl
from tests.conftest import billingctl_ok as ok
from tests.lanes import examples
from tests.services.test_numbering import noon

D = Decimal
JAN = dict(period_start=dt.date(2026, 1, 1), period_end=dt.date(2026, 1, 31))


@pytest.fixture
def acme(ctx: ServiceContext):  # type: ignore[no-untyped-def]
    return parties.add_enterprise(
        ctx, name="Acme", currency="EUR", tax_rate=D("19"), invoice_pattern="%num%/%year%"
    )


def mixed_invoice(ctx: ServiceContext, enterprise, prices: dict[str, str]) -> Invoice:  # type: ignore[no-untyped-def]
    """January's invoice of a new client with one monthly contract per tax rate."""
    client = parties.add_client(ctx, name=f"C{len(prices)}", enterprise_id=enterprise.id)
    for rate, price in prices.items():
        contracts.add_contract(
            ctx,
            client_id=client.id,
            description=f"Service at {rate} %",
            unit_price=D(price),
            tax_rate=D(rate),
            cycle="month",
            start_date=dt.date(2026, 1, 1),
        )
    return invoicing.invoice_for_period(
        ctx, client_id=client.id, issue_date=dt.date(2026, 2, 1), **JAN
    ).invoice


def call(ctx: ServiceContext, method_name: str, /, **params: Any) -> Any:
    entry = METHODS[method_name]
    return entry.handler(ctx, **validate_params(entry.params, params))


# ---------------------------------------------------------------- R-CN-2: the VAT split


def test_r_cn_2_credit_note_splits_over_the_invoice_vat_rates(ctx: ServiceContext, acme) -> None:
    invoice = mixed_invoice(ctx, acme, {"7": "100.00", "19": "200.00"})
    assert invoice.total == D("345.00")  # 107.00 + 238.00
    note = credit_notes.issue_credit_note(ctx, invoice=invoice.id, amount=D("34.50"))
    stored = CreditNote.get_by_id(note.id)
    assert (stored.amount, stored.net, stored.tax) == (D("34.50"), D("30.00"), D("4.50"))
    assert stored.tax_breakdown == [
        {"rate": "7", "net": "10.00", "tax": "0.70", "category": "S"},
        {"rate": "19", "net": "20.00", "tax": "3.80", "category": "S"},
    ]
    event = AuditEvent.get(AuditEvent.event == "credit_note.issued")
    assert (event.details["net"], event.details["tax"]) == ("30.00", "4.50")
    assert LedgerEntry.get(LedgerEntry.credit_note == note).amount == D("-34.50")
    assert ledger.invariant_problems(invoice.client) == []


def test_r_cn_2_parts_add_up_to_the_cent_with_an_uneven_amount(ctx: ServiceContext, acme) -> None:
    invoice = mixed_invoice(ctx, acme, {"0": "10.00", "7": "10.00", "19": "10.00"})
    note = credit_notes.issue_credit_note(ctx, invoice=invoice.id, amount=D("0.01"))
    # one cent cannot be split: it goes to the rate with the largest share (19 %)
    assert note.tax_breakdown == [{"rate": "19", "net": "0.01", "tax": "0.00", "category": "S"}]
    rest = credit_notes.issue_credit_note(ctx, invoice=invoice.id, amount=D("32.59"))
    parts = rest.tax_breakdown
    assert [p["rate"] for p in parts] == ["0", "7", "19"]
    assert sum(D(p["net"]) + D(p["tax"]) for p in parts) == D("32.59")
    assert rest.net + rest.tax == D("32.59")
    assert Invoice.get_by_id(invoice.id).status == "paid"


def test_r_cn_2_credit_note_json_gains_net_tax_and_breakdown(ctx: ServiceContext, acme) -> None:
    invoice = mixed_invoice(ctx, acme, {"7": "100.00", "19": "200.00"})
    reply = call(ctx, "credit_note.issue", invoice=invoice.number, amount="345.00")
    assert tuple(reply) == OBJECTS["CreditNote"]
    assert (reply["amount"], reply["net"], reply["tax"]) == ("345.00", "300.00", "45.00")
    assert reply["tax_breakdown"] == [
        {"rate": "7", "net": "100.00", "tax": "7.00", "category": "S"},
        {"rate": "19", "net": "200.00", "tax": "38.00", "category": "S"},
    ]
    assert all(tuple(part) == OBJECTS["TaxBreakdown"] for part in reply["tax_breakdown"])
    (listed,) = call(ctx, "credit_note.list", invoice=invoice.number)
    assert listed == reply == credit_note_view(CreditNote.get_by_id(reply["id"]))
    assert [tuple(part) for part in listed["tax_breakdown"]] == [OBJECTS["TaxBreakdown"]] * 2


def test_r_cn_2_pdf_shows_each_rate(ctx: ServiceContext, acme) -> None:
    invoice = mixed_invoice(ctx, acme, {"7": "100.00", "19": "200.00"})
    note = credit_notes.issue_credit_note(ctx, invoice=invoice.id, amount=D("34.50"))
    assert credit_note_view(note)["document"] == "pending"
    document_queue.render_pending(ctx)
    assert credit_note_view(note)["document"] == "ready"
    document = Document.get(Document.credit_note == note)
    reader = pypdf.PdfReader(io.BytesIO(Path(document.path).read_bytes()))
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert f"Credit note {note.number}" in text
    for expected in ("7 %", "19 %", "10.00", "0.70", "20.00", "3.80", "30.00", "4.50", "34.50"):
        assert expected in text, expected


def test_r_cn_1_refused_credit_note_writes_nothing(ctx: ServiceContext, acme) -> None:
    invoice = mixed_invoice(ctx, acme, {"7": "100.00", "19": "200.00"})
    with pytest.raises(RuleViolation, match="R-CN-1"):
        credit_notes.issue_credit_note(ctx, invoice=invoice.id, amount=D("345.01"))
    assert CreditNote.select().count() == 0


# ---------------------------------------------------------------- R-CN-2: the split as a property

CURRENCIES = ("EUR", "JPY", "BHD")
RATES = (D("0"), D("5.5"), D("7"), D("7.7"), D("10"), D("19"), D("20"), D("21"))


@st.composite
def invoices(draw: st.DrawFn) -> tuple[str, list[tuple[Decimal, Decimal, Decimal]], Decimal]:
    """An invoice's lines as ``(rate, net, tax)`` (taxed like the engine does, several
    rates incl. 0 %), its currency, and a credit amount up to its total."""
    currency = draw(st.sampled_from(CURRENCIES))
    rates = draw(st.lists(st.sampled_from(RATES), min_size=1, max_size=4, unique=True))
    step = quantum(currency)
    lines = draw(
        st.lists(
            st.tuples(
                st.sampled_from(rates),
                st.integers(0, 10**6).map(lambda n: n * step),
                st.sampled_from((D("1"), D("2"), D("0.5"), D("3.333"))),
            ),
            min_size=1,
            max_size=8,
        )
    )
    nets = [line_net(quantity, price, currency) for _, price, quantity in lines]
    if not any(nets):  # an invoice with a balance to credit
        nets[0] = step
    line_rates = [rate for rate, _, _ in lines]
    totals = compute_totals(nets, line_rates, currency)
    categories = ["S" if rate > 0 else "Z" for rate in line_rates]
    taxed = list(zip(line_rates, nets, totals.line_taxes, categories, strict=True))
    minor = int(totals.total / step)
    amount = draw(st.integers(1, minor)) * step
    return currency, taxed, amount


@given(invoices())
@settings(max_examples=examples(300), deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_r_cn_2_split_adds_up_exactly_and_follows_the_rates(
    case: tuple[str, list[tuple[Decimal, Decimal, Decimal, str]], Decimal],
) -> None:
    currency, lines, amount = case
    gross = gross_by_rate(lines)
    split = split_credit(amount, currency, gross)
    step = quantum(currency)
    assert sum(p.amount for p in split.parts) == amount
    assert split.net + split.tax == amount
    total = sum(gross.values(), D(0))
    for part in split.parts:
        assert part.amount > 0 and part.net >= 0 and part.tax >= 0
        assert part.net + part.tax == part.amount
        assert quantize(part.net, currency) == part.net
        assert quantize(part.tax, currency) == part.tax
        # tax at the part's rate, within rounding of the minor unit
        assert abs(part.tax - part.net * part.rate / 100) <= step
        # the part is the rate's share of the amount, within one minor unit
        assert abs(part.amount - amount * gross[(part.rate, part.category)] / total) < step
    assert [p.rate for p in split.parts] == sorted(p.rate for p in split.parts)
    breakdown = split.breakdown()
    assert all(tuple(row) == OBJECTS["TaxBreakdown"] for row in breakdown)
    assert all("E" not in row["rate"] for row in breakdown)  # 20, not 2E+1


def test_r_cn_2_rate_text_is_plain() -> None:
    assert [rate_text(D(r)) for r in ("20", "20.00", "7.70", "0.00", "100")] == [
        "20",
        "20",
        "7.7",
        "0",
        "100",
    ]


def test_r_cn_2_rates_without_positive_gross_take_no_part() -> None:
    gross = {(D("19"), "S"): D("119.00"), (D("7"), "S"): D("-10.70"), (D("0"), "Z"): D("0")}
    split = split_credit(D("50.00"), "EUR", gross)
    assert [p.rate for p in split.parts] == [D("19")]
    with pytest.raises(ValueError):
        split_credit(D("1.00"), "EUR", {(D("19"), "S"): D("0")})


# ---------------------------------------------------------------- R-NUM-5: own reset policy


def test_r_num_5_yearly_invoice_reset_leaves_credit_notes_alone(ctx: ServiceContext) -> None:
    """The defect: credit notes drew from the invoices' yearly reset and repeated CN-1."""
    e = parties.add_enterprise(
        ctx, name="Y", currency="EUR", invoice_pattern="%num%/%year%", invoice_reset="yearly"
    )
    client = parties.add_client(ctx, name="C", enterprise_id=e.id)
    numbers = []
    for day in (dt.date(2026, 12, 30), dt.date(2027, 1, 2)):
        ctx.clock = noon(day)
        (invoice,) = invoicing.invoice_for_amount(
            ctx, client_id=client.id, issue_date=day, amount=D("10.00")
        )
        numbers.append(
            (invoice.number, credit_notes.issue_credit_note(ctx, invoice=invoice.id, amount=D("1")))
        )
    assert [(n, cn.number) for n, cn in numbers] == [("1/2026", "CN-1"), ("1/2027", "CN-2")]


def test_r_num_5_credit_notes_reset_yearly_on_their_own(ctx: ServiceContext) -> None:
    e = parties.add_enterprise(
        ctx,
        name="Y",
        currency="EUR",
        credit_note_pattern="CN-%year%-%num%",
        credit_note_reset="yearly",
    )
    assert (e.invoice_reset, e.credit_note_reset) == ("never", "yearly")
    client = parties.add_client(ctx, name="C", enterprise_id=e.id)
    (invoice,) = invoicing.invoice_for_amount(
        ctx, client_id=client.id, issue_date=dt.date(2026, 12, 1), amount=D("10.00")
    )
    notes = []
    for day in (dt.date(2026, 12, 30), dt.date(2026, 12, 31), dt.date(2027, 1, 1)):
        ctx.clock = noon(day)
        notes.append(credit_notes.issue_credit_note(ctx, invoice=invoice.id, amount=D("1")).number)
    assert notes == ["CN-2026-1", "CN-2026-2", "CN-2027-1"]


def test_r_num_5_reset_checked_against_the_credit_note_pattern(ctx: ServiceContext) -> None:
    with pytest.raises(RuleViolation, match="R-NUM-5") as refused:
        parties.add_enterprise(ctx, name="Y", currency="EUR", credit_note_reset="yearly")
    assert refused.value.data["field"] == "credit_note_reset"
    e = parties.add_enterprise(
        ctx,
        name="Y",
        currency="EUR",
        credit_note_pattern="CN-%year%%mon%-%num%",
        credit_note_reset="monthly",
    )
    with pytest.raises(RuleViolation, match="R-NUM-5"):  # a pattern change is checked too
        parties.update_enterprise(ctx, e.id, credit_note_pattern="CN-%year%-%num%")
    with pytest.raises(RuleViolation, match="R-NUM-5"):
        parties.update_enterprise(ctx, e.id, credit_note_reset="weekly")
    changed = parties.update_enterprise(
        ctx, e.id, credit_note_pattern="CN-%year%-%num%", credit_note_reset="yearly"
    )
    assert (changed.credit_note_pattern, changed.credit_note_reset) == (
        "CN-%year%-%num%",
        "yearly",
    )
    # the invoice settings are checked on their own rule
    with pytest.raises(RuleViolation, match="R-NUM-4"):
        parties.update_enterprise(ctx, e.id, invoice_reset="yearly")


def test_r_num_5_credit_note_reset_through_billingctl(daemon: RunningDaemon) -> None:
    company = ok(
        daemon,
        "enterprise",
        "add",
        "--name",
        "Acme",
        "--currency",
        "EUR",
        "--credit-note-pattern",
        "CN-%year%-%num%",
        "--credit-note-reset",
        "yearly",
    )
    assert company["credit_note_reset"] == "yearly"
    refused = billingctl(
        daemon.socket,
        "enterprise",
        "update",
        str(company["id"]),
        "--credit-note-pattern",
        "CN-%num%",
    )
    assert refused.returncode == 1
    assert json.loads(refused.stdout)["error"]["data"]["rule"] == "R-NUM-5"
    changed = ok(daemon, "enterprise", "update", str(company["id"]), "--credit-note-reset", "never")
    assert changed["credit_note_reset"] == "never"
    assert ok(daemon, "enterprise", "show", str(company["id"]))["credit_note_reset"] == "never"


def test_r_cn_2_credit_note_json_through_billingctl(daemon: RunningDaemon) -> None:
    company = ok(daemon, "enterprise", "add", "--name", "Acme", "--currency", "EUR")
    client = ok(daemon, "client", "add", "--name", "Jane", "--enterprise", str(company["id"]))
    for rate, price in (("7", "100.00"), ("19", "200.00")):
        ok(
            daemon,
            "contract",
            "add",
            "--client",
            str(client["id"]),
            "--description",
            f"at {rate} %",
            "--price",
            price,
            "--tax-rate",
            rate,
            "--cycle",
            "month",
            "--start",
            "2026-01-01",
        )
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
    note = ok(daemon, "credit-note", "issue", invoice["number"], "--amount", "34.50")
    assert (note["net"], note["tax"]) == ("30.00", "4.50")
    assert [p["rate"] for p in note["tax_breakdown"]] == ["7", "19"]
    (listed,) = ok(daemon, "credit-note", "list", "--invoice", invoice["number"])
    # its document is rendered after the commit, at any moment between the two calls
    assert {**listed, "document": None} == {**note, "document": None}
