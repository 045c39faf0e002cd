"""The ``manual`` payment method as a gateway: it never takes money (SPEC §11).

An invoice charged through it stays open until an operator records the payment.
"""

from __future__ import annotations

from typing import Any

from billingd.hookspecs import hookimpl


class ManualGateway:
    name = "manual"

    def charge(self, invoice: dict[str, Any], amount: str, idempotency_key: str) -> dict:
        return {"status": "requires_action", "message": "pay by bank transfer"}

    def refund(self, payment: dict[str, Any], amount: str, idempotency_key: str) -> dict:
        return {"status": "requires_action", "message": "refund by bank transfer"}


@hookimpl
def register_gateways(register) -> None:  # type: ignore[no-untyped-def]
    register(ManualGateway())
