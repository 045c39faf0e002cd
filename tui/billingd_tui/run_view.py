"""Run views (``run.list``, ``run.show``, ``run.finished``) and ``run.progress`` payloads, merged.

A run's figures arrive from two sides: replies to calls and live events. A reply can
be older than an event already shown, so merging never moves a running run
backwards, and a finished run stays finished.
"""

from __future__ import annotations

from typing import Any

Run = dict[str, Any]

COUNTS = ("done", "total", "invoices", "failures", "parked")


def merge_run(known: Run | None, news: Run) -> Run:
    """``news`` about a run laid over what was ``known`` of it; the newer figures win."""
    if known is None:
        return dict(news)
    if known.get("status", "running") != "running" and news.get("status", "running") == "running":
        return known  # finished is final; this is an older reply, or a late progress event
    merged = {**known, **news}
    if merged.get("status", "running") == "running":
        for name in COUNTS:
            merged[name] = max(int(known.get(name) or 0), int(news.get(name) or 0))
    return merged


def from_progress(payload: dict[str, Any]) -> Run:
    """A ``run.progress`` payload as a partial run view."""
    run: Run = {"id": int(payload["run_id"]), "status": "running"}
    for name in COUNTS:
        run[name] = int(payload.get(name) or 0)
    return run


def is_running(run: Run | None) -> bool:
    return run is not None and run.get("status", "running") == "running"


def counts_text(run: Run) -> str:
    """``12/30 clients · 48 invoices · 0 failed · 0 parked``."""
    return (
        f"{run.get('done', 0)}/{run.get('total', 0)} clients · "
        f"{run.get('invoices', 0)} invoices · {run.get('failures', 0)} failed · "
        f"{run.get('parked', 0)} parked"
    )


def instant(value: Any, *, short: bool = False) -> str:
    """``2026-11-21 19:07`` (``11-21 19:07`` when ``short``) from an ISO instant; UTC."""
    text = str(value or "")[:16].replace("T", " ")
    return text[5:] if short and len(text) == 16 else text
