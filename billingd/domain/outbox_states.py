"""What an operator may do to an outbox message in each state (R-DEL-3).

A message is ``queued`` (waiting, maybe after failed attempts), ``sending`` (claimed
by a worker), ``sent``, ``failed`` (given up) or ``cancelled``. An operator may retry
what is not under way or delivered, and cancel what has not gone out; a message being
sent or already sent is left alone.
"""

from __future__ import annotations

from dataclasses import dataclass

from billingd.errors import Conflict

STATES = ("queued", "sending", "sent", "failed", "cancelled")
CHANNELS = ("email", "upload", "notify")
"""How a message goes out: by email, to an uploader plugin, to a notifier plugin."""


@dataclass(frozen=True, slots=True)
class Action:
    allowed: frozenset[str]
    target: str
    refusal: str  # what the error says may be done


OPERATOR_ACTIONS = {
    "retry": Action(
        frozenset({"queued", "failed", "cancelled"}), "queued",
        "only a failed, cancelled or waiting message can be retried",
    ),
    "cancel": Action(
        frozenset({"queued", "failed"}), "cancelled",
        "only a queued or failed message can be cancelled",
    ),
}  # fmt: skip


def after(action: str, message_id: int, state: str) -> str:
    """The state ``action`` leads to from ``state``; :class:`Conflict` when not allowed."""
    rule = OPERATOR_ACTIONS[action]
    if state not in rule.allowed:
        raise Conflict(f"outbox message {message_id} is {state}; {rule.refusal}", state=state)
    return rule.target
