"""The Factur-X PDF read back: the CII embedded as factur-x.xml, /AF, XMP, output intent."""

from __future__ import annotations

import io

import pypdf
import pytest
from lxml import etree

from billingd_plugins.einvoice.codes import FACTURX_EN16931
from billingd_plugins.einvoice.facturx_pdf import SRGB, with_output_intent
from billingd_plugins.pdf import PdfRenderer

from . import samples
from .conftest import CONTEXT, render, written_anyway

FX_NS = "urn:factur-x:pdfa:CrossIndustryDocument:invoice:1p0#"
PDFAID_NS = "http://www.aiim.org/pdfa/ns/id/"


@pytest.fixture(scope="module", params=["invoice", "credit_note"])
def document(request):
    return samples.invoice() if request.param == "invoice" else samples.credit_note()


@pytest.fixture(scope="module")
def reader(document) -> pypdf.PdfReader:
    return pypdf.PdfReader(io.BytesIO(render("facturx", document)))


def xmp_values(reader: pypdf.PdfReader) -> dict[tuple[str, str], str]:
    """Every XMP property, as (namespace, name) → value, elements and attributes alike."""
    root = etree.fromstring(reader.trailer["/Root"]["/Metadata"].get_object().get_data())
    values = {}
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        name = etree.QName(element)
        if element.text and element.text.strip():
            values[(name.namespace or "", name.localname)] = element.text.strip()
        for key, value in element.attrib.items():
            attribute = etree.QName(key)
            values[(attribute.namespace or "", attribute.localname)] = value
    return values


def test_the_embedded_xml_is_the_cii(reader, document):
    attachments = {a.name: a.content for a in reader.attachment_list}
    assert list(attachments) == ["factur-x.xml"]
    assert attachments["factur-x.xml"] == written_anyway(document, FACTURX_EN16931)


def test_the_catalog_lists_it_as_the_alternative_form(reader):
    files = [spec.get_object() for spec in reader.trailer["/Root"]["/AF"]]
    assert [(f["/F"], f["/AFRelationship"]) for f in files] == [("factur-x.xml", "/Alternative")]


def test_the_xmp_states_pdfa_3_and_the_factur_x_profile(reader):
    values = xmp_values(reader)
    assert values[(PDFAID_NS, "part")] == "3"
    assert values[(FX_NS, "DocumentFileName")] == "factur-x.xml"
    assert values[(FX_NS, "ConformanceLevel")] == "EN 16931"
    assert values[(FX_NS, "DocumentType")] == "INVOICE"


def test_the_pdf_has_an_srgb_output_intent(reader):
    (intent,) = [i.get_object() for i in reader.trailer["/Root"]["/OutputIntents"]]
    assert intent["/S"] == "/GTS_PDFA1"
    assert intent["/OutputConditionIdentifier"] == SRGB
    assert intent["/DestOutputProfile"].get_object()["/N"] == 3


def test_the_printed_pages_are_the_pdf_renderers(reader, document):
    printed = pypdf.PdfReader(io.BytesIO(PdfRenderer().render(document, CONTEXT)))
    assert len(reader.pages) == len(printed.pages)
    assert reader.pages[0].extract_text() == printed.pages[0].extract_text()


def test_an_output_intent_already_there_is_kept():
    once = with_output_intent(PdfRenderer().render(samples.invoice(), CONTEXT))
    assert with_output_intent(once) == once
