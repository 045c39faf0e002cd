"""Messages that workers post back to the UI thread, one small dataclass each."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual.message import Message


@dataclass
class DaemonUnreachable(Message):
    """The control socket did not answer; bubbles to the app, which shows why."""

    reason: str
    started: float
    """``time.monotonic()`` when the failed call began, to tell stale failures apart."""


@dataclass
class DaemonRefused(Message):
    """The daemon answered a call with an error; bubbles to the app, which notifies."""

    method: str
    code: int
    message: str


@dataclass
class StatusLoaded(Message, bubble=False):
    """The daemon's ``status``."""

    status: dict[str, Any]


@dataclass
class ClientsLoaded(Message, bubble=False):
    """One page of ``client.list`` for the query numbered ``query``."""

    query: int
    offset: int
    clients: list[dict[str, Any]]
    more: bool


@dataclass
class InvoicesLoaded(Message, bubble=False):
    """One page of ``invoice.list`` of one client."""

    client_id: int
    query: int
    offset: int
    invoices: list[dict[str, Any]]
    more: bool


@dataclass
class InvoiceLoaded(Message, bubble=False):
    """One invoice from ``invoice.show``, with its lines."""

    invoice: dict[str, Any]


@dataclass
class Reconnected(Message, bubble=False):
    """The daemon answers again (its ``status``)."""

    status: dict[str, Any]
