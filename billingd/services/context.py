"""What every service call needs: who acts, what time it is, where files go."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from billingd.clock import Clock, FixedClock, SystemClock, today
from billingd.peer_files import PeerRights

if TYPE_CHECKING:
    from billingd.plugins import PluginHost


@dataclass
class ServiceContext:
    """The caller of a service: its actor name (R-AUD-1), clock, plugins and files.

    Events raised during a call are queued on ``events`` and published by the
    caller only after the transaction committed. Progress of long work is different:
    it is published at once through ``live`` (when there is a listener), because it
    reports work under way and promises nothing.
    """

    actor: str = "system"
    clock: Clock = field(default_factory=SystemClock)
    plugins: PluginHost | None = None
    data_dir: Path = Path(".")
    allocation_policy: str = "oldest_first"
    payment_retries: tuple[int, ...] = (1, 3, 7)  # days after a failed charge (R-RUN-7)
    gateway_timeout: float = 30.0  # seconds a payment gateway may take to answer
    runner: Any = None  # the daemon's Scheduler, when there is one
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    live: Callable[[str, dict[str, Any]], None] | None = None
    peer: PeerRights | None = None
    """The rights of the socket peer that called: a file it names is opened with them
    (:mod:`billingd.peer_files`); None for the daemon's own work and in-process calls."""

    def emit(self, name: str, payload: dict[str, Any]) -> None:
        self.events.append((name, payload))

    def progress(self, name: str, payload: dict[str, Any]) -> None:
        """Publish a progress event now (from any thread), not after the commit."""
        if self.live is not None:
            self.live(name, payload)

    def now_utc(self) -> dt.datetime:
        """The clock's now as stored (naive UTC): the test clock's when it is on."""
        return self.clock.now().astimezone(dt.UTC).replace(tzinfo=None)

    def today(self, timezone: str) -> dt.date:
        return today(self.clock, timezone)

    def at(self, instant: dt.datetime) -> ServiceContext:
        """A copy whose clock reads ``instant`` (a run performed at its own fire time)."""
        copy = self.acting_as(self.actor, self.peer)
        copy.clock = FixedClock(instant)
        return copy

    def acting_as(self, actor: str, peer: PeerRights | None = None) -> ServiceContext:
        """A copy for one request, with its own actor, rights and event queue."""
        return ServiceContext(
            actor=actor,
            clock=self.clock,
            plugins=self.plugins,
            data_dir=self.data_dir,
            allocation_policy=self.allocation_policy,
            payment_retries=self.payment_retries,
            gateway_timeout=self.gateway_timeout,
            runner=self.runner,
            live=self.live,
            peer=peer,
        )
