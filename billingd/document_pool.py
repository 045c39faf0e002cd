"""The renderer processes of the document queue (R-DEL-1).

Rendering a PDF is CPU work in Python: threads would share one core, so the daemon
renders in a pool of worker processes, one per core by default
(``document_workers`` in the config). A worker process starts from a fresh
interpreter (``forkserver``, else ``spawn``: nothing of the daemon's threads, locks
or database connections is inherited), loads the renderer plugins once in its
initializer (fonts, templates, plugin settings) and then renders document after
document.

Workers never touch the database. They receive the document dict a renderer is
given (docs/documents.md) and return the bytes and the renderer's warnings; the
daemon writes the files and the database. This keeps every write on the daemon's
own connections: SQLite has a single writer, so workers writing would only queue on
its lock (and each would need the database configuration, migrations checked, its
own connection to PostgreSQL); and a job's files, Document rows and state are then
committed together in one transaction by one process, which is what makes a render
exactly once (:mod:`billingd.services.document_queue`).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from billingd.hardening import private_files
from billingd.plugins import PluginHost, load_plugins
from billingd.services.documents import Rendered, render_with

_plugins: PluginHost | None = None
_template_dirs: list[Path] = []


def init_worker(
    settings: dict[str, Any] | None, enabled: list[str] | None, template_dirs: list[Path]
) -> None:
    """Load the renderer plugins once in this worker process."""
    global _plugins, _template_dirs
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the daemon's to handle
    private_files()  # a forkserver started before the daemon set its umask
    _plugins = load_plugins(settings, enabled)
    _template_dirs = list(template_dirs)


def render(renderer_name: str, document: dict[str, Any]) -> Rendered:
    """Render one document in a worker process (after :func:`init_worker`)."""
    return render_with(_plugins, _template_dirs, renderer_name, document)


def default_size() -> int:
    return os.cpu_count() or 1


def start_pool(
    size: int | None,
    settings: dict[str, Any] | None,
    enabled: list[str] | None,
    template_dirs: list[Path],
) -> ProcessPoolExecutor:
    """A pool of ``size`` renderer processes (default: one per core)."""
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    return ProcessPoolExecutor(
        max_workers=size or default_size(),
        mp_context=context,
        initializer=init_worker,
        initargs=(settings, enabled, template_dirs),
    )
