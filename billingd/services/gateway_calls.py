"""Asking a payment gateway plugin: its error or odd answer is a failed outcome, never a crash."""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

from billingd.services.context import ServiceContext

log = logging.getLogger("billingd.gateways")


def ask_gateway(
    ctx: ServiceContext,
    name: str,
    operation: str,
    subject: dict[str, Any],
    amount: Decimal,
    idempotency_key: str,
) -> dict[str, Any]:
    """``gateway.charge`` or ``gateway.refund`` (``operation``) of the gateway ``name``;
    the outcome dict, or ``{"status": "failed", "message": ...}`` when the plugin fails."""
    try:
        gateway = ctx.plugins.gateway(name)  # type: ignore[union-attr]
        outcome = getattr(gateway, operation)(subject, str(amount), idempotency_key)
    except Exception as exc:
        log.exception("gateway %s failed to %s (key %s)", name, operation, idempotency_key)
        return {"status": "failed", "message": f"gateway error: {type(exc).__name__}: {exc}"}
    return outcome if isinstance(outcome, dict) else {"status": "failed", "message": repr(outcome)}
