"""The built-in PDF renderer and the template language (SPEC R-DEL-1, R-DEL-2)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pypdf
import pytest

from billingd.errors import NotFound, ValidationError
from billingd.rendering import RenderContext, default_template_dirs, packaged_template_dir
from billingd.templates import (
    LABELS,
    LINE_FIELDS,
    NESTED_FIELDS,
    PLACEHOLDERS,
    TAX_BREAKDOWN_FIELDS,
    TemplateError,
    find_template,
    load_template,
    parse_template,
)
from billingd_plugins.pdf import PdfRenderer
from billingd_plugins.pdf_fonts import FONT_DIR
from tests.documents import samples

pytest_plugins = ["billingd.testing"]


@pytest.fixture
def renderer(plugin_host) -> PdfRenderer:
    return plugin_host.renderer("pdf")


@pytest.fixture
def operator_dir(tmp_path) -> Path:
    """An operator's ``data_dir/templates``, searched before the packaged templates."""
    directory = tmp_path / "templates"
    directory.mkdir()
    return directory


def render(renderer, document, *dirs: Path, **context: Any) -> bytes:
    return renderer.render(document, RenderContext(default_template_dirs(*dirs), **context))


def pdf_text_of(data: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(data))
    return "\n".join(page.extract_text() for page in reader.pages)


# -- rendering ------------------------------------------------------------------------------


def test_r_del_1_renders_the_invoice(renderer, sample_document):
    data = render(renderer, sample_document)
    assert data.startswith(b"%PDF-")
    text = pdf_text_of(data)
    assert "100001/2026" in text
    assert "Example Ltd" in text
    assert "119.00 EUR" in text
    assert "Hosted PBX (2026-10-01 – 2026-10-31)" in text
    reader = pypdf.PdfReader(io.BytesIO(data))
    assert reader.metadata.title == "100001/2026"
    box = reader.pages[0].mediabox
    assert (round(float(box.width) / 72 * 25.4), round(float(box.height) / 72 * 25.4)) == (210, 297)


def test_r_del_1_same_document_same_pdf(renderer, sample_document):
    assert render(renderer, sample_document) == render(renderer, dict(sample_document))


def _international(document: dict[str, Any]) -> dict[str, Any]:
    document["bill_to"]["company"] = "Łódź Ωmega Москва 株式会社"
    document["seller"]["name"] = "Ærø Café\u200b"
    document["lines"][0]["description"] = "Calls → Zürich ≥ 5 min"
    return document


def _font_names(data: bytes) -> set[str]:
    reader = pypdf.PdfReader(io.BytesIO(data))
    return {
        str(font["/BaseFont"]).lstrip("/").split("+")[-1]
        for page in reader.pages
        for font in page["/Resources"]["/Font"].values()
    }


def test_r_del_1_names_in_any_script_are_shown_in_embedded_fonts(renderer, sample_document):
    data = render(renderer, _international(sample_document))
    text = pdf_text_of(data)
    assert "Łódź Ωmega Москва 株式会社" in text
    assert "Ærø Café" in text and "\u200b" not in text
    assert "Calls → Zürich ≥ 5 min" in text
    assert "?" not in text
    assert _font_names(data) >= {"NotoSans", "NotoSansBold", "DroidSansFallback"}
    assert data == render(renderer, dict(sample_document))  # still byte for byte


def test_r_del_1_latin_documents_embed_noto_sans_only(renderer, sample_document):
    sample_document["bill_to"]["company"] = "Müller & Søn – “Café” €"
    data = render(renderer, sample_document)
    assert "Müller & Søn – “Café” €" in pdf_text_of(data)
    assert _font_names(data) == {"NotoSans", "NotoSansBold"}


def test_r_del_1_unicode_page_counter_on_long_invoices(renderer, sample_document):
    _international(sample_document)["lines"] = sample_document["lines"] * 80
    reader = pypdf.PdfReader(io.BytesIO(render(renderer, sample_document)))
    pages = len(reader.pages)
    assert pages > 1
    assert f"Page {pages}/{pages}" in reader.pages[-1].extract_text()
    assert "Łódź" in reader.pages[0].extract_text()


def test_r_del_1_configured_unicode_font_is_used(renderer, sample_document, tmp_path):
    own = tmp_path / "Corporate.ttf"
    own.write_bytes((FONT_DIR / "NotoSansHebrew-Regular.ttf").read_bytes())
    data = render(renderer, _international(sample_document), settings={"unicode_font": str(own)})
    assert "Łódź Ωmega Москва" in pdf_text_of(data)  # Latin from a fallback family
    assert "NotoSansHebrew" in _font_names(data)  # the one file, regular and bold


def test_r_del_1_a_missing_font_file_falls_back_to_noto(renderer, sample_document, caplog):
    settings = {"unicode_font": "/nonexistent/Font.ttf"}
    text = pdf_text_of(render(renderer, _international(sample_document), settings=settings))
    assert "Łódź Ωmega Москва" in text
    assert "no font file /nonexistent/Font.ttf;" in caplog.text


def test_r_del_1_empty_and_null_fields_are_rendered(renderer, sample_document):
    nulls = dict.fromkeys(sample_document)
    for document in ({}, nulls, {**nulls, "lines": [None, {}], "brand": {"accent_color": "x"}}):
        assert "Invoice" in pdf_text_of(render(renderer, document))


def test_r_del_1_long_invoices_break_pages(renderer, sample_document):
    sample_document["lines"] = sample_document["lines"] * 80
    reader = pypdf.PdfReader(io.BytesIO(render(renderer, sample_document)))
    assert len(reader.pages) > 1
    assert f"Page {len(reader.pages)}/{len(reader.pages)}" in reader.pages[-1].extract_text()


def test_r_del_1_credit_note_uses_its_template(renderer, sample_document):
    sample_document.update(
        kind="credit_note", number="CN-7", credit_note_for="100001/2026", reason="Outage"
    )
    text = pdf_text_of(render(renderer, sample_document))
    assert "Credit note CN-7" in text
    assert "Credits invoice: 100001/2026" in text
    assert "Reason: Outage" in text


def test_r_del_1_brand_template_from_operator_dir(renderer, sample_document, operator_dir):
    (operator_dir / "acme.tpl").write_text("heading ACME {number}\ntotals\n", encoding="utf-8")
    sample_document["brand"]["invoice_template"] = "acme.tpl"
    text = pdf_text_of(render(renderer, sample_document, operator_dir))
    assert "ACME 100001/2026" in text
    assert "Thank you." not in text  # not the default template


def test_r_del_1_operator_dir_overrides_packaged_template(renderer, sample_document, operator_dir):
    (operator_dir / "invoice.tpl").write_text("text Ours {total}\n", encoding="utf-8")
    assert (
        pdf_text_of(render(renderer, sample_document, operator_dir))
        .strip()
        .startswith("Ours 119.00")
    )


def test_r_del_2_template_features(renderer, sample_document, operator_dir):
    (operator_dir / "invoice.tpl").write_text(
        "\n".join(
            [
                "# a comment",
                "font-size 9",
                "text Literal {{braces}} for {number}",
                "text? Shown: {bill_to.contract_number}",
                "text? Hidden: {reseller_id}",
                "label description Leistung",
                "label total Gesamt ({currency})",
                "lines",
                "rule",
                "space 5",
                "totals",
                "footer Footer of {seller.name}",
            ]
        ),
        encoding="utf-8",
    )
    text = pdf_text_of(render(renderer, sample_document, operator_dir))
    assert "Literal {braces} for 100001/2026" in text
    assert "Shown: C-1" in text
    assert "Hidden" not in text
    assert "Leistung" in text
    assert "Gesamt (EUR) 119.00 EUR" in text
    assert "Footer of Acme Telecom GmbH" in text


def test_r_del_2_preview_shows_placeholders_unreplaced(renderer, sample_document):
    text = pdf_text_of(render(renderer, sample_document, preview=True))
    for placeholder in ("{number}", "{issue_date}", "{bill_to.company}", "{total} {currency}"):
        assert placeholder in text
    assert "VAT ID: {bill_to.tax_id}" in text  # optional lines are shown too
    assert "100001/2026" not in text
    assert "Example Ltd" not in text
    assert "{lines.description}" in text


def test_r_del_2_unknown_placeholder_names_file_and_line(renderer, sample_document, operator_dir):
    (operator_dir / "invoice.tpl").write_text(
        "# totals\nheading Invoice {number}\ntext Total: {totl}\n", encoding="utf-8"
    )
    with pytest.raises(TemplateError, match=r"invoice\.tpl:3: unknown placeholder \{totl\}") as err:
        render(renderer, sample_document, operator_dir)
    assert "did you mean {total}?" in str(err.value)
    assert err.value.line == 3
    assert err.value.to_error()["data"]["reason"] == "validation"


def test_r_del_2_unknown_directive_names_file_and_line(renderer, sample_document, operator_dir):
    (operator_dir / "invoice.tpl").write_text("\nheadng Invoice\n", encoding="utf-8")
    with pytest.raises(TemplateError, match=r"invoice\.tpl:2: unknown directive 'headng'"):
        render(renderer, sample_document, operator_dir)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("text {number", "unclosed '{'"),
        ("text number}", "unmatched '}'"),
        ("text {Number}", "malformed placeholder {Number}"),
        ("text {lines.description}", "unknown placeholder {lines.description}"),
        ("address client", "address needs seller or bill_to"),
        ("lines all", "lines takes no argument"),
        ("space lots", "space needs a number from 0 to 250"),
        ("font-size 99", "font-size needs a number from 6 to 36"),
        ("label colour Farbe", "unknown label 'colour'"),
        ("totals? ", "'?' only applies to text lines"),
        ("text? {bill_to.nam}", "did you mean {bill_to.name}?"),
    ],
)
def test_r_del_2_syntax_errors(line, message):
    with pytest.raises(TemplateError, match=r"^x\.tpl:2: ") as err:
        parse_template(f"text fine\n{line}\n", "x.tpl")
    assert message in str(err.value)


def test_r_del_2_undecodable_template_is_a_clear_error(operator_dir):
    path = operator_dir / "bad.tpl"
    path.write_bytes(b"text ok\ntext \xff\n")
    with pytest.raises(TemplateError, match=r"bad\.tpl:2: template is not valid UTF-8"):
        load_template(path)


def test_r_del_2_shipped_templates_parse():
    shipped = sorted(packaged_template_dir().glob("*.tpl"))
    assert {p.name for p in shipped} >= {"invoice.tpl", "credit_note.tpl"}
    for path in shipped:
        assert load_template(path).directives


def _leaves(document: dict[str, Any]) -> set[str]:
    leaves = set()
    for key, value in document.items():
        if isinstance(value, dict):
            leaves |= {f"{key}.{n}" for n, v in value.items() if not isinstance(v, dict)}
        elif not isinstance(value, list):
            leaves.add(key)
    return leaves


def test_r_del_2_placeholders_cover_the_document_shape(sample_document):
    """Every field of a document (docs/documents.md) has a placeholder, and every
    placeholder is a field of some document (a reminder's fee and interest included)."""
    invoice = samples.invoice()
    reminder = {"reminder_level", "fee", "interest"}
    assert _leaves(invoice) <= PLACEHOLDERS
    assert _leaves(invoice) | _leaves(sample_document) | reminder >= PLACEHOLDERS
    assert set(NESTED_FIELDS) == {k for k, v in invoice.items() if isinstance(v, dict)}
    assert set(invoice["lines"][0]) == set(LINE_FIELDS)
    assert set(invoice["tax_breakdown"][0]) == set(TAX_BREAKDOWN_FIELDS)
    assert "page" in LABELS


def test_find_template_refuses_paths_and_reports_missing(operator_dir):
    for name in ("../invoice.tpl", "/etc/passwd", ".hidden.tpl", "", "a\\b.tpl"):
        with pytest.raises(ValidationError, match="plain file name"):
            find_template(name, [operator_dir])
    with pytest.raises(NotFound, match=r"template 'nope\.tpl' not found"):
        find_template("nope.tpl", default_template_dirs(operator_dir))
    assert find_template("invoice.tpl", default_template_dirs(operator_dir)).parent == (
        packaged_template_dir()
    )


def test_render_context_template_name():
    context = RenderContext([])
    assert context.template_name({}) == "invoice.tpl"
    assert context.template_name({"brand": {"invoice_template": "acme.tpl"}}) == "acme.tpl"
    assert context.template_name({"kind": "credit_note"}) == "credit_note.tpl"
    assert RenderContext([], template="x.tpl").template_name({"kind": "credit_note"}) == "x.tpl"
