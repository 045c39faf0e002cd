"""An example third-party billingd plugin (see README.md).

It registers the payment gateway ``example`` and the notifier ``example-file``, and
declares its settings (``plugins.settings.example`` in billingd.yaml):

``ledger_file``
    JSON-lines file where the gateway records every charge and refund (required
    for charging: without it the gateway declines).
``decline_over``
    a decimal amount; larger charges are declined (default: none are).
``events_file``
    JSON-lines file the notifier appends events to (without it, it wants none).
``events``
    the event names the notifier wants (default: all).

The settings are read at start-up and again when a reload changes them.
"""

from __future__ import annotations

from typing import Any

from billingd.hookspecs import hookimpl

from billingd_example.gateway import ExampleGateway
from billingd_example.notifier import FileNotifier

__all__ = ["GATEWAY", "NOTIFIER", "PLUGIN_NAME", "ExampleGateway", "FileNotifier"]

PLUGIN_NAME = "example"  # the entry-point name in pyproject.toml
GATEWAY = ExampleGateway()
NOTIFIER = FileNotifier()


def configure(settings: dict[str, Any]) -> None:
    GATEWAY.configure(settings)
    NOTIFIER.configure(settings)


@hookimpl
def plugin_settings_schema() -> dict[str, str]:
    return {"ledger_file": "str", "decline_over": "decimal", "events_file": "str", "events": "list"}


@hookimpl
def startup(host: Any) -> None:
    configure(host.settings_for(PLUGIN_NAME))


@hookimpl
def settings_changed(settings: dict[str, Any]) -> None:
    configure(settings)


@hookimpl
def register_gateways(register: Any) -> None:
    register(GATEWAY)


@hookimpl
def register_notifiers(register: Any) -> None:
    register(NOTIFIER)
