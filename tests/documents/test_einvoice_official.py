"""Every e-invoice renderer against the official rules (CEN EN 16931 1.3.16, Peppol BIS
Billing 3.0, XRechnung 3.0.2) of ``../shared/einvoice``; skipped where it is absent."""

from __future__ import annotations

from typing import Any

import pytest

from billingd.errors import ValidationError
from billingd_plugins.einvoice.codes import FACTURX_EN16931, PEPPOL_UBL, XRECHNUNG_CII

from . import samples
from .conftest import (
    BROKEN,
    CONTEXT,
    DOCUMENTS,
    RENDERERS,
    TOLERATED_WARNINGS,
    direct_debit,
    render,
    written_anyway,
)

# The profile the validator must recognise (so the right rule sets ran).
PROFILES = {
    "facturx": "facturx-en16931",
    "xrechnung": "xrechnung",
    "xrechnung-ubl": "xrechnung",
    "ubl": "peppol",
}


def validate(official: Any, renderer: str, data: bytes) -> Any:
    if renderer == "facturx":
        return official.validate_pdf(data)
    return official.validate_xml(data)


def assert_valid(report: Any, renderer: str) -> None:
    problems = [f"{f.severity} {f.rule}: {f.text}" for f in report.findings]
    assert report.valid, problems
    assert report.profile == PROFILES[renderer]
    assert {f.rule for f in report.warnings} <= TOLERATED_WARNINGS, problems


@pytest.mark.parametrize("renderer", sorted(RENDERERS))
@pytest.mark.parametrize("sample", sorted(DOCUMENTS))
def test_samples_pass_the_official_rules(official, renderer, sample):
    data = render(renderer, DOCUMENTS[sample]())
    assert_valid(validate(official, renderer, data), renderer)


@pytest.mark.slow
@pytest.mark.parametrize("renderer", sorted(RENDERERS))
def test_500_line_invoice_passes_the_official_rules(official, renderer):
    data = render(renderer, samples.long_invoice())
    assert_valid(validate(official, renderer, data), renderer)


def test_direct_debit_passes_the_official_rules(official):
    for renderer in sorted(RENDERERS):
        data = render(renderer, direct_debit())
        assert_valid(validate(official, renderer, data), renderer)


@pytest.mark.parametrize("means", ["card", "none"])
def test_other_payment_means_pass_the_official_rules(official, means):
    document = samples.invoice()
    document["payment"]["means"] = means
    for renderer in sorted(RENDERERS):
        assert_valid(validate(official, renderer, render(renderer, document)), renderer)


def test_a_negative_line_on_an_invoice_passes_the_official_rules(official):
    """A credit line on an invoice: quantity -1 at a positive price (BR-27)."""
    document = samples.invoice(
        lines=[
            samples.line(1, "Business fibre 500", "49.90"),
            samples.line(2, "Goodwill credit", "-10.00", kind="credit", cycle=None),
        ]
    )
    for renderer in sorted(RENDERERS):
        assert_valid(validate(official, renderer, render(renderer, document)), renderer)


@pytest.mark.parametrize("case", sorted(BROKEN))
@pytest.mark.parametrize(
    "profile", [FACTURX_EN16931, XRECHNUNG_CII, PEPPOL_UBL], ids=lambda p: p.name
)
def test_broken_documents_fail_with_their_rules(official, case, profile):
    """Written without the renderer's checks, each fault is one the official rules name."""
    make, rules, _ = BROKEN[case]
    report = official.validate_xml(written_anyway(make(), profile))
    assert not report.valid
    assert rules <= report.rules(), sorted(report.rules())


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_renderers_refuse_broken_documents_naming_the_field(case):
    make, _, field = BROKEN[case]
    for name, renderer in RENDERERS.items():
        with pytest.raises(ValidationError) as refused:
            renderer.render(make(), CONTEXT)
        assert refused.value.data["field"] == field, name
