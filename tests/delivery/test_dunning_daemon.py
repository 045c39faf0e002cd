"""Dunning in a running daemon on the test clock, mailing a real SMTP server (R-DUN-1):
each reminder on its day with its fee and interest, stopped by payment, paused by a
dispute or ``dunning pause`` and resumed, never repeated across a restart, one email
per step."""

from __future__ import annotations

import datetime as dt
import io
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pypdf
import pytest

from tests.conftest import RunningDaemon, billingctl, billingctl_ok
from tests.delivery.conftest import mail_daemon, wait_until
from tests.delivery.smtp_sink import SmtpSink

PLAN = ("Reminder 1:7", "Reminder 2:21:5.00", "Final notice:35:10.00:9.12")
DUE = dt.date(2030, 1, 15)  # invoices of 2030-01-01 on 14 days' terms


def rows(folder: Path, sql: str) -> list[tuple[Any, ...]]:
    """A read straight from the daemon's SQLite file (WAL lets it run beside the writer)."""
    with sqlite3.connect(f"file:{folder / 'billing.db'}?mode=ro", uri=True, timeout=30) as con:
        return con.execute(sql).fetchall()


def billingctl_command() -> list[str]:
    program = shutil.which("billingctl")
    return [program] if program else [sys.executable, "-m", "billingd.ctl"]


def seed(daemon: RunningDaemon) -> tuple[int, list[dict[str, Any]]]:
    enterprise = daemon.call(
        "enterprise.add", name="Acme Telecom", currency="EUR", tax_rate="19",
        timezone="Europe/Berlin", terms=14, iban="DE89370400440532013000",
        bic="COBADEFFXXX", email="billing@acme.test",
    )  # fmt: skip
    invoices = []
    for name in ("Jane", "Joe", "Jim", "Jill"):
        client = daemon.call(
            "client.add", enterprise=enterprise["id"], name=name, email=f"{name.lower()}@c.test"
        )
        (invoice,) = daemon.call(
            "invoice.amount", client=client["id"], date="2030-01-01", amount="1190.00"
        )
        assert invoice["due_date"] == DUE.isoformat()
        invoices.append(invoice)
    return enterprise["id"], invoices


def steps_of(daemon: RunningDaemon, invoice: dict[str, Any]) -> list[int]:
    return [n["step"] for n in daemon.call("dunning.show", invoice=invoice["id"])["notices"]]


@pytest.mark.slow
def test_R_DUN_1_reminders_on_their_days_once_across_restarts_on_the_test_clock(
    short_dir: Path, smtp: SmtpSink
) -> None:
    daemon = mail_daemon(short_dir, smtp)
    try:
        billingctl_ok(daemon, "clock", "set", "2030-01-01T09:00Z")
        enterprise, (jane, joe, jim, jill) = seed(daemon)
        steps = [arg for step in PLAN for arg in ("--step", step)]
        plan = billingctl_ok(daemon, "dunning", "plan", "--enterprise", str(enterprise), *steps)
        assert [s["days"] for s in plan["steps"]] == [7, 21, 35]
        assert billingctl_ok(daemon, "dunning", "plan", "--enterprise", str(enterprise)) == plan
        bad = billingctl(
            daemon.socket, "dunning", "plan", "--enterprise", str(enterprise),
            "--step", "A:7", "--step", "B:7",
        )  # fmt: skip
        assert bad.returncode == 1 and '"field": "steps[1].days"' in bad.stdout
        paused = billingctl_ok(daemon, "dunning", "pause", jim["number"])
        assert (paused["state"], paused["paused"]) == ("paused", True)

        taken: dict[int, dict[str, list[int]]] = {i["id"]: {} for i in (jane, joe, jim, jill)}
        day = dt.date(2030, 1, 1)
        while day < DUE + dt.timedelta(days=60):
            daemon.call("clock.advance", by="1d")
            day += dt.timedelta(days=1)
            for invoice in (jane, joe, jim, jill):
                seen = steps_of(daemon, invoice)
                known = [s for got in taken[invoice["id"]].values() for s in got]
                if seen != known:
                    taken[invoice["id"]][day.isoformat()] = seen[len(known) :]
            if day == DUE + dt.timedelta(days=10):  # Jill disputes it after reminder 1
                disputed = billingctl_ok(daemon, "invoice", "dispute", jill["number"])
                assert disputed["dispute"] == "disputed"
                shown = daemon.call("dunning.show", invoice=jill["id"])
                assert (shown["state"], shown["disputed"]) == ("disputed", True)
            if day == DUE + dt.timedelta(days=25):  # Joe pays between reminder 2 and 3
                daemon.call("payment.record", client=joe["client_id"], amount="1190.00")
            if day == DUE + dt.timedelta(days=30):  # a restart, and a later pass the same day
                daemon.stop()
                daemon = mail_daemon(short_dir, smtp)
                daemon.call("clock.advance", by="1h")
                billingctl_ok(daemon, "invoice", "undispute", jill["number"])
            if day == DUE + dt.timedelta(days=40):
                billingctl_ok(daemon, "dunning", "resume", jim["number"])

        assert taken[jane["id"]] == {"2030-01-22": [1], "2030-02-05": [2], "2030-02-19": [3]}
        assert taken[joe["id"]] == {"2030-01-22": [1], "2030-02-05": [2]}
        # resumed on day 40 after its pass: the first reminder at the next, the next 14 days on
        assert taken[jim["id"]] == {"2030-02-25": [1], "2030-03-11": [2]}
        # disputed from day 10 to 30: reminder 2 at the next pass, the final 14 days on
        assert taken[jill["id"]] == {"2030-01-22": [1], "2030-02-15": [2], "2030-03-01": [3]}
        notices = daemon.call("dunning.show", invoice=jill["id"])["notices"]
        # 1190.00 × 9.12 % × 45/365 = 13.3802 → 13.38
        assert (notices[2]["days_overdue"], notices[2]["interest"]) == (45, "13.38")

        state = daemon.call("dunning.show", invoice=jane["number"])
        assert state["state"] == "completed" and state["next_step"] is None
        assert [(n["fee"], n["interest"], n["days_overdue"]) for n in state["notices"]] == [
            ("0.00", "0.00", 7),
            ("5.00", "0.00", 21),
            ("10.00", "10.41", 35),  # 1190.00 × 9.12 % × 35/365 = 10.4068 → 10.41
        ]
        listed = billingctl_ok(daemon, "dunning", "list", "--enterprise", str(enterprise))
        assert [s["invoice_id"] for s in listed] == [jane["id"], jim["id"], jill["id"]]
        assert listed[1]["next_step_name"] == "Final notice"
        assert listed[1]["next_step_date"] == "2030-03-25"
        charges = daemon.call("charge.list", client=jane["client_id"])
        assert [(c["amount"], c["status"]) for c in charges] == [
            ("5.00", "pending"),
            ("20.41", "pending"),
        ]
        audit = [e for e in daemon.call("audit.list", limit=5000)]
        sent = [e for e in audit if e["event"] == "dunning.reminder_sent"]
        assert len(sent) == 10
        assert {e["event"] for e in audit} >= {"dunning.paused", "dunning.resumed"}

        # exactly one reminder message per step, and each delivered once
        keys = rows(short_dir, "SELECT dedupe_key FROM outbox_message WHERE kind = 'reminder'")
        expected = {
            f"reminder:{invoice['id']}:{step}"
            for invoice, count in ((jane, 3), (joe, 2), (jim, 2), (jill, 3))
            for step in range(1, count + 1)
        }
        assert sorted(k for (k,) in keys) == sorted(expected)
        wait_until(
            lambda: len([m for m in smtp.messages if "overdue" in str(m["Subject"])]) >= 10,
            what="ten reminder emails",
        )
        reminders = [m for m in smtp.messages if "overdue" in str(m["Subject"])]
        assert len(reminders) == 10
        assert len({m["Message-ID"] for m in reminders}) == 10
        final = next(
            m
            for m in reminders
            if m["Subject"] == f"Final notice: invoice {jane['number']} is overdue"
        )
        assert final["To"] == "jane@c.test"
        assert "Amount due:       1210.41 EUR" in final.get_body(("plain",)).get_content()
        (attachment,) = list(final.iter_attachments())
        pdf = pypdf.PdfReader(io.BytesIO(attachment.get_content())).pages[0].extract_text()
        assert "Final notice" in pdf and "10.41 EUR" in pdf and jane["number"] in pdf

        cleared = billingctl_ok(
            daemon, "dunning", "plan", "--enterprise", str(enterprise), "--clear"
        )
        assert cleared["steps"] == [] and cleared["charge_mode"] == "next_invoice"
        assert daemon.call("dunning.show", invoice=jim["id"])["state"] == "no_plan"
    finally:
        daemon.stop()


@pytest.mark.slow
def test_R_DUN_1_kill_9_during_a_pass_and_restart_takes_each_step_once(
    short_dir: Path, smtp: SmtpSink
) -> None:
    """SIGKILL while a pass takes a step for hundreds of invoices: after the restart
    every invoice has its reminder once, with one email each."""
    count = 400
    daemon = mail_daemon(short_dir, smtp)
    try:
        billingctl_ok(daemon, "clock", "set", "2030-01-01T09:00Z")
        enterprise = daemon.call(
            "enterprise.add", name="Acme", currency="EUR", tax_rate="19", terms=14,
            timezone="Europe/Berlin",
        )  # fmt: skip
        client = daemon.call("client.add", enterprise=enterprise["id"], name="Big", email="b@c.t")
        daemon.call(
            "invoice.amount", client=client["id"], date="2030-01-01", amount="119.00", count=count
        )
        daemon.call("dunning.set_plan", enterprise=enterprise["id"], steps=["Reminder:7:2.50"])
        mover = subprocess.Popen(
            [*billingctl_command(), "--socket", str(daemon.socket), "clock", "advance", "21d"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        taken = 0
        while not taken and time.monotonic() < deadline:
            taken = rows(short_dir, "SELECT COUNT(*) FROM dunning_notice")[0][0]
            time.sleep(0.01)
        daemon.process.send_signal(signal.SIGKILL)
        daemon.process.wait(timeout=10)
        mover.wait(timeout=30)
        assert 0 < taken < count, f"the pass was not cut short ({taken} of {count})"
        cut = rows(short_dir, "SELECT COUNT(*) FROM dunning_notice")[0][0]
        daemon.stop()

        daemon = mail_daemon(short_dir, smtp)  # its first pass takes the rest
        daemon.call("clock.advance", by="1h")
        notices = rows(short_dir, "SELECT invoice_id, step, fee FROM dunning_notice")
        assert len(notices) == count > cut
        assert {(step, fee) for _, step, fee in notices} == {(1, "2.50")}
        assert len({invoice for invoice, _, _ in notices}) == count
        keys = rows(short_dir, "SELECT dedupe_key FROM outbox_message WHERE kind = 'reminder'")
        assert sorted(k for (k,) in keys) == sorted(f"reminder:{i}:1" for i, _, _ in notices)
        charges = rows(short_dir, "SELECT COUNT(*), SUM(amount) FROM pending_charge")
        assert charges == [(count, count * 2.5)]
    finally:
        daemon.stop()
