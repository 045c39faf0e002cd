"""Laying out one template for one document, directive by directive (A4, fpdf2)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from fpdf.enums import XPos, YPos

from billingd.templates import (
    GROUP_FIELDS,
    LINE_FIELDS,
    NESTED_FIELDS,
    RECORD_FIELDS,
    TAX_BREAKDOWN_FIELDS,
    Directive,
    Length,
    Template,
    TemplateError,
    field_text,
)
from billingd_plugins import pdf_wording as wording
from billingd_plugins.pdf_fonts import MAIN_FAMILY, FontPlan, plan_fonts, strings_in
from billingd_plugins.pdf_images import logo_bytes, place_decoded, place_image
from billingd_plugins.pdf_page import Page, PageFurniture
from billingd_plugins.pdf_qr import epc_payload, qr_image

DEFAULT_ACCENT = (0, 0, 0)
RULE_GREY = 170
GREY = 90
# DIN 5008 type B (mm): address field, its return-address zone, the information block.
WINDOW_X, WINDOW_Y, WINDOW_W, WINDOW_H = 20.0, 45.0, 85.0, 45.0
WINDOW_PAD = 5.0
RETURN_ZONE = 17.7
INFO_X, INFO_Y, INFO_LABEL_W = 125.0, 50.0, 25.0
INFO_RIGHT = 10.0  # the block may reach 10 mm from the right edge
BODY_AFTER_WINDOW = 98.5
QR_SIZE = 32.0
CELL_PAD = 1.5  # mm left and right of a table cell's text
LOGO_BOX = (60.0, 18.0)


def colour(value: Any) -> tuple[int, int, int]:
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


def preview_document(document: Mapping[str, Any]) -> dict[str, Any]:
    """The document with every field shown as its placeholder (``{bill_to.name}``) and one
    row of placeholders per list, for a template preview (R-DEL-2)."""
    shown: dict[str, Any] = {key: "{" + key + "}" for key in ("number", "issue_date", "total")}
    for key in (
        "due_date", "period_start", "period_end", "currency", "subtotal", "tax", "balance",
        "paid", "credit_note_for", "credit_note_for_date", "reason", "reminder_level",
        "fee", "interest",
    ):  # fmt: skip
        shown[key] = "{" + key + "}"
    for group, names in NESTED_FIELDS.items():
        shown[group] = {name: f"{{{group}.{name}}}" for name in names}
    shown["brand"]["logo_path"] = None
    shown["brand"]["accent_color"] = (document.get("brand") or {}).get("accent_color")
    for key, names in (
        ("lines", LINE_FIELDS),
        ("tax_breakdown", TAX_BREAKDOWN_FIELDS),
        ("records", RECORD_FIELDS),
        ("groups", GROUP_FIELDS),
    ):
        shown[key] = [{name: f"{{{key}.{name}}}" for name in names}]
    shown["notes"] = ["{notes}"]
    shown["kind"] = document.get("kind") or "invoice"
    shown["status"] = "{status}"
    return shown


def creation_date(document: Mapping[str, Any]) -> datetime | None:
    try:
        return datetime.fromisoformat(str(document.get("issue_date"))).replace(tzinfo=UTC)
    except ValueError:
        return None


class Layout:
    """One template laid out for one document; :meth:`render` gives the PDF bytes."""

    def __init__(
        self,
        template: Template,
        document: Mapping[str, Any],
        *,
        preview: bool = False,
        settings: Mapping[str, Any] | None = None,
        max_pages: int | None = None,
    ) -> None:
        self.template = template
        self.max_pages = max_pages
        self.preview = preview
        self.document: Mapping[str, Any] = preview_document(document) if preview else document
        doc = self.document
        labels = template.labels(doc, preview=preview)
        footer = template.footer(doc, preview=preview)
        header = template.header(doc, preview=preview)
        self.body = [
            (d, d.filled(doc, preview=preview))
            for d in template.body
            if not d.skipped(doc, preview=preview)
        ]
        texts = [*labels.values(), *footer, *header, *(t for _, t in self.body)]
        self.fonts: FontPlan = plan_fonts([*texts, *strings_in(doc)], settings)
        t = self.fonts.text
        self.labels = {key: t(label) for key, label in labels.items()}
        furniture = PageFurniture(
            footer=[t(line).replace("\n", ", ") for line in footer],
            header=[t(line).replace("\n", ", ").rstrip(" ·,:") for line in header],
            page_label=self.labels["page"],
            fold_marks=any(d.keyword == "address-window" for d in template.directives),
        )
        self.pdf = Page(self.fonts, furniture)
        self.accent = colour((doc.get("brand") or {}).get("accent_color"))
        self.currency = field_text(doc, "currency")
        self.size = 10.0
        self.info_y: float | None = None  # the information block's next line, if any
        self.problems: list[str] = []

    @property
    def warnings(self) -> list[str]:
        """What the caller should know: characters no font has, a logo that failed."""
        return [*self.fonts.warnings(), *self.problems]

    def render(self) -> bytes:
        pdf = self.pdf
        number = field_text(self.document, "number")
        title = f"Preview of {Path(self.template.source).name}" if self.preview else number
        pdf.set_title(title or "Draft")
        pdf.set_author(field_text(self.document, "seller.name"))
        pdf.set_creator("billingd")
        created = creation_date(self.document)
        if created is not None:  # else fpdf2's default, now
            pdf.set_creation_date(created)
        pdf.add_page()
        for directive, text in self.body:
            self.place(directive, text)
            if self.max_pages is not None and pdf.page > self.max_pages:
                raise TemplateError(
                    self.template.source,
                    directive.line,
                    f"the document would have more than {self.max_pages} pages",
                )
        return pdf.pdf_bytes()

    def place(self, directive: Directive, text: str) -> None:
        match directive.keyword:
            case "heading":
                self.paragraph(text, style="B", size=self.size * 1.6, colour=self.accent)
            case "bold":
                self.paragraph(text, style="B")
            case "text":
                self.paragraph(text)
            case "right":
                self.paragraph(text, align="R")
            case "small":
                self.paragraph(text, size=self.size * 0.8, colour=(GREY, GREY, GREY))
            case "title":
                self.paragraph(self.title(), style="B", size=self.size * 1.6, colour=self.accent)
            case "address":
                self.address(directive.argument or "bill_to")
            case "address-window":
                self.address_window()
            case "info":
                self.info(directive.argument or "", text)
            case "logo":
                self.logo(right=directive.argument == "right")
            case "lines":
                self.lines()
            case "tax-breakdown":
                self.tax_breakdown()
            case "totals":
                self.totals()
            case "notes":
                for note in self.document.get("notes") or ():
                    self.paragraph(str(note), size=self.size * 0.9)
            case "payment":
                self.payment()
            case "statistics":
                self.statistics()
            case "rule":
                self.rule()
            case "space":
                self.pdf.ln(directive.number or 0)
            case "font-size":
                self.size = directive.number or self.size

    # -- text --------------------------------------------------------------------------------

    def field(self, path: str) -> str:
        return field_text(self.document, path)

    def paragraph(
        self,
        text: str,
        *,
        style: str = "",
        align: str = "L",
        size: Length | None = None,
        colour: tuple[int, int, int] = (0, 0, 0),
        width: Length = 0,
    ) -> None:
        size = size or self.size
        pdf = self.pdf
        pdf.set_font(MAIN_FAMILY, style, size)
        pdf.set_text_color(*colour)
        shown = self.fonts.text(text)
        room = width or pdf.w - pdf.r_margin - pdf.l_margin
        if "\n" not in shown and pdf.text_width(shown) < room - 1:  # no line breaking
            pdf.line_cell(width or room, size * 0.5, shown, align,
                          new_x=XPos.LMARGIN, new_y=YPos.NEXT)  # fmt: skip
            pdf.set_text_color(0)
            return
        self.pdf.multi_cell(
            width, size * 0.5, self.fonts.text(text), align=align,
            new_x=XPos.LMARGIN, new_y=YPos.NEXT,
        )  # fmt: skip
        self.pdf.set_text_color(0)

    def title(self) -> str:
        key = wording.title_key(self.document)
        number = self.field("number")
        if key == "reminder":
            return f"{self.labels['reminder']} – {self.labels['invoice']} {number}"
        return f"{self.labels[key]} {number}".strip()

    # -- addresses -----------------------------------------------------------------------------

    def address_lines(self, party: str) -> list[str]:
        """Company, name, street lines, postcode and city, and the country when it is not
        the seller's."""
        names = ("company", "name", "address") if party == "bill_to" else ("name", "address")
        lines = [line.strip() for n in names for line in self.field(f"{party}.{n}").splitlines()]
        lines.append(f"{self.field(f'{party}.postcode')} {self.field(f'{party}.city')}".strip())
        country = self.field(f"{party}.country")
        if country and country != self.field("seller.country"):
            lines.append(country.upper())
        unique: list[str] = []
        for line in lines:
            if line and line not in unique:
                unique.append(line)
        return unique

    def address(self, party: str) -> None:
        for index, line in enumerate(self.address_lines(party)):
            self.paragraph(line, style="B" if index == 0 else "")

    def address_window(self) -> None:
        """DIN 5008 type B: the return address in the top zone, the recipient below it."""
        pdf = self.pdf
        sender = ", ".join(self.address_lines("seller"))
        pdf.set_font(MAIN_FAMILY, "", 7)
        pdf.set_text_color(GREY)
        pdf.set_xy(WINDOW_X + WINDOW_PAD, WINDOW_Y + RETURN_ZONE - 5)
        pdf.cell(WINDOW_W - WINDOW_PAD, 4, self.fonts.text(sender), border="B")
        pdf.set_text_color(0)
        pdf.set_xy(WINDOW_X + WINDOW_PAD, WINDOW_Y + RETURN_ZONE + 1)
        for index, line in enumerate(self.address_lines("bill_to")[:6]):
            pdf.set_font(MAIN_FAMILY, "B" if index == 0 else "", self.size)
            pdf.set_x(WINDOW_X + WINDOW_PAD)
            pdf.line_cell(WINDOW_W - WINDOW_PAD, 4.4, self.fonts.text(line), new_y=YPos.NEXT)
        self.info_y = INFO_Y
        pdf.set_xy(pdf.l_margin, BODY_AFTER_WINDOW)

    def info(self, label: str, value: str) -> None:
        """A line of the information block beside the window, else a two-column line."""
        pdf = self.pdf
        x, width = (INFO_X, pdf.w - INFO_RIGHT - INFO_X) if self.info_y else (pdf.l_margin, 0)
        y = self.info_y or pdf.get_y()
        height = self.size * 0.45
        pdf.set_xy(x, y)
        pdf.set_font(MAIN_FAMILY, "", self.size * 0.8)
        pdf.set_text_color(GREY)
        pdf.line_cell(INFO_LABEL_W, height, self.fonts.text(label))
        pdf.set_text_color(0)
        pdf.set_font(MAIN_FAMILY, "", self.size * 0.85)
        shown = self.fonts.text(value)
        room = width - INFO_LABEL_W if width else pdf.w - pdf.r_margin - pdf.x
        if "\n" not in shown and pdf.text_width(shown) < room - 2 * pdf.c_margin - 0.5:
            pdf.line_cell(room, height, shown, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        else:
            pdf.multi_cell(
                width - INFO_LABEL_W if width else 0, height, shown, align="L",
                new_x=XPos.LMARGIN, new_y=YPos.NEXT,
            )  # fmt: skip
        if self.info_y:
            self.info_y = pdf.get_y()
            pdf.set_xy(pdf.l_margin, max(BODY_AFTER_WINDOW, self.info_y + 6))

    def logo(self, *, right: bool) -> None:
        found = logo_bytes(field_text(self.document, "brand.logo_path"))
        if found is None:
            return
        pdf = self.pdf
        x = pdf.w - pdf.r_margin if right else pdf.l_margin
        try:
            height = place_image(pdf, found[1], x, pdf.get_y(), LOGO_BOX, right=right)
        except Exception as exc:  # a broken logo must not stop the invoice
            self.problems.append(f"PDF: brand logo {found[0]} cannot be shown: {exc}")
            return
        if not right:  # a logo on the right sits beside the heading
            pdf.set_y(pdf.get_y() + height + 2)

    # -- tables ----------------------------------------------------------------------------------

    def rows(self, key: str) -> list[Mapping[str, Any]]:
        return [row for row in self.document.get(key) or () if isinstance(row, Mapping)]

    def table(
        self,
        headings: list[str],
        rows: list[list[str]],
        widths: tuple[Length, ...],
        *,
        align_left: int = 1,
    ) -> None:
        """A table of ``widths`` mm: the first ``align_left`` columns left-aligned, the
        rest right-aligned; a rule under each row; the headings repeated on a new page."""
        pdf = self.pdf
        t = self.fonts.text
        aligns = ["L"] * align_left + ["R"] * (len(widths) - align_left)
        size = self.size * 0.9
        line = size * 0.5
        self.table_row([t(h) for h in headings], widths, aligns, line, heading=True)
        for values in rows:
            cells = [t(v) for v in values]
            pdf.set_font(MAIN_FAMILY, "", size)
            height = line * max(self.lines_needed(c, w) for c, w in zip(cells, widths, strict=True))
            if pdf.get_y() + height + 2 > pdf.page_break_trigger:
                pdf.add_page()
                self.table_row([t(h) for h in headings], widths, aligns, line, heading=True)
            self.table_row(cells, widths, aligns, line)
        pdf.ln(1)

    def lines_needed(self, text: str, width: Length) -> int:
        """How many lines ``text`` takes in a column (the font already set)."""
        inner = width - 2 * CELL_PAD
        if "\n" not in text and self.pdf.text_width(text) <= inner - 0.5:
            return 1
        return len(self.pdf.multi_cell(inner, 1, text, dry_run=True, output="LINES"))

    def table_row(
        self,
        cells: list[str],
        widths: tuple[Length, ...],
        aligns: list[str],
        line: Length,
        *,
        heading: bool = False,
    ) -> None:
        pdf = self.pdf
        pdf.set_font(MAIN_FAMILY, "B" if heading else "", self.size * 0.9)
        counts = [self.lines_needed(c, w) for c, w in zip(cells, widths, strict=True)]
        height = line * max(counts) + 2
        top, x = pdf.get_y(), pdf.l_margin
        if heading:
            pdf.set_fill_color(242)
            pdf.rect(x, top, sum(widths), height, style="F")
        for text, width, align, count in zip(cells, widths, aligns, counts, strict=True):
            pdf.set_xy(x + CELL_PAD, top + 1)
            if count == 1:
                pdf.line_cell(width - 2 * CELL_PAD, line, text, align)
            else:
                pdf.multi_cell(width - 2 * CELL_PAD, line, text, align=align)
            x += width
        pdf.set_draw_color(RULE_GREY)
        pdf.line(pdf.l_margin, top + height, pdf.l_margin + sum(widths), top + height)
        pdf.set_draw_color(0)
        pdf.set_xy(pdf.l_margin, top + height)

    def amount(self, value: Any) -> str:
        return wording.amount_text(value) or str(value or "")

    def lines(self) -> None:
        period = (self.field("period_start"), self.field("period_end"))
        rows = []
        for line in self.rows("lines"):
            description = field_text(line, "description")
            cycle = (field_text(line, "cycle_start"), field_text(line, "cycle_end"))
            if all(cycle) and cycle != period:
                description += f" ({cycle[0]} – {cycle[1]})"
            if field_text(line, "records"):
                description += f" · {field_text(line, 'records')} {self.labels['records'].lower()}"
            quantity = f"{field_text(line, 'quantity')} {field_text(line, 'unit')}".strip()
            rows.append(
                [
                    description,
                    quantity,
                    field_text(line, "unit_price"),
                    self.amount(field_text(line, "net")),
                    self.rate(line.get("tax_category"), line.get("tax_rate")),
                ]
            )
        columns = ("description", "quantity", "unit_price", "net", "tax_rate")
        self.table([self.labels[c] for c in columns], rows, (78, 24, 24, 26, 18))

    @staticmethod
    def rate(category: Any, rate: Any) -> str:
        category, rate = str(category or ""), str(rate or "")
        if not rate:
            return category
        shown = f"{rate} %"
        return shown if category in ("", "S") else f"{category} {shown}"

    def tax_breakdown(self) -> None:
        rows = [
            [
                wording.vat_wording(r) if r.get("category") else "",
                self.rate("", field_text(r, "rate")),
                self.amount(field_text(r, "net")),
                self.amount(field_text(r, "tax")),
            ]
            for r in self.rows("tax_breakdown")
        ]
        if rows:
            headings = [self.labels[c] for c in ("category", "tax_rate", "net", "tax")]
            self.table(headings, rows, (86, 20, 32, 32))

    def totals(self) -> None:
        doc = self.document
        rows: list[tuple[str, str, bool]] = [
            (self.labels["subtotal"], self.field("subtotal"), False),
            (self.labels["tax"], self.field("tax"), False),
            (self.labels["total"], self.field("total"), True),
        ]
        paid = wording.decimal(doc.get("paid"))
        reminder = doc.get("kind") == "reminder"
        if self.preview or paid or reminder:
            rows.append((self.labels["paid"], self.field("paid"), False))
        if reminder or self.preview:
            for key in ("fee", "interest"):
                if self.preview or wording.decimal(doc.get(key)):
                    rows.append((self.labels[key], self.field(key), False))
        if len(rows) > 3 and doc.get("kind") != "credit_note":
            due = self.field("balance") if self.preview else wording.amount_due(doc)
            rows.append((self.labels["balance"], str(due), True))
        for label, value, strong in rows:
            self.total_row(label, value, strong)

    def total_row(self, label: str, value: str, strong: bool) -> None:
        pdf = self.pdf
        label_width, amount_width = 50.0, 36.0
        left = pdf.w - pdf.r_margin - label_width - amount_width
        height = self.size * 0.6
        if strong:
            pdf.set_draw_color(RULE_GREY)
            pdf.line(left, pdf.get_y(), pdf.w - pdf.r_margin, pdf.get_y())
            pdf.set_draw_color(0)
        pdf.set_font(MAIN_FAMILY, "B" if strong else "", self.size)
        pdf.set_x(left)
        pdf.line_cell(label_width, height, self.fonts.text(label), "R")
        amount = f"{self.amount(value)} {self.currency}".strip()
        pdf.line_cell(amount_width, height, self.fonts.text(amount), "R",
                      new_x=XPos.LMARGIN, new_y=YPos.NEXT)  # fmt: skip

    def statistics(self) -> None:
        rows = [
            [
                field_text(r, "occurred_at").replace("T", " ")[:19],
                field_text(r, "destination"),
                field_text(r, "destination_group"),
                f"{field_text(r, 'quantity')} {field_text(r, 'unit')}".strip(),
                self.amount(field_text(r, "amount")),
            ]
            for r in self.rows("records")
        ]
        columns = ("occurred_at", "destination", "destination_group", "quantity", "amount")
        self.table([self.labels[c] for c in columns], rows, (36, 40, 46, 24, 24), align_left=3)
        self.pdf.ln(6)
        groups = [
            [
                field_text(g, "destination_group"),
                field_text(g, "records"),
                field_text(g, "quantity"),
                self.amount(field_text(g, "amount")),
            ]
            for g in self.rows("groups")
        ]
        totals = self.document.get("totals")
        if isinstance(totals, Mapping) and groups:
            groups.append(
                [
                    self.labels["total"],
                    field_text(totals, "records"),
                    field_text(totals, "quantity"),
                    self.amount(field_text(totals, "amount")),
                ]
            )
        columns = ("destination_group", "records", "quantity", "amount")
        self.table([self.labels[c] for c in columns], groups, (80, 30, 30, 30))

    # -- payment ------------------------------------------------------------------------------

    def payment(self) -> None:
        doc = self.document
        lines = wording.payment_lines(doc)
        if not lines:
            return
        payload = None if self.preview else self.qr_payload()
        pdf = self.pdf
        if payload is None:
            for line in lines:
                self.paragraph(line)
            return
        if pdf.get_y() + QR_SIZE + 4 > pdf.page_break_trigger:
            pdf.add_page()
        top = pdf.get_y()
        text_width = pdf.epw - QR_SIZE - 6
        for line in lines:
            self.paragraph(line, width=text_width)
        x = pdf.w - pdf.r_margin - QR_SIZE
        place_decoded(pdf, *qr_image(payload), x, top, (QR_SIZE, QR_SIZE))
        pdf.set_xy(x, top + QR_SIZE)
        pdf.set_font(MAIN_FAMILY, "", self.size * 0.7)
        pdf.set_text_color(GREY)
        pdf.line_cell(QR_SIZE, 3, "GiroCode (EPC QR)", "C")
        pdf.set_text_color(0)
        pdf.set_xy(pdf.l_margin, max(pdf.get_y() + 4, top + QR_SIZE + 4))

    def qr_payload(self) -> str | None:
        """The EPC QR payload when the client pays a EUR amount by transfer."""
        doc = self.document
        payment: Mapping[str, Any] = doc.get("payment") or {}
        seller: Mapping[str, Any] = doc.get("seller") or {}
        if self.currency != "EUR" or payment.get("means") not in (None, "", "credit_transfer"):
            return None
        due = wording.amount_due(doc)
        if due <= Decimal(0) or wording.is_paid(doc):
            return None
        return epc_payload(
            name=str(payment.get("account_name") or seller.get("name") or ""),
            iban=str(payment.get("iban") or seller.get("iban") or ""),
            bic=str(payment.get("bic") or seller.get("bic") or ""),
            amount=due,
            text=self.field("number"),
        )

    def rule(self) -> None:
        pdf = self.pdf
        pdf.ln(1)
        pdf.set_draw_color(RULE_GREY)
        pdf.line(pdf.l_margin, pdf.get_y(), pdf.w - pdf.r_margin, pdf.get_y())
        pdf.set_draw_color(0)
        pdf.ln(2)
