"""An idle daemon's queue workers sleep, yet work is done when it is due (R-INV-11, R-DEL-3).

The document worker and the outbox worker poll the database only every
``FALLBACK_SECONDS`` (for work other processes queue). What this daemon queues wakes
them at once, a move of the test clock wakes them for the retries it made due, and a
retry on the system clock is attempted when its backoff ends. Each wait below is
shorter than the fallback poll, so only the wake-up can meet it.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from billingd.queue_timing import FALLBACK_SECONDS
from billingd.services.outbox import BACKOFF
from tests.conftest import RunningDaemon
from tests.delivery.conftest import seed_client, wait_until
from tests.delivery.smtp_sink import SmtpSink

PROMPT = FALLBACK_SECONDS / 2
"""Seconds within which woken work must be done: well before the fallback poll."""


def _invoice(daemon: RunningDaemon, client: dict[str, Any]) -> dict[str, Any]:
    (invoice,) = daemon.call(
        "invoice.amount", client=client["id"], date="2026-01-05", amount="119.00"
    )
    return invoice


def _greylisted(smtp: SmtpSink) -> list[float]:
    """Refuse the first delivery attempt with a temporary error; the attempts' times."""
    tries: list[float] = []

    def greylist(address: str) -> str:
        tries.append(time.monotonic())
        return "451 4.7.1 greylisted, try later" if len(tries) == 1 else ""

    smtp.refuse = greylist
    return tries


def test_r_inv_11_a_queued_document_is_rendered_without_waiting_for_the_fallback_poll(
    mailing: RunningDaemon,
) -> None:
    client = seed_client(mailing)
    invoice = _invoice(mailing, client)  # document.queued wakes the sleeping worker
    wait_until(
        lambda: mailing.call("invoice.show", invoice=invoice["id"])["document"] == "ready",
        timeout=PROMPT,
        what="the invoice's documents",
    )


def test_r_del_3_a_queued_email_is_sent_without_waiting_for_the_fallback_poll(
    mailing: RunningDaemon, smtp: SmtpSink
) -> None:
    client = seed_client(mailing)
    invoice = _invoice(mailing, client)
    mailing.call("invoice.send", invoice=invoice["number"])  # outbox.queued wakes it
    (mail,) = smtp.wait_for(1, timeout=PROMPT)
    assert mail["Subject"] == f"Invoice {invoice['number']} from Acme Telecom"


def test_r_del_3_a_move_of_the_test_clock_wakes_the_retry_it_made_due(
    mailing: RunningDaemon, smtp: SmtpSink
) -> None:
    tries = _greylisted(smtp)
    client = seed_client(mailing)
    mailing.call("invoice.send", invoice=_invoice(mailing, client)["number"])
    (waiting,) = wait_until(
        lambda: [m for m in mailing.call("outbox.list") if "451" in m["last_error"]],
        timeout=PROMPT,
        what="the greylisted attempt",
    )
    mailing.call("clock.advance", by="2m")  # past the first backoff (1 min)
    (mail,) = smtp.wait_for(1, timeout=PROMPT)
    assert mail["Message-ID"] == waiting["message_id"] and len(tries) == 2


@pytest.mark.slow  # waits for the first backoff, a minute
def test_r_del_3_a_retry_on_the_system_clock_is_attempted_when_its_backoff_ends(
    short_dir: Path, smtp: SmtpSink
) -> None:
    """No event announces a backoff's end: the worker sleeps until then, not longer."""
    config = "invoicing: manual\n" + smtp.config()  # the system clock
    daemon = RunningDaemon(short_dir, f"sqlite:///{short_dir / 'billing.db'}", config)
    try:
        tries = _greylisted(smtp)
        invoice = _invoice(daemon, seed_client(daemon))
        daemon.call("invoice.send", invoice=invoice["number"])
        backoff = BACKOFF[0].total_seconds()
        smtp.wait_for(1, timeout=backoff + PROMPT)
        assert len(tries) == 2
        waited = tries[1] - tries[0]
        assert backoff - 1 <= waited <= backoff + PROMPT
    finally:
        daemon.stop()
