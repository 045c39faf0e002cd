"""A Factur-X PDF: the printed invoice as PDF/A-3 with its CII embedded.

``factur-x`` attaches ``factur-x.xml`` (``/AF``, relationship ``Alternative``) and
writes the XMP with the Factur-X extension schema and ``pdfaid:part 3``. PDF/A also
wants an output intent, which that library does not add: an sRGB one is added here
unless the PDF brings its own.
"""

from __future__ import annotations

import io
from importlib import resources
from typing import Any

import facturx
from pypdf import PdfReader, PdfWriter
from pypdf.generic import (
    ArrayObject,
    DecodedStreamObject,
    DictionaryObject,
    NameObject,
    NumberObject,
    TextStringObject,
)

SRGB = "sRGB IEC61966-2.1"


def _srgb_profile() -> bytes:
    """The sRGB ICC profile fpdf2 (a billingd dependency) ships."""
    return (resources.files("fpdf") / "data" / "color_profiles" / "sRGB2014.icc").read_bytes()


def with_output_intent(pdf: bytes) -> bytes:
    """The PDF with an sRGB PDF/A output intent, unless it already has one."""
    reader = PdfReader(io.BytesIO(pdf))
    if "/OutputIntents" in reader.trailer["/Root"]:
        return pdf
    writer = PdfWriter(clone_from=reader)
    profile = DecodedStreamObject()
    profile.set_data(_srgb_profile())
    profile = profile.flate_encode()
    profile[NameObject("/N")] = NumberObject(3)
    intent = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/OutputIntent"),
            NameObject("/S"): NameObject("/GTS_PDFA1"),
            NameObject("/OutputConditionIdentifier"): TextStringObject(SRGB),
            NameObject("/Info"): TextStringObject(SRGB),
            NameObject("/DestOutputProfile"): writer._add_object(profile),
        }
    )
    writer._root_object[NameObject("/OutputIntents")] = ArrayObject([writer._add_object(intent)])
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def facturx_pdf(pdf: bytes, cii: bytes, document: dict[str, Any]) -> bytes:
    """Embed the Factur-X EN 16931 ``cii`` into the document's ``pdf``."""
    seller = str((document.get("seller") or {}).get("name") or "")
    number = str(document.get("number") or "")
    kind = "Credit note" if document.get("kind") == "credit_note" else "Invoice"
    metadata = {
        "author": seller,
        "keywords": f"Factur-X, {kind}",
        "title": f"{seller}: {kind} {number}",
        "subject": f"Factur-X {kind.lower()} {number} dated {document.get('issue_date')}",
    }
    return facturx.generate_from_binary(
        with_output_intent(pdf),
        cii,
        flavor="factur-x",
        level="en16931",
        check_xsd=False,  # the tests check the writer against the XSD
        pdf_metadata=metadata,
        lang=str(document.get("language") or "en"),
        afrelationship="alternative",
    )
