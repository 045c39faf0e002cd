"""The ``example`` payment gateway: deterministic and idempotent.

Every charge and refund is appended to ``ledger_file`` under its idempotency key;
asking again with a key already used returns the first outcome (``"replayed":
true``) and charges nothing, as billingd requires of every gateway.
"""

from __future__ import annotations

import hashlib
import json
import threading
from decimal import Decimal
from pathlib import Path
from typing import Any


class ExampleGateway:
    name = "example"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.configure({})

    def configure(self, settings: dict[str, Any]) -> None:
        ledger = settings.get("ledger_file")
        limit = settings.get("decline_over")
        with self._lock:
            self.ledger_file = Path(ledger) if ledger else None
            self.decline_over = None if limit is None else Decimal(str(limit))

    def entries(self) -> list[dict[str, Any]]:
        """Everything recorded, oldest first."""
        if self.ledger_file is None or not self.ledger_file.exists():
            return []
        lines = self.ledger_file.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    def _once(self, kind: str, subject: str, amount: str, key: str) -> dict[str, Any]:
        with self._lock:
            if self.ledger_file is None:
                return {"status": "failed", "message": "example gateway: no ledger_file set"}
            for entry in self.entries():
                if entry["idempotency_key"] == key:
                    return {**entry, "replayed": True}
            declined = (
                kind == "charge"
                and self.decline_over is not None
                and Decimal(amount) > self.decline_over
            )
            entry = {
                "idempotency_key": key,
                "kind": kind,
                "subject": subject,
                "amount": amount,
                "status": "failed" if declined else "succeeded",
                "reference": "ex_" + hashlib.sha256(key.encode()).hexdigest()[:12],
                "message": f"over the limit of {self.decline_over}" if declined else "approved",
            }
            self.ledger_file.parent.mkdir(parents=True, exist_ok=True)
            with self.ledger_file.open("a", encoding="utf-8") as ledger:
                ledger.write(json.dumps(entry) + "\n")
            return entry

    def charge(self, invoice: dict[str, Any], amount: str, idempotency_key: str) -> dict:
        return self._once("charge", str(invoice.get("number", "")), amount, idempotency_key)

    def refund(self, payment: dict[str, Any], amount: str, idempotency_key: str) -> dict:
        return self._once("refund", str(payment.get("id", "")), amount, idempotency_key)
