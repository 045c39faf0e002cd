from collections.abc import Iterator

import pytest

import billingd_example

pytest_plugins = ["billingd.testing"]  # plugin_host, register_plugin, sample_document


@pytest.fixture(autouse=True)
def unconfigured() -> Iterator[None]:
    """The plugin's gateway and notifier are module-level: reset them around each test."""
    billingd_example.configure({})
    yield
    billingd_example.configure({})
