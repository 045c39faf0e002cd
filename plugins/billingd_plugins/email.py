"""The built-in ``email`` notifier (R-DEL-5): billing events become emails in the outbox.

Settings (``plugins.settings.email``): ``operator``, the list of addresses that
receive the operators' notices (payment failed, run failed, client parked); none by
default. What each audience receives is :mod:`billingd.services.mail_notices`.
"""

from __future__ import annotations

from typing import Any

from billingd.hookspecs import hookimpl
from billingd.services.context import ServiceContext
from billingd.services.mail_notices import EVENTS, queue_notices


class EmailNotifier:
    name = "email"

    def __init__(self) -> None:
        self.operator: list[str] = []

    def wants(self, event_name: str) -> bool:
        return event_name in EVENTS

    def notify(self, event: dict[str, Any]) -> None:
        queue_notices(ServiceContext(actor="system"), event, self.operator)


NOTIFIER = EmailNotifier()


@hookimpl
def plugin_settings_schema() -> dict[str, str]:
    return {"operator": "list"}


@hookimpl
def startup(host: Any) -> None:
    NOTIFIER.operator = [str(a) for a in host.settings_for("email").get("operator", [])]


@hookimpl
def register_notifiers(register: Any) -> None:
    register(NOTIFIER)
