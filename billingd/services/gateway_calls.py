"""Asking a payment gateway plugin: its error or odd answer is a failed outcome, never a
crash, and a gateway that does not answer in time never holds up its caller.

A gateway's silence is not a refusal: the charge or refund may have gone through. So
an unanswered call is the outcome :data:`UNANSWERED`, and the attempt stays pending,
to be asked again with the same idempotency key (the gateway then answers what it
did the first time). The thread of a call that never returns is left to it: a
gateway plugin must not be interrupted half-way.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

from billingd.services.context import ServiceContext

log = logging.getLogger("billingd.gateways")

UNANSWERED = "unanswered"
"""The status of an outcome whose gateway did not answer within the time allowed."""

_calls = ThreadPoolExecutor(4, thread_name_prefix="billingd-gateway")


def ask_gateway(
    ctx: ServiceContext,
    name: str,
    operation: str,
    subject: dict[str, Any],
    amount: Decimal,
    idempotency_key: str,
) -> dict[str, Any]:
    """``gateway.charge`` or ``gateway.refund`` (``operation``) of the gateway ``name``;
    the outcome dict, ``{"status": "failed", "message": ...}`` when the plugin fails,
    or ``{"status": UNANSWERED, ...}`` after ``ctx.gateway_timeout`` seconds."""
    try:
        gateway = ctx.plugins.gateway(name)  # type: ignore[union-attr]
        call = _calls.submit(getattr(gateway, operation), subject, str(amount), idempotency_key)
        outcome = call.result(timeout=ctx.gateway_timeout)
    except TimeoutError:
        log.warning(
            "gateway %s did not answer a %s within %g s (key %s); asked again later",
            name, operation, ctx.gateway_timeout, idempotency_key,
        )  # fmt: skip
        message = f"gateway {name} did not answer within {ctx.gateway_timeout:g} s"
        return {"status": UNANSWERED, "message": message}
    except Exception as exc:
        log.exception("gateway %s failed to %s (key %s)", name, operation, idempotency_key)
        return {"status": "failed", "message": f"gateway error: {type(exc).__name__}: {exc}"}
    return outcome if isinstance(outcome, dict) else {"status": "failed", "message": repr(outcome)}
