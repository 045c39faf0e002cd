"""Notices through the built-in email notifier (R-DEL-5, R-PAY-3, R-RUN-7)."""

from __future__ import annotations

import io
from pathlib import Path

import pypdf
import pytest

from tests.conftest import RunningDaemon
from tests.delivery.conftest import mail_daemon, seed_client, wait_until
from tests.delivery.smtp_sink import SmtpSink

OPERATORS = "plugins:\n  settings:\n    email:\n      operator: [ops@acme.test]\n"


def _sent(daemon: RunningDaemon, count: int) -> list[dict]:
    return wait_until(
        lambda: (
            sent
            if len(sent := daemon.call("outbox.list", state="sent", channel="email")) >= count
            else None
        ),
        what=f"{count} emails sent",
    )


def test_R_PAY_3_a_payment_received_is_confirmed_in_the_clients_language(
    mailing: RunningDaemon, smtp: SmtpSink
) -> None:
    client = seed_client(mailing, language="de")
    mailing.call("payment.record", client=client["id"], amount="50.00", reference="SEPA-77")
    (mail,) = smtp.wait_for(1)
    assert mail["To"] == "jane@client.test"
    assert mail["Subject"] == "Zahlung erhalten: 50.00 EUR"
    body = mail.get_body(("plain",)).get_content()
    assert "Ihre Zahlung über 50.00 EUR" in body and "SEPA-77" in body
    (notice,) = [m for m in mailing.call("outbox.list") if m["channel"] == "notify"]
    assert (notice["target"], notice["event"], notice["state"]) == (
        "email", "payment.received", "sent",
    )  # fmt: skip


def test_R_DEL_5_a_client_without_email_delivery_gets_no_notices(
    mailing: RunningDaemon, smtp: SmtpSink
) -> None:
    client = seed_client(mailing, send_email=False)
    mailing.call("payment.record", client=client["id"], amount="50.00")
    wait_until(
        lambda: [m for m in mailing.call("outbox.list") if m["state"] == "sent"],
        what="the notice handled",
    )
    assert [m["channel"] for m in mailing.call("outbox.list")] == ["notify"]
    assert smtp.messages == []


@pytest.mark.slow  # over 2 s: two documents rendered and mailed
def test_R_DEL_5_a_credit_note_is_mailed_with_its_pdf(
    mailing: RunningDaemon, smtp: SmtpSink
) -> None:
    client = seed_client(mailing)
    (invoice,) = mailing.call(
        "invoice.amount", client=client["id"], date="2026-01-05", amount="119.00"
    )
    note = mailing.call(
        "credit_note.issue", invoice=invoice["number"], amount="19.00", reason="goodwill"
    )
    (mail,) = smtp.wait_for(1)
    assert mail["Subject"] == f"Credit note {note['number']} for invoice {invoice['number']}"
    assert "Reason: goodwill" in mail.get_body(("plain",)).get_content()
    (pdf,) = list(mail.iter_attachments())
    text = pypdf.PdfReader(io.BytesIO(pdf.get_content())).pages[0].extract_text()
    assert note["number"] in text


def test_R_RUN_7_a_failed_self_checkout_charge_tells_client_and_operator(
    short_dir: Path, smtp: SmtpSink
) -> None:
    settings = (
        "plugins:\n  settings:\n    email:\n      operator: [ops@acme.test]\n"
        f"    sandbox:\n      state_file: {short_dir / 'sandbox.jsonl'}\n"
        "      fail_amounts: ['15.47']\n"
    )
    daemon = mail_daemon(short_dir, smtp, settings)
    try:
        client = seed_client(daemon)
        daemon.call(
            "contract.add", client=client["id"], description="VoIP line", price="13.00",
            cycle="month", start="2026-12-01", origin="self_checkout", gateway="sandbox",
        )  # fmt: skip
        daemon.call("run.start", until="2026-12-01", client=client["id"])
        mails = smtp.wait_for(3)  # the invoice itself, and the two notices
        failed = {m["To"]: m for m in mails if "ayment failed" in m["Subject"]}
        client_mail = failed["jane@client.test"]
        operator_mail = failed["ops@acme.test"]
        assert client_mail["Subject"].startswith("Payment failed for invoice")
        assert "card declined" in client_mail.get_body(("plain",)).get_content()
        assert operator_mail["Subject"].startswith("[billingd] Payment failed: Jane Doe")
        assert "15.47 EUR" in operator_mail.get_body(("plain",)).get_content()
    finally:
        daemon.stop()


def test_R_DEL_5_a_broken_operator_template_fails_the_notice_naming_file_and_line(
    short_dir: Path, smtp: SmtpSink
) -> None:
    mail_dir = short_dir / "data" / "templates" / "mail"
    mail_dir.mkdir(parents=True)
    (mail_dir / "payment_received.en.txt").write_text(
        "Subject: Thanks\n\nDear {client.name},\nwe got {payment.amout}.\n", encoding="utf-8"
    )
    daemon = mail_daemon(short_dir, smtp)
    try:
        client = seed_client(daemon)
        daemon.call("payment.record", client=client["id"], amount="5.00")
        (failed,) = wait_until(
            lambda: daemon.call("outbox.list", state="failed"), what="the failed email"
        )
        assert (
            "payment_received.en.txt:4: unknown placeholder {payment.amout}"
            in (failed["last_error"])
        )
        assert failed["attempts"] == 1
        assert smtp.messages == []
    finally:
        daemon.stop()


def test_R_DEL_5_a_parked_client_and_the_run_tell_the_operators(
    short_dir: Path, smtp: SmtpSink
) -> None:
    daemon = mail_daemon(short_dir, smtp, "catch_up_limit: 2\n" + OPERATORS)
    try:
        client = seed_client(daemon, send_email=False)
        daemon.call(
            "contract.add", client=client["id"], description="Daily backup", price="1.00",
            cycle="day", start="2026-11-01",
        )  # fmt: skip
        daemon.call("run.start", until="2026-11-30", client=client["id"])
        mails = {m["Subject"]: m for m in smtp.wait_for(2)}
        parked = mails["[billingd] Client parked: Jane Doe"]
        assert parked["To"] == "ops@acme.test"
        assert (
            f"billingctl parked release {client['id']}" in parked.get_body(("plain",)).get_content()
        )
        (run_mail,) = [m for s, m in mails.items() if s.startswith("[billingd] Billing run")]
        assert "1 parked" in run_mail.get_body(("plain",)).get_content()
    finally:
        daemon.stop()
