"""Webhooks (issue 11, R-DEL-5): billing events POSTed, signed, to configured URLs by
the built-in ``webhook`` notifier plugin; a receiver that is down gets them later, once."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import billingd_plugins.webhook as webhook
from billingd.plugins import PermanentFailure, PluginHost, load_plugins
from billingd.services.notifications import EVENTS
from billingd_plugins.webhook import SIGNATURE_HEADER, sign, verify_signature
from tests.conftest import RunningDaemon, billingctl_ok
from tests.delivery.conftest import wait_until
from tests.delivery.receivers import Receiver

SECRET = "whsec-test-0123456789"


def _event(name: str = "payment.received", **payload: Any) -> dict[str, Any]:
    return {
        "id": uuid.uuid4().hex,
        "name": name,
        "at": "2026-01-05T10:00:00Z",
        "payload": payload or {"client_id": 1, "amount": "119.00"},
    }


def _endpoint(url: str, **extra: Any) -> dict[str, Any]:
    return {"name": "erp", "url": url, "secret": SECRET, "events": ["*"], "timeout": 5, **extra}


@pytest.fixture
def host_with() -> Iterator[Any]:
    """A plugin host with the given webhook endpoints; the built-in plugin's endpoints
    are reset afterwards (its state is per process, like every built-in's)."""
    hosts: list[PluginHost] = []

    def make(*endpoints: dict[str, Any]) -> PluginHost:
        host = load_plugins({"webhook": {"endpoints": list(endpoints)}}, [])
        hosts.append(host)
        return host

    yield make
    webhook.WEBHOOKS.configure({})


def _verifying(secret: str, status: int = 200):  # type: ignore[no-untyped-def]
    """A receiver's handler: 401 for a bad signature, else ``status``."""

    def handle(request: dict[str, Any]) -> tuple[int, bytes]:
        if not verify_signature(secret, request["headers"].get(SIGNATURE_HEADER), request["body"]):
            return 401, b"bad signature"
        return status, b"ok"

    return handle


# -- signing ---------------------------------------------------------------------------------


def test_R_DEL_5_webhook_signature_is_hmac_sha256_of_timestamp_and_body() -> None:
    body = b'{"id":"e1","name":"invoice.issued"}'
    header = sign("s3cret-s3cret", body, timestamp=1_700_000_000)
    t, v1 = header.split(",")
    assert t == "t=1700000000"
    import hashlib
    import hmac

    expected = hmac.new(b"s3cret-s3cret", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert v1 == f"v1={expected}"
    assert verify_signature("s3cret-s3cret", header, body, now=1_700_000_100)
    assert not verify_signature("other-secret", header, body, now=1_700_000_100)
    assert not verify_signature("s3cret-s3cret", header, body + b" ", now=1_700_000_100)
    # a captured request replayed later than the tolerance is refused
    assert not verify_signature("s3cret-s3cret", header, body, now=1_700_000_301)
    assert not verify_signature("s3cret-s3cret", None, body)
    assert not verify_signature("s3cret-s3cret", "v1=abc", body)
    # a rotated secret: either signature passes
    rotated = f"{header},v1={sign('new-secret-123', body, 1_700_000_000).split('v1=')[1]}"
    assert verify_signature("new-secret-123", rotated, body, now=1_700_000_000)


# -- the plugin against a real receiver ------------------------------------------------------


def test_R_DEL_5_webhook_posts_the_signed_event_and_the_receiver_verifies_it(host_with) -> None:
    receiver = Receiver(_verifying(SECRET)).start()
    try:
        host = host_with(_endpoint(receiver.url))
        (notifier,) = [n for name, n in host.notifiers().items() if name.startswith("webhook:")]
        assert notifier.name == "webhook:erp"
        event = _event("invoice.issued", id=7, number="100001/2026", total="119.00")
        assert notifier.notify(event) is None
        (request,) = receiver.requests
    finally:
        receiver.stop()
    assert request["path"] == "/hook"
    headers = request["headers"]
    assert headers["Content-Type"] == "application/json"
    assert headers["Billingd-Event-Id"] == event["id"]
    assert headers["Billingd-Event"] == "invoice.issued"
    assert verify_signature(SECRET, headers[SIGNATURE_HEADER], request["body"])
    timestamp = int(headers[SIGNATURE_HEADER].split(",")[0].removeprefix("t="))
    assert abs(timestamp - time.time()) < 60
    assert json.loads(request["body"]) == event


def test_R_DEL_5_webhook_wants_only_its_endpoints_events(host_with) -> None:
    host = host_with(
        _endpoint("http://127.0.0.1:9/a", name="all"),
        _endpoint(
            "http://127.0.0.1:9/b", name="pay", events=["payment.received", "payment.failed"]
        ),
    )
    notifiers = host.notifiers()
    assert all(notifiers["webhook:all"].wants(e) for e in EVENTS)
    pay = notifiers["webhook:pay"]
    assert [e for e in EVENTS if pay.wants(e)] == ["payment.received", "payment.failed"]
    assert "webhook" in {p["name"] for p in host.plugin_list()}
    (listing,) = [p for p in host.plugin_list() if p["name"] == "webhook"]
    if "registers" in listing:
        assert listing["registers"]["notifier"] == ["webhook:all", "webhook:pay"]


@pytest.mark.parametrize("status", [400, 401, 404, 410, 422])
def test_R_DEL_5_webhook_refused_with_4xx_is_a_permanent_failure(host_with, status: int) -> None:
    receiver = Receiver(lambda request: (status, b"go away")).start()
    try:
        notifier = host_with(_endpoint(receiver.url)).notifiers()["webhook:erp"]
        with pytest.raises(PermanentFailure, match=str(status)):
            notifier.notify(_event())
    finally:
        receiver.stop()


@pytest.mark.parametrize("status", [429, 500, 502, 503])
def test_R_DEL_5_webhook_5xx_and_429_are_tried_again(host_with, status: int) -> None:
    receiver = Receiver(lambda request: (status, b"later")).start()
    try:
        notifier = host_with(_endpoint(receiver.url)).notifiers()["webhook:erp"]
        with pytest.raises(webhook.WebhookError, match=str(status)) as caught:
            notifier.notify(_event())
        assert not isinstance(caught.value, PermanentFailure)
    finally:
        receiver.stop()


def test_R_DEL_5_webhook_receiver_down_raises_then_delivers_when_back(host_with) -> None:
    receiver = Receiver(_verifying(SECRET)).start()
    receiver.stop()  # the port is closed: connection refused
    notifier = host_with(_endpoint(receiver.url)).notifiers()["webhook:erp"]
    event = _event()
    with pytest.raises(webhook.WebhookError, match="ConnectionRefused"):
        notifier.notify(event)
    receiver.start()
    try:
        notifier.notify(event)
    finally:
        receiver.stop()
    (request,) = receiver.requests
    assert request["headers"]["Billingd-Event-Id"] == event["id"]


def test_R_DEL_5_webhook_timeout_is_tried_again(host_with) -> None:
    def slow(request: dict[str, Any]) -> tuple[int, bytes]:
        time.sleep(2)
        return 200, b"ok"

    receiver = Receiver(slow).start()
    try:
        notifier = host_with(_endpoint(receiver.url, timeout=0.3)).notifiers()["webhook:erp"]
        with pytest.raises(webhook.WebhookError, match=r"timed out|TimeoutError"):
            notifier.notify(_event())
    finally:
        receiver.stop()


@pytest.mark.parametrize(
    ("endpoint", "problem"),
    [
        ({"url": "ftp://x/y"}, "url"),
        ({"secret": "short"}, "secret"),
        ({"events": ["invoice.eaten"]}, "unknown events invoice.eaten"),
        ({"timeout": 0}, "timeout"),
        ({"colour": "red"}, "unknown keys colour"),
    ],
)
def test_R_DEL_5_webhook_endpoint_settings_are_checked(endpoint: dict, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        webhook.parse_endpoints([{**_endpoint("http://127.0.0.1:9/x"), **endpoint}])


# -- end to end: the daemon's outbox delivers, retries, and delivers once --------------------


@pytest.mark.slow
def test_R_DEL_5_webhook_down_receiver_gets_the_payment_event_later_exactly_once(
    short_dir: Path,
) -> None:
    received: list[dict[str, Any]] = []

    def handle(request: dict[str, Any]) -> tuple[int, bytes]:
        if not verify_signature(SECRET, request["headers"].get(SIGNATURE_HEADER), request["body"]):
            return 401, b"bad signature"
        received.append(json.loads(request["body"]))
        return 204, b""

    receiver = Receiver(handle).start()
    port = receiver.port
    receiver.stop()  # down from the start
    config = (
        "invoicing: manual\nclock: test\n"
        "plugins:\n  settings:\n    webhook:\n      endpoints:\n"
        f"        - name: erp\n          url: http://127.0.0.1:{port}/hook\n"
        f"          secret: {SECRET}\n          events: [payment.received]\n"
        "          timeout: 5\n"
    )
    daemon = RunningDaemon(short_dir, f"sqlite:///{short_dir / 'billing.db'}", config)
    try:
        enterprise = daemon.call("enterprise.add", name="Acme", currency="EUR", tax_rate="19")
        client = daemon.call("client.add", enterprise=enterprise["id"], name="Jane")
        daemon.call("payment.record", client=client["id"], amount="50.00")

        def waiting() -> list[dict[str, Any]]:
            return [
                m
                for m in daemon.call("outbox.list", channel="notify")
                if m["target"] == "webhook:erp" and m["state"] == "queued" and m["last_error"]
            ]

        (message,) = wait_until(waiting, what="a queued webhook with an error")
        assert "Connection" in message["last_error"] or "refused" in message["last_error"]
        listed = billingctl_ok(daemon, "outbox", "list")
        assert any(m["id"] == message["id"] and m["state"] == "queued" for m in listed)

        receiver.start()  # back, on the same port
        assert receiver.port == port
        billingctl_ok(daemon, "clock", "advance", "2h")  # past the backoff

        def sent() -> list[dict[str, Any]]:
            return [
                m
                for m in daemon.call("outbox.list", channel="notify")
                if m["id"] == message["id"] and m["state"] == "sent"
            ]

        wait_until(sent, what="the webhook sent")
        daemon.call("clock.advance", by="1d")
        time.sleep(3)  # time for a wrong second delivery to show
    finally:
        daemon.stop()
        receiver.stop()
    assert len(received) == 1
    (event,) = received
    assert event["name"] == "payment.received"
    assert event["payload"]["client_id"] == client["id"]


def test_R_DEL_5_webhook_endpoints_follow_a_settings_reload(host_with) -> None:
    host = host_with(_endpoint("http://127.0.0.1:9/a", name="old"))
    assert [n for n in host.notifiers() if n.startswith("webhook:")] == ["webhook:old"]
    host.apply_settings({"webhook": {"endpoints": [_endpoint("http://127.0.0.1:9/b", name="new")]}})
    assert [n for n in host.notifiers() if n.startswith("webhook:")] == ["webhook:new"]
    # endpoints that do not parse are refused and the ones in force are kept
    host.apply_settings({"webhook": {"endpoints": [_endpoint("ftp://nowhere", name="bad")]}})
    assert [n for n in host.notifiers() if n.startswith("webhook:")] == ["webhook:new"]
