"""Messages that workers post back to the UI thread, one small dataclass each."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from textual.message import Message


@dataclass
class DaemonUnreachable(Message):
    """The control socket did not answer; bubbles to the app, which shows why."""

    reason: str
    started: float  # time.monotonic() seconds
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


# -- the event subscription (see Daemon.follow) -------------------------------


@dataclass
class Following(Message, bubble=False):
    """The subscription is (again) in place: re-read what the screen shows."""


@dataclass
class RunProgressed(Message, bubble=False):
    """A ``run.progress`` event: one more client of run ``run_id`` is done."""

    run_id: int
    done: int
    total: int
    invoices: int
    failures: int
    parked: int


@dataclass
class RunFinished(Message, bubble=False):
    """A ``run.finished`` event, with the run's view (counts and errors)."""

    run: dict[str, Any]


@dataclass
class LedgerChanged(Message, bubble=False):
    """An ``invoice.…``, ``payment.…`` or ``credit_note.…`` event: totals are stale."""

    event: str


def event_message(event: dict[str, Any]) -> Message | None:
    """The message for one event notification ``{name, payload, at, seq}``; None to skip."""
    name = str(event.get("name") or "")
    payload = event.get("payload")
    if not isinstance(payload, dict):
        payload = {}
    if name == "run.progress":
        counts = ("done", "total", "invoices", "failures", "parked")
        try:
            figures = [int(payload.get(c) or 0) for c in counts]
            return RunProgressed(int(payload["run_id"]), *figures)
        except (KeyError, TypeError, ValueError):  # not a payload we can show
            return None
    if name == "run.finished":
        return RunFinished(payload) if "id" in payload else None
    if name.startswith(("invoice.", "payment.", "credit_note.", "charge.", "price_override.")):
        return LedgerChanged(name)
    if name == "client.updated" or name.startswith("bill_group."):
        return PartyChanged(name, payload.get("client_id"))
    return Happened(name, payload) if name.startswith(Happened.NAMES) else None


# -- dashboard and runs --------------------------------------------------------


@dataclass
class OverviewLoaded(Message, bubble=False):
    """The daemon's ``status``, ``clock.show`` and the number of parked clients."""

    status: dict[str, Any]
    clock: dict[str, Any]
    parked: int


@dataclass
class RunsLoaded(Message, bubble=False):
    """The most recent runs from ``run.list``, newest first."""

    runs: list[dict[str, Any]]
    select: int | None = None
    """A run to put the cursor on (one just started)."""


@dataclass
class RunLoaded(Message, bubble=False):
    """One run from ``run.show``, with its errors."""

    run: dict[str, Any]


@dataclass
class RunStarted(Message, bubble=False):
    """``run.start`` answered: the run is queued (its view, status ``running``)."""

    run: dict[str, Any]


# -- the client billing workspace ---------------------------------------------


@dataclass
class ClientSectionLoaded(Message, bubble=False):
    """One section of a client's workspace as the daemon answered it ("summary",
    "upcoming", "charges", "invoices", "payments", "credit_notes", "audit")."""

    section: str
    data: Any


@dataclass
class DocumentLoaded(Message, bubble=False):
    """An invoice's document as text (pages of the PDF), or why there is none."""

    text: str


# -- invoices, outbox, dunning, plugins, templates, parked clients --------------


@dataclass
class Happened(Message, bubble=False):
    """An event that makes a list stale (an outbox message sent, a reminder, a release)."""

    NAMES: ClassVar[tuple[str, ...]] = ("outbox.", "dunning.", "reminder.", "client.released")
    """The event-name prefixes given as this message (the others have their own)."""

    name: str
    payload: dict[str, Any]


@dataclass
class RowsLoaded(Message, bubble=False):
    """One page of a list method's answer for the query numbered ``query``."""

    query: int
    offset: int
    rows: list[dict[str, Any]]
    more: bool


@dataclass
class DetailLoaded(Message, bubble=False):
    """One object from a ``….show`` method (an outbox message, a dunning state)."""

    item: dict[str, Any]


@dataclass
class ActionAnswered(Message, bubble=False):
    """A write on the daemon answered: ``answer`` is None when it was refused."""

    method: str
    answer: Any


# -- billing settings and bill groups -----------------------------------------


@dataclass
class PartyChanged(Message, bubble=False):
    """A ``client.updated`` or ``bill_group.…`` event: a client's settings or bill groups."""

    event: str
    client_id: int | None


@dataclass
class BillGroupsLoaded(Message, bubble=False):
    """A client's bill groups from ``billgroup.list``."""

    client_id: int
    groups: list[dict[str, Any]]


@dataclass
class ReportsLoaded(Message, bubble=False):
    """The dashboard's figures: ``report.revenue``, ``report.aging`` and ``dunning.list``."""

    revenue: dict[str, Any]
    aging: dict[str, Any]
    dunning: list[dict[str, Any]]
