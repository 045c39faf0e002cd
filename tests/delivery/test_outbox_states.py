"""The outbox's operator actions by state (R-DEL-3): pure rules, no database."""

from __future__ import annotations

import pytest

from billingd.domain import outbox_states
from billingd.errors import Conflict


@pytest.mark.parametrize(
    ("action", "state", "target"),
    [
        ("retry", "failed", "queued"),
        ("retry", "cancelled", "queued"),
        ("retry", "queued", "queued"),
        ("cancel", "queued", "cancelled"),
        ("cancel", "failed", "cancelled"),
    ],
)
def test_allowed_actions_lead_to_their_state(action: str, state: str, target: str) -> None:
    assert outbox_states.after(action, 7, state) == target


@pytest.mark.parametrize(
    ("action", "state"),
    [("retry", "sending"), ("retry", "sent"), ("cancel", "sending"), ("cancel", "sent"),
     ("cancel", "cancelled")],
)  # fmt: skip
def test_a_message_under_way_or_delivered_is_left_alone(action: str, state: str) -> None:
    with pytest.raises(Conflict, match=f"outbox message 7 is {state}; only a"):
        outbox_states.after(action, 7, state)
