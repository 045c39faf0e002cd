"""The e-invoice renderers: Factur-X PDF, XRechnung (CII and UBL) and Peppol BIS UBL."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from billingd.rendering import RenderContext
from billingd_plugins.einvoice.checks import check
from billingd_plugins.einvoice.cii import build_cii
from billingd_plugins.einvoice.codes import (
    FACTURX_EN16931,
    PEPPOL_UBL,
    XRECHNUNG_CII,
    XRECHNUNG_UBL,
    Profile,
)
from billingd_plugins.einvoice.facturx_pdf import facturx_pdf
from billingd_plugins.einvoice.model import Invoice, read_document
from billingd_plugins.einvoice.ubl import build_ubl

Builder = Callable[[Invoice, Profile], bytes]


def render_xml(document: dict[str, Any], profile: Profile, build: Builder) -> bytes:
    """Read, check and write one document in the profile's syntax.

    :raises billingd.errors.ValidationError: the document cannot be a valid e-invoice.
    """
    invoice = read_document(document, profile)
    check(invoice, profile)
    return build(invoice, profile)


class XmlRenderer:
    """An e-invoice in XML: one profile written by one builder."""

    media_type = "application/xml"
    file_extension = "xml"

    def __init__(self, profile: Profile, build: Builder) -> None:
        self.name = profile.name
        self.profile = profile
        self.build = build

    def render(self, document: dict[str, Any], context: RenderContext) -> bytes:
        return render_xml(document, self.profile, self.build)


class FacturXRenderer:
    """The document's PDF (the ``pdf`` renderer's) as Factur-X EN 16931."""

    name = FACTURX_EN16931.name
    media_type = "application/pdf"
    file_extension = "pdf"

    def render(self, document: dict[str, Any], context: RenderContext) -> bytes:
        # imported here so that the XML renderers load without the PDF stack (fonts ...)
        from billingd_plugins.pdf import PdfRenderer

        cii = render_xml(document, FACTURX_EN16931, build_cii)  # refuse before laying out
        return facturx_pdf(PdfRenderer().render(document, context), cii, document)


def renderers() -> list[Any]:
    """One of each: ``facturx``, ``xrechnung``, ``xrechnung-ubl`` and ``ubl``."""
    return [
        FacturXRenderer(),
        XmlRenderer(XRECHNUNG_CII, build_cii),
        XmlRenderer(XRECHNUNG_UBL, build_ubl),
        XmlRenderer(PEPPOL_UBL, build_ubl),
    ]
