"""The email outbox against a real SMTP server (R-DEL-3, R-INV-10)."""

from __future__ import annotations

import io
import os
import signal
import time
from pathlib import Path

import pypdf
import pytest

from tests.conftest import RunningDaemon, billingctl, billingctl_ok
from tests.delivery.conftest import mail_daemon, outbox_states, seed_client, wait_until
from tests.delivery.receivers import self_signed, server_tls
from tests.delivery.smtp_sink import SmtpSink


def _invoice(daemon: RunningDaemon, client: dict, amount: str = "119.00") -> dict:
    (invoice,) = daemon.call(
        "invoice.amount", client=client["id"], date="2026-01-05", amount=amount
    )
    return invoice


def test_R_DEL_3_a_sent_invoice_arrives_with_its_pdf_and_the_outbox_says_sent(
    mailing: RunningDaemon, smtp: SmtpSink
) -> None:
    client = seed_client(mailing, email="Jane Doe <jane@client.test>; ap@client.test")
    invoice = _invoice(mailing, client)
    delivery = billingctl_ok(mailing, "invoice", "send", invoice["number"])
    assert delivery["recipient"] == "jane@client.test, ap@client.test"

    (mail,) = smtp.wait_for(1)
    assert mail["To"] == "jane@client.test, ap@client.test"
    assert mail["Subject"] == f"Invoice {invoice['number']} from Acme Telecom"
    assert "Amount due: 119.00 EUR" in mail.get_body(("plain",)).get_content()
    assert "Acme Telecom" in mail.get_body(("html",)).get_content()
    (attachment,) = list(mail.iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    pdf = pypdf.PdfReader(io.BytesIO(attachment.get_content()))
    assert invoice["number"] in pdf.pages[0].extract_text()

    (message,) = wait_until(
        lambda: [m for m in mailing.call("outbox.list") if m["state"] == "sent"], what="sent"
    )
    assert message["message_id"] == mail["Message-ID"]
    assert message["kind"] == "invoice" and message["invoice_id"] == invoice["id"]
    (record,) = mailing.call("outbox.list", invoice=invoice["number"])
    assert (record["state"], record["attempts"], record["delivery_id"]) == (
        "sent",
        1,
        delivery["id"],
    )
    assert record["sent_at"]


@pytest.mark.slow  # waits for retries
def test_R_DEL_3_server_down_queues_and_delivers_once_when_it_is_back(
    mailing: RunningDaemon, smtp: SmtpSink
) -> None:
    client = seed_client(mailing)
    invoice = _invoice(mailing, client)
    smtp.stop()
    mailing.call("invoice.send", invoice=invoice["number"])
    (waiting,) = wait_until(
        lambda: [
            m
            for m in mailing.call("outbox.list")
            if m["state"] == "queued" and "cannot reach" in m["last_error"]
        ],
        what="a failed attempt",
    )
    assert waiting["attempts"] == 1
    assert waiting["next_attempt_at"] > "2000"

    smtp.start()
    mailing.call("clock.advance", by="2m")  # past the first backoff, on the daemon's clock
    (mail,) = smtp.wait_for(1)
    wait_until(lambda: outbox_states(mailing) == ["sent"], what="sent")
    mailing.call("clock.advance", by="1d")
    assert len(smtp.wait_for(1)) == 1
    (message,) = mailing.call("outbox.list")
    assert message["message_id"] == mail["Message-ID"]
    assert message["attempts"] == 2


def test_R_DEL_3_a_permanent_refusal_is_recorded_failed_and_not_retried(
    mailing: RunningDaemon, smtp: SmtpSink
) -> None:
    client = seed_client(mailing, email="bounce@client.test")
    invoice = _invoice(mailing, client)
    mailing.call("invoice.send", invoice=invoice["number"])
    (failed,) = wait_until(
        lambda: [m for m in mailing.call("outbox.list") if m["state"] == "failed"], what="failed"
    )
    assert "550" in failed["last_error"] and failed["attempts"] == 1
    mailing.call("clock.advance", by="2d")
    (again,) = mailing.call("outbox.list")
    assert (again["state"], again["attempts"]) == ("failed", 1)
    (record,) = mailing.call("outbox.list", invoice=invoice["number"], state="failed")
    assert record["id"] == failed["id"]
    events = [e["event"] for e in mailing.call("audit.list", limit=50)]
    assert "outbox.failed" in events

    # the operator fixes the address and retries: the same message, sent now
    smtp.refuse = lambda address: ""
    retried = billingctl_ok(mailing, "outbox", "retry", str(failed["id"]))
    assert retried["state"] in ("queued", "sending", "sent")
    (mail,) = smtp.wait_for(1)
    assert mail["Message-ID"] == failed["message_id"]


@pytest.mark.slow  # waits for the retry
def test_R_DEL_3_a_temporary_refusal_is_retried_with_the_same_message_id(
    mailing: RunningDaemon, smtp: SmtpSink
) -> None:
    tries: list[str] = []

    def greylist(address: str) -> str:
        tries.append(address)
        return "451 4.7.1 greylisted, try later" if len(tries) == 1 else ""

    smtp.refuse = greylist
    client = seed_client(mailing)
    mailing.call("invoice.send", invoice=_invoice(mailing, client)["number"])
    (waiting,) = wait_until(
        lambda: [m for m in mailing.call("outbox.list") if "451" in m["last_error"]],
        what="greylisted",
    )
    assert waiting["state"] == "queued" and "451" in waiting["last_error"]
    mailing.call("clock.advance", by="90s")
    (mail,) = smtp.wait_for(1)
    assert mail["Message-ID"] == waiting["message_id"]


def test_outbox_cancel_stops_a_waiting_message_and_refuses_a_sent_one(
    mailing: RunningDaemon, smtp: SmtpSink
) -> None:
    client = seed_client(mailing)
    first, second = (_invoice(mailing, client, amount) for amount in ("10.00", "20.00"))
    smtp.stop()
    mailing.call("invoice.send", invoice=first["number"])
    (message,) = wait_until(
        lambda: [m for m in mailing.call("outbox.list") if "cannot reach" in m["last_error"]],
        what="an attempt",
    )
    cancelled = billingctl_ok(mailing, "outbox", "cancel", str(message["id"]))
    assert cancelled["state"] == "cancelled"
    smtp.start()
    mailing.call("invoice.send", invoice=second["number"])
    mailing.call("clock.advance", by="1d")
    (mail,) = smtp.wait_for(1)
    assert second["number"] in mail["Subject"]
    sent = wait_until(
        lambda: [m for m in mailing.call("outbox.list") if m["state"] == "sent"], what="sent"
    )
    refused = billingctl(mailing.socket, "outbox", "cancel", str(sent[0]["id"]))
    assert refused.returncode == 1 and "only a queued or failed" in refused.stdout
    listed = billingctl_ok(mailing, "outbox", "list", "--state", "cancelled")
    assert [m["id"] for m in listed] == [message["id"]]
    bad = billingctl(mailing.socket, "outbox", "list", "--state", "lost")
    assert bad.returncode != 0 and "state" in bad.stdout + bad.stderr


@pytest.mark.slow
def test_R_DEL_3_kill_9_during_a_bulk_send_delivers_every_message_once(
    short_dir: Path, smtp: SmtpSink
) -> None:
    smtp.delay = 0.02
    daemon = mail_daemon(short_dir, smtp)
    try:
        client = seed_client(daemon)
        invoices = daemon.call(
            "invoice.amount", client=client["id"], date="2026-01-05", amount="50.00", count=120
        )
        for invoice in invoices:
            daemon.call("invoice.send", invoice=invoice["number"])
        smtp.wait_for(30, timeout=120)
        os.kill(daemon.process.pid, signal.SIGKILL)
        daemon.process.wait()
    finally:
        daemon.stop()
    restarted = mail_daemon(short_dir, smtp)
    try:
        wait_until(
            lambda: outbox_states(restarted, state="sent", limit=500).count("sent") == 120,
            timeout=180,
            what="all sent",
        )
        messages = smtp.wait_for(120)
        ids = [m["Message-ID"] for m in messages]
        assert len(set(ids)) == 120  # every message arrived
        # only what was unrecorded at the kill can arrive twice: per connection the
        # message being sent and the one before it, whose commit was under way; they
        # come with the same Message-ID, so the receiver drops them
        connections = 4
        assert len(ids) - len(set(ids)) <= 2 * connections
        stored = {m["message_id"] for m in restarted.call("outbox.list", limit=500)}
        assert stored == set(ids)
    finally:
        restarted.stop()


@pytest.mark.parametrize("implicit", [False, True], ids=["starttls", "implicit-tls"])
def test_R_DEL_3_tls_and_login_with_the_bill_groups_recipients(
    short_dir: Path, implicit: bool
) -> None:
    cert, key = self_signed(short_dir)
    sink = SmtpSink(tls=server_tls(cert, key), implicit_tls=implicit, login=("acme", "s3cret"))
    sink.start()
    tls = {"implicit_tls": "true"} if implicit else {"starttls": "true"}
    daemon = mail_daemon(
        short_dir, sink, ca_file=str(cert), username="acme", password="s3cret", **tls
    )
    try:
        client = seed_client(daemon)
        group = daemon.call(
            "billgroup.add", client=client["id"], name="Accounts payable",
            emails="ap@client.test, controller@client.test",
        )  # fmt: skip
        daemon.call(
            "contract.add", client=client["id"], description="Hosting", price="100.00",
            cycle="month", start="2026-01-01", bill_group=group["id"],
        )  # fmt: skip
        invoice = daemon.call(
            "invoice.period", client=client["id"], **{"from": "2026-01-01", "to": "2026-01-31"}
        )
        daemon.call("invoice.send", invoice=invoice["number"])
        (mail,) = sink.wait_for(1)
        assert mail["To"] == "ap@client.test, controller@client.test"
        assert sink.logins == ["acme"]
    finally:
        daemon.stop()
        sink.stop()


@pytest.mark.slow  # waits out the SMTP rate
def test_R_DEL_3_smtp_rate_spaces_the_messages(short_dir: Path, smtp: SmtpSink) -> None:
    arrivals: list[float] = []
    smtp.refuse = lambda address: arrivals.append(time.monotonic()) or ""  # type: ignore[func-returns-value]
    daemon = mail_daemon(short_dir, smtp, rate=4, connections=2)
    try:
        client = seed_client(daemon)
        invoices = daemon.call(
            "invoice.amount", client=client["id"], date="2026-01-05", amount="9.00", count=6
        )
        wait_until(
            lambda: all(i["document"] == "ready" for i in daemon.call("invoice.list")),
            what="documents",
        )
        for invoice in invoices:
            daemon.call("invoice.send", invoice=invoice["number"])
        smtp.wait_for(6)
        # six messages at four a second, over two connections: at least 5 gaps of 0.25 s
        assert arrivals[-1] - arrivals[0] >= 1.2
    finally:
        daemon.stop()


def test_R_DEL_3_the_client_gets_its_e_invoice_and_statistics(
    mailing: RunningDaemon, smtp: SmtpSink
) -> None:
    client = seed_client(
        mailing, einvoice_format="facturx", send_stats=True, country="DE", postcode="10115",
        city="Berlin", address="Hauptstr. 1",
    )  # fmt: skip
    mailing.call(
        "enterprise.update", id=client["enterprise_id"], country="DE", tax_id="DE136695976",
        address="Hafenstraße 12", postcode="20457", city="Hamburg",
    )  # fmt: skip
    invoice = _invoice(mailing, client)
    mailing.call("invoice.send", invoice=invoice["id"])
    (mail,) = smtp.wait_for(1)
    names = [a.get_filename() for a in mail.iter_attachments()]
    # the Factur-X PDF in the plain PDF's place, and the statistics file
    assert [name.split(".", 1)[1] for name in names] == ["facturx.pdf", "csv"]
    facturx, stats = mail.iter_attachments()
    assert "factur-x.xml" in pypdf.PdfReader(io.BytesIO(facturx.get_content())).attachments
    assert stats.get_content_type() == "text/csv" and invoice["number"] in stats.get_content()
