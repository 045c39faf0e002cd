"""The EPC QR code ("GiroCode", EPC069-12) for paying an invoice by SEPA credit transfer.

A banking app that scans it fills in the transfer: beneficiary, IBAN, BIC, amount
and the invoice number as the remittance text.
"""

from __future__ import annotations

import hashlib
import io
import zlib
from decimal import Decimal, InvalidOperation

import segno
from fpdf.image_datastructures import RasterImageInfo

MAX_NAME = 70
MAX_TEXT = 140
MAX_AMOUNT = Decimal("999999999.99")
MASK = 0
BORDER = 4  # modules of quiet zone
_LIGHT = bytes.maketrans(b"\x00\x01", b"10")  # a dark module is a 0 bit (black)


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
    _symbol(payload).save(out, kind="png", scale=1, border=BORDER)
    return out.getvalue()


def _symbol(payload: str) -> segno.QRCode:
    return segno.make_qr(payload, error="m", boost_error=False, encoding="utf-8", mask=MASK)


def qr_image(payload: str) -> tuple[str, RasterImageInfo]:
    """The same QR code as :func:`qr_png`, as the image fpdf2 places: a key (by the
    payload) and a 1-bit DeviceGray raster, Flate-compressed, one pixel per module with
    the quiet zone. fpdf2 would decode a PNG and re-encode it for every document;
    this is what it would end up with, without the PNG."""
    matrix = _symbol(payload).matrix
    size = len(matrix) + 2 * BORDER
    pad = -size % 8
    light = "1" * BORDER
    quiet = (1 << (size + pad)) - 1
    row_bytes = (size + pad) // 8
    raw = bytearray()
    for _ in range(BORDER):
        raw += quiet.to_bytes(row_bytes, "big")
    for row in matrix:
        bits = light + bytes(row).translate(_LIGHT).decode() + light + "1" * pad
        raw += int(bits, 2).to_bytes(row_bytes, "big")
    for _ in range(BORDER):
        raw += quiet.to_bytes(row_bytes, "big")
    info = RasterImageInfo(
        data=zlib.compress(bytes(raw)),
        w=size,
        h=size,
        cs="DeviceGray",
        iccp=None,
        bpc=1,
        dpn=1,
        f="FlateDecode",
        inverted=False,
        dp=f"/Columns {size}",
    )
    key = "qr-" + hashlib.md5(payload.encode(), usedforsecurity=False).hexdigest()
    return key, info
