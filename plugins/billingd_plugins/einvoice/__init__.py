"""EN 16931 e-invoices: Factur-X/ZUGFeRD (PDF with CII), XRechnung 3.0 (CII and UBL)
and Peppol BIS Billing 3.0 (UBL invoice and credit note).

A document (docs/documents.md) is read once (:mod:`.model`), refused with a
:class:`billingd.errors.ValidationError` naming the field when it cannot make a valid
e-invoice (:mod:`.checks`), and written as CII (:mod:`.cii`) or UBL (:mod:`.ubl`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from billingd.hookspecs import hookimpl
from billingd_plugins.einvoice.renderers import renderers


@hookimpl
def register_renderers(register: Callable[[Any], None]) -> None:
    for renderer in renderers():
        register(renderer)
