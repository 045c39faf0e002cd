"""Methods for the server-pushed event stream (see billingd/control/events.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from billingd.control.events import check_prefixes, per_connection
from billingd.control.params import List
from billingd.control.registry import method

if TYPE_CHECKING:
    from billingd.control.server import Connection


@method(
    "subscribe",
    writes=False,
    result="`{subscribed, seq, queue_limit}`; then `event` notifications",
    events=List(help='event-name prefixes such as "invoice." or "run."; omitted or [] = all'),
)
@per_connection
def subscribe(connection: Connection, events: list[Any] | None = None) -> dict[str, Any]:
    """Receive events published from now on as ``event`` notifications on this connection."""
    return connection.subscribe(check_prefixes(events))


@method(
    "unsubscribe", writes=False, result="`{unsubscribed}`: false when there was no subscription"
)
@per_connection
def unsubscribe(connection: Connection) -> dict[str, Any]:
    """Stop this connection's events; none arrives after the reply."""
    return connection.unsubscribe()
