"""The EPC QR code's image: the per-version template gives segno's own symbol, pixel for pixel."""

from __future__ import annotations

import random
import string
import zlib

import pytest

from billingd_plugins import pdf_qr


def segno_pixels(payload: str) -> tuple[int, bytes]:
    matrix = pdf_qr._symbol(payload).matrix
    return len(matrix) + 2 * pdf_qr.BORDER, pdf_qr._pixels(matrix)


@pytest.mark.slow  # a sweep over QR versions
def test_template_pixels_are_segnos_for_payloads_of_many_versions():
    rng = random.Random(7)
    alphabet = string.ascii_letters + string.digits + " \n-.äöüß€–ÆØ中文"
    versions = set()
    for _ in range(400):
        payload = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 300)))
        assert pdf_qr.qr_pixels(payload) == segno_pixels(payload)
        versions.add(pdf_qr._codeword_bits(payload)[0])
    assert len(versions) >= 8
    made = [v for v in versions if pdf_qr._templates.get(v) is not None]
    assert len(made) == len(versions)  # every template matched segno when it was made


def test_qr_image_is_a_one_bit_raster_of_those_pixels():
    payload = pdf_qr.epc_payload(
        name="Nordwind Telecom GmbH", iban="DE89 3704 0044 0532 0130 00", bic="COBADEFFXXX",
        amount="91.92", text="INV-2026-0001",
    )  # fmt: skip
    assert payload is not None
    key, info = pdf_qr.qr_image(payload)
    size, pixels = segno_pixels(payload)
    assert key.startswith("qr-")
    assert (info["w"], info["h"], info["bpc"], info["cs"]) == (size, size, 1, "DeviceGray")
    assert zlib.decompress(info["data"]) == pixels
