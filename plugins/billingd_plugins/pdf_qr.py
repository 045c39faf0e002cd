"""The EPC QR code ("GiroCode", EPC069-12) for paying an invoice by SEPA credit transfer.

A banking app that scans it fills in the transfer: beneficiary, IBAN, BIC, amount
and the invoice number as the remittance text.
"""

from __future__ import annotations

import functools
import hashlib
import io
import threading
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from itertools import chain, zip_longest
from operator import itemgetter

import segno
from fpdf.image_datastructures import RasterImageInfo
from segno import consts, encoder

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


def _pixels(matrix: Sequence[Sequence[int]]) -> bytes:
    """A QR matrix (1 = dark) as packed 1-bit rows, quiet zone included, 0 = black."""
    size = len(matrix) + 2 * BORDER
    pad = -size % 8
    light = "1" * BORDER
    quiet = ((1 << (size + pad)) - 1).to_bytes((size + pad) // 8, "big")
    raw = bytearray(quiet * BORDER)
    for row in matrix:
        bits = light + bytes(row).translate(_LIGHT).decode() + light + "1" * pad
        raw += int(bits, 2).to_bytes((size + pad) // 8, "big")
    raw += quiet * BORDER
    return bytes(raw)


# -- the same symbol, laid out from a per-version template ---------------------------------------
#
# segno places the codeword bits module by module and applies the mask in Python, which is
# most of its cost. With the error level and the mask fixed, everything but the data bits is
# the same for every symbol of a version: a template maps each pixel of the image to a data
# bit (and whether the mask inverts it) or a constant. segno still encodes the data and the
# error correction; each template is checked against segno's own symbol when it is made.

_ERROR = consts.ERROR_LEVEL_M
_BITS = bytes.maketrans(b"\x00\x01", b"01")
_STREAM = bytes.maketrans(b"01", b"\x00\x01")


@dataclass(frozen=True)
class _Template:
    gather: Callable[[bytes], tuple[int, ...]]  # the pixels' sources: data bits, 0 or 1
    flip: int = field(repr=False)  # the pixels to invert (mask, dark is 0), as one integer
    data_bits: int
    length: int  # bytes of the packed image


_templates: dict[int, _Template | None] = {}
_templates_lock = threading.Lock()


def _codeword_bits(payload: str) -> tuple[int, bytes]:
    """segno's version and final bit stream (data, error correction, remainder bits)."""

    segments = encoder.prepare_data(payload, None, "utf-8")
    version = encoder.find_version(segments, _ERROR, eci=False, micro=False)
    buff = encoder.Buffer()
    ver_range = encoder.version_range(version)
    for segment in segments:
        encoder.write_segment(buff, segment, None, ver_range, False)
    capacity = consts.SYMBOL_CAPACITY[version][_ERROR]
    encoder.write_terminator(buff, capacity, None, len(buff))
    encoder.write_padding_bits(buff, version, len(buff))
    encoder.write_pad_codewords(buff, version, capacity, len(buff))
    # ISO/IEC 18004 7.6 as segno's make_final_message, the bits expanded in one step
    data_blocks, error_blocks = encoder.make_blocks(consts.ECC[version][_ERROR], buff)
    codewords = bytes(
        x
        for blocks in (data_blocks, error_blocks)
        for x in chain.from_iterable(zip_longest(*blocks))
        if x is not None
    )
    remainder = len(_placement(version)) - 8 * len(codewords)  # 0, 3, 4 or 7 bits
    if not 0 <= remainder < 8:
        raise ValueError("QR codewords do not fill the symbol")
    stream = format(int.from_bytes(codewords, "big"), f"0{8 * len(codewords)}b")
    return version, stream.encode().translate(_STREAM) + b"\x00" * remainder


@functools.lru_cache(maxsize=48)
def _placement(version: int) -> dict[tuple[int, int], int]:
    """(row, column) of each data bit's module -> the bit's index (ISO/IEC 18004 7.7.3)."""
    width = encoder.calc_matrix_size(version)
    matrix = encoder.make_matrix(width, width)
    encoder.add_finder_patterns(matrix, width, width)
    encoder.add_alignment_patterns(matrix, width, width)
    order: dict[tuple[int, int], int] = {}
    for right in range(width - 1, 0, -2):
        if right <= 6:
            right -= 1
        for vertical in range(width):
            for j in (right, right - 1):
                upwards = ((right & 2) == 0) ^ (j < 6)
                i = width - 1 - vertical if upwards else vertical
                if matrix[i][j] == 0x2 and (i, j) not in order:
                    order[(i, j)] = len(order)
    return order


def _make_template(version: int, reference: Sequence[Sequence[int]], data_bits: int) -> _Template:
    order = _placement(version)
    if len(order) != data_bits or len(reference) != encoder.calc_matrix_size(version):
        raise ValueError("QR template does not match the bit stream")
    size = len(reference) + 2 * BORDER
    row_length = size + (-size % 8)
    zero, one = data_bits, data_bits + 1
    sources: list[int] = []
    flips = bytearray()
    for y in range(size):
        for x in range(row_length):
            i, j = y - BORDER, x - BORDER
            if not (0 <= i < len(reference) and 0 <= j < len(reference)):
                sources.append(one)  # quiet zone and padding: light
                flips.append(0)
            elif (i, j) in order:
                sources.append(order[(i, j)])
                flips.append(1 ^ ((i + j) % 2 == 0))  # mask 0 inverts where i + j is even
            else:
                sources.append(zero if reference[i][j] else one)  # function patterns
                flips.append(0)
    return _Template(
        gather=itemgetter(*sources),
        flip=int.from_bytes(flips, "big"),
        data_bits=data_bits,
        length=len(sources) // 8,
    )


def _from_template(template: _Template, bits: bytes) -> bytes:
    picked = bytes(template.gather(bits + b"\x00\x01"))
    flipped = (int.from_bytes(picked, "big") ^ template.flip).to_bytes(len(picked), "big")
    return int(flipped.translate(_BITS), 2).to_bytes(template.length, "big")


def qr_pixels(payload: str) -> tuple[int, bytes]:
    """The symbol's image side in pixels and its packed 1-bit rows (0 = black), the
    quiet zone included: the same pixels as segno's symbol, made from a per-version
    template, else from segno's symbol itself."""
    try:
        version, bits = _codeword_bits(payload)
    except Exception:  # segno's internals changed: its public API still works
        version, bits = 0, b""
    template = _templates.get(version)
    if template is not None:
        return encoder.calc_matrix_size(version) + 2 * BORDER, _from_template(template, bits)
    matrix = _symbol(payload).matrix
    reference = _pixels(matrix)
    if version and version not in _templates:  # made once per version, if it matches
        try:
            made: _Template | None = _make_template(version, matrix, len(bits))
            if _from_template(made, bits) != reference:
                made = None
        except Exception:
            made = None
        with _templates_lock:
            _templates[version] = made
    return len(matrix) + 2 * BORDER, reference


def qr_image(payload: str) -> tuple[str, RasterImageInfo]:
    """The same QR code as :func:`qr_png`, as the image fpdf2 places: a key (by the
    payload) and a 1-bit DeviceGray raster, Flate-compressed, one pixel per module with
    the quiet zone. fpdf2 would decode a PNG and re-encode it for every document;
    this is what it would end up with, without the PNG."""
    size, pixels = qr_pixels(payload)
    info = RasterImageInfo(
        data=zlib.compress(pixels),
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
