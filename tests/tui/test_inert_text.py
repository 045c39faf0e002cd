"""Terminal escape injection in the TUI (SPEC §12, issue 14): names, CDR fields and
messages with ESC sequences, C1 controls and bidi overrides reach the operator's
screen as visible escapes (``\\x1b``, ``\\u202e``), never as commands to the terminal,
on every screen, in tables, panes, titles, forms, dialogs and notifications. What
the daemon holds stays exact: a form saved untouched keeps the name as it was.

The app is the real one, driven by its pilot against a real daemon; what is checked
is the screen as the compositor hands it to the terminal.
"""

from __future__ import annotations

from typing import Any

import pytest
from rich.text import Text
from textual.pilot import Pilot

from billingd_tui.app import BillingApp
from billingd_tui.format import assemble, cell, inert
from billingd_tui.messages import DaemonRefused
from billingd_tui.screens import ClientScreen, ClientsScreen, InvoiceScreen
from billingd_tui.screens.billgroups import BillGroupsScreen
from billingd_tui.screens.confirm import ConfirmScreen
from billingd_tui.screens.document import DocumentScreen
from billingd_tui.screens.form import FormScreen
from billingd_tui.sections import SECTIONS
from tests.conftest import RunningDaemon
from tests.tui.pilot import screen_text, wait_for

HOSTILE = "\x1b]0;owned\x07Mallory\x1b[2J \u202eLTD\u202c \x9b31m [bold]x[/]"
SHOWN = "\\x1b]0;owned\\x07Mallory\\x1b[2J \\u202eLTD\\u202c \\x9b31m [bold]x[/]"
"""HOSTILE as the screen shows it: every escape visible, brackets as they are."""
RAW = ("\x1b", "\x07", "\x9b", "\u202e", "\u202c", "\x85", "\u2066")
"""Characters that act on a terminal: none may reach it as they are."""


def assert_inert(text: str, where: str) -> None:
    for char in RAW:
        assert char not in text, (where, repr(char), text)


def test_inert_shows_controls_as_escapes_and_keeps_line_breaks() -> None:
    assert inert(HOSTILE) == SHOWN
    assert inert("two\nlines\u2028") == "two\nlines\\u2028"
    assert inert(None) == "" and inert(12) == "12"
    assert cell(HOSTILE).plain == SHOWN
    pane = assemble(("Name ", "dim"), HOSTILE, Text("\x1b", style="bold"))
    assert pane.plain == f"Name {SHOWN}\x1b"  # a Text part is taken as made inert already


def seed(daemon: RunningDaemon) -> dict[str, Any]:
    """A client whose every text is hostile, with a service, a charge, a disputed
    overdue invoice, a payment and a bill group."""
    acme = daemon.call("enterprise.add", name=f"Acme {HOSTILE}", currency="EUR")
    client = daemon.call(
        "client.add", name=HOSTILE, enterprise=acme["id"], company=f"Co {HOSTILE}",
        address=f"Street {HOSTILE}",
    )  # fmt: skip
    daemon.call(
        "contract.add", client=client["id"], description=f"PBX {HOSTILE}", price="10.00",
        cycle="month", start="2026-01-01",
    )  # fmt: skip
    daemon.call(
        "charge.add", client=client["id"], description=f"Fee {HOSTILE}", amount="5.00",
        notes=HOSTILE,
    )  # fmt: skip
    (invoice,) = daemon.call(
        "invoice.amount", client=client["id"], date="2026-01-15", amount="119.00",
        description=f"Prepaid {HOSTILE}",
    )  # fmt: skip
    daemon.call("invoice.dispute", invoice=invoice["id"], reason=f"Why {HOSTILE}")
    daemon.call("payment.record", client=client["id"], amount="1.00", reference=HOSTILE)
    daemon.call(
        "billgroup.add", client=client["id"], name=f"Group {HOSTILE}",
        address=f"Depot {HOSTILE}", custom_fields={"PO": HOSTILE},
    )  # fmt: skip
    return {"client": client, "invoice": invoice}


async def shows(pilot: Pilot, where: str, expected: str = SHOWN) -> None:
    """Wait until the screen shows ``expected``; nothing on it may be raw."""
    await wait_for(pilot, lambda: expected in screen_text(pilot))
    assert_inert(screen_text(pilot), where)


SECTION_SHOWS = {"clients": SHOWN, "invoices": SHOWN, "dunning": f"Why {SHOWN}"}
"""What a section's screen shows of the hostile data (the others: nothing of it)."""


async def back(pilot: Pilot, depth: int) -> None:
    """Close screens until ``depth`` are open: the daemon allows a user 16 connections,
    and every open screen follows its events on one."""
    while len(pilot.app.screen_stack) > depth:
        pilot.app.pop_screen()
    await pilot.pause(0.1)


@pytest.mark.slow  # over 2 s: every screen opened
async def test_hostile_text_is_inert_on_every_screen(daemon: RunningDaemon) -> None:
    made = seed(daemon)
    client_id = made["client"]["id"]
    app = BillingApp(socket_path=daemon.socket)
    # wide and tall: the wide columns and whole panes are on the screen too
    async with app.run_test(size=(160, 50), notifications=True) as pilot:
        assert isinstance(app.screen, ClientsScreen)
        await shows(pilot, "clients")

        app.push_screen(ClientScreen(daemon=app.daemon, client_id=client_id))
        await shows(pilot, "client")
        for tab, expected in zip("123456", ("PBX", "Fee", "119.00", SHOWN, "", "Why"), strict=True):
            await pilot.press(tab)
            await shows(pilot, f"client tab {tab}", expected)
        await pilot.press("s")  # the billing settings, prefilled with the hostile name
        await wait_for(pilot, lambda: isinstance(app.screen, FormScreen))
        await shows(pilot, "settings form")
        await pilot.press("ctrl+s")  # saved untouched: the name stays as it was
        await wait_for(pilot, lambda: isinstance(app.screen, ClientScreen))
        client = daemon.call("client.show", id=client_id)
        assert (client["name"], client["address"]) == (HOSTILE, f"Street {HOSTILE}")
        await shows(pilot, "the notification of the save")
        await back(pilot, 1)

        app.push_screen(BillGroupsScreen(daemon=app.daemon, client_id=client_id))
        await shows(pilot, "bill groups", f"Group {SHOWN[:20]}")
        await pilot.press("down")  # past the default group
        await shows(pilot, "bill groups", f"Depot {SHOWN}")
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, FormScreen))
        await shows(pilot, "bill group form")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, BillGroupsScreen))
        group = daemon.call("billgroup.list", client=client_id)[-1]
        assert (group["name"], group["address"], group["custom_fields"]) == (
            f"Group {HOSTILE}",
            f"Depot {HOSTILE}",
            {"PO": HOSTILE},
        )
        await back(pilot, 1)

        app.push_screen(InvoiceScreen(daemon=app.daemon, invoice=made["invoice"]["id"]))
        await shows(pilot, "invoice", f"Prepaid {SHOWN}")
        assert f"Why {SHOWN}" in screen_text(pilot)
        await back(pilot, 1)

        for section in SECTIONS:
            app.push_screen(section.screen(daemon=app.daemon))
            await pilot.pause(0.5)
            await shows(pilot, section.name, SECTION_SHOWS.get(section.name, ""))
            await back(pilot, 1)

        app.post_message(DaemonRefused("client.update", 1001, f"refused: {HOSTILE}"))
        await shows(pilot, "a refusal's notification", "client.update refused")
        assert "refused: \\x1b]0;owned" in screen_text(pilot)  # a toast wraps the rest
        app.push_screen(ConfirmScreen(title=HOSTILE, question=f"Delete {HOSTILE}?"))
        await shows(pilot, "a question", f"Delete {SHOWN[:20]}")  # it wraps
        await back(pilot, 1)
        app.push_screen(DocumentScreen(title=HOSTILE, text=f"Page 1\n{HOSTILE}"))
        await shows(pilot, "a document")
