"""Live progress of long work inside one call (an import of thousands of rows)."""

from __future__ import annotations

import time
from typing import Any

from billingd.services.context import ServiceContext

INTERVAL = 0.25
"""Seconds between two progress events of the same work (the last one always goes)."""


class Progress:
    """Publishes ``{**payload, done, total}`` as event ``name``, throttled to one event per
    ``INTERVAL``, always at the start and at the end."""

    def __init__(self, ctx: ServiceContext, name: str, total: int, **payload: Any) -> None:
        self.ctx = ctx
        self.name = name
        self.total = total
        self.payload = payload
        self._last = float("-inf")

    def update(self, done: int) -> None:
        now = time.monotonic()
        if done < self.total and now - self._last < INTERVAL:
            return
        self._last = now
        self.ctx.progress(self.name, {**self.payload, "done": done, "total": self.total})
