"""The EPC QR code ("GiroCode", EPC069-12) for paying an invoice by SEPA credit transfer.

A banking app that scans it fills in the transfer: beneficiary, IBAN, BIC, amount
and the invoice number as the remittance text.
"""

from __future__ import annotations

import io
from decimal import Decimal, InvalidOperation

import segno

MAX_NAME = 70
MAX_TEXT = 140
MAX_AMOUNT = Decimal("999999999.99")
MASK = 0


def epc_payload(*, name: str, iban: str, bic: str, amount: Decimal, text: str) -> str | None:
    """The EPC069-12 version 002 payload, or None when a transfer cannot be described
    (no IBAN or name, an amount outside 0.01 .. 999999999.99).

    Lines: service tag ``BCD``, version ``002``, character set ``1`` (UTF-8),
    identification ``SCT``, BIC, beneficiary name, IBAN, ``EUR`` and the amount,
    purpose (empty), structured reference (empty), unstructured remittance text.
    """
    iban = "".join(iban.split()).upper()
    name = " ".join(name.split())[:MAX_NAME]
    try:
        amount = Decimal(amount).quantize(Decimal("0.01"))
    except InvalidOperation:
        return None
    if not iban or not name or not Decimal("0.01") <= amount <= MAX_AMOUNT:
        return None
    fields = [
        "BCD",
        "002",
        "1",
        "SCT",
        "".join(bic.split()).upper(),
        name,
        iban,
        f"EUR{amount}",
        "",
        "",
        " ".join(text.split())[:MAX_TEXT],
    ]
    return "\n".join(fields)


def qr_png(payload: str) -> bytes:
    """The payload as a QR code PNG: error correction M as EPC069-12 asks, a 4-module
    quiet zone, one pixel per module (the PDF scales it without smoothing). The mask is
    fixed: any mask is valid, and scoring all eight costs five times the rest."""
    out = io.BytesIO()
    segno.make_qr(payload, error="m", boost_error=False, encoding="utf-8", mask=MASK).save(
        out, kind="png", scale=1, border=4
    )
    return out.getvalue()
