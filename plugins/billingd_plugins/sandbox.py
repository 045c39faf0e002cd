"""The ``sandbox`` payment gateway: a simulated card processor (SPEC §11, R-RUN-7).

Outcomes are deterministic: amounts listed in ``fail_amounts`` are declined, every
other amount gets ``outcome`` (``succeed`` by default). Every charge is remembered
by its idempotency key in a JSON-lines file, so asking again with the same key
(after a crash between charging and recording) returns the first outcome instead
of charging twice.

Settings (``plugins.settings.sandbox``): ``state_file`` (the charge log; default
in the user state directory), ``fail_amounts`` (decimal strings), ``outcome``,
``answer_seconds`` (how long the simulated processor takes to answer; 0 by default:
a rehearsal of a gateway slower than the daemon's ``gateway_timeout``).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import platformdirs

from billingd.hookspecs import hookimpl


class SandboxGateway:
    name = "sandbox"

    def __init__(self) -> None:
        self.configure({})
        self._lock = threading.Lock()

    def configure(self, settings: dict[str, Any]) -> None:
        default = Path(platformdirs.user_state_dir("billingd", appauthor=False))
        self.state_file = Path(settings.get("state_file") or default / "sandbox-charges.jsonl")
        self.fail_amounts = {Decimal(str(a)) for a in settings.get("fail_amounts", [])}
        self.default_outcome = settings.get("outcome", "succeed")
        self.answer_seconds = float(Decimal(str(settings.get("answer_seconds", 0))))

    def _recorded(self) -> dict[str, dict[str, Any]]:
        if not self.state_file.exists():
            return {}
        entries = (json.loads(line) for line in self.state_file.read_text().splitlines() if line)
        return {entry["idempotency_key"]: entry for entry in entries}

    def _decide(self, amount: str) -> str:
        if Decimal(amount) in self.fail_amounts:
            return "failed"
        return "succeeded" if self.default_outcome == "succeed" else "failed"

    def _once(self, kind: str, amount: str, idempotency_key: str) -> dict[str, Any]:
        time.sleep(self.answer_seconds)
        with self._lock:
            previous = self._recorded().get(idempotency_key)
            if previous is not None:
                return {**previous, "replayed": True}
            status = self._decide(amount)
            entry = {
                "idempotency_key": idempotency_key,
                "kind": kind,
                "amount": amount,
                "status": status,
                "reference": f"sbx_{uuid.uuid4().hex[:16]}",
                "message": "approved" if status == "succeeded" else "card declined",
            }
            self.state_file.parent.mkdir(parents=True, exist_ok=True)
            with self.state_file.open("a", encoding="utf-8") as log:
                log.write(json.dumps(entry) + "\n")
            return entry

    def charge(self, invoice: dict[str, Any], amount: str, idempotency_key: str) -> dict:
        return self._once("charge", amount, idempotency_key)

    def refund(self, payment: dict[str, Any], amount: str, idempotency_key: str) -> dict:
        return self._once("refund", amount, idempotency_key)

    def charges(self) -> list[dict[str, Any]]:
        """Every recorded charge (for tests and demos)."""
        return [e for e in self._recorded().values() if e["kind"] == "charge"]


SANDBOX = SandboxGateway()


@hookimpl
def register_gateways(register) -> None:  # type: ignore[no-untyped-def]
    register(SANDBOX)


@hookimpl
def startup(host) -> None:  # type: ignore[no-untyped-def]
    SANDBOX.configure(host.settings_for("sandbox"))


@hookimpl
def plugin_settings_schema() -> dict[str, str]:
    return {
        "state_file": "str",
        "fail_amounts": "list",
        "outcome": "str",
        "answer_seconds": "decimal",
    }
