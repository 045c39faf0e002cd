"""The daemon's outbox worker: delivers what the outbox holds (R-DEL-3..5, R-INV-10).

It runs beside the scheduler on the daemon's event loop, with a database thread of its
own. Each step claims a batch of due messages (:func:`billingd.services.outbox.claim`)
and delivers them:

* emails over one SMTP connection per batch (aiosmtplib: STARTTLS or implicit TLS,
  login, at most ``smtp.rate`` messages per second), each recorded ``sent`` in a
  transaction of its own as soon as the server accepted it;
* notices by calling the notifier plugin, uploads by calling the uploader plugin, in
  threads, each bounded by :data:`CALL_SECONDS`.

A refusal retrying cannot fix (an SMTP 5xx, a plugin's ``PermanentFailure``, a
template error) fails the message for good; anything else puts it back with backoff
on the daemon's clock. A message whose documents are not rendered yet waits without
using an attempt. The worker wakes on ``outbox.queued``, ``document.rendered`` and the
scheduler's re-checks (a move of the test clock, a reload); idle, it sleeps until the
next retry is due (its backoff ends, a held message may go, another claimer's lease
lapses), at most :data:`billingd.queue_timing.FALLBACK_SECONDS` (messages queued by
another process on the database), see :mod:`billingd.queue_timing`. On start it takes
up messages a killed daemon left ``sending`` (re-sent with the same Message-ID).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import logging
import ssl
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from email.utils import parseaddr
from pathlib import Path
from typing import Any

import aiosmtplib

from billingd.config import SmtpConfig
from billingd.db.connection import close_thread_connection
from billingd.db.faults import log_failure
from billingd.db.models import OutboxMessage
from billingd.errors import ValidationError
from billingd.pausing import pause
from billingd.plugins import PermanentFailure
from billingd.queue_timing import ERROR_SECONDS, seconds_until_due
from billingd.run_gate import RunGate
from billingd.services import delivered_documents, mail, outbox
from billingd.services.context import ServiceContext
from billingd.services.leases import claimer_id

log = logging.getLogger("billingd.outbox")

SWEEP_SECONDS = 60.0
"""How often it takes up messages left ``sending`` by dead processes on this host."""
CALL_SECONDS = 120.0
"""How long a notifier or uploader may take for one message before it counts as failed."""
NOT_READY_SECONDS = 2.0
"""How long (real time) a message whose documents are still rendering is left alone,
unless a document is rendered first."""
COMPOSE_CHUNK = 16
"""Emails composed per database-thread call, while the lanes send the previous ones."""
PLUGIN_BATCH = 32
"""Notices and uploads claimed per step."""
PLUGIN_CHANNELS = [outbox.NOTIFY, outbox.UPLOAD]
"""The channels delivered by plugins, claimed whatever the mail settings."""

Publish = Callable[[str, dict[str, Any]], None]


def _tls_context(settings: SmtpConfig) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if settings.ca_file is not None:
        context.load_verify_locations(cafile=str(settings.ca_file))
    return context


def _permanent(code: int) -> bool:
    return 500 <= code < 600


class _Pacer:
    """At most ``rate`` sends per second across lanes and rounds (0: no limit)."""

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self.interval = 1.0 / rate if rate else 0.0
        self.next_slot = time.monotonic()

    async def wait(self) -> None:
        if not self.interval:
            return
        now = time.monotonic()
        slot = max(self.next_slot, now)
        self.next_slot = slot + self.interval
        if slot > now:
            await asyncio.sleep(slot - now)


class OutboxWorker:
    """Claims, delivers and records outbox messages until the daemon stops."""

    def __init__(
        self,
        ctx: ServiceContext,
        smtp: Callable[[], SmtpConfig],
        template_dirs: Sequence[Path],
        publish: Publish,
        stopping: asyncio.Event,
        gate: RunGate | None = None,
    ) -> None:
        self.ctx = ctx
        self.smtp = smtp
        self.gate = gate or RunGate()
        self.template_dirs = list(template_dirs)
        self.publish = publish
        self.stopping = stopping
        self.claimer = claimer_id()
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._db_thread = ThreadPoolExecutor(1, thread_name_prefix="billingd-outbox")
        self._calls = ThreadPoolExecutor(4, thread_name_prefix="billingd-outbox-call")
        self._swept = 0.0
        self._held: dict[int, float] = {}  # message id -> monotonic time it may be tried
        self._pacer = _Pacer(0)  # kept across rounds: the rate holds over the whole outbox
        self._outcomes: list[tuple[outbox.Outcome, asyncio.Future[None]]] = []
        self._recorder: asyncio.Future[None] | None = None
        self.sent = 0
        self.failed = 0

    def wake(self) -> None:
        """Look for messages now (safe from any thread)."""
        self._loop.call_soon_threadsafe(self._wake.set)

    def documents_rendered(self) -> None:
        """Messages waiting for their documents may go now (safe from any thread)."""
        self._loop.call_soon_threadsafe(self._held.clear)
        self.wake()

    async def _db(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        call = functools.partial(function, *args, **kwargs)
        return await self._loop.run_in_executor(self._db_thread, call)

    async def serve(self) -> None:
        """Until the daemon stops; then record what is under way and close."""
        try:
            while not self.stopping.is_set():
                try:
                    await self.gate.wait_open(self.stopping)  # a run of this daemon goes first
                    if not await self.step():
                        await pause(self._wake, self.stopping, await self._idle_seconds())
                except Exception as exc:
                    log_failure(log, "outbox worker: a step failed; trying again", exc)
                    await pause(self._wake, self.stopping, ERROR_SECONDS)
        finally:
            await self._flush()
            await self._db(close_thread_connection)
            self._db_thread.shutdown(wait=True)
            self._calls.shutdown(wait=False, cancel_futures=True)

    async def step(self) -> bool:
        """Claim and deliver one batch; False when nothing was due."""
        if time.monotonic() - self._swept > SWEEP_SECONDS:
            await self._db(outbox.release_abandoned, self.claimer)
            self._swept = time.monotonic()
        now = time.monotonic()
        self._held = {key: until for key, until in self._held.items() if until > now}
        held = list(self._held)
        settings = self.smtp()
        domain = (parseaddr(settings.sender)[1].rpartition("@")[2] or "billingd.invalid").lower()
        worked = False
        if settings.enabled:
            emails = await self._db(
                outbox.claim, self.ctx, settings.batch, self.claimer, [outbox.EMAIL],
                domain=domain, exclude=held,
            )  # fmt: skip
            if emails:
                worked = True
                await self._send_emails(emails, settings)
        others = await self._db(
            outbox.claim,
            self.ctx,
            PLUGIN_BATCH,
            self.claimer,
            PLUGIN_CHANNELS,
            domain=domain,
            exclude=held,
        )
        if others:
            worked = True
            await asyncio.gather(*(self._call_plugin(message) for message in others))
        await self._flush()
        return worked

    async def _idle_seconds(self) -> float:
        """How long to sleep with nothing due: until the next retry, held message or
        lapsed claim of the channels claimed, at most until the next sweep."""
        now = time.monotonic()
        wakes = [self._swept + SWEEP_SECONDS - now, *(until - now for until in self._held.values())]
        email = [outbox.EMAIL] if self.smtp().enabled else []
        ours = OutboxMessage.channel.in_([*PLUGIN_CHANNELS, *email])
        queued = ours & (OutboxMessage.state == "queued")
        sending = ours & (OutboxMessage.state == "sending")
        until = await self._db(
            seconds_until_due, self.ctx, OutboxMessage.next_attempt_at, queued,
            OutboxMessage.claimed_at, sending, outbox.LEASE,
        )  # fmt: skip
        return max(min(until, *wakes), 0.0)

    # -- recording -------------------------------------------------------------------------

    def _record(self, outcome: outbox.Outcome) -> asyncio.Future[None]:
        """Record an outcome soon, without waiting: outcomes that arrive while a commit
        is under way are committed together in the next transaction. The future is
        done once the commit that holds the outcome has ended."""
        if outcome.later is not None:
            self._held[outcome.message_id] = time.monotonic() + NOT_READY_SECONDS
        committed: asyncio.Future[None] = self._loop.create_future()
        self._outcomes.append((outcome, committed))
        if self._recorder is None or self._recorder.done():
            self._recorder = asyncio.ensure_future(self._record_pending())
        return committed

    async def _record_pending(self) -> None:
        while self._outcomes:
            pending, self._outcomes = self._outcomes, []
            outcomes = [outcome for outcome, _ in pending]
            ctx = self.ctx.acting_as("system")
            try:
                await self._db(outbox.record, ctx, outcomes, self.claimer)
            except Exception as exc:
                log_failure(log, f"outbox: recording {len(outcomes)} outcomes failed", exc)
                self._swept = 0.0  # they go back to queued at the next sweep
                continue
            finally:
                for _, committed in pending:
                    if not committed.done():  # a stopped lane may have given up on it
                        committed.set_result(None)
            for name, payload in ctx.events:
                if name == "outbox.sent":
                    self.sent += 1
                elif name == "outbox.failed":
                    self.failed += 1
                self.publish(name, payload)

    async def _flush(self) -> None:
        while self._recorder is not None and not self._recorder.done():
            await self._recorder

    # -- email -----------------------------------------------------------------------------

    def _compose(
        self, message: OutboxMessage, sender: str, cache: dict[Any, Any] | None = None
    ) -> bytes | outbox.Outcome:
        try:
            return mail.compose(message, sender, self.template_dirs, self.ctx.plugins, cache)
        except delivered_documents.NotReady as exc:
            return outbox.Outcome(message.id, str(exc), later=dt.timedelta())
        except ValidationError as exc:
            return outbox.Outcome(message.id, str(exc), permanent=True)
        except Exception as exc:
            log.exception("outbox: cannot compose message %s", message.id)
            return outbox.Outcome(message.id, f"{type(exc).__name__}: {exc}")

    async def _connect(self, settings: SmtpConfig) -> aiosmtplib.SMTP:
        client = aiosmtplib.SMTP(
            hostname=settings.host,
            port=settings.port,
            username=settings.username,
            password=settings.password,
            timeout=settings.timeout,
            use_tls=settings.implicit_tls,
            start_tls=settings.starttls and not settings.implicit_tls,
            tls_context=_tls_context(settings)
            if settings.starttls or settings.implicit_tls
            else None,
        )
        await client.connect()
        return client

    def _compose_all(self, messages: list[OutboxMessage], sender: str) -> list[Any]:
        cache: dict[Any, Any] = {}  # the senders and clients of this chunk
        return [self._compose(message, sender, cache) for message in messages]

    async def _send_emails(self, messages: list[OutboxMessage], settings: SmtpConfig) -> None:
        """Compose on the database thread in small chunks while ``smtp.connections``
        lanes, each with its own connection, send what is composed."""
        work: asyncio.Queue[tuple[OutboxMessage, Any] | None] = asyncio.Queue()
        lanes = max(1, min(settings.connections, len(messages)))
        if self._pacer.rate != settings.rate:
            self._pacer = _Pacer(settings.rate)
        pacer = self._pacer

        async def produce() -> None:
            for start in range(0, len(messages), COMPOSE_CHUNK):
                chunk = messages[start : start + COMPOSE_CHUNK]
                composed = await self._db(self._compose_all, chunk, settings.sender)
                for item in zip(chunk, composed, strict=True):
                    await work.put(item)
            for _ in range(lanes):
                await work.put(None)

        await asyncio.gather(produce(), *(self._lane(work, settings, pacer) for _ in range(lanes)))

    async def _lane(
        self,
        work: asyncio.Queue[tuple[OutboxMessage, Any] | None],
        settings: SmtpConfig,
        pacer: _Pacer,
    ) -> None:
        """Send composed messages over one connection until the producer is done.

        A lane sends its next message while the previous one is being recorded, but not
        before the one before that is committed: a crash can leave at most two accepted
        messages per connection unrecorded, which are sent again with their Message-ID.
        """
        envelope_from = parseaddr(settings.sender)[1]
        client: aiosmtplib.SMTP | None = None
        unreachable = ""
        recording: asyncio.Future[None] | None = None  # the previous accepted message
        try:
            while (item := await work.get()) is not None:
                message, composed = item
                if isinstance(composed, outbox.Outcome):
                    self._record(composed)
                elif unreachable or self.stopping.is_set():
                    later = None if unreachable else dt.timedelta()
                    self._record(outbox.Outcome(message.id, unreachable or "stopping", later=later))
                else:
                    if client is None:
                        try:
                            client = await self._connect(settings)
                        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
                            unreachable = (
                                f"cannot reach the mail server {settings.host}:{settings.port}: "
                                f"{exc}"
                            )
                            log.warning("outbox: %s", unreachable)
                            self._record(outbox.Outcome(message.id, unreachable))
                            continue
                    await pacer.wait()
                    outcome, client = await self._send_one(client, message, composed, envelope_from)
                    if recording is not None:
                        await recording
                    recording = self._record(outcome)
        finally:
            if client is not None:
                with contextlib.suppress(Exception):
                    await client.quit()

    async def _send_one(
        self, client: aiosmtplib.SMTP, message: OutboxMessage, email: bytes, sender: str
    ) -> tuple[outbox.Outcome, aiosmtplib.SMTP | None]:
        """Send one email; the outcome, and the connection if it is still usable."""
        try:
            refused, _ = await client.sendmail(sender, message.recipients, email)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            text = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in exc.recipients)
            return outbox.Outcome(
                message.id, f"refused: {text}", permanent=all(map(_permanent, codes))
            ), client
        except aiosmtplib.SMTPResponseException as exc:
            error = f"{exc.code} {exc.message}"
            return outbox.Outcome(message.id, error, permanent=_permanent(exc.code)), client
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            with contextlib.suppress(Exception):
                client.close()
            return outbox.Outcome(message.id, f"{type(exc).__name__}: {exc}"), None
        receipt = None
        if refused:  # some recipients refused, the others accepted: it is sent
            receipt = {
                "refused": {addr: f"{code} {text}" for addr, (code, text) in refused.items()}
            }
        return outbox.Outcome(message.id, receipt=receipt), client

    # -- notifiers and uploaders -----------------------------------------------------------

    def _plugin_call(self, message: OutboxMessage) -> Callable[[], Any] | outbox.Outcome:
        """The plugin call a message asks for (built on the database thread)."""
        plugins = self.ctx.plugins
        try:
            if message.channel == outbox.NOTIFY:
                notifier = plugins.notifiers().get(message.target) if plugins else None
                if notifier is None:
                    return outbox.Outcome(
                        message.id, f"no notifier {message.target!r} is loaded", permanent=True
                    )
                return functools.partial(notifier.notify, dict(message.payload))
            from billingd.services import uploads  # the uploaders' side of the outbox

            uploader = plugins.uploaders().get(message.target) if plugins else None
            if uploader is None:
                return outbox.Outcome(
                    message.id, f"no uploader {message.target!r} is loaded", permanent=True
                )
            return functools.partial(uploader.upload, uploads.upload_delivery(message))
        except delivered_documents.NotReady as exc:
            return outbox.Outcome(message.id, str(exc), later=dt.timedelta())
        except PermanentFailure as exc:  # e.g. its documents failed for good
            return outbox.Outcome(message.id, str(exc), permanent=True)
        except Exception as exc:
            log.exception("outbox: cannot prepare message %s", message.id)
            return outbox.Outcome(message.id, f"{type(exc).__name__}: {exc}")

    async def _call_plugin(self, message: OutboxMessage) -> None:
        call = await self._db(self._plugin_call, message)
        if isinstance(call, outbox.Outcome):
            self._record(call)
            return
        try:
            result = await asyncio.wait_for(
                self._loop.run_in_executor(self._calls, call), timeout=CALL_SECONDS
            )
        except PermanentFailure as exc:
            outcome = outbox.Outcome(message.id, str(exc) or "refused", permanent=True)
        except TimeoutError:
            outcome = outbox.Outcome(message.id, f"{message.target} took over {CALL_SECONDS:g} s")
        except Exception as exc:
            log.warning("outbox: %s %s failed: %s", message.channel, message.target, exc)
            outcome = outbox.Outcome(message.id, f"{type(exc).__name__}: {exc}")
        else:
            outcome = outbox.Outcome(
                message.id, receipt=result if isinstance(result, dict) else None
            )
        self._record(outcome)
