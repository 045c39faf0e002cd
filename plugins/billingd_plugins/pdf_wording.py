"""What a document says besides its fields: VAT wording, amounts due, how to pay.

Pure functions of the document (docs/documents.md); the layout places their text.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

# EN 16931 (UNCL 5305) categories and the wording the document shows for each (R-VAT-1).
VAT_WORDING: dict[str, str] = {
    "S": "Standard rate",
    "Z": "Zero rated",
    "E": "Exempt",
    "AE": "Reverse charge – VAT to be accounted for by the recipient",
    "K": "Intra-community supply, exempt",
    "G": "Export outside the EU, exempt",
    "O": "Not subject to VAT",
    "L": "Canary Islands general indirect tax",
    "M": "Tax for production, services and importation in Ceuta and Melilla",
}


def decimal(value: Any) -> Decimal | None:
    """A money or quantity string as a Decimal; None when empty or not a number."""
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def amount_text(value: Decimal | str | None, currency: str = "") -> str:
    """``91.92 EUR``: two decimals at least, as many as the amount has beyond that."""
    number = decimal(value)
    if number is None:
        return ""
    if number.as_tuple().exponent > -2:  # type: ignore[operator]
        number = number.quantize(Decimal("0.01"))
    return f"{number} {currency}".strip()


def vat_wording(row: Mapping[str, Any]) -> str:
    """A breakdown row's legal wording: the category's, plus the exemption reason when
    it says more than the wording."""
    category = str(row.get("category") or "")
    wording = VAT_WORDING.get(category, category)
    reason = str(row.get("exemption_reason") or "").strip()
    if reason and reason.lower() not in wording.lower():
        wording = f"{wording}: {reason}" if wording else reason
    return wording


def amount_due(document: Mapping[str, Any]) -> Decimal:
    """What the client still owes: the balance (the total when there is none), plus a
    reminder's fee and interest."""
    due = decimal(document.get("balance"))
    if due is None:
        due = decimal(document.get("total")) or Decimal(0)
    if document.get("kind") == "reminder":
        due += (decimal(document.get("fee")) or 0) + (decimal(document.get("interest")) or 0)
    return due


def is_paid(document: Mapping[str, Any]) -> bool:
    """Paid in full: status ``paid``, or a zero balance on a non-zero invoice."""
    if document.get("status") == "paid":
        return True
    balance, total = decimal(document.get("balance")), decimal(document.get("total"))
    return balance == 0 and bool(total)


def title_key(document: Mapping[str, Any]) -> str:
    """The label key of the document's title: invoice, credit_note, reminder, statistics."""
    kind = str(document.get("kind") or "invoice")
    return kind if kind in ("credit_note", "reminder", "statistics") else "invoice"


def _masked(iban: str) -> str:
    iban = "".join(iban.split())
    return f"{iban[:4]} … {iban[-4:]}" if len(iban) > 8 else iban


def payment_lines(document: Mapping[str, Any]) -> list[str]:
    """How the amount due is settled, as paragraphs (empty for a credit note)."""
    if document.get("kind") in ("credit_note", "statistics"):
        return []
    if is_paid(document):
        return ["This invoice has been paid in full. Thank you."]
    payment: Mapping[str, Any] = document.get("payment") or {}
    seller: Mapping[str, Any] = document.get("seller") or {}
    currency = str(document.get("currency") or "")
    due = amount_text(amount_due(document), currency)
    number, due_date = document.get("number") or "", document.get("due_date")
    means = payment.get("means") or "credit_transfer"
    terms = [str(payment["terms"])] if payment.get("terms") else []
    if means == "direct_debit":
        account = payment.get("debtor_iban") or ""
        lines = [
            f"The amount of {due} will be collected by SEPA direct debit"
            + (f" from the account {_masked(account)}" if account else "")
            + (f" on or after {due_date}." if due_date else "."),
            f"Mandate reference: {payment.get('mandate_reference') or '–'} · Creditor "
            f"identifier: {payment.get('creditor_id') or seller.get('creditor_id') or '–'}",
        ]
        return lines + terms
    if means == "card":
        return [f"The amount of {due} will be charged to your card.", *terms]
    iban = payment.get("iban") or seller.get("iban") or ""
    lines = [
        f"Please transfer {due}"
        + (f" by {due_date}" if due_date else "")
        + (f", quoting {number}" if number else "")
        + (", to:" if iban else ".")
    ]
    if iban:
        holder = payment.get("account_name") or seller.get("name") or ""
        bic = payment.get("bic") or seller.get("bic") or ""
        lines += [f"Account holder: {holder}"] if holder else []
        lines += [f"IBAN: {iban}"] + ([f"BIC: {bic}"] if bic else [])
    return lines + terms
