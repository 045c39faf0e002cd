"""Operator-editable document templates (SPEC R-DEL-2).

A template is a UTF-8 text file with one directive per line; it describes what goes
on the page and never executes code. Whole-line comments start with ``#``; blank
lines are ignored::

    # Acme's invoice
    font-size 10
    heading Invoice {number}
    text Issue date: {issue_date}
    text? VAT ID: {bill_to.tax_id}
    lines
    totals

TEXT may contain placeholders such as ``{number}`` or ``{bill_to.company}``: every one
must be a field of the document (:data:`PLACEHOLDERS`), otherwise parsing fails with
a :class:`TemplateError` naming the file and line. ``{{`` and ``}}`` are literal
braces. A text directive written with a trailing ``?`` (``text?``) leaves out each
part of its line (parts are separated by `` · ``) that has an empty placeholder, and
is skipped when no part is left. :data:`DIRECTIVES` lists every directive.

This module parses and fills templates; laying them out is the renderer's job
(the built-in one is ``billingd_plugins.pdf``).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from billingd.domain.usage_rows import RECORD
from billingd.errors import NotFound, ValidationError

# -- the document shape -------------------------------------------------------------------
# The one place that says what a document holds; placeholders are derived from it.

DOCUMENT_FIELDS: tuple[str, ...] = (
    "id",
    "number",
    "kind",
    "status",
    "origin",
    "client_id",
    "reseller_id",
    "issue_date",
    "due_date",
    "period_start",
    "period_end",
    "currency",
    "language",
    "subtotal",
    "tax",
    "total",
    "balance",
    "paid",
    "credit_note_for",
    "credit_note_for_date",
    "reason",
    "reminder_level",
    "fee",
    "interest",
)
NESTED_FIELDS: dict[str, tuple[str, ...]] = {
    "seller": (
        "name",
        "address",
        "postcode",
        "city",
        "country",
        "tax_id",
        "registration_id",
        "iban",
        "bic",
        "email",
        "phone",
        "creditor_id",
        "endpoint_id",
        "endpoint_scheme",
    ),
    "bill_to": (
        "name",
        "company",
        "address",
        "postcode",
        "city",
        "country",
        "tax_id",
        "email",
        "contract_number",
        "bill_group",
        "buyer_reference",
        "endpoint_id",
        "endpoint_scheme",
    ),
    "payment": (
        "means",
        "iban",
        "bic",
        "account_name",
        "mandate_reference",
        "creditor_id",
        "debtor_iban",
        "terms",
    ),
    "brand": (
        "name",
        "accent_color",
        "footer",
        "logo_path",
        "layout",
        "invoice_template",
        "credit_note_template",
        "reminder_template",
    ),
}
# Lists, laid out by the ``lines``, ``tax-breakdown`` and ``statistics`` directives
# rather than placeholders.
LINE_FIELDS: tuple[str, ...] = (
    "position",
    "kind",
    "description",
    "quantity",
    "unit",
    "unit_price",
    "net",
    "tax_category",
    "tax_rate",
    "tax",
    "exemption_reason",
    "cycle_start",
    "cycle_end",
    "records",
)
TAX_BREAKDOWN_FIELDS: tuple[str, ...] = (
    "category",
    "rate",
    "net",
    "tax",
    "exemption_reason",
    "exemption_code",
)
RECORD_FIELDS: tuple[str, ...] = RECORD
GROUP_FIELDS: tuple[str, ...] = ("destination_group", "records", "quantity", "amount")

PLACEHOLDERS: frozenset[str] = frozenset(DOCUMENT_FIELDS) | frozenset(
    f"{group}.{name}" for group, names in NESTED_FIELDS.items() for name in names
)

# -- the language -------------------------------------------------------------------------

LABELS: dict[str, str] = {
    "description": "Description",
    "quantity": "Quantity",
    "unit_price": "Unit price",
    "net": "Net",
    "tax_rate": "Tax rate",
    "tax": "Tax",
    "category": "VAT",
    "subtotal": "Subtotal",
    "total": "Total",
    "paid": "Paid",
    "balance": "Amount due",
    "fee": "Reminder fee",
    "interest": "Interest",
    "page": "Page",
    "invoice": "Invoice",
    "credit_note": "Credit note",
    "reminder": "Payment reminder",
    "statistics": "Usage statistics",
    "occurred_at": "Time",
    "destination": "Destination",
    "destination_group": "Destination group",
    "records": "Records",
    "amount": "Amount",
}
PARTIES = ("seller", "bill_to")
FONT_SIZES = (6.0, 36.0)
MAX_SPACE = 250.0
MAX_TEMPLATE_BYTES = 16 * 1024
"""A template's size (the shipped ones are under 4 KiB)."""
MAX_DIRECTIVES = 200
"""Directives in a template (the shipped ones have about 30)."""
ONCE_DIRECTIVES = frozenset(
    {"lines", "statistics", "tax-breakdown", "totals", "payment", "address-window"}
)
"""What a document shows once: a second line table or totals would only repeat it (and
10,000 ``lines`` directives took a reader thread 96 s to preview)."""
PREVIEW_PAGES = 10
"""The most pages a preview may have: a read's work stays bounded."""

DIRECTIVES: dict[str, str] = {
    "heading": "heading TEXT — a large bold line in the brand's accent colour",
    "bold": "bold TEXT — a bold paragraph",
    "text": "text TEXT — a paragraph, wrapped to the page width",
    "right": "right TEXT — a right-aligned paragraph",
    "small": "small TEXT — a paragraph in a smaller, grey type",
    "footer": "footer TEXT — a line at the bottom of every page",
    "header": "header TEXT — a line at the top of every page after the first",
    "title": "title — the document's title and number (Invoice, Credit note, ...)",
    "address": "address seller|bill_to — the party's name and address block",
    "address-window": "address-window — DIN 5008 type B address field with the return "
    "address line (20 mm from the left, 45 mm from the top, 85 × 45 mm); fold marks",
    "info": "info LABEL | TEXT — a line of the information block beside the address "
    "window (after address-window) or a two-column line",
    "logo": "logo [left|right] — the brand's logo (PNG, JPEG or SVG), at most 18 mm high",
    "lines": "lines — the line table",
    "tax-breakdown": "tax-breakdown — net and tax per VAT category and rate, with the "
    "category's legal wording",
    "totals": "totals — subtotal, tax and total (paid, amount due, reminder fee and "
    "interest when there are any), right-aligned",
    "notes": "notes — the document's notes (legal wording), one paragraph each",
    "payment": "payment — how to pay: bank transfer with an EPC QR code (EUR), the "
    "direct debit mandate, or that the invoice is paid",
    "statistics": "statistics — the usage records and the totals per destination group",
    "rule": "rule — a horizontal line",
    "space": "space N — N millimetres of vertical space",
    "font-size": "font-size N — the body text size in points from here on",
    "label": "label KEY TEXT — rename a column, title or total (keys: " + ", ".join(LABELS) + ")",
}
TEXT_DIRECTIVES = frozenset({"heading", "bold", "text", "right", "small", "footer", "header"})
BARE_DIRECTIVES = frozenset(
    {
        "lines",
        "tax-breakdown",
        "totals",
        "rule",
        "title",
        "address-window",
        "notes",
        "payment",
        "statistics",
    }
)
LOGO_PLACES = ("left", "right")

_NAME = re.compile(r"[a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)*\Z")
_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?\Z")

Length = float  # a layout size in points or millimetres; never money


class TemplateError(ValidationError):
    """A template that cannot be used; the message starts with ``file:line:``, the file
    named as :func:`find_template` finds it (no server path: peers read the message)."""

    def __init__(self, source: str, line: int | None, message: str) -> None:
        where = source if line is None else f"{source}:{line}"
        super().__init__(f"{where}: {message}", field="template", source=source, line=line)
        self.source = source
        self.line = line


# -- parsed form --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Placeholder:
    """``{path}`` in a template: a dotted field of the document."""

    path: str


@dataclass(frozen=True, slots=True)
class Text:
    """A line of template text: literal strings and placeholders."""

    segments: tuple[str | Placeholder, ...]

    @property
    def placeholders(self) -> tuple[str, ...]:
        return tuple(s.path for s in self.segments if isinstance(s, Placeholder))

    def _parts(self, document: Mapping[str, Any], preview: bool) -> list[_Part]:
        """The filled text cut at each :data:`SEPARATOR`."""
        parts = [_Part()]
        for s in self.segments:
            if isinstance(s, str):
                first, *rest = s.split(SEPARATOR)
                parts[-1].text += first
                parts.extend(_Part(piece) for piece in rest)
                continue
            value = field_text(document, s.path, preview=preview)
            parts[-1].text += value
            parts[-1].placeholders += 1
            parts[-1].complete &= value != ""
        return parts

    def fill(
        self, document: Mapping[str, Any], *, preview: bool = False, optional: bool = False
    ) -> str:
        """The text with placeholders replaced, or shown as ``{path}`` in preview. An
        ``optional`` line drops each `` · ``-separated part with an empty placeholder."""
        parts = self._parts(document, preview)
        if optional and not preview:
            parts = [part for part in parts if part.complete]
        return SEPARATOR.join(part.text for part in parts)

    def incomplete(self, document: Mapping[str, Any]) -> bool:
        """True when no part of the line that has placeholders has them all filled: an
        optional line then says nothing and is left out."""
        filled = [part for part in self._parts(document, False) if part.placeholders]
        return bool(filled) and not any(part.complete for part in filled)


SEPARATOR = " · "
"""Between the parts of a line an optional directive keeps or drops one by one."""


@dataclass(slots=True)
class _Part:
    text: str = ""
    placeholders: int = 0
    complete: bool = True


@dataclass(frozen=True, slots=True)
class Directive:
    """One template line. ``argument`` is the party (address) or label key (label)."""

    keyword: str
    line: int
    text: Text | None = None
    argument: str | None = None
    number: Length | None = None
    optional: bool = False

    def filled(self, document: Mapping[str, Any], *, preview: bool = False) -> str:
        """The directive's text, filled (its optional parts left out where empty)."""
        return (
            self.text.fill(document, preview=preview, optional=self.optional) if self.text else ""
        )

    def skipped(self, document: Mapping[str, Any], *, preview: bool = False) -> bool:
        """True for an optional (``?``) line with an empty placeholder (never in preview)."""
        return (
            self.optional
            and not preview
            and self.text is not None
            and self.text.incomplete(document)
        )


@dataclass(frozen=True, slots=True)
class Template:
    """A parsed template: where it came from (for errors) and its directives in order."""

    source: str
    directives: tuple[Directive, ...]

    @property
    def body(self) -> tuple[Directive, ...]:
        """The directives laid out in order (all but ``label``, ``footer`` and ``header``)."""
        return tuple(d for d in self.directives if d.keyword not in ("label", "footer", "header"))

    def labels(self, document: Mapping[str, Any], *, preview: bool = False) -> dict[str, str]:
        """Column and total labels: the defaults, overridden by ``label`` lines."""
        labels = dict(LABELS)
        for d in self.directives:
            if d.keyword == "label" and d.argument and d.text is not None:
                labels[d.argument] = d.text.fill(document, preview=preview)
        return labels

    def footer(self, document: Mapping[str, Any], *, preview: bool = False) -> list[str]:
        """The footer lines, filled; optional lines with an empty placeholder left out."""
        return self._page_lines("footer", document, preview)

    def header(self, document: Mapping[str, Any], *, preview: bool = False) -> list[str]:
        """The header lines of pages after the first, filled like the footer."""
        return self._page_lines("header", document, preview)

    def _page_lines(self, keyword: str, document: Mapping[str, Any], preview: bool) -> list[str]:
        return [
            d.filled(document, preview=preview)
            for d in self.directives
            if d.keyword == keyword
            and d.text is not None
            and not d.skipped(document, preview=preview)
        ]


# -- filling ------------------------------------------------------------------------------


def field_text(document: Mapping[str, Any], path: str, *, preview: bool = False) -> str:
    """A document field as text: ``""`` for a missing or null value, ``{path}`` in preview."""
    if preview:
        return "{" + path + "}"
    value: Any = document
    for part in path.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return "" if value is None else str(value)


# -- parsing ------------------------------------------------------------------------------


def _suggest(word: str, known: Sequence[str], fmt: str) -> str:
    close = difflib.get_close_matches(word, known, n=1)
    return f" (did you mean {fmt.format(close[0])}?)" if close else ""


def parse_text(text: str, source: str = "<text>", line: int = 1) -> Text:
    """Split TEXT into literals and placeholders, checking every placeholder is known."""
    segments: list[str | Placeholder] = []
    literal: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char in "{}" and text.startswith(char * 2, i):
            literal.append(char)
            i += 2
            continue
        if char == "}":
            raise TemplateError(source, line, "unmatched '}' (write '}}' for a literal brace)")
        if char != "{":
            literal.append(char)
            i += 1
            continue
        end = text.find("}", i)
        if end < 0:
            raise TemplateError(source, line, "unclosed '{' (write '{{' for a literal brace)")
        name = text[i + 1 : end]
        if not _NAME.match(name):
            raise TemplateError(source, line, f"malformed placeholder {{{name}}}")
        if name not in PLACEHOLDERS:
            hint = _suggest(name, sorted(PLACEHOLDERS), "{{{}}}")
            raise TemplateError(source, line, f"unknown placeholder {{{name}}}{hint}")
        if literal:
            segments.append("".join(literal))
            literal = []
        segments.append(Placeholder(name))
        i = end + 1
    if literal:
        segments.append("".join(literal))
    return Text(tuple(segments))


def _number(
    keyword: str, argument: str, low: Length, high: Length, source: str, line: int
) -> Length:
    if not _NUMBER.match(argument) or not low <= Length(argument) <= high:
        raise TemplateError(
            source, line, f"{keyword} needs a number from {low:g} to {high:g}, not {argument!r}"
        )
    return Length(argument)


def _parse_line(keyword: str, argument: str, source: str, line: int) -> Directive:
    optional = keyword.endswith("?")
    keyword = keyword.removesuffix("?")
    if keyword not in DIRECTIVES:
        hint = _suggest(keyword, list(DIRECTIVES), "'{}'")
        raise TemplateError(source, line, f"unknown directive {keyword!r}{hint}")
    if optional and keyword not in (*TEXT_DIRECTIVES, "info"):
        raise TemplateError(source, line, f"'?' only applies to text lines, not {keyword!r}")
    if keyword in TEXT_DIRECTIVES:
        return Directive(keyword, line, text=parse_text(argument, source, line), optional=optional)
    if keyword in BARE_DIRECTIVES:
        if argument:
            raise TemplateError(source, line, f"{keyword} takes no argument, got {argument!r}")
        return Directive(keyword, line)
    if keyword == "logo":
        if argument and argument not in LOGO_PLACES:
            raise TemplateError(source, line, f"logo needs left or right, not {argument!r}")
        return Directive(keyword, line, argument=argument or "left")
    if keyword == "info":
        label, bar, value = argument.partition("|")
        if not bar:
            raise TemplateError(source, line, "info needs LABEL | TEXT (a '|' between them)")
        return Directive(
            keyword,
            line,
            text=parse_text(value.strip(), source, line),
            argument=label.strip(),
            optional=optional,
        )
    if keyword == "address":
        if argument not in PARTIES:
            raise TemplateError(source, line, f"address needs seller or bill_to, not {argument!r}")
        return Directive(keyword, line, argument=argument)
    if keyword == "space":
        return Directive(
            keyword, line, number=_number(keyword, argument, 0, MAX_SPACE, source, line)
        )
    if keyword == "font-size":
        return Directive(
            keyword, line, number=_number(keyword, argument, *FONT_SIZES, source, line)
        )
    # label KEY TEXT
    key, *text = argument.split(None, 1) or [""]
    if key not in LABELS:
        hint = _suggest(key, list(LABELS), "'{}'")
        raise TemplateError(source, line, f"unknown label {key!r}{hint}")
    return Directive(keyword, line, argument=key, text=parse_text("".join(text), source, line))


def parse_template(text: str, source: str = "<template>") -> Template:
    """Parse a template; raise :class:`TemplateError` (with ``source:line``) on any mistake,
    more than :data:`MAX_DIRECTIVES` directives or one of :data:`ONCE_DIRECTIVES` twice."""
    directives: list[Directive] = []
    seen: dict[str, int] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if len(directives) == MAX_DIRECTIVES:
            raise TemplateError(source, number, f"more than {MAX_DIRECTIVES} directives")
        keyword, *argument = stripped.split(None, 1)
        directive = _parse_line(keyword, "".join(argument), source, number)
        if directive.keyword in ONCE_DIRECTIVES and directive.keyword in seen:
            raise TemplateError(
                source,
                number,
                f"{directive.keyword} may appear once (it is on line {seen[directive.keyword]})",
            )
        seen.setdefault(directive.keyword, number)
        directives.append(directive)
    return Template(source, tuple(directives))


def load_template(path: Path) -> Template:
    """Read and parse a template file (UTF-8); errors name the file, not its directory."""
    source = Path(path).name
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise TemplateError(source, None, f"cannot read template: {exc.strerror or exc}") from None
    if len(data) > MAX_TEMPLATE_BYTES:
        raise TemplateError(
            source, None, f"template is larger than {MAX_TEMPLATE_BYTES // 1024} KiB"
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise TemplateError(source, line, "template is not valid UTF-8") from None
    return parse_template(text, source)


def find_template(name: str, dirs: Sequence[Path]) -> Path:
    """The first file called ``name`` in ``dirs``; the name may not contain a path."""
    if not name or name.startswith(".") or Path(name).name != name or "\\" in name:
        raise ValidationError(
            f"template name must be a plain file name: {name!r}", field="template"
        )
    for directory in dirs:
        candidate = Path(directory) / name
        if candidate.is_file():
            return candidate
    raise NotFound(
        f"template {name!r} not found among the operator's templates (data_dir/templates) "
        "or the packaged ones; `billingctl template list` shows them",
        template=name,
    )
