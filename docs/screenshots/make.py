"""Draw the README's screenshots of billing-tui: ``python docs/screenshots/make.py``.

Starts a daemon on the test clock with the fixed data the snapshot tests use
(tests/tui/showcase.py), drives the real app headless at 80x24 (an operator's terminal
over SSH) to each main screen and saves it as an SVG beside this script.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))  # the repository, for tests.tui.showcase

from billingd_tui.app import BillingApp  # noqa: E402
from tests.conftest import RunningDaemon  # noqa: E402
from tests.tui import showcase  # noqa: E402

SIZE = showcase.SIZES["80x24"]


async def save(name: str, show: showcase.Script) -> None:
    app = BillingApp(socket_path=showcase.SOCKET)
    async with app.run_test(size=SIZE) as pilot:
        await show(pilot)
        await pilot.pause(0.2)
        app.save_screenshot(f"{name}.svg", path=str(HERE))
        print(HERE / f"{name}.svg")


def main() -> int:
    folder = Path(tempfile.mkdtemp(prefix="bd-shots-", dir="/tmp"))
    daemon = RunningDaemon(folder, f"sqlite:///{folder / 'billing.db'}", showcase.CONFIG)
    try:
        screens = showcase.screens(showcase.seed(daemon))
        os.chdir(folder)  # the app reaches the socket by its relative path
        with showcase.masked_replies():
            for name, show in screens.items():
                asyncio.run(save(name, show))
    finally:
        daemon.stop()
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
