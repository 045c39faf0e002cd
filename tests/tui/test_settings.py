"""Billing settings (seed 000) and bill groups (seed 004) edited in the TUI, against a real
daemon: every kind of field round-trips, refusals show under their field and write nothing."""

from __future__ import annotations

from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Checkbox, Input, Select, TextArea

from billingd_tui.app import BillingApp
from billingd_tui.screens import ClientsScreen
from billingd_tui.screens.billgroups import BillGroupsScreen
from billingd_tui.screens.form import Field, FormScreen
from billingd_tui.widgets import PagedTable
from tests.conftest import RunningDaemon, audit_length
from tests.tui.pilot import SIZE, screen_text, table_text, wait_for


def _jane(daemon: RunningDaemon) -> dict[str, Any]:
    acme = daemon.call("enterprise.add", name="Acme", currency="EUR", tax_rate="19")
    return daemon.call("client.add", name="Jane", enterprise=acme["id"], email="j@x.test")


async def _open_settings(pilot: Pilot, client_id: int) -> FormScreen:
    app = pilot.app
    screen = app.screen
    assert isinstance(screen, ClientsScreen)
    await wait_for(pilot, lambda: screen.client_id == client_id)
    await pilot.press("e")
    await wait_for(pilot, lambda: isinstance(app.screen, FormScreen))
    assert isinstance(app.screen, FormScreen)
    return app.screen


def _error(form: FormScreen, param: str) -> str:
    return str(form.query_one(f"#err-{param}").render())


async def _toggle(pilot: Pilot, form: FormScreen, param: str) -> None:
    """Toggle a checkbox the way an operator does: focus it, press space."""
    box = form.query_one(f"#in-{param}", Checkbox)
    box.focus()
    await pilot.pause()
    before = box.value
    await pilot.press("space")
    await wait_for(pilot, lambda: box.value is not before)


@pytest.mark.slow  # over 2 s: a UI session through every setting
async def test_every_kind_of_setting_round_trips(daemon: RunningDaemon) -> None:
    jane = _jane(daemon)
    app = BillingApp(socket_path=daemon.socket)
    async with app.run_test(size=SIZE) as pilot:
        clients = app.screen
        form = await _open_settings(pilot, jane["id"])
        assert form.query_one("#in-send_stats", Checkbox).value is False
        assert form.query_one("#in-language", Select).value == "en"
        form.query_one("#in-company", Input).value = "Jane Ltd"  # text
        form.query_one("#in-contract_number", Input).value = "C-2026-7"
        form.query_one("#in-business_type", Input).value = "ISP"
        form.query_one("#in-invoice_days", Input).value = "15, 1"
        form.query_one("#in-country", Input).value = "de"
        form.query_one("#in-tax_id", Input).value = "DE 136 695 976"
        form.query_one("#in-tax_rate", Input).value = "7.5"  # number
        form.query_one("#in-language", Select).value = "de"  # choices
        form.query_one("#in-einvoice_format", Select).value = "xrechnung"
        form.query_one("#in-status", Select).value = "suspended"
        for box in ("send_stats", "publish", "send_email"):  # booleans
            await _toggle(pilot, form, box)
        assert "Send to email           ▐X▌ yes" in screen_text(pilot)  # readable uncoloured
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: app.screen is clients)
        saved = daemon.call("client.show", id=jane["id"])
        assert {k: saved[k] for k in (
            "company", "contract_number", "business_type", "invoice_days", "country", "tax_id",
            "tax_rate", "language", "einvoice_format", "status", "send_stats", "publish",
            "send_email", "email",
        )} == {
            "company": "Jane Ltd", "contract_number": "C-2026-7", "business_type": "ISP",
            "invoice_days": "1,15", "country": "DE", "tax_id": "DE136695976",
            "tax_rate": "7.5", "language": "de", "einvoice_format": "xrechnung",
            "status": "suspended", "send_stats": True, "publish": True, "send_email": True,
            "email": "j@x.test",
        }  # fmt: skip

        # the form opens with what was saved; booleans toggle back, an emptied text clears
        form = await _open_settings(pilot, jane["id"])
        assert form.query_one("#in-tax_rate", Input).value == "7.5"
        assert form.query_one("#in-einvoice_format", Select).value == "xrechnung"
        assert form.query_one("#in-publish", Checkbox).value is True
        await _toggle(pilot, form, "publish")
        form.query_one("#in-company", Input).value = ""
        form.query_one("#in-einvoice_format", Select).value = ""  # PDF only
        form.query_one("#in-name", Input).focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.screen is clients)
        saved = daemon.call("client.show", id=jane["id"])
        assert (saved["publish"], saved["send_stats"], saved["company"]) == (False, True, "")
        assert (saved["einvoice_format"], saved["language"]) == ("", "de")


@pytest.mark.slow  # over 2 s: a UI session
async def test_refusals_show_under_their_field_and_write_nothing(daemon: RunningDaemon) -> None:
    jane = _jane(daemon)
    before = daemon.call("client.show", id=jane["id"])
    audit = audit_length(daemon)
    app = BillingApp(socket_path=daemon.socket)
    async with app.run_test(size=SIZE) as pilot:
        form = await _open_settings(pilot, jane["id"])
        form.query_one("#in-company", Input).value = "Changed Ltd"
        form.query_one("#in-email", Input).value = "j@x.test; accounts"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "not an email address: 'accounts'" in _error(form, "email"))
        assert app.focused is form.query_one("#in-email")
        assert "not an email address" in screen_text(pilot)  # scrolled into view at 80x24

        form.query_one("#in-email", Input).value = "j@x.test"
        form.query_one("#in-tax_id", Input).value = "DE123456789"  # a wrong check digit
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "DE123456789" in _error(form, "tax_id"))
        assert _error(form, "email") == ""  # the earlier refusal is gone
        assert "DE123456789" in screen_text(pilot)

        form.query_one("#in-tax_id", Input).value = ""
        form.query_one("#in-tax_rate", Input).value = "101"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "100" in _error(form, "tax_rate"))
        assert app.screen is form
        assert daemon.call("client.show", id=jane["id"]) == before
        assert audit_length(daemon) == audit
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, ClientsScreen))
    assert daemon.call("client.show", id=jane["id"]) == before


@pytest.mark.slow  # over 2 s: a UI session at two sizes
async def test_the_settings_form_reads_at_80x24_and_takes_two_columns_at_160x48(
    daemon: RunningDaemon,
) -> None:
    jane = _jane(daemon)
    app = BillingApp(socket_path=daemon.socket)
    async with app.run_test(size=SIZE) as pilot:
        form = await _open_settings(pilot, jane["id"])
        text = screen_text(pilot)
        lines = text.splitlines()
        assert "Billing settings · Jane · invoiced by Acme" in text
        assert any("Name" in line and "Jane" in line for line in lines)  # label, then value
        assert "Save" in text and "Cancel" in text  # the buttons stay on the screen
        assert "Status" not in text  # the last field is further down: the form scrolls
        form.query_one("#in-status").focus()
        await wait_for(pilot, lambda: "Status" in screen_text(pilot))
        assert "Save" in screen_text(pilot)

        await pilot.resize_terminal(160, 48)
        await wait_for(pilot, lambda: form.has_class("-wide"))
        await pilot.pause()
        lines = screen_text(pilot).splitlines()
        assert any("Name" in line and "Contract number" in line for line in lines)
        every_label = ("Name", "VAT id", "Send stats", "Billing emails", "Endpoint scheme")
        assert all(label in "\n".join(lines) for label in every_label)  # all fit, unscrolled
        assert any("Status" in line for line in lines)


async def test_a_date_field_is_sent_as_a_date(daemon: RunningDaemon) -> None:
    """FormScreen's other kinds: a date, and a number left empty is not sent."""
    jane = _jane(daemon)
    app = BillingApp(socket_path=daemon.socket)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: "1 clients" in screen_text(pilot))
        fields = [
            Field("description", "Description", "Set-up"),
            Field("amount", "Amount", kind="number"),
            Field("date", "Schedule date", kind="date"),
        ]
        form = FormScreen(
            daemon=app.daemon, title="Add charge", method="charge.add", fields=fields,
            fixed={"client": jane["id"]},
        )  # fmt: skip
        answers: list[Any] = []
        app.push_screen(form, answers.append)
        await wait_for(pilot, lambda: form.is_mounted)
        await wait_for(pilot, lambda: "YYYY-MM-DD" in screen_text(pilot))
        await pilot.press("ctrl+s")  # no amount: the daemon asks for it
        await wait_for(pilot, lambda: "amount is required" in _error(form, "amount"))
        form.query_one("#in-amount", Input).value = "25.00"
        form.query_one("#in-date", Input).value = "2026-13-01"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "not a date" in _error(form, "date"))
        assert daemon.call("charge.list", client=jane["id"]) == []
        form.query_one("#in-date", Input).value = "2026-02-01"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: len(answers) == 1)
    [charge] = daemon.call("charge.list", client=jane["id"])
    assert (charge["schedule_date"], charge["amount"]) == ("2026-02-01", "25.00")


# -- bill groups -----------------------------------------------------------------------


async def _open_bill_groups(pilot: Pilot, client_id: int) -> BillGroupsScreen:
    app = pilot.app
    screen = app.screen
    assert isinstance(screen, ClientsScreen)
    await wait_for(pilot, lambda: screen.client_id == client_id)
    await pilot.press("B")  # shift+b: b is the outbox everywhere
    await wait_for(pilot, lambda: isinstance(app.screen, BillGroupsScreen))
    groups = app.screen
    assert isinstance(groups, BillGroupsScreen)
    await wait_for(pilot, lambda: groups.query_one("#groups", PagedTable).row_count > 0)
    return groups


def _group(daemon: RunningDaemon, client_id: int, name: str) -> dict[str, Any]:
    [group] = [g for g in daemon.call("billgroup.list", client=client_id) if g["name"] == name]
    return group


async def _form(pilot: Pilot, key: str) -> FormScreen:
    await pilot.press(key)
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, FormScreen))
    assert isinstance(pilot.app.screen, FormScreen)
    return pilot.app.screen


@pytest.mark.slow  # over 2 s: a UI session
async def test_bill_groups_are_added_and_edited(daemon: RunningDaemon) -> None:
    jane = _jane(daemon)
    app = BillingApp(socket_path=daemon.socket)
    async with app.run_test(size=SIZE) as pilot:
        screen = await _open_bill_groups(pilot, jane["id"])
        table = screen.query_one("#groups", PagedTable)
        assert "Default (default)" in table_text(table)
        assert "Bill groups of Jane" in screen_text(pilot)

        form = await _form(pilot, "a")
        form.query_one("#in-name", Input).value = "Procurement"
        form.query_one("#in-invoicing", Select).value = "manual"
        form.query_one("#in-review_days", Input).value = "5"
        form.query_one("#in-emails", Input).value = "ap@jane.test"
        form.query_one("#in-address", Input).value = "Hauptstr. 1"
        form.query_one("#in-city", Input).value = "Berlin"
        form.query_one("#in-uploader", Input).value = "sftp"
        form.query_one("#in-custom", TextArea).text = "supplier_id=AN0100\n\nbuyer.id=ACME-7\n"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: app.screen is screen and table.row_count == 2)
        added = _group(daemon, jane["id"], "Procurement")
        assert {k: added[k] for k in (
            "name", "invoicing", "review_days", "emails", "address", "city", "uploader",
            "custom_fields", "status",
        )} == {
            "name": "Procurement", "invoicing": "manual", "review_days": 5,
            "emails": "ap@jane.test", "address": "Hauptstr. 1", "city": "Berlin",
            "uploader": "sftp", "custom_fields": {"supplier_id": "AN0100", "buyer.id": "ACME-7"},
            "status": "active",
        }  # fmt: skip
        assert table.get_row_index(str(added["id"])) == table.cursor_row  # the saved one
        assert "supplier_id=AN0100" in screen_text(pilot)  # its details below the table

        # edit: the form starts from the group; a removed custom line removes the field
        form = await _form(pilot, "e")
        lines = form.query_one("#in-custom", TextArea).text.splitlines()
        assert sorted(lines) == ["buyer.id=ACME-7", "supplier_id=AN0100"]
        assert form.query_one("#in-review_days", Input).value == "5"
        form.query_one("#in-custom", TextArea).text = "supplier_id=AN0200"
        form.query_one("#in-invoicing", Select).value = "auto"
        form.query_one("#in-uploader", Input).value = ""
        form.query_one("#in-review_days", Input).value = "0"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: app.screen is screen)
        edited = _group(daemon, jane["id"], "Procurement")
        assert (edited["custom_fields"], edited["invoicing"], edited["uploader"]) == (
            {"supplier_id": "AN0200"}, "auto", None,
        )  # fmt: skip
        assert edited["review_days"] == 0
        await wait_for(pilot, lambda: "AN0200" in screen_text(pilot))


@pytest.mark.slow  # over 2 s: a UI session
async def test_bill_group_refusals_show_under_their_field(daemon: RunningDaemon) -> None:
    jane = _jane(daemon)
    app = BillingApp(socket_path=daemon.socket)
    async with app.run_test(size=SIZE) as pilot:
        screen = await _open_bill_groups(pilot, jane["id"])
        groups = daemon.call("billgroup.list", client=jane["id"])
        audit = audit_length(daemon)
        form = await _form(pilot, "enter")  # Enter edits the highlighted group
        assert form.query_one("#in-name", Input).value == "Default"
        form.query_one("#in-city", Input).value = "Hamburg"
        form.query_one("#in-uploader", Input).value = "ariba"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "'ariba' is not registered" in _error(form, "uploader"))
        assert "sftp" in _error(form, "uploader")  # the known ones are named
        assert "is not registered" in screen_text(pilot)

        form.query_one("#in-uploader", Input).value = ""
        form.query_one("#in-emails", Input).value = "accounts"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "not an email address" in _error(form, "emails"))

        form.query_one("#in-emails", Input).value = ""
        form.query_one("#in-custom", TextArea).text = "no equals sign"
        form.query_one("#in-custom", TextArea).focus()
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "KEY=VALUE" in _error(form, "custom"))

        form.query_one("#in-custom", TextArea).text = ""
        form.query_one("#in-review_days", Input).value = "400"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "review_days" in _error(form, "review_days"))
        assert daemon.call("billgroup.list", client=jane["id"]) == groups
        assert audit_length(daemon) == audit
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen)

        # a new group needs a name
        form = await _form(pilot, "a")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "name" in _error(form, "name"))
        assert daemon.call("billgroup.list", client=jane["id"]) == groups


async def test_bill_groups_follow_changes_made_elsewhere(daemon: RunningDaemon) -> None:
    jane = _jane(daemon)
    app = BillingApp(socket_path=daemon.socket)
    async with app.run_test(size=SIZE) as pilot:
        screen = await _open_bill_groups(pilot, jane["id"])
        table = screen.query_one("#groups", PagedTable)
        daemon.call("billgroup.add", client=jane["id"], name="Added elsewhere")
        await wait_for(pilot, lambda: "Added elsewhere" in table_text(table))
        default = _group(daemon, jane["id"], "Default")
        daemon.call("billgroup.update", id=default["id"], emails="ops@jane.test")
        await wait_for(pilot, lambda: "ops@jane.test" in table_text(table))


@pytest.mark.slow
async def test_bill_groups_are_in_the_palette_of_the_clients_screen(daemon: RunningDaemon) -> None:
    jane = _jane(daemon)
    app = BillingApp(socket_path=daemon.socket)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, ClientsScreen)
        await wait_for(pilot, lambda: screen.client_id == jane["id"])
        await pilot.press("ctrl+p")
        await pilot.press(*"bill groups")
        await wait_for(pilot, lambda: "client: bill groups" in screen_text(pilot))
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, BillGroupsScreen))
        groups = app.screen
        await pilot.press("ctrl+p")
        await pilot.press(*"bill group: add")
        await wait_for(pilot, lambda: "bill group: add" in screen_text(pilot))
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, FormScreen))
        assert "New bill group" in screen_text(pilot)
        assert "KEY=VALUE, one a line" in screen_text(pilot)  # the custom fields' hint
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is groups)
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen)
