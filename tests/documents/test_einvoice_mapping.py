"""How a document's fields land in CII and UBL, and which documents are refused."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import pytest
from lxml import etree

import billingd_plugins.einvoice
from billingd.errors import ValidationError
from billingd_plugins.einvoice.codes import unit_code

from . import samples
from .conftest import CONTEXT, RENDERERS, direct_debit, render

pytest_plugins = ["billingd.testing"]

NS = {
    "rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
    "udt": "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100",
    "qdt": "urn:un:unece:uncefact:data:standard:QualifiedDataType:100",
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
}


def xml(renderer: str, document: dict[str, Any]) -> etree._Element:
    return etree.fromstring(render(renderer, document))


def texts(root: etree._Element, path: str) -> list[str]:
    return [
        node if isinstance(node, str) else node.text for node in root.xpath(path, namespaces=NS)
    ]


# -- registration --------------------------------------------------------------------------


def test_the_plugin_registers_four_renderers(plugin_host, register_plugin):
    register_plugin(billingd_plugins.einvoice)
    kinds = {
        name: (plugin_host.renderer(name).media_type, plugin_host.renderer(name).file_extension)
        for name in ("facturx", "xrechnung", "xrechnung-ubl", "ubl")
    }
    assert kinds == {
        "facturx": ("application/pdf", "pdf"),
        "xrechnung": ("application/xml", "xml"),
        "xrechnung-ubl": ("application/xml", "xml"),
        "ubl": ("application/xml", "xml"),
    }


def test_each_renderer_states_its_specification():
    cii = "rsm:ExchangedDocumentContext/ram:GuidelineSpecifiedDocumentContextParameter/ram:ID"
    xrechnung = "urn:cen.eu:en16931:2017#compliant#urn:xeinkauf.de:kosit:xrechnung_3.0"
    peppol = "urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0"
    process = "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0"
    document = samples.invoice()
    assert texts(xml("xrechnung", document), cii) == [xrechnung]
    for renderer, customization in (("xrechnung-ubl", xrechnung), ("ubl", peppol)):
        root = xml(renderer, document)
        assert texts(root, "cbc:CustomizationID") == [customization]
        assert texts(root, "cbc:ProfileID") == [process]


# -- lines, units, allowances --------------------------------------------------------------


@pytest.mark.parametrize(
    ("unit", "code"),
    [
        ("", "C62"),
        ("min", "MIN"),
        ("s", "SEC"),
        ("h", "HUR"),
        ("GB", "E34"),
        ("MB", "4L"),
        ("month", "MON"),
        ("day", "DAY"),
        ("HUR", "HUR"),
        ("furlongs", None),
    ],
)
def test_units_are_un_ece_rec_20_codes(unit, code):
    assert unit_code(unit) == code


def test_a_line_keeps_quantity_unit_and_price_when_they_make_its_net():
    root = xml("ubl", samples.invoice())
    calls = root.xpath("cac:InvoiceLine[cbc:ID='3']", namespaces=NS)[0]
    assert texts(calls, "cbc:InvoicedQuantity") == ["617"]
    assert texts(calls, "cbc:InvoicedQuantity/@unitCode") == ["MIN"]
    assert texts(calls, "cac:Price/cbc:PriceAmount") == ["0.02"]
    assert texts(calls, "cbc:Note") == []


def test_a_line_whose_price_does_not_make_its_net_is_one_unit_at_its_net():
    document = samples.long_invoice(groups=3)
    line = document["lines"][1]  # 60 min at 0.0167 rounded: 1.00 is not 60 × 0.0167
    assert Decimal(line["quantity"]) * Decimal(line["unit_price"]) != Decimal(line["net"])
    root = xml("xrechnung", document)
    item = root.xpath("//ram:IncludedSupplyChainTradeLineItem", namespaces=NS)[1]
    assert texts(item, ".//ram:BilledQuantity") == ["1"]
    assert texts(item, ".//ram:BilledQuantity/@unitCode") == ["C62"]
    (price,) = texts(item, ".//ram:NetPriceProductTradePrice/ram:ChargeAmount")
    assert Decimal(price) == Decimal(line["net"])
    assert texts(item, ".//ram:LineTotalAmount") == [line["net"]]
    stated = f"{line['quantity']} min × {line['unit_price']}"
    assert texts(item, "ram:AssociatedDocumentLineDocument/ram:IncludedNote/ram:Content") == [
        stated
    ]


def test_an_unknown_unit_is_one_with_the_unit_in_the_note():
    document = samples.invoice(
        lines=[samples.line(1, "Cable", "12.00", quantity="3", unit="furlongs", unit_price="4")]
    )
    line = xml("ubl", document).xpath("cac:InvoiceLine", namespaces=NS)[0]
    assert texts(line, "cbc:InvoicedQuantity/@unitCode") == ["C62"]
    assert texts(line, "cbc:InvoicedQuantity") == ["3"]
    assert texts(line, "cbc:Note") == ["3 furlongs"]


def test_line_periods_are_the_billing_cycles():
    item = xml("xrechnung", samples.invoice()).xpath(
        "//ram:IncludedSupplyChainTradeLineItem", namespaces=NS
    )[0]
    period = ".//ram:BillingSpecifiedPeriod/ram:{}/udt:DateTimeString"
    assert texts(item, period.format("StartDateTime")) == ["20261101"]
    assert texts(item, period.format("EndDateTime")) == ["20261130"]


def test_a_discount_is_a_document_level_allowance_not_a_line():
    root = xml("ubl", samples.multi_rate())
    assert texts(root, "cac:InvoiceLine/cac:Item/cbc:Name") == [
        "Business fibre 500",
        "Technical handbook (print)",
    ]
    (allowance,) = root.xpath("cac:AllowanceCharge", namespaces=NS)
    assert texts(allowance, "cbc:ChargeIndicator") == ["false"]
    assert texts(allowance, "cbc:AllowanceChargeReason") == ["Loyalty discount"]
    assert texts(allowance, "cbc:Amount") == ["5.00"]
    assert texts(allowance, "cac:TaxCategory/cbc:ID | cac:TaxCategory/cbc:Percent") == ["S", "19"]
    totals = "cac:LegalMonetaryTotal/cbc:"
    assert texts(root, totals + "LineExtensionAmount") == ["69.90"]
    assert texts(root, totals + "AllowanceTotalAmount") == ["5.00"]
    assert texts(root, totals + "TaxExclusiveAmount") == ["64.90"]
    subtotals = root.xpath("cac:TaxTotal/cac:TaxSubtotal", namespaces=NS)
    assert [texts(s, "cbc:TaxableAmount")[0] for s in subtotals] == ["44.90", "20.00"]


# -- VAT -----------------------------------------------------------------------------------


def test_reverse_charge_states_its_exemption_code_and_both_vat_ids():
    root = xml("xrechnung", samples.reverse_charge())
    settlement = "//ram:ApplicableHeaderTradeSettlement/ram:ApplicableTradeTax/ram:"
    assert texts(root, settlement + "CategoryCode") == ["AE"]
    assert texts(root, settlement + "ExemptionReasonCode") == ["VATEX-EU-AE"]
    assert texts(root, settlement + "ExemptionReason") == ["Reverse charge"]
    registrations = "//ram:{}/ram:SpecifiedTaxRegistration/ram:ID[@schemeID='VA']"
    assert texts(root, registrations.format("SellerTradeParty")) == ["DE136695976"]
    assert texts(root, registrations.format("BuyerTradeParty")) == ["NL004495445B01"]


def test_an_exemption_states_its_reason_text():
    root = xml("ubl", samples.with_exempt_line())
    (exempt,) = root.xpath("//cac:TaxSubtotal/cac:TaxCategory[cbc:ID='E']", namespaces=NS)
    assert texts(exempt, "cbc:TaxExemptionReason") == [
        "Exempt: postal services, Art. 132(1)(a) Directive 2006/112/EC"
    ]


def test_an_intra_community_supply_is_delivered_to_the_buyers_country():
    root = xml("ubl", samples.intra_community())
    country = "cac:Delivery/cac:DeliveryLocation/cac:Address/cac:Country/cbc:IdentificationCode"
    assert texts(root, country) == ["NL"]
    assert texts(root, "cac:InvoicePeriod/cbc:StartDate") == ["2026-11-01"]
    assert texts(root, "//cbc:TaxExemptionReasonCode") == ["VATEX-EU-IC"]


def test_outside_scope_states_no_vat_id_even_when_the_seller_has_one():
    document = samples.outside_scope()
    document["seller"]["tax_id"] = "DE136695976"
    root = xml("xrechnung-ubl", document)
    assert root.xpath("//cac:PartyTaxScheme", namespaces=NS) == []
    assert texts(root, "//cac:TaxSubtotal//cbc:TaxExemptionReasonCode") == ["VATEX-EU-O"]
    assert texts(root, "cac:InvoiceLine//cac:ClassifiedTaxCategory/cbc:Percent") == []


def test_a_tax_number_that_is_no_vat_id_is_the_sellers_tax_registration():
    document = samples.invoice()
    document["seller"]["tax_id"] = "22/815/08154"
    root = xml("xrechnung", document)
    path = "//ram:SellerTradeParty/ram:SpecifiedTaxRegistration/ram:ID"
    assert texts(root, path) == ["22/815/08154"]
    assert texts(root, path + "/@schemeID") == ["FC"]


# -- parties -------------------------------------------------------------------------------


def test_parties_state_legal_names_addresses_and_contacts():
    document = samples.invoice()
    document["bill_to"]["address"] = "Lindenallee 5\nHaus B\nAufgang 3"
    root = xml("ubl", document)
    buyer = root.xpath("cac:AccountingCustomerParty/cac:Party", namespaces=NS)[0]
    assert texts(buyer, "cac:PartyLegalEntity/cbc:RegistrationName") == ["Mustermann Hosting GmbH"]
    address = "cac:PostalAddress/cbc:"
    assert texts(buyer, address + "StreetName") == ["Lindenallee 5"]
    assert texts(buyer, address + "AdditionalStreetName") == ["Haus B"]
    assert texts(buyer, "cac:PostalAddress/cac:AddressLine/cbc:Line") == ["Aufgang 3"]
    assert texts(buyer, address + "PostalZone | " + address + "CityName") == ["Berlin", "10115"]
    assert texts(buyer, "cac:Contact/cbc:Name") == ["Erika Mustermann"]
    seller = root.xpath("cac:AccountingSupplierParty/cac:Party", namespaces=NS)[0]
    assert texts(seller, "cac:PartyLegalEntity/cbc:CompanyID") == ["HRB 123456"]
    assert texts(seller, "cac:Contact/cbc:Telephone") == ["+49 40 123456"]
    assert texts(root, "cbc:BuyerReference") == ["04011000-12345-34"]
    assert texts(root, "cac:ContractDocumentReference/cbc:ID") == ["K-1001"]


def test_xrechnung_keeps_an_e_mail_endpoint_peppol_uses_the_vat_id():
    document = samples.invoice()
    buyer = "//cac:AccountingCustomerParty/cac:Party/cbc:EndpointID"
    assert texts(xml("xrechnung-ubl", document), buyer + " | " + buyer + "/@schemeID") == [
        "ap@mustermann.example",
        "EM",
    ]
    assert texts(xml("ubl", document), buyer + " | " + buyer + "/@schemeID") == [
        "DE811569869",
        "9930",
    ]


def test_peppol_addresses_a_public_buyer_by_its_leitweg_id():
    root = xml("ubl", samples.outside_scope())  # buyer without VAT id, with a Leitweg-ID
    buyer = "//cac:AccountingCustomerParty/cac:Party/cbc:EndpointID"
    assert texts(root, buyer + " | " + buyer + "/@schemeID") == ["04011000-12345-34", "0204"]


# -- payment, notes, credit notes ---------------------------------------------------------


def test_credit_transfer_states_iban_bic_and_account_name():
    root = xml("ubl", samples.invoice())
    means = root.xpath("cac:PaymentMeans", namespaces=NS)[0]
    assert texts(means, "cbc:PaymentMeansCode") == ["58"]
    assert texts(means, "cac:PayeeFinancialAccount/cbc:ID") == ["DE89370400440532013000"]
    assert texts(means, "cac:PayeeFinancialAccount/cbc:Name") == ["Nordwind Telecom GmbH"]
    assert texts(means, ".//cac:FinancialInstitutionBranch/cbc:ID") == ["COBADEFFXXX"]
    assert texts(root, "cac:PaymentTerms/cbc:Note") == ["Payable within 14 days without deduction."]
    assert texts(root, "cbc:DueDate") == ["2026-12-15"]


def test_direct_debit_states_mandate_creditor_and_debited_account():
    ubl = xml("ubl", direct_debit())
    assert texts(ubl, "cac:PaymentMeans/cbc:PaymentMeansCode") == ["59"]
    assert texts(ubl, "cac:PaymentMeans/cac:PaymentMandate/cbc:ID") == ["MANDATE-0042"]
    debited = "cac:PaymentMeans/cac:PaymentMandate/cac:PayerFinancialAccount/cbc:ID"
    assert texts(ubl, debited) == ["DE02120300000000202051"]
    assert texts(ubl, "cac:PaymentMeans/cac:PayeeFinancialAccount") == []
    creditor = "//cac:AccountingSupplierParty//cac:PartyIdentification/cbc:ID[@schemeID='SEPA']"
    assert texts(ubl, creditor) == ["DE98ZZZ09999999999"]
    cii = xml("xrechnung", direct_debit())
    assert texts(cii, "//ram:CreditorReferenceID") == ["DE98ZZZ09999999999"]
    assert texts(cii, "//ram:DirectDebitMandateID") == ["MANDATE-0042"]
    assert texts(cii, "//ram:PayerPartyDebtorFinancialAccount/ram:IBANID") == [
        "DE02120300000000202051"
    ]


def test_a_paid_invoice_states_the_prepaid_amount_and_nothing_due():
    root = xml("ubl", samples.paid())
    assert texts(root, "cac:LegalMonetaryTotal/cbc:PrepaidAmount") == ["91.92"]
    assert texts(root, "cac:LegalMonetaryTotal/cbc:PayableAmount") == ["0.00"]


def test_notes_are_kept_in_cii_and_joined_in_ubl():
    document = samples.reverse_charge()
    document["notes"].append("Second note.")
    assert texts(xml("xrechnung", document), "//ram:IncludedNote/ram:Content") == [
        samples.REVERSE_CHARGE_NOTE,
        "Second note.",
    ]
    assert texts(xml("ubl", document), "cbc:Note") == [
        f"{samples.REVERSE_CHARGE_NOTE}\nSecond note."
    ]


def test_a_ubl_credit_note_is_a_positive_credit_note_referring_to_its_invoice():
    root = xml("ubl", samples.credit_note())
    assert etree.QName(root).localname == "CreditNote"
    assert texts(root, "cbc:CreditNoteTypeCode") == ["381"]
    reference = "cac:BillingReference/cac:InvoiceDocumentReference/cbc:"
    assert texts(root, reference + "ID") == ["INV-2026-0004"]
    assert texts(root, reference + "IssueDate") == ["2026-12-01"]
    assert texts(root, "cac:CreditNoteLine/cbc:CreditedQuantity") == ["1", "1"]
    assert texts(root, "cac:LegalMonetaryTotal/cbc:PayableAmount") == ["17.25"]
    assert texts(root, "cbc:Note") == ["Service outage 3-5 November"]


def test_a_cii_credit_note_has_type_381_and_the_preceding_invoice():
    root = xml("xrechnung", samples.credit_note())
    assert texts(root, "rsm:ExchangedDocument/ram:TypeCode") == ["381"]
    preceding = "//ram:InvoiceReferencedDocument/"
    assert texts(root, preceding + "ram:IssuerAssignedID") == ["INV-2026-0004"]
    assert texts(root, preceding + "ram:FormattedIssueDateTime/qdt:DateTimeString") == ["20261201"]
    assert texts(root, "//ram:GrandTotalAmount") == ["17.25"]


# -- refusals ------------------------------------------------------------------------------


def _without(document: dict[str, Any], party: str, key: str) -> dict[str, Any]:
    document = copy.deepcopy(document)
    document[party][key] = ""
    return document


def _set_line(document: dict[str, Any], key: str, value: str) -> dict[str, Any]:
    document["lines"][0][key] = value
    return document


REFUSED = {
    "no seller country": (
        lambda: _without(samples.invoice(), "seller", "country"),
        "seller.country",
    ),
    "reverse charge without buyer VAT id": (
        lambda: _without(samples.reverse_charge(), "bill_to", "tax_id"),
        "bill_to.tax_id",
    ),
    "net not a number": (lambda: _set_line(samples.invoice(), "net", "12,50"), "lines[0].net"),
    "unknown category": (
        lambda: _set_line(samples.invoice(), "tax_category", "X"),
        "lines[0].tax_category",
    ),
    "line without description": (
        lambda: _set_line(samples.invoice(), "description", " "),
        "lines[0].description",
    ),
    "discount with a positive net": (
        lambda: samples.invoice(
            lines=[
                samples.line(1, "Fibre", "10.00"),
                samples.line(2, "Oops", "1.00", kind="discount"),
            ]
        ),
        "lines[1].net",
    ),
    "breakdown tax off by a cent": (
        lambda: {
            **samples.invoice(),
            "tax_breakdown": [{**samples.invoice()["tax_breakdown"][0], "tax": "14.67"}],
            "tax": "14.67",
            "total": "91.91",
            "balance": "91.91",
        },
        "tax_breakdown[0].tax",
    ),
    "outside scope mixed with standard": (
        lambda: samples.invoice(
            lines=[
                samples.line(1, "Fibre", "10.00"),
                samples.line(2, "Fee", "5.00", category="O", rate="0", reason="n/a"),
            ]
        ),
        "lines",
    ),
    "exempt without reason": (
        lambda: samples.invoice(lines=[samples.line(1, "Stamps", "8.50", category="E", rate="0")]),
        "tax_breakdown[0].exemption_reason",
    ),
    "direct debit without mandate": (
        lambda: {
            **direct_debit(),
            "payment": {**direct_debit()["payment"], "mandate_reference": ""},
        },
        "payment.mandate_reference",
    ),
    "credit transfer without IBAN": (
        lambda: {
            **samples.invoice(),
            "payment": {**samples.invoice()["payment"], "iban": ""},
            "seller": {**samples.SELLER_DE, "iban": ""},
        },
        "payment.iban",
    ),
    "due amount without due date or terms": (
        lambda: {
            **samples.invoice(),
            "due_date": None,
            "payment": {**samples.invoice()["payment"], "terms": ""},
        },
        "due_date",
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
@pytest.mark.parametrize("renderer", sorted(RENDERERS))
def test_documents_that_cannot_be_e_invoices_are_refused(case, renderer):
    make, field = REFUSED[case]
    with pytest.raises(ValidationError) as refused:
        RENDERERS[renderer].render(make(), CONTEXT)
    assert refused.value.data["field"] == field
    assert refused.value.to_error()["data"]["reason"] == "validation"


@pytest.mark.parametrize(
    ("renderer", "party", "key", "field"),
    [
        ("xrechnung", "bill_to", "buyer_reference", "bill_to.buyer_reference"),
        ("ubl", "bill_to", "buyer_reference", "bill_to.buyer_reference"),
        ("xrechnung-ubl", "seller", "phone", "seller.phone"),
        ("xrechnung", "seller", "postcode", "seller.postcode"),
    ],
)
def test_what_xrechnung_and_peppol_require_is_refused_when_missing(renderer, party, key, field):
    document = _without(samples.invoice(), party, key)
    with pytest.raises(ValidationError) as refused:
        RENDERERS[renderer].render(document, CONTEXT)
    assert refused.value.data["field"] == field
    RENDERERS["facturx"].render(document, CONTEXT)  # Factur-X EN 16931 does without


def test_peppol_refuses_a_seller_it_cannot_address():
    with pytest.raises(ValidationError) as refused:
        RENDERERS["ubl"].render(samples.outside_scope(), CONTEXT)
    assert refused.value.data["field"] == "seller.endpoint_id"
    assert "PEPPOL-EN16931-R020" in refused.value.message
