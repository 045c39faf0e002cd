"""Refuse, before writing, a document that cannot make a valid e-invoice.

Each check names the document field at fault (``ValidationError.data["field"]``) and
the EN 16931 / Peppol / XRechnung rule it protects, so an operator can fix the data
rather than read schematron output. The writers themselves never judge: written
anyway, the same faults fail the official rules (the tests show both).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from billingd.errors import ValidationError
from billingd_plugins.einvoice.codes import CATEGORIES, ZERO_RATE_CATEGORIES, Profile
from billingd_plugins.einvoice.model import CENT, ZERO, Invoice

VAT_CATEGORIES = CATEGORIES - {"O"}


def _refuse(field: str, message: str, rule: str) -> ValidationError:
    return ValidationError(f"{message} ({rule})", field=field, rule=rule)


def _iso_date(value: str | None, field: str) -> None:
    try:
        date.fromisoformat(str(value))
    except ValueError:
        raise _refuse(field, f"{field} is not an ISO date: {value!r}", "XSD") from None


def _check_header(invoice: Invoice) -> None:
    if not invoice.number:
        raise _refuse("number", "the document has no number", "BR-02")
    _iso_date(invoice.issue_date, "issue_date")
    for field, value in (("due_date", invoice.due_date), ("period_start", invoice.period_start)):
        if value:
            _iso_date(value, field)
    if invoice.period_end:
        _iso_date(invoice.period_end, "period_end")
        if invoice.period_start and invoice.period_end < invoice.period_start:
            raise _refuse("period_end", "the invoicing period ends before it starts", "BR-29")
    if len(invoice.currency) != 3 or not invoice.currency.isalpha():
        raise _refuse("currency", f"currency {invoice.currency!r} is not ISO 4217", "BR-05")


def _check_parties(invoice: Invoice, profile: Profile) -> None:
    for key, party, rules in (
        ("seller", invoice.seller, ("BR-06", "BR-09", "BR-DE-3", "BR-DE-4")),
        ("bill_to", invoice.buyer, ("BR-07", "BR-11", "BR-DE-8", "BR-DE-9")),
    ):
        if not party.name:
            raise _refuse(f"{key}.name", f"the {key} has no name", rules[0])
        if len(party.country) != 2 or not party.country.isalpha():
            raise _refuse(f"{key}.country", f"the {key} has no ISO 3166 country code", rules[1])
        if profile.xrechnung and not party.city:
            raise _refuse(f"{key}.city", f"XRechnung needs the {key}'s city", rules[2])
        if profile.xrechnung and not party.postcode:
            raise _refuse(f"{key}.postcode", f"XRechnung needs the {key}'s postcode", rules[3])
        if profile.needs_endpoints and not party.endpoint_id:
            rule = "PEPPOL-EN16931-R020" if key == "seller" else "PEPPOL-EN16931-R010"
            detail = " (a Peppol participant id; e-mail is not one)" if profile.peppol else ""
            raise _refuse(
                f"{key}.endpoint_id", f"the {key} has no electronic address{detail}", rule
            )
    seller = invoice.seller
    if profile.xrechnung:
        for field, value, rule in (
            ("phone", seller.phone, "BR-DE-6"),
            ("email", seller.email, "BR-DE-7"),
        ):
            if not value:
                raise _refuse(f"seller.{field}", f"XRechnung needs the seller's {field}", rule)
    if (profile.xrechnung or profile.peppol) and not invoice.buyer_reference:
        rule = "BR-DE-15" if profile.xrechnung else "PEPPOL-EN16931-R003"
        raise _refuse(
            "bill_to.buyer_reference", "the buyer reference (Leitweg-ID) is missing", rule
        )


def _check_lines(invoice: Invoice) -> None:
    if not invoice.lines:
        raise _refuse("lines", "the document has no line that is not a discount", "BR-16")
    for item in (*invoice.lines, *invoice.allowances):
        if item.category not in CATEGORIES:
            raise _refuse(
                f"{item.source}.tax_category", f"unknown VAT category {item.category!r}", "BR-CL-18"
            )
        if item.category in ZERO_RATE_CATEGORIES and item.rate != 0:
            raise _refuse(
                f"{item.source}.tax_rate",
                f"VAT category {item.category} is charged at 0 %, not {item.rate} %",
                f"BR-{item.category}-05",
            )
        if item.category == "S" and item.rate <= 0:
            raise _refuse(f"{item.source}.tax_rate", "standard rate must be above 0 %", "BR-S-05")
    for allowance in invoice.allowances:
        if allowance.amount <= 0:
            raise _refuse(f"{allowance.source}.net", "a discount must have a negative net", "BR-31")
    for line in invoice.lines:
        if not line.name:
            raise _refuse(f"{line.source}.description", "a line has no description", "BR-25")
        if line.start and line.end and line.end < line.start:
            raise _refuse(
                f"{line.source}.cycle_end", "the line's period ends before it starts", "BR-30"
            )


def _check_vat_ids(invoice: Invoice) -> None:
    categories = {group.category for group in invoice.tax_groups}
    seller, buyer = invoice.seller, invoice.buyer
    if "O" in categories and len(categories) > 1:
        raise _refuse("lines", "outside-scope lines cannot share an invoice with others", "BR-O-11")
    if categories & VAT_CATEGORIES and not (seller.vat_id or seller.tax_number):
        raise _refuse("seller.tax_id", "the seller has no VAT id or tax number", "BR-S-02")
    if "O" in categories and not (seller.registration_id or seller.tax_number):
        raise _refuse("seller.registration_id", "the seller has no legal id", "BR-CO-26")
    if categories & {"AE", "K"} and not seller.vat_id:
        raise _refuse("seller.tax_id", "reverse charge needs the seller's VAT id", "BR-AE-02")
    if categories & {"AE", "K"} and not buyer.vat_id:
        raise _refuse("bill_to.tax_id", "reverse charge needs the buyer's VAT id", "BR-AE-02")


def _groups(invoice: Invoice) -> Iterator[tuple[tuple[str, Decimal], Decimal]]:
    """(category, rate) and net of every line and allowance."""
    for line in invoice.lines:
        yield (line.category, line.rate), line.net
    for allowance in invoice.allowances:
        yield (allowance.category, allowance.rate), -allowance.amount


def _check_totals(invoice: Invoice) -> None:
    expected: dict[tuple[str, Decimal], Decimal] = {}
    for key, net in _groups(invoice):
        expected[key] = expected.get(key, ZERO) + net
    stated = {(group.category, group.rate): group for group in invoice.tax_groups}
    if set(stated) != set(expected):
        raise _refuse(
            "tax_breakdown", "the VAT breakdown does not list every (category, rate)", "BR-CO-18"
        )
    for index, group in enumerate(invoice.tax_groups):
        field = f"tax_breakdown[{index}]"
        if group.basis != expected[(group.category, group.rate)]:
            raise _refuse(f"{field}.net", "the breakdown's net is not its lines'", "BR-S-08")
        tax = (group.basis * group.rate / 100).quantize(CENT, rounding=ROUND_HALF_UP)
        if group.tax != tax:
            raise _refuse(f"{field}.tax", f"the breakdown's tax should be {tax}", "BR-S-09")
        if group.category == "E" and not (group.reason or group.reason_code):
            raise _refuse(f"{field}.exemption_reason", "an exemption needs its reason", "BR-E-10")
    totals = invoice.totals
    for field, stated_amount, computed, rule in (
        ("subtotal", totals.tax_exclusive, totals.lines - totals.allowances, "BR-CO-13"),
        ("tax", totals.tax, sum((g.tax for g in invoice.tax_groups), ZERO), "BR-CO-14"),
        ("total", totals.tax_inclusive, totals.tax_exclusive + totals.tax, "BR-CO-15"),
        ("balance", totals.payable, totals.tax_inclusive - totals.paid, "BR-CO-16"),
    ):
        if stated_amount != computed:
            raise _refuse(field, f"{field} is {stated_amount}, the lines make {computed}", rule)
    if invoice.credit_note and totals.tax_inclusive < 0:
        raise _refuse("total", "a credit note states positive amounts", "BR-CO-15")


def _check_payment(invoice: Invoice) -> None:
    payment = invoice.payment
    if payment.credit_transfer and not payment.iban:
        raise _refuse("payment.iban", "a credit transfer needs the seller's IBAN", "BR-61")
    if payment.direct_debit:
        for field, value, rule in (
            ("mandate_reference", payment.mandate, "BR-DE-29"),
            ("creditor_id", payment.creditor_id, "BR-DE-30"),
            ("debtor_iban", payment.debtor_iban, "BR-DE-31"),
        ):
            if not value:
                raise _refuse(f"payment.{field}", f"a SEPA direct debit needs its {field}", rule)
    if invoice.totals.payable > 0 and not (invoice.due_date or payment.terms):
        raise _refuse("due_date", "an amount is due but neither due date nor terms", "BR-CO-25")


def check(invoice: Invoice, profile: Profile) -> None:
    """Raise :class:`ValidationError` when the invoice cannot be a valid e-invoice."""
    _check_header(invoice)
    _check_parties(invoice, profile)
    _check_lines(invoice)
    _check_vat_ids(invoice)
    _check_totals(invoice)
    _check_payment(invoice)
