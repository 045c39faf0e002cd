"""A document (docs/documents.md) read once into what an EN 16931 invoice states.

Both syntaxes (CII and UBL) are written from this one reading, so they always carry
the same figures. Reading maps and rounds; it does not judge: a document that breaks
EN 16931's rules reads fine and is refused by :mod:`.checks` (or, when written anyway,
by the official rules).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from billingd.errors import ValidationError
from billingd_plugins.einvoice.codes import (
    DEFAULT_UNIT,
    EXEMPT_CATEGORIES,
    EXEMPTION_CODES,
    LEITWEG_EAS,
    PAYMENT_MEANS,
    PEPPOL_EAS,
    VAT_EAS,
    Profile,
    unit_code,
)

CENT = Decimal("0.01")
ZERO = Decimal(0)


def decimal(value: Any, field: str) -> Decimal:
    """A decimal string of the document as a Decimal; blank is zero."""
    text = str(value).strip() if value is not None else ""
    try:
        number = Decimal(text or "0")
    except InvalidOperation:
        raise ValidationError(f"{field} is not a number: {value!r}", field=field) from None
    if not number.is_finite():
        raise ValidationError(f"{field} is not a number: {value!r}", field=field)
    return number


def money(value: Any, field: str) -> Decimal:
    """An amount rounded to the cent, as EN 16931 states every amount (BR-DEC-*)."""
    return decimal(value, field).quantize(CENT, rounding=ROUND_HALF_UP)


def plain(number: Decimal) -> str:
    """A quantity, price or rate without exponent or trailing zeros: ``19``, ``0.0216``."""
    text = format(number.normalize(), "f")
    return "0" if text in ("-0", "") else text


def text(value: Any) -> str:
    return str(value).strip() if value is not None else ""


@dataclass(frozen=True)
class Party:
    """The seller (BG-4) or the buyer (BG-7)."""

    name: str  # BT-27 / BT-44, the legal name
    address_lines: tuple[str, ...]  # BT-35..37 / BT-50..52
    postcode: str
    city: str
    country: str
    vat_id: str  # BT-31 / BT-48
    tax_number: str  # BT-32 (seller): a tax id that is not a VAT id
    registration_id: str  # BT-30 / BT-47
    endpoint_id: str  # BT-34 / BT-49
    endpoint_scheme: str
    contact_name: str  # BT-41 / BT-56
    phone: str
    email: str


@dataclass(frozen=True)
class Line:
    """One invoice line (BG-25); ``quantity × price == net`` exactly (PEPPOL-EN16931-R120)."""

    source: str  # the document's field, ``lines[2]``
    id: str
    name: str
    note: str  # BT-127: the real quantity when the line had to be stated as 1 × net
    quantity: Decimal
    unit: str
    price: Decimal
    net: Decimal
    category: str
    rate: Decimal
    start: str | None
    end: str | None


@dataclass(frozen=True)
class Allowance:
    """A document-level allowance (BG-20) from a line of kind ``discount``."""

    source: str
    reason: str
    amount: Decimal  # positive
    category: str
    rate: Decimal


@dataclass(frozen=True)
class TaxGroup:
    """One VAT breakdown row (BG-23)."""

    category: str
    rate: Decimal
    basis: Decimal
    tax: Decimal
    reason: str  # BT-120
    reason_code: str  # BT-121


@dataclass(frozen=True)
class Payment:
    """Payment instructions (BG-16) and terms (BT-20)."""

    code: str  # BT-81, UNCL 4461
    code_name: str
    iban: str  # BT-84
    bic: str  # BT-86
    account_name: str  # BT-85
    mandate: str  # BT-89
    creditor_id: str  # BT-90
    debtor_iban: str  # BT-91
    terms: str  # BT-20
    reference: str  # BT-83, the remittance information

    @property
    def direct_debit(self) -> bool:
        return self.code == "59"

    @property
    def credit_transfer(self) -> bool:
        return self.code in ("30", "58")


@dataclass(frozen=True)
class Totals:
    """Document totals (BG-22)."""

    lines: Decimal  # BT-106
    allowances: Decimal  # BT-107
    tax_exclusive: Decimal  # BT-109
    tax: Decimal  # BT-110
    tax_inclusive: Decimal  # BT-112
    paid: Decimal  # BT-113
    payable: Decimal  # BT-115


@dataclass(frozen=True)
class Invoice:
    """Everything an EN 16931 invoice or credit note of billingd states."""

    number: str  # BT-1
    type_code: str  # BT-3: 380 invoice, 381 credit note
    issue_date: str  # BT-2
    due_date: str | None  # BT-9
    currency: str  # BT-5
    notes: tuple[str, ...]  # BT-22
    buyer_reference: str  # BT-10
    contract_reference: str  # BT-12
    period_start: str | None  # BG-14
    period_end: str | None
    preceding_number: str | None  # BG-3
    preceding_date: str | None
    seller: Party
    buyer: Party
    deliver_to_country: str | None  # BT-80, for intra-community supplies
    lines: tuple[Line, ...]
    allowances: tuple[Allowance, ...]
    tax_groups: tuple[TaxGroup, ...]
    payment: Payment
    totals: Totals

    @property
    def credit_note(self) -> bool:
        return self.type_code == "381"


def _is_vat_id(tax_id: str) -> bool:
    """A VAT id starts with its country prefix (``DE136695976``); else it is a tax number."""
    return len(tax_id) > 2 and tax_id[:2].isalpha() and tax_id[:2].isupper()


def _endpoint(data: Mapping[str, Any], vat_id: str, *, peppol: bool) -> tuple[str, str]:
    """The electronic address (BT-34/BT-49) and its scheme.

    Without one, the e-mail address (``EM``). Peppol accepts neither that nor other
    schemes outside its EAS list: there the party's VAT id or a buyer's Leitweg-ID
    stands in, else the address is left blank (and :mod:`.checks` refuses it).
    """
    endpoint_id, scheme = text(data.get("endpoint_id")), text(data.get("endpoint_scheme"))
    email = text(data.get("email"))
    if not endpoint_id and email:
        endpoint_id, scheme = email, "EM"
    if not peppol or scheme in PEPPOL_EAS:
        return endpoint_id, scheme
    if vat_id[:2] in VAT_EAS:
        return vat_id, VAT_EAS[vat_id[:2]]
    leitweg_id = text((data.get("custom_fields") or {}).get("leitweg_id"))
    if leitweg_id:
        return leitweg_id, LEITWEG_EAS
    return "", ""


def _party(data: Mapping[str, Any], *, buyer: bool, peppol: bool) -> Party:
    tax_id = text(data.get("tax_id")).replace(" ", "")
    vat_id = tax_id if buyer or _is_vat_id(tax_id) else ""
    company = text(data.get("company")) if buyer else ""
    person = text(data.get("name"))
    name = company or person
    endpoint_id, scheme = _endpoint(data, vat_id, peppol=peppol)
    email = text(data.get("email"))
    lines = tuple(line.strip() for line in text(data.get("address")).splitlines() if line.strip())
    return Party(
        name=name,
        address_lines=lines,
        postcode=text(data.get("postcode")),
        city=text(data.get("city")),
        country=text(data.get("country")).upper(),
        vat_id=vat_id,
        tax_number="" if buyer or vat_id else tax_id,
        registration_id=text(data.get("registration_id")),
        endpoint_id=endpoint_id,
        endpoint_scheme=scheme,
        contact_name=person if not buyer or (company and person != company) else "",
        phone=text(data.get("phone")),
        email=email,
    )


def _line(data: Mapping[str, Any], index: int) -> Line:
    field = f"lines[{index}]"
    net = money(data.get("net"), f"{field}.net")
    quantity = decimal(data.get("quantity") or "1", f"{field}.quantity")
    price = decimal(data.get("unit_price"), f"{field}.unit_price")
    unit = text(data.get("unit"))
    code = unit_code(unit)
    stated = f"{plain(quantity)} {unit}".strip()
    note = stated if code is None else ""  # a unit Rec 20 does not know is "one" (C62)
    if quantity * price != net or price < 0:
        # EN 16931 wants net = quantity × price exactly and no negative price: state the
        # line as one unit at its net and keep the real quantity in the line's note.
        note = f"{stated} × {plain(price)}" if quantity != 1 or unit else ""
        quantity, price, code = (Decimal(1) if net >= 0 else Decimal(-1)), abs(net), None
    return Line(
        source=field,
        id=text(data.get("position")) or str(index + 1),
        name=text(data.get("description")),
        note=note,
        quantity=quantity,
        unit=code or DEFAULT_UNIT,
        price=price,
        net=net,
        category=text(data.get("tax_category")) or "S",
        rate=decimal(data.get("tax_rate"), f"{field}.tax_rate"),
        start=data.get("cycle_start") or None,
        end=data.get("cycle_end") or None,
    )


def _allowance(data: Mapping[str, Any], index: int) -> Allowance:
    field = f"lines[{index}]"
    return Allowance(
        source=field,
        reason=text(data.get("description")) or "Discount",
        amount=-money(data.get("net"), f"{field}.net"),
        category=text(data.get("tax_category")) or "S",
        rate=decimal(data.get("tax_rate"), f"{field}.tax_rate"),
    )


def _tax_group(data: Mapping[str, Any], index: int) -> TaxGroup:
    field = f"tax_breakdown[{index}]"
    category = text(data.get("category")) or "S"
    exempt = category in EXEMPT_CATEGORIES
    return TaxGroup(
        category=category,
        rate=decimal(data.get("rate"), f"{field}.rate"),
        basis=money(data.get("net"), f"{field}.net"),
        tax=money(data.get("tax"), f"{field}.tax"),
        reason=text(data.get("exemption_reason")) if exempt else "",
        reason_code=(text(data.get("exemption_code")) or EXEMPTION_CODES.get(category, ""))
        if exempt
        else "",
    )


def _payment(document: Mapping[str, Any], seller: Mapping[str, Any]) -> Payment:
    data: Mapping[str, Any] = document.get("payment") or {}
    means = text(data.get("means")) or "none"
    code, name = PAYMENT_MEANS.get(means, PAYMENT_MEANS["none"])
    return Payment(
        code=code,
        code_name=name,
        iban=text(data.get("iban") or seller.get("iban")).replace(" ", ""),
        bic=text(data.get("bic") or seller.get("bic")),
        account_name=text(data.get("account_name")),
        mandate=text(data.get("mandate_reference")),
        creditor_id=text(data.get("creditor_id") or seller.get("creditor_id")),
        debtor_iban=text(data.get("debtor_iban")).replace(" ", ""),
        terms=text(data.get("terms")),
        reference=text(document.get("number")),
    )


def _totals(document: Mapping[str, Any], lines: list[Line], allowances: list[Allowance]) -> Totals:
    total = money(document.get("total"), "total")
    if document.get("paid") not in (None, ""):
        paid = money(document.get("paid"), "paid")
        payable = money(document.get("balance"), "balance")
    else:
        payable = money(document.get("balance"), "balance")
        paid = total - payable
    return Totals(
        lines=sum((line.net for line in lines), ZERO),
        allowances=sum((a.amount for a in allowances), ZERO),
        tax_exclusive=money(document.get("subtotal"), "subtotal"),
        tax=money(document.get("tax"), "tax"),
        tax_inclusive=total,
        paid=paid,
        payable=payable,
    )


def read_document(document: Mapping[str, Any], profile: Profile) -> Invoice:
    """Read a renderer's document into an :class:`Invoice` of the profile.

    :raises ValidationError: a number that is not one, naming its field.
    """
    seller_data: Mapping[str, Any] = document.get("seller") or {}
    buyer_data: Mapping[str, Any] = document.get("bill_to") or {}
    lines: list[Line] = []
    allowances: list[Allowance] = []
    for index, data in enumerate(document.get("lines") or ()):
        if data.get("kind") == "discount":
            allowances.append(_allowance(data, index))
        else:
            lines.append(_line(data, index))
    groups = tuple(_tax_group(row, i) for i, row in enumerate(document.get("tax_breakdown") or ()))
    credit_note = document.get("kind") == "credit_note"
    notes = [text(note) for note in document.get("notes") or () if text(note)]
    if credit_note and text(document.get("reason")):
        notes.insert(0, text(document.get("reason")))
    seller = _party(seller_data, buyer=False, peppol=profile.peppol)
    buyer = _party(buyer_data, buyer=True, peppol=profile.peppol)
    categories = {group.category for group in groups}
    if "O" in categories:  # BR-O-02: an invoice outside the scope of VAT states no VAT ids
        seller, buyer = replace(seller, vat_id=""), replace(buyer, vat_id="")
    return Invoice(
        number=text(document.get("number")),
        type_code="381" if credit_note else "380",
        issue_date=text(document.get("issue_date")),
        due_date=document.get("due_date") or None,
        currency=text(document.get("currency")) or "EUR",
        notes=tuple(notes),
        buyer_reference=text(buyer_data.get("buyer_reference")),
        contract_reference=text(buyer_data.get("contract_number")),
        period_start=document.get("period_start") or None,
        period_end=document.get("period_end") or None,
        preceding_number=document.get("credit_note_for") or None,
        preceding_date=document.get("credit_note_for_date") or None,
        seller=seller,
        buyer=buyer,
        deliver_to_country=buyer.country if "K" in categories else None,
        lines=tuple(lines),
        allowances=tuple(allowances),
        tax_groups=groups,
        payment=_payment(document, seller_data),
        totals=_totals(document, lines, allowances),
    )
