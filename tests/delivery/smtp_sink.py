"""A real SMTP server for the delivery tests (aiosmtpd), that can go down and refuse."""

from __future__ import annotations

import email
import email.policy
import socket
import ssl
import threading
import time
from collections.abc import Callable
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class _Handler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        refusal = self.sink.refuse(address)
        if refusal:
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.sink.delay:
            time.sleep(self.sink.delay)  # a slow server: holds its loop like a busy one
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.sink.lock:
            self.sink.messages.append(message)  # type: ignore[arg-type]
        return "250 Message accepted"


class SmtpSink:
    """Collects what it receives in ``messages``; ``stop()``/``start()`` on one port.

    ``refuse(address)`` returns an SMTP reply to refuse a recipient with, or "".
    """

    def __init__(
        self,
        port: int | None = None,
        *,
        tls: ssl.SSLContext | None = None,
        implicit_tls: bool = False,
        login: tuple[str, str] | None = None,
    ) -> None:
        """With ``tls``, STARTTLS is required (or, with ``implicit_tls``, TLS from the
        first byte); with ``login``, AUTH with that user and password is required."""
        self.port = port or free_port()
        self.tls = tls
        self.implicit_tls = implicit_tls
        self.login = login
        self.logins: list[str] = []
        self.messages: list[EmailMessage] = []
        self.lock = threading.Lock()
        self.delay = 0.0
        self.refuse: Callable[[str], str] = lambda address: (
            "550 5.1.1 no such mailbox" if address.startswith("bounce") else ""
        )
        self._controller: Controller | None = None

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        user, password = auth_data.login.decode(), auth_data.password.decode()
        self.logins.append(user)
        return AuthResult(success=(user, password) == self.login)

    def start(self) -> SmtpSink:
        kwargs: dict[str, Any] = {}
        if self.tls is not None and self.implicit_tls:
            kwargs["ssl_context"] = self.tls
        elif self.tls is not None:
            kwargs.update(tls_context=self.tls, require_starttls=True)
        if self.login is not None:
            kwargs.update(authenticator=self._authenticate, auth_required=True)
            # aiosmtpd only counts STARTTLS as TLS; an implicit-TLS socket is one too
            kwargs["auth_require_tls"] = not self.implicit_tls
        self._controller = Controller(
            _Handler(self), hostname="127.0.0.1", port=self.port, **kwargs
        )
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def config(self, **extra: Any) -> str:
        """The daemon's ``smtp:`` section for this server."""
        lines = [
            f"  host: 127.0.0.1\n  port: {self.port}\n  from: Acme Billing <billing@acme.test>\n"
        ]
        lines += [f"  {key}: {value}\n" for key, value in extra.items()]
        return "smtp:\n" + "".join(lines)

    def wait_for(self, count: int, timeout: float = 30) -> list[EmailMessage]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.messages) >= count:
                    return list(self.messages)
            time.sleep(0.05)
        raise AssertionError(f"{len(self.messages)} of {count} messages arrived in {timeout} s")
