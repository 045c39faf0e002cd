"""billing-tui in a real terminal (tmux), as an operator drives it over SSH (issue 12)."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable

import pytest

from tests.conftest import RunningDaemon

pytestmark = pytest.mark.slow


class Tmux:
    """One detached tmux session running a command; keys in, screen text out."""

    def __init__(self, command: list[str], width: int = 80, height: int = 24) -> None:
        self.name = f"bd-{uuid.uuid4().hex[:8]}"
        subprocess.run(
            ["tmux", "new-session", "-d", "-s", self.name, "-x", str(width), "-y", str(height),
             shlex.join(command)],
            check=True,
        )  # fmt: skip

    def keys(self, *keys: str) -> None:
        subprocess.run(["tmux", "send-keys", "-t", self.name, *keys], check=True)

    def type(self, text: str) -> None:
        subprocess.run(["tmux", "send-keys", "-t", self.name, "-l", text], check=True)

    def screen(self) -> str:
        return subprocess.run(
            ["tmux", "capture-pane", "-p", "-t", self.name], capture_output=True, text=True
        ).stdout

    def wait(self, check: Callable[[str], bool], what: str, timeout: float = 20) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.screen()
            if check(text):
                return text
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}; the screen shows:\n{self.screen()}")

    def close(self) -> None:
        subprocess.run(["tmux", "kill-session", "-t", self.name], capture_output=True)


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_an_operator_records_a_payment_and_a_credit_note_in_a_real_terminal(
    daemon: RunningDaemon,
) -> None:
    acme = daemon.call("enterprise.add", name="Acme", currency="EUR")
    jane = daemon.call("client.add", name="Jane Client", enterprise=acme["id"])
    [invoice] = daemon.call("invoice.amount", client=jane["id"], date="2026-01-15", amount="119.00")
    tui = [sys.executable, "-c", "from billingd_tui.app import main; main()"]
    term = Tmux([*tui, "--socket", str(daemon.socket)])
    try:
        term.wait(lambda s: "Jane Client" in s and "119.00" in s, "the client and its invoice")
        term.keys("Enter")  # the client's workspace
        term.wait(lambda s: "Total invoiced" in s and "Credit notes" in s, "the workspace")
        term.keys("3")  # its invoices tab
        term.wait(lambda s: "Invoices · 1" in s and "2026-01-15" in s, "the invoices tab")
        term.keys("Enter")  # open the invoice
        term.wait(lambda s: f"Invoice {invoice['number']}" in s and "Balance due" in s, "invoice")

        term.keys("p")
        term.wait(lambda s: "Record payment" in s, "the payment form")
        for attempt in range(3):  # keys sent while the form still mounts can be lost
            term.keys("C-u")  # clear the amount (it starts with the balance)
            term.type("100.00")
            try:
                term.wait(lambda s: "100.00" in s, "the amount typed", timeout=3)
                break
            except AssertionError:
                if attempt == 2:
                    raise
        term.keys("Enter")
        term.wait(lambda s: "Record payment" not in s and "19.00" in s, "the balance after payment")

        term.keys("c")
        term.wait(lambda s: "Issue credit note" in s, "the credit note form")
        term.type("19.00")
        term.wait(lambda s: "19.00" in s, "the amount typed")
        term.keys("Tab")
        term.wait(lambda s: "Reason" in s, "the reason field")
        time.sleep(0.5)  # the focus moves on the app's own loop
        term.type("goodwill")
        term.keys("Enter")
        # the totals show once the two "done" notices have faded
        screen = term.wait(
            lambda s: "Issue credit note" not in s and " paid " in s and "Balance due" in s,
            "paid, with its totals",
        )
        balance = next(line for line in screen.splitlines() if "Balance due" in line)
        assert balance.split()[-2:] == ["0.00", "EUR"] or balance.split()[-1] == "0.00"
        notes = daemon.call("credit_note.list", invoice=invoice["id"])
        assert [(n["amount"], n["reason"]) for n in notes] == [("19.00", "goodwill")]
        term.keys("Escape")  # back to the workspace: its cards follow the daemon's events
        term.wait(
            lambda s: "Total paid" in s and "100.00 EUR" in s and "0.00 EUR" in s,
            "the client's cards after the payment and the credit note",
        )
        term.keys("q")
    finally:
        term.close()
