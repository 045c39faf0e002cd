"""The PDF renderer on the documents of docs/documents.md, read back with pypdf."""

from __future__ import annotations

import io
import logging
from typing import Any

import pypdf
import pytest

from billingd.rendering import RenderContext, default_template_dirs
from billingd.templates import TemplateError, parse_template
from billingd_plugins import pdf_fonts
from billingd_plugins.pdf import PdfRenderer
from billingd_plugins.pdf_qr import epc_payload
from billingd_plugins.pdf_wording import VAT_WORDING
from tests.documents import samples

MM = 72 / 25.4


def render(document: dict[str, Any], **context: Any) -> tuple[bytes, RenderContext]:
    ctx = RenderContext(default_template_dirs(), **context)
    return PdfRenderer().render(document, ctx), ctx


def reader(data: bytes) -> pypdf.PdfReader:
    return pypdf.PdfReader(io.BytesIO(data))


def text_of(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in reader(data).pages)


def fonts_of(data: bytes) -> list[Any]:
    return [
        font.get_object()
        for page in reader(data).pages
        for font in page["/Resources"]["/Font"].values()
    ]


def images_on(page: Any) -> list[Any]:
    xobjects = page["/Resources"].get("/XObject") or {}
    return [x for x in xobjects.values() if x.get_object()["/Subtype"] == "/Image"]


# -- content ---------------------------------------------------------------------------------


def test_one_page_invoice_shows_every_field_line_and_total():
    doc = samples.invoice()
    data, ctx = render(doc)
    text = text_of(data)
    assert len(reader(data).pages) == 1
    assert "Invoice INV-2026-0001" in text
    for value in ("2026-12-01", "2026-12-15", "2026-11-01 – 2026-11-30"):
        assert value in text
    for party in ("seller", "bill_to"):
        for key in ("address", "postcode", "city"):
            assert doc[party][key] in text
    assert "Mustermann Hosting GmbH" in text and "Erika Mustermann" in text
    for line in doc["lines"]:
        assert line["description"] in text
        assert line["net"] in text
    assert "617 min" in text and "88 records" in text
    assert "Standard rate 19 % 77.24 14.68" in text
    assert "Subtotal 77.24 EUR" in text and "Tax 14.68 EUR" in text
    assert "Total 91.92 EUR" in text
    assert ctx.warnings == []


@pytest.mark.parametrize("name", sorted(samples.ALL_CATEGORIES))
def test_vat_breakdown_shows_each_category_with_its_wording(name):
    doc = samples.ALL_CATEGORIES[name]()
    text = " ".join(text_of(render(doc)[0]).split())
    for row in doc["tax_breakdown"]:
        assert VAT_WORDING[row["category"]] in text
        assert f"{row['rate']} % {row['net']} {row['tax']}" in text
    for note in doc["notes"]:
        assert " ".join(note.split()) in text
    if name == "reverse_charge":
        assert "Reverse charge – VAT to be accounted for by the recipient" in text
    if name == "exempt":
        assert "Exempt: postal services, Art. 132(1)(a)" in text


def test_credit_note_shows_the_credited_invoice_and_reason():
    text = text_of(render(samples.credit_note())[0])
    assert "Credit note CN-0001" in text
    assert "Credits invoice: INV-2026-0004" in text
    assert "Invoice date: 2026-12-01" in text
    assert "Reason: Service outage 3-5 November" in text
    assert "Please transfer" not in text


def test_paid_invoice_says_so_instead_of_asking_for_a_transfer():
    data, _ = render(samples.paid())
    text = text_of(data)
    assert "has been paid in full" in text
    assert "Please transfer" not in text
    assert images_on(reader(data).pages[0]) == []  # no QR code


def test_partly_paid_invoice_asks_for_the_balance():
    text = text_of(render(samples.invoice(_paid="50.00"))[0])
    assert "Paid 50.00 EUR" in text and "Amount due 41.92 EUR" in text
    assert "Please transfer 41.92 EUR" in text


def test_reminder_adds_fee_and_interest_to_the_amount_due():
    doc = samples.invoice(kind="reminder", reminder_level=2, fee="5.00", interest="1.23")
    text = text_of(render(doc)[0])
    assert "Payment reminder – Invoice INV-2026-0001" in text
    assert "Reminder fee 5.00 EUR" in text and "Interest 1.23 EUR" in text
    assert "Amount due 98.15 EUR" in text
    assert "Please transfer 98.15 EUR" in text


def test_direct_debit_states_mandate_and_creditor_id():
    doc = samples.invoice()
    doc["payment"].update(
        means="direct_debit", mandate_reference="MND-1001", creditor_id="DE98ZZZ09999999999"
    )
    data, _ = render(doc)
    text = text_of(data)
    assert "collected by SEPA direct debit" in text
    assert "Mandate reference: MND-1001" in text and "DE98ZZZ09999999999" in text
    assert "Please transfer" not in text
    assert images_on(reader(data).pages[0]) == []


def test_statistics_pdf_lists_records_and_group_totals():
    records = [
        {
            "occurred_at": f"2026-11-0{i + 1}T10:00:00",
            "destination": f"+4930123{i}",
            "destination_group": "Germany fixed" if i % 2 else "Austria",
            "quantity": "3",
            "unit": "min",
            "amount": "0.06",
        }
        for i in range(4)
    ]
    groups = [
        {"destination_group": "Austria", "records": 2, "quantity": "6", "amount": "0.12"},
        {"destination_group": "Germany fixed", "records": 2, "quantity": "6", "amount": "0.12"},
    ]
    doc = samples.invoice(kind="statistics", records=records, groups=groups)
    text = text_of(render(doc)[0])
    assert "Usage statistics INV-2026-0001" in text
    assert "Mustermann Hosting GmbH" in text and "2026-11-01 – 2026-11-30" in text
    for record in records:
        assert record["occurred_at"].replace("T", " ") in text and record["destination"] in text
    assert "Austria 2 6 0.12" in text and "Germany fixed 2 6 0.12" in text


@pytest.mark.slow
def test_long_invoice_every_line_on_fifteen_pages_with_a_header():
    doc = samples.long_invoice()
    pdf = reader(render(doc)[0])
    assert len(pdf.pages) >= 15
    text = "\n".join(page.extract_text() for page in pdf.pages)
    for line in doc["lines"]:
        assert f"{line['description']}" in text
        assert f"{line['unit_price']} {line['net']}" in text
    assert f"Total {doc['total']} EUR" in text
    for page in pdf.pages[1:]:
        assert page.extract_text().startswith("INV-2026-0500 · Mustermann Hosting GmbH")
    assert f"Page {len(pdf.pages)}/{len(pdf.pages)}" in pdf.pages[-1].extract_text()


# -- scripts ---------------------------------------------------------------------------------


@pytest.mark.parametrize("script", ["latin", "greek", "cyrillic", "chinese", "japanese", "korean"])
def test_names_extract_as_themselves(script):
    data, ctx = render(samples.in_script(script))
    text = text_of(data)
    assert samples.SCRIPT_NAMES[script] in text
    assert "?" not in text and "\ufffd" not in text
    assert ctx.warnings == []


@pytest.mark.parametrize("script", ["arabic", "hebrew", "thai"])
def test_right_to_left_and_complex_scripts_keep_their_characters(script):
    """pypdf gives shaped right-to-left text in visual order (words reversed) and Thai
    as the shaped glyphs' characters: each word is there, nothing replaced."""
    data, ctx = render(samples.in_script(script))
    # a glyph Thai shaping splits off (SARA AM's ring) has no character of its own
    text = "".join(c for c in text_of(data) if c >= " " or c == "\n")
    name = samples.SCRIPT_NAMES[script]
    # the cells after a name in a fallback font are drawn in the main font again
    assert " 1 49.90 49.90 19 %" in text
    assert "Static IPv4 block /29 3 5.00 15.00 19 %" in text
    for word in name.split():
        assert word in text or word[::-1] in text
    assert "?" not in text and "\ufffd" not in text
    assert ctx.warnings == []


def test_a_character_no_font_has_is_a_warning_not_a_silent_question_mark():
    doc = samples.invoice()
    doc["bill_to"]["company"] = "Smiley \U0001f600 GmbH"
    data, ctx = render(doc)
    assert ctx.warnings == [
        "PDF: no font has a glyph for '\U0001f600' (U+1F600), shown as '\ufffd'"
    ]
    assert "Smiley \ufffd GmbH" in text_of(data)


@pytest.mark.parametrize(
    "document",
    [
        samples.invoice,
        samples.credit_note,
        lambda: samples.in_script("chinese"),
        lambda: samples.in_script("arabic"),
        lambda: samples.in_script("thai"),
    ],
)
def test_every_font_is_embedded_no_core_fonts(document):
    data, _ = render(document())
    fonts = fonts_of(data)
    assert fonts
    for font in fonts:
        assert font["/Subtype"] == "/Type0"
        descriptor = font["/DescendantFonts"][0].get_object()["/FontDescriptor"].get_object()
        assert "/FontFile2" in descriptor or "/FontFile3" in descriptor
        assert "+" in str(font["/BaseFont"])  # a subset


def test_preview_shows_placeholders_in_every_layout():
    for template in ("invoice.tpl", "invoice_din5008.tpl", "reminder.tpl", "statistics.tpl"):
        text = text_of(render({"kind": "invoice"}, preview=True, template=template)[0])
        assert "{number}" in text, template
        assert "{bill_to.company}" in text or "{bill_to.name}" in text, template


# -- DIN 5008 --------------------------------------------------------------------------------


def _positions(page: Any) -> dict[str, tuple[float, float]]:
    """Each text run's position in mm from the page's left and top edges."""
    height = float(page.mediabox.height)
    found: dict[str, tuple[float, float]] = {}

    def visit(text: str, cm: Any, tm: Any, font: Any, size: Any) -> None:
        if text.strip():
            x, y = tm[4] * cm[0] + cm[4], tm[5] * cm[3] + cm[5]
            found.setdefault(text.strip(), (x / MM, (height - y) / MM))

    page.extract_text(visitor_text=visit)
    return found


def test_din5008_address_sits_in_the_window_with_the_return_address():
    doc = samples.reverse_charge()
    doc["brand"]["layout"] = "din5008"
    data, _ = render(doc)
    page = reader(data).pages[0]
    positions = _positions(page)
    window = lambda x, y: 20 <= x <= 105 and 45 <= y <= 90  # noqa: E731
    for line in ("De Vries Cloud B.V.", "Jan de Vries", "Keizersgracht 100", "1015 CW Amsterdam"):
        assert window(*positions[line]), (line, positions[line])
    returned = next(t for t in positions if t.startswith("Nordwind Telecom GmbH, Hafenstraße"))
    x, y = positions[returned]
    assert window(x, y) and y < positions["De Vries Cloud B.V."][1]
    invoice_date = positions["2026-12-01"]
    assert invoice_date[0] >= 125  # the information block, right of the window
    title = positions["Invoice INV-2026-0002"]
    assert title[1] > 90  # the text starts below the window


def test_din5008_is_the_brand_layout_default_and_an_own_template_wins():
    doc = samples.invoice()
    doc["brand"]["layout"] = "din5008"
    assert RenderContext([]).template_name(doc) == "invoice_din5008.tpl"
    doc["brand"]["invoice_template"] = "acme.tpl"
    assert RenderContext([]).template_name(doc) == "acme.tpl"
    assert RenderContext([]).template_name({"kind": "reminder"}) == "reminder.tpl"
    assert RenderContext([]).template_name({"kind": "statistics"}) == "statistics.tpl"


# -- payment QR -------------------------------------------------------------------------------


def test_epc_payload_is_exactly_the_girocode_format():
    payload = epc_payload(
        name="Nordwind Telecom GmbH",
        iban="DE89 3704 0044 0532 0130 00",
        bic="COBADEFFXXX",
        amount="91.92",
        text="INV-2026-0001",
    )
    assert payload == (
        "BCD\n002\n1\nSCT\nCOBADEFFXXX\nNordwind Telecom GmbH\nDE89370400440532013000\n"
        "EUR91.92\n\n\nINV-2026-0001"
    )
    assert epc_payload(name="X", iban="", bic="", amount="1", text="") is None
    assert epc_payload(name="X", iban="DE89", bic="", amount="0", text="") is None


def test_eur_transfer_invoice_has_the_qr_code_image_other_currencies_not():
    data, _ = render(samples.invoice())
    assert len(images_on(reader(data).pages[0])) == 1
    data, _ = render(samples.invoice(currency="CHF"))
    assert images_on(reader(data).pages[0]) == []


# -- per process -----------------------------------------------------------------------------


def test_fonts_are_parsed_once_per_process_and_fonttools_stays_quiet():
    render(samples.in_script("greek"))
    parsed = pdf_fonts._parsed.cache_info().misses
    render(samples.in_script("cyrillic"))
    render(samples.invoice())
    assert pdf_fonts._parsed.cache_info().misses == parsed
    assert logging.getLogger("fontTools").level == logging.WARNING
    assert logging.getLogger("fontTools.subset").getEffectiveLevel() >= logging.WARNING


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("info Date {issue_date}", "info needs LABEL | TEXT"),
        ("logo middle", "logo needs left or right"),
        ("payment now", "payment takes no argument"),
        ("info Date | {isue_date}", "did you mean {issue_date}?"),
    ],
)
def test_new_directives_give_clear_errors(line, message):
    with pytest.raises(TemplateError, match=r"^x\.tpl:2: ") as err:
        parse_template(f"title\n{line}\n", "x.tpl")
    assert message in str(err.value)
