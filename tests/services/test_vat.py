"""R-VAT-1: EN 16931 VAT categories on every line, VAT ids checked, legal wording."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D
from typing import Any

import pytest

from billingd.db.models import Client, Contract, InvoiceLine
from billingd.domain.party_details import check_details
from billingd.domain.vat import (
    LEGAL_NOTES,
    VatParties,
    check_category,
    notes_for,
    treat,
)
from billingd.domain.vat_ids import is_valid_vat_id, normalise_vat_id
from billingd.errors import ValidationError
from billingd.services import contracts, credit_notes, invoicing, parties
from billingd.services.context import ServiceContext
from billingd.services.document_data import credit_note_document, invoice_document
from tests.conftest import RunningDaemon, billingctl, billingctl_ok

DE_TO_NL = VatParties(seller_country="DE", buyer_country="NL", buyer_vat_id_valid=True)
JAN = {"period_start": dt.date(2026, 1, 1), "period_end": dt.date(2026, 1, 31)}

# ---------------------------------------------------------------- the rule (domain)


def test_r_vat_1_cross_border_b2b_with_a_valid_vat_id_is_reverse_charge() -> None:
    t = treat(DE_TO_NL, D("19"))
    assert (t.category, t.rate, t.reason) == ("AE", D(0), "Reverse charge")


@pytest.mark.parametrize(
    "parties_, expected",
    [
        (VatParties("DE", "DE", True), ("S", D("19"))),  # domestic B2B
        (VatParties("DE", "NL", False), ("S", D("19"))),  # no valid VAT id: a consumer
        (VatParties("DE", "US", True), ("S", D("19"))),  # outside the EU: not this rule
        (VatParties("DE", "NL", True, reverse_charge="off"), ("S", D("19"))),
        (VatParties("", "NL", True), ("S", D("19"))),  # seller country unknown
    ],
)
def test_r_vat_1_reverse_charge_only_where_the_rule_applies(
    parties_: VatParties, expected: tuple[str, D]
) -> None:
    t = treat(parties_, D("19"))
    assert (t.category, t.rate) == expected


def test_r_vat_1_line_category_wins_over_client_and_rule() -> None:
    client_exempt = VatParties("DE", "NL", True, client_category="E", client_reason="§4 UStG")
    assert treat(client_exempt, D("19")).category == "E"
    assert treat(client_exempt, D("19")).reason == "§4 UStG"
    line = treat(client_exempt, D("19"), "S", "")
    assert (line.category, line.rate) == ("S", D("19"))


def test_r_vat_1_rate_zero_is_zero_rated_and_untaxed_categories_tax_nothing() -> None:
    assert treat(VatParties(), D(0)).category == "Z"
    assert treat(VatParties(), D(0), "S").category == "Z"  # S needs a rate above 0
    for category in ("Z", "E", "AE", "K", "G", "O"):
        assert treat(VatParties(), D("19"), category, "why").rate == 0


def test_r_vat_1_categories_and_reasons_checked() -> None:
    assert check_category(" ae ", "") == "AE"
    assert check_category("", "") == ""
    with pytest.raises(ValueError, match="one of S, Z, E, AE, K, G, O"):
        check_category("X", "")
    with pytest.raises(ValueError, match="exemption_reason"):
        check_category("E", " ")


def test_r_vat_1_legal_wording_once_per_category() -> None:
    notes = notes_for(["S", "AE", "AE", "E", "E"], ["", "Reverse charge", "", "Art. 132", "x"])
    assert notes == [LEGAL_NOTES["AE"], "Exempt from VAT: Art. 132", "Exempt from VAT: x"]


# ---------------------------------------------------------------- VAT ids


@pytest.mark.parametrize(
    "value, country, compact",
    [
        ("DE136695976", "", "DE136695976"),
        ("de 136 695 976", "", "DE136695976"),
        ("136695976", "DE", "DE136695976"),
        ("NL004495445B01", "", "NL004495445B01"),
        ("094259216", "GR", "EL094259216"),
        ("12-3456789", "US", "12-3456789"),  # nothing to check it against: kept
    ],
)
def test_r_vat_1_vat_ids_normalised(value: str, country: str, compact: str) -> None:
    assert normalise_vat_id(value, country) == compact


@pytest.mark.parametrize("value", ["DE136695977", "DE123", "NL004495445B00", "ATU1"])
def test_r_vat_1_invalid_vat_ids_refused_naming_the_field(value: str) -> None:
    with pytest.raises(ValidationError) as caught:
        check_details({"tax_id": value})
    assert caught.value.data["field"] == "tax_id" and "not a valid" in str(caught.value)
    assert not is_valid_vat_id(value)


@pytest.mark.parametrize(
    "values, field",
    [
        ({"country": "Germany"}, "country"),
        ({"country": "XX"}, "country"),
        ({"endpoint_scheme": "GLN"}, "endpoint_scheme"),
        ({"einvoice_format": "pdf/a"}, "einvoice_format"),
        ({"language": "klingon"}, "language"),
        ({"reverse_charge": "sometimes"}, "reverse_charge"),
        ({"tax_category": "E"}, "exemption_reason"),
        ({"tax_category": "Q"}, "tax_category"),
    ],
)
def test_r_vat_1_party_details_checked(values: dict[str, str], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        check_details(values)
    assert caught.value.data["field"] == field


# ---------------------------------------------------------------- issuing


def _monthly(
    ctx: ServiceContext, client_id: int, description: str, price: str, rate: str, **extra: str
) -> Contract:
    """A monthly contract from January 2026."""
    return contracts.add_contract(
        ctx, client_id=client_id, description=description, unit_price=D(price), cycle="month",
        start_date=dt.date(2026, 1, 1), tax_rate=D(rate), **extra,
    )  # fmt: skip


def _cross_border(ctx: ServiceContext) -> tuple[Client, Any]:
    seller = parties.add_enterprise(
        ctx, name="Nordwind GmbH", currency="EUR", country="DE", tax_id="DE136695976",
        tax_rate=D("19"), postcode="20457", city="Hamburg", iban="DE89370400440532013000",
    )  # fmt: skip
    client = parties.add_client(
        ctx, name="De Vries Cloud B.V.", enterprise_id=seller.id, country="NL",
        tax_id="NL004495445B01", postcode="1015 CW", city="Amsterdam",
    )  # fmt: skip
    return client, seller


def test_r_vat_1_reverse_charge_invoice_end_to_end_in_services(ctx: ServiceContext) -> None:
    client, _ = _cross_border(ctx)
    _monthly(ctx, client.id, "Managed hosting", "400.00", "19")
    _monthly(
        ctx,
        client.id,
        "Postage (resold)",
        "8.50",
        "19",
        tax_category="E",
        exemption_reason="Art. 132(1)(a) Directive 2006/112/EC",
    )
    invoice = invoicing.invoice_for_period(
        ctx, client_id=client.id, issue_date=dt.date(2026, 2, 1), **JAN
    ).invoice
    assert (invoice.subtotal, invoice.tax, invoice.total) == (D("408.50"), D(0), D("408.50"))
    lines = {line.description.split(" (")[0]: line for line in invoice.lines}
    hosting, postage = lines["Managed hosting"], lines["Postage"]
    assert (hosting.tax_category, hosting.tax_rate, hosting.tax) == ("AE", D(0), D(0))
    assert hosting.exemption_reason == "Reverse charge"
    assert (postage.tax_category, postage.exemption_reason) == (
        "E",
        "Art. 132(1)(a) Directive 2006/112/EC",
    )
    doc = invoice_document(invoice)
    assert [(g["category"], g["rate"], g["exemption_code"]) for g in doc["tax_breakdown"]] == [
        ("AE", "0", "VATEX-EU-AE"),
        ("E", "0", ""),
    ]
    assert doc["notes"][0] == LEGAL_NOTES["AE"]
    assert doc["seller"]["country"] == "DE" and doc["bill_to"]["country"] == "NL"
    assert doc["bill_to"]["tax_id"] == "NL004495445B01"
    assert doc["payment"]["means"] == "credit_transfer"


def test_r_vat_1_domestic_client_keeps_the_standard_rate(ctx: ServiceContext) -> None:
    client, seller = _cross_border(ctx)
    domestic = parties.add_client(
        ctx, name="Hamburg Hosting", enterprise_id=seller.id, country="DE",
        tax_id="DE811569869",
    )  # fmt: skip
    for owner in (domestic, client):
        _monthly(ctx, owner.id, "Fibre", "100.00", "19")
    home = invoicing.invoice_for_period(
        ctx, client_id=domestic.id, issue_date=dt.date(2026, 2, 1), **JAN
    ).invoice
    assert (home.tax, [line.tax_category for line in home.lines]) == (D("19.00"), ["S"])


def test_r_vat_1_credit_note_splits_per_category(ctx: ServiceContext) -> None:
    client, _ = _cross_border(ctx)
    parties.update_client(ctx, client.id, country="DE", tax_id="DE811569869")
    _monthly(ctx, client.id, "Fibre", "100.00", "19")
    _monthly(ctx, client.id, "Emergency line", "19.00", "0")
    invoice = invoicing.invoice_for_period(
        ctx, client_id=client.id, issue_date=dt.date(2026, 2, 1), **JAN
    ).invoice
    assert invoice.total == D("138.00")
    note = credit_notes.issue_credit_note(ctx, invoice=invoice.id, amount=D("13.80"))
    assert [(p["category"], p["rate"]) for p in note.tax_breakdown] == [("Z", "0"), ("S", "19")]
    doc = credit_note_document(note)
    assert doc["credit_note_for"] == invoice.number and doc["kind"] == "credit_note"
    assert [line["tax_category"] for line in doc["lines"]] == ["Z", "S"]
    assert sum(D(line["net"]) for line in doc["lines"]) == D(doc["subtotal"])


def test_r_vat_1_contract_category_checked_and_updated(ctx: ServiceContext) -> None:
    client, _ = _cross_border(ctx)
    contract = _monthly(
        ctx, client.id, "Stamps", "1.00", "0", tax_category="E", exemption_reason="Art. 132"
    )
    # the reason given before stays: changing only the category to E again is fine
    contracts.update_contract(ctx, contract.id, tax_category="E")
    with pytest.raises(ValidationError) as caught:
        contracts.update_contract(ctx, contract.id, exemption_reason=" ")
    assert caught.value.data["field"] == "exemption_reason"
    assert Contract.get_by_id(contract.id).exemption_reason == "Art. 132"


# ---------------------------------------------------------------- through billingctl


def test_r_vat_1_reverse_charge_through_billingctl(daemon: RunningDaemon) -> None:
    ok = billingctl_ok
    seller = ok(
        daemon, "enterprise", "add", "--name", "Nordwind GmbH", "--currency", "EUR",
        "--country", "DE", "--tax-id", "DE136695976", "--tax-rate", "19",
        "--postcode", "20457", "--city", "Hamburg",
    )  # fmt: skip
    assert (seller["country"], seller["reverse_charge"]) == ("DE", "auto")
    bad = billingctl(
        daemon.socket, "client", "add", "--name", "X", "--enterprise", str(seller["id"]),
        "--tax-id", "NL004495445B00",
    )  # fmt: skip
    assert bad.returncode == 1 and '"field": "tax_id"' in bad.stdout
    client = ok(
        daemon, "client", "add", "--name", "De Vries Cloud", "--enterprise", str(seller["id"]),
        "--country", "nl", "--tax-id", "nl 004495445b01", "--einvoice-format", "ubl",
    )  # fmt: skip
    assert (client["country"], client["tax_id"], client["einvoice_format"]) == (
        "NL",
        "NL004495445B01",
        "ubl",
    )
    ok(
        daemon, "contract", "add", "--client", str(client["id"]), "--description", "Hosting",
        "--price", "400.00", "--cycle", "month", "--start", "2026-01-01", "--tax-rate", "19",
    )  # fmt: skip
    invoice = ok(
        daemon, "invoice", "period", "--client", str(client["id"]), "--from", "2026-01-01",
        "--to", "2026-01-31", "--date", "2026-02-01",
    )  # fmt: skip
    assert (invoice["tax"], invoice["total"]) == ("0.00", "400.00")
    assert invoice["tax_breakdown"] == [
        {"rate": "0", "net": "400.00", "tax": "0.00", "category": "AE"}
    ]
    assert invoice["lines"][0]["tax_category"] == "AE"
    changed = ok(daemon, "client", "update", str(client["id"]), "--tax-category", "O")
    assert changed["tax_category"] == "O"


def test_r_vat_1_lines_stored_before_categories_read_by_rate(ctx: ServiceContext) -> None:
    client, _ = _cross_border(ctx)
    parties.update_client(ctx, client.id, country="DE", tax_id="DE811569869")
    _monthly(ctx, client.id, "Fibre", "10.00", "0")
    invoice = invoicing.invoice_for_period(
        ctx, client_id=client.id, issue_date=dt.date(2026, 2, 1), **JAN
    ).invoice
    InvoiceLine.update(tax_category="").where(InvoiceLine.invoice == invoice).execute()
    doc = invoice_document(invoice)
    assert [g["category"] for g in doc["tax_breakdown"]] == ["Z"]
