"""Server-pushed events: committed service events fanned out to socket subscribers.

A connection that calls ``subscribe`` receives every event published after
that (and matching its name prefixes) as a JSON-RPC notification::

    {"jsonrpc": "2.0", "method": "event",
     "params": {"name": "invoice.issued", "payload": {...}, "at": "...", "seq": 17}}

Publishing never waits for a subscriber. Each subscription has a bounded queue
of frames not yet handed to its socket; when a subscriber falls that far
behind, it is unsubscribed and gets one last notification named
``events.dropped`` after the events already queued for it. Its connection stays
open for calls; it may subscribe again after catching up on state.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import threading
from collections import deque
from collections.abc import Iterable
from typing import Any

from billingd.control.protocol import notification_frame
from billingd.errors import ValidationError

log = logging.getLogger("billingd.control")

EVENT_METHOD = "event"
"""The JSON-RPC method name of every event notification."""
DROPPED_EVENT = "events.dropped"
"""The last event a subscriber that fell behind receives."""
DEFAULT_QUEUE_LIMIT = 1000
"""Event frames a subscriber may have waiting before it is dropped."""
MAX_PREFIXES = 64
MAX_PREFIX_LENGTH = 200


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


def event_frame(name: str, payload: Any, seq: int, at: str | None = None) -> bytes:
    """One ``event`` notification, encoded."""
    params = {"name": name, "payload": payload, "at": at or _now(), "seq": seq}
    return notification_frame(EVENT_METHOD, params)


def check_prefixes(value: Any) -> tuple[str, ...]:
    """The ``events`` parameter of ``subscribe``: a list of name prefixes; empty means all."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ValidationError("events must be a list of event-name prefixes", field="events")
    if len(value) > MAX_PREFIXES:
        raise ValidationError(f"events: at most {MAX_PREFIXES} prefixes", field="events")
    for item in value:
        if not isinstance(item, str) or len(item) > MAX_PREFIX_LENGTH:
            raise ValidationError(
                f"events: each prefix must be a string of at most {MAX_PREFIX_LENGTH} characters",
                field="events",
            )
    return tuple(dict.fromkeys(value))  # keep order, drop repeats


class Subscription:
    """One subscriber's filter and its bounded queue of encoded event frames."""

    def __init__(self, prefixes: Iterable[str], limit: int) -> None:
        self.prefixes = tuple(prefixes)
        self.limit = limit
        self.queue: deque[bytes] = deque()
        self.closed = False
        self.dropped = False
        self._ready = asyncio.Event()

    def wants(self, name: str) -> bool:
        return not self.prefixes or name.startswith(self.prefixes)

    def offer(self, frame: bytes) -> bool:
        """Queue ``frame``; False (and nothing queued) when the queue is full."""
        if self.closed:
            return True
        if len(self.queue) >= self.limit:
            return False
        self.queue.append(frame)
        self._ready.set()
        return True

    def finish(self, last: bytes | None = None) -> None:
        """No more events: deliver what is queued, then ``last`` (if any), then stop."""
        if last is not None:
            self.queue.append(last)
        self.closed = True
        self._ready.set()

    def cancel(self) -> None:
        """Stop now: frames not yet handed to the socket are discarded."""
        self.queue.clear()
        self.finish()

    async def next_frame(self) -> bytes | None:
        """The next frame to write, or None once the subscription is over."""
        while not self.queue:
            if self.closed:
                return None
            self._ready.clear()
            await self._ready.wait()
        return self.queue.popleft()


class EventHub:
    """Fans published events out to subscriptions; ``publish`` is safe from any thread."""

    def __init__(self, queue_limit: int = DEFAULT_QUEUE_LIMIT) -> None:
        self.queue_limit = queue_limit
        self.seq = 0
        self.dropped = 0
        self._subscriptions: set[Subscription] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None

    @property
    def subscriptions(self) -> frozenset[Subscription]:
        return frozenset(self._subscriptions)

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Deliver on ``loop``; publishes from other threads are handed over to it."""
        self._loop = loop
        self._loop_thread = threading.get_ident()

    def subscribe(self, prefixes: Iterable[str] = ()) -> Subscription:
        subscription = Subscription(prefixes, self.queue_limit)
        self._subscriptions.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscriptions.discard(subscription)
        subscription.cancel()

    def publish(self, name: str, payload: Any) -> None:
        """Hand a committed event to every matching subscriber; never blocks."""
        loop = self._loop
        if loop is not None and threading.get_ident() != self._loop_thread:
            if not loop.is_closed():
                loop.call_soon_threadsafe(self._deliver, name, payload)
            return
        self._deliver(name, payload)

    def _deliver(self, name: str, payload: Any) -> None:
        self.seq += 1
        if not self._subscriptions:
            return
        at = _now()
        frame: bytes | None = None
        for subscription in list(self._subscriptions):
            if not subscription.wants(name):
                continue
            if frame is None:
                frame = event_frame(name, payload, self.seq, at)
            if not subscription.offer(frame):
                log.warning(
                    "event subscriber dropped: %d events waiting (limit %d)",
                    len(subscription.queue),
                    subscription.limit,
                )
                self.drop(subscription, "queue_full", missed_from=self.seq)

    def drop(self, subscription: Subscription, reason: str, missed_from: int | None = None) -> None:
        """End ``subscription`` after its queued events with an ``events.dropped`` notice.

        The notice's ``seq`` (and ``missed_from_seq``) is the first event the
        subscriber does not get: ``missed_from``, or by default the next one.
        """
        if subscription.closed:
            return
        self._subscriptions.discard(subscription)
        self.dropped += 1
        subscription.dropped = True
        seq = missed_from if missed_from is not None else self.seq + 1
        notice = {"reason": reason, "limit": subscription.limit, "missed_from_seq": seq}
        subscription.finish(event_frame(DROPPED_EVENT, notice, seq))

    def close(self) -> None:
        """End every subscription (daemon shutdown)."""
        for subscription in list(self._subscriptions):
            self.unsubscribe(subscription)


def per_connection(handler: Any) -> Any:
    """Mark a socket method whose handler takes the connection instead of a ServiceContext.

    Such a handler runs on the event loop (it must not touch the database) and
    receives the server's ``Connection``: ``subscribe(prefixes)``, ``unsubscribe()``.
    """
    handler.per_connection = True
    return handler
