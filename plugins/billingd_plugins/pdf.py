"""The built-in PDF renderer (SPEC R-DEL-1): a document template laid out with fpdf2.

Pages are A4. The template comes from the render context, else the brand
(``brand.invoice_template``), else ``invoice.tpl`` / ``credit_note.tpl``; see
:mod:`billingd.templates` for the language. Text is set in Helvetica, or in a Unicode
TrueType family when the document has characters Helvetica cannot show (see
:mod:`billingd_plugins.pdf_fonts`). The same issued document always gives the same
PDF, byte for byte (its creation date is the issue date).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fpdf import FPDF, FontFace
from fpdf.enums import XPos, YPos

from billingd.hookspecs import hookimpl
from billingd.rendering import RenderContext
from billingd.templates import Length, Template, field_text, find_template, load_template
from billingd_plugins.pdf_fonts import ENCODING, Typeface, strings_in, typeface_for

MARGIN = 20.0  # mm
FOOTER_LINE = 3.6  # mm per footer line
PAGES_ALIAS = "\x1f\x1f"  # total page count; pdf_text() strips control characters
DEFAULT_ACCENT = (0, 0, 0)
RULE_GREY = 170


def _colour(value: Any) -> tuple[int, int, int]:
    """``#1f6feb`` or ``#16e`` as an RGB triple; anything else is black."""
    text = str(value or "").strip().removeprefix("#")
    if len(text) == 3:
        text = "".join(c * 2 for c in text)
    try:
        if len(text) == 6:
            return (int(text[0:2], 16), int(text[2:4], 16), int(text[4:6], 16))
    except ValueError:
        pass
    return DEFAULT_ACCENT


def _creation_date(document: Mapping[str, Any]) -> datetime | None:
    try:
        return datetime.fromisoformat(str(document.get("issue_date"))).replace(tzinfo=UTC)
    except ValueError:
        return None


class _Pdf(FPDF):
    """An A4 page with the template's footer lines and a page counter on each page."""

    def __init__(self, footer: list[str], page_label: str, typeface: Typeface) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.core_fonts_encoding = ENCODING
        self.family = typeface.family
        typeface.install(self)
        self.footer_lines = footer
        self.page_label = page_label
        self.alias_nb_pages(PAGES_ALIAS)
        self.set_margins(MARGIN, 18, MARGIN)
        self.set_auto_page_break(True, margin=16 + FOOTER_LINE * len(footer))

    def footer(self) -> None:
        self.set_y(-(12 + FOOTER_LINE * len(self.footer_lines)))
        self.set_font(self.family, "", 7.5)
        self.set_text_color(110)
        for line in self.footer_lines:
            self.cell(0, FOOTER_LINE, line, align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.cell(0, FOOTER_LINE, f"{self.page_label} {self.page_no()}/{PAGES_ALIAS}", align="R")


class _Layout:
    """Lays out one template for one document, directive by directive."""

    def __init__(
        self,
        template: Template,
        document: Mapping[str, Any],
        preview: bool,
        settings: Mapping[str, Any],
    ) -> None:
        self.template = template
        self.document = document
        self.preview = preview
        labels = template.labels(document, preview=preview)
        footer = template.footer(document, preview=preview)
        # the directives laid out, with their text filled once (the typeface depends on it)
        self.body = [
            (d, d.text.fill(document, preview=preview) if d.text else "")
            for d in template.body
            if not d.skipped(document, preview=preview)
        ]
        filled = (text for _, text in self.body)
        texts = [*labels.values(), *footer, *filled, *strings_in(document)]
        self.typeface = typeface_for(texts, settings)
        text = self.typeface.text
        self.labels = {key: text(label) for key, label in labels.items()}
        footer = [text(line).replace("\n", ", ") for line in footer]
        self.pdf = _Pdf(footer, self.labels["page"], self.typeface)
        self.accent = _colour((document.get("brand") or {}).get("accent_color"))
        self.size = 10.0

    def render(self) -> bytes:
        pdf = self.pdf
        number = field_text(self.document, "number")
        title = f"Preview of {Path(self.template.source).name}" if self.preview else number
        pdf.set_title(title or "Draft")
        pdf.set_author(field_text(self.document, "seller.name"))
        pdf.set_creator("billingd")
        created = _creation_date(self.document)
        if created is not None:  # else fpdf2's default, now
            pdf.set_creation_date(created)
        pdf.add_page()
        for directive, text in self.body:
            match directive.keyword:
                case "heading":
                    self.paragraph(text, style="B", size=self.size * 1.6, colour=self.accent)
                case "bold":
                    self.paragraph(text, style="B")
                case "text":
                    self.paragraph(text)
                case "right":
                    self.paragraph(text, align="R")
                case "address":
                    self.address(directive.argument or "")
                case "lines":
                    self.lines()
                case "tax-breakdown":
                    self.tax_breakdown()
                case "totals":
                    self.totals()
                case "rule":
                    self.rule()
                case "space":
                    pdf.ln(directive.number or 0)
                case "font-size":
                    self.size = directive.number or self.size
        return bytes(pdf.output())

    # -- directives ------------------------------------------------------------------------

    @property
    def line_height(self) -> Length:
        return self.size * 0.5

    def paragraph(
        self,
        text: str,
        *,
        style: str = "",
        align: str = "L",
        size: Length | None = None,
        colour: tuple[int, int, int] = (0, 0, 0),
    ) -> None:
        size = size or self.size
        self.pdf.set_font(self.typeface.family, style, size)
        self.pdf.set_text_color(*colour)
        shown = self.typeface.text(text)
        self.pdf.multi_cell(0, size * 0.5, shown, align=align, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.pdf.set_text_color(0)

    def address(self, party: str) -> None:
        fields = ("company", "name", "address") if party == "bill_to" else ("name", "address")
        if self.preview:
            lines = [f"{{{party}.{name}}}" for name in fields]
        else:
            lines = [
                line.strip()
                for name in fields
                for line in field_text(self.document, f"{party}.{name}").splitlines()
            ]
        for index, line in enumerate(line for line in lines if line):
            self.paragraph(line, style="B" if index == 0 else "")

    def rows(self, key: str, fields: tuple[str, ...]) -> list[Mapping[str, Any]]:
        """A list field of the document, or one row of placeholders in preview."""
        if self.preview:
            return [{name: f"{{{key}.{name}}}" for name in fields}]
        return [row for row in self.document.get(key) or () if isinstance(row, Mapping)]

    def table(
        self,
        headings: list[str],
        rows: list[list[str]],
        widths: tuple[Length, ...],
        width: Length | None = None,
    ) -> None:
        pdf = self.pdf
        pdf.set_font(self.typeface.family, "", self.size * 0.9)
        pdf.set_draw_color(RULE_GREY)
        with pdf.table(
            col_widths=widths,
            width=width,
            align="RIGHT",
            text_align=("LEFT", *("RIGHT",) * (len(headings) - 1)),
            borders_layout="HORIZONTAL_LINES",
            headings_style=FontFace(emphasis="BOLD"),
            line_height=self.size * 0.5,
            padding=(1, 1.5),
        ) as table:
            for values in (headings, *rows):
                table.row([self.typeface.text(value) for value in values])
        pdf.set_draw_color(0)

    def lines(self) -> None:
        columns = ("description", "quantity", "unit_price", "net", "tax_rate")
        rows = []
        for line in self.rows("lines", (*columns, "unit")):
            quantity = f"{field_text(line, 'quantity')} {field_text(line, 'unit')}".strip()
            rate = field_text(line, "tax_rate")
            rows.append(
                [
                    field_text(line, "description"),
                    quantity,
                    field_text(line, "unit_price"),
                    field_text(line, "net"),
                    f"{rate} %" if rate else "",
                ]
            )
        headings = [self.labels[c] for c in columns]
        self.table(headings, rows, widths=(46, 14, 14, 14, 12))

    def tax_breakdown(self) -> None:
        rows = [
            [f"{field_text(r, 'rate')} %", field_text(r, "net"), field_text(r, "tax")]
            for r in self.rows("tax_breakdown", ("rate", "net", "tax"))
        ]
        if rows:
            headings = [self.labels[c] for c in ("tax_rate", "net", "tax")]
            self.table(headings, rows, widths=(1, 1, 1), width=90)

    def totals(self) -> None:
        pdf = self.pdf
        label_width, amount_width = 45.0, 35.0
        left = pdf.w - pdf.r_margin - label_width - amount_width
        currency = field_text(self.document, "currency", preview=self.preview)
        for key in ("subtotal", "tax", "total"):
            amount = field_text(self.document, key, preview=self.preview)
            if key == "total":
                pdf.set_draw_color(RULE_GREY)
                pdf.line(left, pdf.get_y(), pdf.w - pdf.r_margin, pdf.get_y())
                pdf.set_draw_color(0)
            pdf.set_font(self.typeface.family, "B" if key == "total" else "", self.size)
            pdf.set_x(left)
            pdf.cell(label_width, self.line_height * 1.2, self.labels[key], align="R")
            pdf.cell(
                amount_width,
                self.line_height * 1.2,
                self.typeface.text(f"{amount} {currency}".strip()),
                align="R",
                new_x=XPos.LMARGIN,
                new_y=YPos.NEXT,
            )

    def rule(self) -> None:
        pdf = self.pdf
        pdf.ln(1)
        pdf.set_draw_color(RULE_GREY)
        pdf.line(pdf.l_margin, pdf.get_y(), pdf.w - pdf.r_margin, pdf.get_y())
        pdf.set_draw_color(0)
        pdf.ln(2)


def render_template(
    template: Template,
    document: Mapping[str, Any],
    *,
    preview: bool = False,
    settings: Mapping[str, Any] | None = None,
) -> bytes:
    """Lay out a parsed template for a document as PDF bytes; ``settings`` are the
    plugin's (``unicode_font``, ``unicode_font_bold``)."""
    return _Layout(template, document, preview, settings or {}).render()


class PdfRenderer:
    """The ``pdf`` renderer: the document's template laid out on A4 pages."""

    name = "pdf"
    media_type = "application/pdf"
    file_extension = "pdf"

    def render(self, document: dict[str, Any], context: RenderContext) -> bytes:
        path = find_template(context.template_name(document), context.template_dirs)
        return render_template(
            load_template(path), document, preview=context.preview, settings=context.settings
        )


@hookimpl
def register_renderers(register: Any) -> None:
    register(PdfRenderer())


@hookimpl
def plugin_settings_schema() -> dict[str, str]:
    return {"unicode_font": "str", "unicode_font_bold": "str"}
