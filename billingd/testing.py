"""pytest fixtures for billingd plugin authors (and billingd's own tests).

Enable them in a ``conftest.py`` (or a test module)::

    pytest_plugins = ["billingd.testing"]

    def test_my_renderer(register_plugin, plugin_host, sample_document):
        register_plugin(my_plugin_module)
        pdf = plugin_host.renderer("my-format").render(sample_document, ...)

Fixtures:

``plugin_host``
    a :class:`billingd.plugins.PluginHost` with the built-in plugins only (the
    ``BILLINGD_PLUGINS`` allowlist is ignored, so installed plugins stay out).
``register_plugin``
    ``register_plugin(plugin, name=None)`` registers a throwaway plugin on
    ``plugin_host`` and returns its name; it is unregistered after the test.
``sample_document``
    a fresh copy of :data:`SAMPLE_DOCUMENT`, a complete invoice as renderers get it.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from billingd.plugins import PluginHost, load_plugins

SAMPLE_DOCUMENT: dict[str, Any] = {
    "id": 1,
    "number": "100001/2026",
    "kind": "invoice",
    "status": "open",
    "origin": "manual",
    "client_id": 3,
    "reseller_id": None,
    "issue_date": "2026-11-01",
    "due_date": "2026-11-15",
    "period_start": "2026-10-01",
    "period_end": "2026-10-31",
    "currency": "EUR",
    "subtotal": "100.00",
    "tax": "19.00",
    "total": "119.00",
    "balance": "119.00",
    "credit_note_for": None,
    "reason": None,
    "lines": [
        {
            "kind": "contract",
            "description": "Hosted PBX (2026-10-01 – 2026-10-31)",
            "quantity": "1",
            "unit": "",
            "unit_price": "100.00",
            "net": "100.00",
            "tax_rate": "19",
            "tax": "19.00",
        }
    ],
    "tax_breakdown": [{"rate": "19", "net": "100.00", "tax": "19.00"}],
    "seller": {
        "name": "Acme Telecom GmbH",
        "address": "Hauptstr. 1\n10115 Berlin",
        "tax_id": "DE123456789",
        "registration_id": "HRB 1",
        "iban": "DE89370400440532013000",
        "bic": "COBADEFFXXX",
        "email": "billing@acme.example",
    },
    "bill_to": {
        "name": "Jane Doe",
        "company": "Example Ltd",
        "address": "1 Road\nLondon",
        "tax_id": "GB123",
        "contract_number": "C-1",
        "email": "ap@example.com",
    },
    "brand": {
        "name": "Acme",
        "accent_color": "#1f6feb",
        "footer": "Thank you.",
        "logo_path": None,
        "invoice_template": "invoice.tpl",
    },
}


@pytest.fixture
def sample_document() -> dict[str, Any]:
    """A complete invoice document, safe to modify."""
    return copy.deepcopy(SAMPLE_DOCUMENT)


@pytest.fixture
def plugin_host() -> PluginHost:
    """A plugin host with the built-in plugins loaded and started."""
    return load_plugins(enabled=())


@pytest.fixture
def register_plugin(plugin_host: PluginHost) -> Iterator[Callable[..., str]]:
    """Register throwaway plugins on ``plugin_host``; they are removed after the test."""
    names: list[str] = []
    counter = itertools.count(1)

    def register(plugin: object, name: str | None = None) -> str:
        name = name or f"test-plugin-{next(counter)}"
        plugin_host.register(plugin, name)
        names.append(name)
        return name

    try:
        yield register
    finally:
        for name in reversed(names):
            if plugin_host.manager.get_plugin(name) is not None:
                plugin_host.unregister(name)
