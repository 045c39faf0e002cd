"""Snapshots of the main screens at 80x24 and 160x48 (pytest-textual-snapshot).

One daemon on the test clock with the fixed data of :mod:`tests.tui.showcase` serves
every snapshot; what would vary between runs is masked there. After a deliberate change
to a screen, look at the new pictures and accept them with
``python -m pytest tests/tui/test_snapshots.py --snapshot-update``.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from billingd_tui.app import BillingApp
from tests.conftest import RunningDaemon
from tests.tui import showcase

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def seeded() -> Iterator[tuple[RunningDaemon, dict[str, Any]]]:
    folder = Path(tempfile.mkdtemp(prefix="bd-snap-", dir="/tmp"))
    daemon = RunningDaemon(folder, f"sqlite:///{folder / 'billing.db'}", showcase.CONFIG)
    try:
        yield daemon, showcase.seed(daemon)
    finally:
        daemon.stop()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def app(
    seeded: tuple[RunningDaemon, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> Iterator[BillingApp]:
    monkeypatch.chdir(seeded[0].folder)
    with showcase.masked_replies():
        yield BillingApp(socket_path=showcase.SOCKET)


@pytest.mark.parametrize("size", list(showcase.SIZES))
@pytest.mark.parametrize(
    "screen", ["clients", "invoice", "dashboard", "runs", "client", "invoices"]
)
def test_main_screen_snapshot(
    snap_compare: Any,
    app: BillingApp,
    seeded: tuple[RunningDaemon, dict[str, Any]],
    screen: str,
    size: str,
) -> None:
    show = showcase.screens(seeded[1])[screen]
    assert snap_compare(app, terminal_size=showcase.SIZES[size], run_before=show)
