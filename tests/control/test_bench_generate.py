"""The benchmark's data generator (``bench/generate.py``) writes files the real
billingctl imports, and the month they describe bills one invoice per client."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.conftest import RunningDaemon, billingctl_ok

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_generate", BENCH / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow  # a daemon and three billingctl imports: several seconds
def test_generated_month_imports_and_bills_each_client_once(short_dir: Path) -> None:
    generate = _generator()
    data = short_dir / "month"
    plan = generate.generate(data, generate.Sizes(clients=20, usage=300))
    again = short_dir / "again"
    generate.generate(again, generate.Sizes(clients=20, usage=300))
    for name in ("clients.csv", "contracts.csv", "usage.csv"):  # seeded: the same bytes
        assert (data / name).read_bytes() == (again / name).read_bytes()
    assert json.loads((data / "setup.json").read_text()) == plan

    daemon = RunningDaemon(short_dir, f"sqlite:///{short_dir / 'billing.db'}",
                           "invoicing: manual\nclock: test\n")  # fmt: skip
    try:
        daemon.call("clock.set", to=plan["import_clock"])
        for number, enterprise in enumerate(plan["enterprises"], start=1):
            assert daemon.call("enterprise.add", **enterprise)["id"] == number
        for number, reseller in enumerate(plan["resellers"], start=1):
            assert daemon.call("reseller.add", **reseller)["id"] == number
        clients = billingctl_ok(daemon, "client", "import", str(data / "clients.csv"))
        contracts = billingctl_ok(daemon, "contract", "import", str(data / "contracts.csv"))
        usage = billingctl_ok(daemon, "usage", "import", str(data / "usage.csv"))
        assert (clients["imported"], contracts["imported"]) == (20, 20)
        assert (usage["imported"], usage["duplicates"]) == (300, 0)
        assert daemon.call("status")["clients"] == 20
        currencies = {c["currency"] for c in daemon.call("client.list", limit=50)}
        assert currencies == {"EUR", "CHF"}

        daemon.call("clock.set", to=plan["run_clock"])
        planned = daemon.call("run.start", until=plan["next_month"], dry_run=True)
        billed = sorted(i["client_id"] for i in planned["invoices"] if i["client_id"])
        assert billed == list(range(1, 21))  # every client once, none back-billed
    finally:
        daemon.stop()
