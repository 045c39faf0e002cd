"""How the daemon's background workers wait: until woken, stopping, or a timeout."""

from __future__ import annotations

import asyncio


async def pause(wake: asyncio.Event, stopping: asyncio.Event, seconds: float) -> None:
    """Wait ``seconds``, less when ``wake`` or ``stopping`` is set; then clear ``wake``."""
    waiters = [asyncio.ensure_future(wake.wait()), asyncio.ensure_future(stopping.wait())]
    await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    for waiter in waiters:
        waiter.cancel()
    wake.clear()
