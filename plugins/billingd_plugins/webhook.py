"""The ``webhook`` notifier plugin: billing events POSTed to configured URLs (issue 11).

Each endpoint of ``plugins.settings.webhook.endpoints`` becomes one notifier, named
``webhook:<endpoint name>``, so each has its own queue of outbox messages, its own
retries and its own delivery log (``billingctl outbox list``)::

    plugins:
      settings:
        webhook:
          endpoints:
            - name: erp
              url: https://erp.example.com/hooks/billingd
              secret: a-long-random-string
              events: [invoice.issued, payment.received]   # or ["*"]
              timeout: 10                                    # seconds, default 10
              ca_file: /etc/ssl/private-ca.pem               # optional

The body is the event as JSON: ``{"id", "name", "at", "client_id", "payload"}``;
``id`` is unique per event and the same on every retry, so a receiver drops a
repeated id. Every
request is signed the way the common providers do it::

    Billingd-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" with the secret>
    Billingd-Event-Id: <id>
    Billingd-Event: <name>

A receiver checks it with :func:`verify_signature` (or the same four lines in its
own language) and rejects a timestamp older than a few minutes, so a captured request
cannot be replayed later.

Outcomes: a 2xx answer is delivered. A 3xx or 4xx answer (410 Gone, 400, 401, ...)
is a refusal that retrying cannot fix (:class:`~billingd.plugins.PermanentFailure`),
except 408 and 429, which ask to come back later. A 5xx answer, a timeout or a
refused connection raises an ordinary error: the outbox tries again with backoff.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import logging
import ssl
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import billingd
from billingd.hookspecs import hookimpl
from billingd.plugins import PermanentFailure
from billingd.services.notifications import EVENTS

log = logging.getLogger("billingd.plugins.webhook")

SIGNATURE_HEADER = "Billingd-Signature"
EVENT_ID_HEADER = "Billingd-Event-Id"
EVENT_HEADER = "Billingd-Event"
DEFAULT_TIMEOUT = 10
RETRYABLE_4XX = frozenset({408, 425, 429})
"""Client-error answers that ask to come back later rather than refuse."""


class WebhookError(Exception):
    """A delivery that may work later (5xx, timeout, connection refused)."""


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The ``Billingd-Signature`` header value for ``body``: ``t=<ts>,v1=<hex>``."""
    t = int(time.time()) if timestamp is None else int(timestamp)
    digest = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def verify_signature(
    secret: str,
    header: str | None,
    body: bytes,
    tolerance: int = 300,
    *,
    now: float | None = None,
) -> bool:
    """Whether ``header`` (a ``Billingd-Signature`` value) signs ``body`` with ``secret``
    and its timestamp is within ``tolerance`` seconds of ``now`` (default: the clock).

    Compares in constant time; several ``v1=`` entries (a secret being rotated) pass
    when any of them matches.
    """
    if not header:
        return False
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                return False
        elif key == "v1":
            candidates.append(value)
    if timestamp is None or not candidates:
        return False
    current = time.time() if now is None else now
    if tolerance and abs(current - timestamp) > tolerance:
        return False
    expected = sign(secret, body, timestamp).partition(",v1=")[2]
    return any(hmac.compare_digest(expected, c) for c in candidates)


@dataclass(frozen=True)
class Endpoint:
    name: str
    url: str
    secret: str
    events: frozenset[str]
    timeout: float = DEFAULT_TIMEOUT
    ca_file: str | None = None


def parse_endpoints(raw: Iterable[Any]) -> list[Endpoint]:
    """Endpoints from ``plugins.settings.webhook.endpoints``; raises ValueError naming
    the endpoint and key that is wrong."""
    endpoints: list[Endpoint] = []
    for index, item in enumerate(raw):
        where = f"plugins.settings.webhook.endpoints[{index}]"
        if not isinstance(item, dict):
            raise ValueError(f"{where}: expected a mapping, got {item!r}")
        unknown = set(item) - {"name", "url", "secret", "events", "timeout", "ca_file"}
        if unknown:
            raise ValueError(f"{where}: unknown keys {', '.join(sorted(unknown))}")
        name = item.get("name")
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"{where}.name: a non-empty name is required")
        if any(e.name == name for e in endpoints):
            raise ValueError(f"{where}.name: {name!r} is used twice")
        url = item.get("url")
        parts = urlsplit(url) if isinstance(url, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{where}.url: expected an http(s) URL, got {url!r}")
        secret = item.get("secret")
        if not isinstance(secret, str) or len(secret) < 8:
            raise ValueError(f"{where}.secret: a secret of 8 characters or more is required")
        events = item.get("events", ["*"])
        if not isinstance(events, list) or not all(isinstance(e, str) for e in events):
            raise ValueError(f"{where}.events: expected a list of event names")
        wrong = sorted(set(events) - {"*", *EVENTS})
        if wrong:
            raise ValueError(
                f"{where}.events: unknown events {', '.join(wrong)} "
                f"(known: {', '.join(EVENTS)}, or *)"
            )
        timeout = item.get("timeout", DEFAULT_TIMEOUT)
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
            raise ValueError(f"{where}.timeout: expected a positive number of seconds")
        ca_file = item.get("ca_file")
        if ca_file is not None and not isinstance(ca_file, str):
            raise ValueError(f"{where}.ca_file: expected a file name")
        endpoints.append(Endpoint(name, url, secret, frozenset(events), float(timeout), ca_file))
    return endpoints


class WebhookNotifier:
    """One endpoint as a :class:`~billingd.plugins.Notifier`."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self.name = f"webhook:{endpoint.name}"

    def wants(self, event_name: str) -> bool:
        events = self.endpoint.events
        return "*" in events or event_name in events

    def body(self, event: dict[str, Any]) -> bytes:
        keys = ("id", "name", "at", "client_id", "payload")
        document = {key: event[key] for key in keys if key in event}
        return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()

    def notify(self, event: dict[str, Any]) -> None:
        endpoint = self.endpoint
        body = self.body(event)
        parts = urlsplit(endpoint.url)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"billingd/{billingd.__version__} webhook",
            SIGNATURE_HEADER: sign(endpoint.secret, body),
            EVENT_ID_HEADER: str(event["id"]),
            EVENT_HEADER: str(event["name"]),
        }
        if parts.scheme == "https":
            context = ssl.create_default_context(cafile=endpoint.ca_file)
            connection: http.client.HTTPConnection = http.client.HTTPSConnection(
                parts.hostname or "", parts.port, timeout=endpoint.timeout, context=context
            )
        else:
            connection = http.client.HTTPConnection(
                parts.hostname or "", parts.port, timeout=endpoint.timeout
            )
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        where = f"webhook {endpoint.name!r} ({endpoint.url})"
        try:
            connection.request("POST", path, body=body, headers=headers)
            response = connection.getresponse()
            answer = response.read(2048).decode("utf-8", "replace").strip()
        except ssl.SSLCertVerificationError as exc:
            raise PermanentFailure(f"{where}: TLS certificate refused: {exc}") from exc
        except (OSError, http.client.HTTPException) as exc:
            raise WebhookError(f"{where}: {type(exc).__name__}: {exc}") from exc
        finally:
            connection.close()
        status = response.status
        if 200 <= status < 300:
            return
        detail = f"{where} answered {status} {response.reason}" + (
            f": {answer[:200]}" if answer else ""
        )
        if 300 <= status < 500 and status not in RETRYABLE_4XX:
            raise PermanentFailure(detail)
        raise WebhookError(detail)


class WebhookPlugin:
    """The endpoints configured now; :func:`startup` and :func:`settings_changed` set them."""

    def __init__(self) -> None:
        self.notifiers: list[WebhookNotifier] = []

    def configure(self, settings: dict[str, Any]) -> None:
        """Replace the endpoints; invalid settings raise ValueError and change nothing."""
        endpoints = parse_endpoints(settings.get("endpoints", []))
        self.notifiers = [WebhookNotifier(endpoint) for endpoint in endpoints]


WEBHOOKS = WebhookPlugin()


def _apply(host: Any, settings: dict[str, Any]) -> None:
    WEBHOOKS.configure(settings)  # the host asks register_notifiers again afterwards
    names = ", ".join(n.name for n in WEBHOOKS.notifiers) or "none"
    log.info("webhook endpoints: %s", names)


@hookimpl
def plugin_settings_schema() -> dict[str, str]:
    return {"endpoints": "list"}


@hookimpl
def startup(host) -> None:  # type: ignore[no-untyped-def]
    WEBHOOKS.notifiers = []  # an invalid configuration posts nowhere (and is logged)
    _apply(host, host.settings_for("webhook"))


@hookimpl
def settings_changed(host, settings) -> None:  # type: ignore[no-untyped-def]
    """A reload: the new endpoints, or — when they are invalid — the old ones kept."""
    _apply(host, settings)


@hookimpl
def register_notifiers(register) -> None:  # type: ignore[no-untyped-def]
    for notifier in WEBHOOKS.notifiers:
        register(notifier)
