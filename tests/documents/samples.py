"""Documents in the shape renderers receive (docs/documents.md), for renderer tests.

The scenarios cover every VAT category, credit notes, multi-rate and long
invoices and names in many scripts; the services' own ``invoice_document`` is
tested to produce this same shape.
"""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

SELLER_DE = {
    "name": "Nordwind Telecom GmbH",
    "address": "Hafenstraße 12",
    "postcode": "20457",
    "city": "Hamburg",
    "country": "DE",
    "tax_id": "DE136695976",
    "registration_id": "HRB 123456",
    "iban": "DE89370400440532013000",
    "bic": "COBADEFFXXX",
    "email": "billing@nordwind.example",
    "phone": "+49 40 123456",
    "creditor_id": "DE98ZZZ09999999999",
    "endpoint_id": "DE136695976",
    "endpoint_scheme": "9930",
}

BUYER_DE = {
    "name": "Erika Mustermann",
    "company": "Mustermann Hosting GmbH",
    "address": "Lindenallee 5",
    "postcode": "10115",
    "city": "Berlin",
    "country": "DE",
    "tax_id": "DE811569869",
    "email": "ap@mustermann.example",
    "contract_number": "K-1001",
    "bill_group": "Main",
    "buyer_reference": "04011000-12345-34",
    "endpoint_id": "ap@mustermann.example",
    "endpoint_scheme": "EM",
    "custom_fields": {"leitweg_id": "04011000-12345-34"},
}

BUYER_NL = {
    "name": "Jan de Vries",
    "company": "De Vries Cloud B.V.",
    "address": "Keizersgracht 100",
    "postcode": "1015 CW",
    "city": "Amsterdam",
    "country": "NL",
    "tax_id": "NL004495445B01",
    "email": "finance@devries.example",
    "contract_number": "K-2001",
    "bill_group": "",
    "buyer_reference": "K-2001",
    "endpoint_id": "NL004495445B01",
    "endpoint_scheme": "9944",
    "custom_fields": {},
}

BRAND = {
    "name": "Nordwind",
    "accent_color": "#1f6feb",
    "footer": "Nordwind Telecom GmbH · Hamburg · HRB 123456",
    "logo_path": None,
    "layout": "default",
    "invoice_template": "invoice.tpl",
    "credit_note_template": "credit_note.tpl",
    "reminder_template": "reminder.tpl",
}

REVERSE_CHARGE_NOTE = (
    "Reverse charge: VAT to be accounted for by the recipient (Article 196 Directive 2006/112/EC)."
)


def line(
    position: int,
    description: str,
    net: str,
    *,
    category: str = "S",
    rate: str = "19",
    quantity: str = "1",
    unit: str = "",
    unit_price: str | None = None,
    kind: str = "contract",
    reason: str = "",
    cycle: tuple[str, str] | None = ("2026-11-01", "2026-11-30"),
    records: int | None = None,
) -> dict[str, Any]:
    tax = (Decimal(net) * Decimal(rate) / 100).quantize(Decimal("0.01"))
    return {
        "position": position,
        "kind": kind,
        "description": description,
        "quantity": quantity,
        "unit": unit,
        "unit_price": unit_price if unit_price is not None else net,
        "net": net,
        "tax_category": category,
        "tax_rate": rate,
        "tax": str(tax),
        "exemption_reason": reason,
        "cycle_start": cycle[0] if cycle else None,
        "cycle_end": cycle[1] if cycle else None,
        "records": records,
    }


def _finish(doc: dict[str, Any]) -> dict[str, Any]:
    """Breakdown and totals from the lines, as billingd computes them (per category
    and rate, tax rounded once per group)."""
    groups: dict[tuple[str, str], list[Decimal]] = {}
    reasons: dict[tuple[str, str], str] = {}
    for ln in doc["lines"]:
        key = (ln["tax_category"], ln["tax_rate"])
        groups.setdefault(key, [Decimal(0), Decimal(0)])[0] += Decimal(ln["net"])
        reasons.setdefault(key, ln["exemption_reason"])
    breakdown = []
    codes = {"AE": "VATEX-EU-AE", "K": "VATEX-EU-IC", "G": "VATEX-EU-G", "O": "VATEX-EU-O"}
    for (category, rate), (net, _) in groups.items():
        tax = (net * Decimal(rate) / 100).quantize(Decimal("0.01"))
        breakdown.append(
            {
                "category": category,
                "rate": rate,
                "net": str(net),
                "tax": str(tax),
                "exemption_reason": reasons[(category, rate)],
                "exemption_code": codes.get(category, ""),
            }
        )
    subtotal = sum((Decimal(b["net"]) for b in breakdown), Decimal(0))
    tax = sum((Decimal(b["tax"]) for b in breakdown), Decimal(0))
    doc["tax_breakdown"] = breakdown
    doc["subtotal"], doc["tax"], doc["total"] = str(subtotal), str(tax), str(subtotal + tax)
    paid = Decimal(doc.pop("_paid", "0"))
    doc["paid"] = str(paid)
    doc["balance"] = str(subtotal + tax - paid)
    return doc


def invoice(**overrides: Any) -> dict[str, Any]:
    """A DE → DE standard-rated invoice; keyword arguments replace top-level keys."""
    doc: dict[str, Any] = {
        "kind": "invoice",
        "id": 1,
        "number": "INV-2026-0001",
        "issue_date": "2026-12-01",
        "due_date": "2026-12-15",
        "period_start": "2026-11-01",
        "period_end": "2026-11-30",
        "currency": "EUR",
        "language": "en",
        "status": "issued",
        "seller": copy.deepcopy(SELLER_DE),
        "bill_to": copy.deepcopy(BUYER_DE),
        "lines": [
            line(1, "Business fibre 500", "49.90"),
            line(2, "Static IPv4 block /29", "15.00", quantity="3", unit_price="5.00"),
            line(
                3,
                "Calls Germany mobile",
                "12.34",
                kind="usage",
                quantity="617",
                unit="min",
                unit_price="0.02",
                records=88,
            ),
        ],
        "payment": {
            "means": "credit_transfer",
            "iban": SELLER_DE["iban"],
            "bic": SELLER_DE["bic"],
            "account_name": SELLER_DE["name"],
            "mandate_reference": "",
            "creditor_id": "",
            "debtor_iban": "",
            "terms": "Payable within 14 days without deduction.",
        },
        "notes": [],
        "credit_note_for": None,
        "credit_note_for_date": None,
        "reason": "",
        "brand": copy.deepcopy(BRAND),
    }
    doc.update(overrides)
    return _finish(doc)


def reverse_charge() -> dict[str, Any]:
    """DE seller, NL business client with a valid VAT id: AE, no tax."""
    return invoice(
        number="INV-2026-0002",
        bill_to=copy.deepcopy(BUYER_NL),
        lines=[
            line(1, "Managed hosting", "400.00", category="AE", rate="0", reason="Reverse charge"),
            line(
                2, "Backup storage 2 TB", "80.00", category="AE", rate="0", reason="Reverse charge"
            ),
        ],
        notes=[REVERSE_CHARGE_NOTE],
    )


def with_exempt_line() -> dict[str, Any]:
    """Standard lines plus an exempt one with its reason."""
    doc = invoice(number="INV-2026-0003")
    doc["lines"].append(
        line(
            4,
            "Postage stamps (resold)",
            "8.50",
            category="E",
            rate="0",
            reason="Exempt: postal services, Art. 132(1)(a) Directive 2006/112/EC",
        )
    )
    doc["notes"] = ["Exempt: postal services, Art. 132(1)(a) Directive 2006/112/EC"]
    return _finish(doc)


def multi_rate() -> dict[str, Any]:
    """19 % and 7 % lines, and a discount allowance at 19 %."""
    return invoice(
        number="INV-2026-0004",
        lines=[
            line(1, "Business fibre 500", "49.90"),
            line(2, "Technical handbook (print)", "20.00", rate="7"),
            line(3, "Loyalty discount", "-5.00", kind="discount", cycle=None),
        ],
    )


def zero_rated() -> dict[str, Any]:
    return invoice(
        number="INV-2026-0005",
        lines=[line(1, "Emergency line (zero rated)", "30.00", category="Z", rate="0")],
    )


def intra_community() -> dict[str, Any]:
    """Goods to an NL business: K, 0 %."""
    return invoice(
        number="INV-2026-0006",
        bill_to=copy.deepcopy(BUYER_NL),
        lines=[
            line(
                1,
                "Router (hardware)",
                "120.00",
                category="K",
                rate="0",
                reason="Intra-community supply",
            )
        ],
        notes=["Intra-community supply exempt under Article 138 Directive 2006/112/EC."],
    )


def outside_scope() -> dict[str, Any]:
    """Outside the scope of VAT: no VAT ids on either side (BR-O-2)."""
    seller = copy.deepcopy(SELLER_DE)
    seller["tax_id"] = ""
    seller["endpoint_scheme"], seller["endpoint_id"] = "EM", "billing@nordwind.example"
    buyer = copy.deepcopy(BUYER_DE)
    buyer["tax_id"] = ""
    return invoice(
        number="INV-2026-0007",
        seller=seller,
        bill_to=buyer,
        lines=[
            line(
                1,
                "Compensation payment",
                "25.00",
                category="O",
                rate="0",
                reason="Not subject to VAT",
            )
        ],
        notes=["Not subject to VAT."],
    )


def credit_note() -> dict[str, Any]:
    """A credit note for part of INV-2026-0004, one line per (category, rate)."""
    return invoice(
        kind="credit_note",
        id=7,
        number="CN-0001",
        issue_date="2026-12-05",
        due_date=None,
        credit_note_for="INV-2026-0004",
        credit_note_for_date="2026-12-01",
        reason="Service outage 3-5 November",
        lines=[
            line(1, "Credit for invoice INV-2026-0004", "10.00", kind="credit"),
            line(2, "Credit for invoice INV-2026-0004", "5.00", rate="7", kind="credit"),
        ],
    )


def long_invoice(groups: int = 500) -> dict[str, Any]:
    """One usage line per destination group: a document of many pages."""
    lines = [line(1, "Carrier interconnect", "1000.00")]
    for i in range(groups):
        lines.append(
            line(
                i + 2,
                f"Calls destination group {i:03d}",
                f"{(i % 97) + 1}.{i % 100:02d}",
                kind="usage",
                quantity=str(60 + i),
                unit="min",
                unit_price="",
                records=i + 1,
            )
        )
    for ln in lines[1:]:  # a usage line's price is its amount over its minutes
        ln["unit_price"] = str(
            (Decimal(ln["net"]) / Decimal(ln["quantity"])).quantize(Decimal("0.0001"))
        )
    return invoice(number="INV-2026-0500", lines=lines)


def paid() -> dict[str, Any]:
    return invoice(number="INV-2026-0008", status="paid", _paid="91.92")


SCRIPT_NAMES = {
    "latin": "Łukasz Żółć Ærøskøbing",
    "greek": "Αθηναϊκή Τηλεπικοινωνιακή Α.Ε.",
    "cyrillic": "ООО «Связь-Телеком»",
    "chinese": "北京云计算有限公司",
    "japanese": "株式会社クラウド通信",
    "korean": "주식회사 클라우드",
    "arabic": "شركة الاتصالات السحابية",
    "hebrew": "חברת התקשורת בע״מ",
    "thai": "บริษัท คลาวด์ จำกัด",
}


def in_script(script: str) -> dict[str, Any]:
    """An invoice whose buyer and first line are written in one script."""
    buyer = copy.deepcopy(BUYER_DE)
    buyer["company"] = SCRIPT_NAMES[script]
    buyer["name"] = SCRIPT_NAMES[script]
    doc = invoice(number=f"INV-{script.upper()}", bill_to=buyer)
    doc["lines"][0]["description"] = f"{SCRIPT_NAMES[script]} – fibre 500"
    return doc


ALL_CATEGORIES = {
    "standard": invoice,
    "reverse_charge": reverse_charge,
    "exempt": with_exempt_line,
    "multi_rate": multi_rate,
    "zero": zero_rated,
    "intra_community": intra_community,
    "outside_scope": outside_scope,
    "credit_note": credit_note,
}
