"""Claims on queued work that survive a crash: who holds a row, and when it is free again.

The document queue and the outbox work the same way: a worker marks due rows busy for
one claimer (``host:pid:token``, new in every process) in a short transaction, does
the slow part outside any transaction, and records the outcome only while the row is
still its own. A row left busy by a process that died is taken up again: at once by
the next worker on the same host (the claimer's process is gone), by any other after
the lease lapses.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import uuid
from collections.abc import Iterable
from typing import Any

from billingd.db.connection import write_transaction

log = logging.getLogger("billingd.leases")

_claimer: tuple[int, str] | None = None


def claimer_id() -> str:
    """This process's claimer name: ``host:pid:token`` (new in each process)."""
    global _claimer
    if _claimer is None or _claimer[0] != os.getpid():
        _claimer = (os.getpid(), f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}")
    return _claimer[1]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def claimer_gone(claimer: str | None) -> bool:
    """Whether a claim's process is certainly gone: a claimer (``host:pid:token``) of
    this host whose pid no longer exists. One of another host is judged by its lease."""
    host, _, rest = (claimer or "").partition(":")
    pid = rest.partition(":")[0]
    return host == socket.gethostname() and pid.isdigit() and not _alive(int(pid))


def backoff(attempts: int, first: dt.timedelta, longest: dt.timedelta) -> dt.timedelta:
    """The pause before try ``attempts + 1``: ``first``, doubling up to ``longest``."""
    return min(first * 2 ** min(max(attempts - 1, 0), 16), longest)


def release_abandoned(
    model: Any, busy: str, free: str, claimer: str, keep: Iterable[int] = ()
) -> list[int]:
    """Put back to ``free`` the ``model`` rows left in state ``busy`` on this host by a
    process that is gone (a daemon killed mid-work), and ``claimer``'s own not in
    ``keep`` (its commit failed). Returns their ids."""
    host = socket.gethostname()
    keep = set(keep)
    abandoned = []
    claimed = model.select(model.id, model.claimed_by).where(
        (model.state == busy) & model.claimed_by.startswith(f"{host}:")
    )
    for row in list(claimed):
        own = row.claimed_by == claimer
        if (own and row.id not in keep) or (not own and claimer_gone(row.claimed_by)):
            abandoned.append(row.id)
    if abandoned:
        with write_transaction():
            model.update(state=free, claimed_at=None, claimed_by=None).where(
                model.id.in_(abandoned) & (model.state == busy)
            ).execute()
        log.info("%s rows taken up again: %s", model.__name__, ", ".join(map(str, abandoned)))
    return abandoned
