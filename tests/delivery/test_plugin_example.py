"""The example third-party plugin package (plugins/billingd-example-plugin, issue 11):
its own tests pass, and pip-installed into a fresh virtual environment it is
discovered, listed and used by a daemon running there."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import RunningDaemon, billingctl_ok
from tests.delivery.conftest import wait_until

EXAMPLE = Path(__file__).resolve().parents[2] / "plugins" / "billingd-example-plugin"
LITTER = ("build", "dist", "*.egg-info", "__pycache__", ".ruff_cache", ".pytest_cache")


@pytest.mark.slow
def test_the_example_packages_own_tests_pass() -> None:
    """``python -m pytest`` in the package, with its source on the path (not installed)."""
    env = {**os.environ, "PYTHONPATH": str(EXAMPLE / "src")}
    env.pop("BILLINGD_PLUGINS", None)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:asyncio"],
        cwd=EXAMPLE,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert " passed" in done.stdout and "failed" not in done.stdout


def fresh_venv(folder: Path) -> Path:
    """A new virtual environment whose python also sees this one's packages (billingd
    and its dependencies, pip, setuptools): like ``--system-site-packages``, but on
    top of the environment the tests run in. Returns its python."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True)
    python = folder / "bin" / "python"
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    parent = sysconfig.get_paths()["purelib"]
    Path(site, "_billingd_parent_env.pth").write_text(f"import site; site.addsitedir({parent!r})\n")
    return python


def _run_done(daemon: RunningDaemon, run_id: int) -> dict[str, Any]:
    return wait_until(
        lambda: (run := daemon.call("run.show", id=run_id))["status"] != "running" and run,
        what=f"run {run_id} finished",
    )


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.mark.slow
def test_example_plugin_pip_installed_in_a_fresh_venv_is_discovered_listed_and_used(
    tmp_path: Path, short_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = time.monotonic()
    monkeypatch.delenv("BILLINGD_PLUGINS", raising=False)
    python = fresh_venv(tmp_path / "venv")
    probe = [python, "-c", "import billingd_example"]
    assert subprocess.run(probe, capture_output=True).returncode != 0  # not there yet

    # pip builds and installs it like any third-party package (billingd itself is
    # already importable, hence --no-deps)
    source = tmp_path / "billingd-example-plugin"  # a copy: the build writes beside it
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns(*LITTER))
    isolation = ["--no-build-isolation"] if importlib.util.find_spec("wheel") else []
    install = subprocess.run(
        [python, "-m", "pip", "install", "--no-deps", "-q", *isolation, str(source)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    where = subprocess.run(
        [python, "-c", "import billingd_example; print(billingd_example.__file__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert where.startswith(str(tmp_path / "venv")), where  # installed, not from the source

    ledger, events = tmp_path / "ledger.jsonl", tmp_path / "events.jsonl"
    config = (
        "invoicing: manual\n"
        "plugins:\n  settings:\n    example:\n"
        f"      ledger_file: {ledger}\n      events_file: {events}\n"
        "      events: [invoice.issued, payment.received]\n"
    )
    daemon = RunningDaemon(short_dir, f"sqlite:///{short_dir / 'billing.db'}", config, str(python))
    try:
        # discovered and listed, with its distribution's version and what it registers
        listing = {p["name"]: p for p in billingctl_ok(daemon, "plugins")}
        assert listing["example"]["version"] == "1.0.0"
        assert listing["example"]["builtin"] is False
        assert listing["example"]["registers"] == {
            "renderer": [],
            "gateway": ["example"],
            "notifier": ["example-file"],
            "uploader": [],
        }

        # used: a self-checkout contract's invoice is charged through its gateway,
        # and its notifier is told of the invoice and the payment
        enterprise = daemon.call(
            "enterprise.add", name="Acme", currency="EUR", tax_rate="19", timezone="UTC"
        )
        client = daemon.call("client.add", name="Jane Doe", enterprise=enterprise["id"])
        daemon.call(
            "contract.add",
            client=client["id"],
            description="Hosted PBX",
            price="20.00",
            cycle="month",
            start="2026-01-01",
            origin="self_checkout",
            gateway="example",
        )
        run = daemon.call("run.start", until="2026-01-01", client=client["id"])
        assert _run_done(daemon, run["id"])["status"] == "done"
        (invoice,) = daemon.call("invoice.list", client=client["id"])
        assert (invoice["total"], invoice["status"]) == ("23.80", "paid")
        (charge,) = _lines(ledger)
        assert (charge["kind"], charge["subject"], charge["amount"], charge["status"]) == (
            "charge",
            invoice["number"],
            "23.80",
            "succeeded",
        )
        told = wait_until(lambda: len(got := _lines(events)) >= 2 and got, what="2 events")
        assert sorted(e["name"] for e in told) == ["invoice.issued", "payment.received"]
        assert len({e["id"] for e in told}) == 2
    finally:
        daemon.stop()
    assert time.monotonic() - started < 60
