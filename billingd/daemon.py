"""``billingd serve``: start-up, main loop and shutdown.

Signal handlers only set flags; the main loop decides. SIGTERM and SIGINT stop
after the unit of work in progress (the database worker finishes its current
transaction); SIGHUP re-reads the config and keeps the old one if the new one is
bad.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import peewee

from billingd import systemd
from billingd.clock import SystemClock, TestClock
from billingd.config import Config, ConfigError, load_config
from billingd.control.events import EventHub
from billingd.control.peer import user_and_groups
from billingd.control.server import ControlServer
from billingd.db.connection import open_database
from billingd.db.migrations import migrate
from billingd.document_pool import default_size, start_pool
from billingd.document_worker import DocumentWorker
from billingd.errors import ValidationError
from billingd.hardening import (
    config_file_problems,
    private_dir,
    private_files,
    private_sqlite,
    redact_secrets,
    start_problems,
)
from billingd.outbox_worker import OutboxWorker
from billingd.plugins import PluginHost, load_plugins
from billingd.plugins import configured as plugins_configured
from billingd.run_gate import RunGate
from billingd.scheduler import Scheduler, Settings
from billingd.services.context import ServiceContext
from billingd.services.documents import template_dirs_of

log = logging.getLogger("billingd")


@dataclass
class Daemon:
    """The running parts; ``config`` is replaced on a good reload."""

    config: Config
    database: peewee.Database
    plugins: PluginHost
    ctx: ServiceContext
    executor: ThreadPoolExecutor
    server: ControlServer | None = None
    events: EventHub = field(default_factory=EventHub)
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    reload_requested: bool = False
    readers: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(2, thread_name_prefix="billingd-read")
    )
    listeners: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(1, thread_name_prefix="billingd-listeners")
    )
    scheduler: Scheduler | None = None
    scheduler_task: asyncio.Task[None] | None = None
    documents: DocumentWorker | None = None
    documents_task: asyncio.Task[None] | None = None
    outbox: OutboxWorker | None = None
    outbox_task: asyncio.Task[None] | None = None
    watchdog_starved: bool = False
    own_user: str = field(default_factory=lambda: _own_user())
    roles: dict[tuple[str, tuple[str, ...]], str | None] = field(default_factory=dict)
    """Resolved roles under the current config (asked on every request; emptied on reload)."""

    def resolve_role(self, user: str, groups: tuple[str, ...]) -> str | None:
        """The peer's role from ``access:`` (SPEC §12).

        A daemon a user runs for themselves (not as root) makes that user admin,
        unless the config lists its admins explicitly.
        """
        key = (user, groups)
        if key not in self.roles:
            self.roles[key] = self._role_from_config(user, groups)
        return self.roles[key]

    def _role_from_config(self, user: str, groups: tuple[str, ...]) -> str | None:
        role = self.config.access.role_for(user, groups)
        if (
            user == self.own_user
            and os.geteuid() != 0
            and role != "admin"
            and "access.admin" not in self.config.lines
        ):
            return "admin"
        return role

    def publish(self, name: str, payload: dict[str, Any]) -> None:
        """Hand a committed event to the socket's subscribers and the plugins' listeners.

        Listeners run on their own thread, in order, so a slow plugin never stalls
        the event loop.
        """
        self.events.publish(name, payload)
        self.listeners.submit(self.plugins.emit, name, payload)
        if name == "contract.created" and self.scheduler is not None and payload.get("client_id"):
            self.scheduler.request_client_run(payload["client_id"])
        if name == "contracts.imported" and self.scheduler is not None:
            self.scheduler.request_clients_run(payload["client_ids"])
        if name == "document.queued" and self.documents is not None:
            self.documents.wake()
        if name == "outbox.queued" and self.outbox is not None:
            self.outbox.wake()
        if name == "document.rendered" and self.outbox is not None:
            self.outbox.documents_rendered()

    def wake_workers(self) -> None:
        """Let the queue workers look for due work now: the test clock moved (retries
        on its time may be due) or the config was reloaded (mail settings)."""
        for worker in (self.documents, self.outbox):
            if worker is not None:
                worker.wake()


def _own_user() -> str:
    """The daemon's user name, spelt as the socket names peers (``uid:N`` when unknown)."""
    return user_and_groups(os.geteuid(), os.getegid())[0]


def scheduler_settings(config: Config) -> Settings:
    return Settings(config.schedule, config.timezone, config.invoicing, config.catch_up_limit)


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def start(config: Config) -> Daemon:
    """Open and upgrade the database and load the plugins (no socket yet)."""
    database = open_database(config.database)
    if isinstance(database, peewee.SqliteDatabase):
        private_sqlite(database.database)
    version = migrate(database)
    log.info("database ready (schema version %s)", version)
    enabled, trace = plugins_configured(config.plugins)  # the environment wins
    plugins = load_plugins(config.plugins.get("settings"), enabled, trace=trace)
    for problem in plugins.check_settings():
        log.warning("plugin settings: %s", problem)
    private_dir(config.data_dir)
    ctx = ServiceContext(
        clock=TestClock() if config.clock == "test" else SystemClock(),
        plugins=plugins,
        data_dir=config.data_dir,
        allocation_policy=config.allocation_policy,
        payment_retries=config.payment_retries,
        gateway_timeout=config.gateway_timeout,
    )
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="billingd-db")
    return Daemon(config, database, plugins, ctx, executor)


async def run(daemon: Daemon) -> None:
    """Serve the socket until asked to stop; reload the config on SIGHUP."""
    loop = asyncio.get_running_loop()
    wake = asyncio.Event()

    def request_stop() -> None:
        if daemon.stop.is_set():  # the second signal forces
            log.warning("second stop signal: exiting at once")
            os._exit(1)
        daemon.stop.set()
        wake.set()

    def request_reload() -> None:
        daemon.reload_requested = True
        wake.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, request_stop)
    loop.add_signal_handler(signal.SIGHUP, request_reload)

    config = daemon.config
    daemon.server = ControlServer(
        daemon.ctx,
        daemon.executor,
        daemon.resolve_role,
        max_frame=config.max_frame_bytes,
        max_connections=config.max_connections,
        max_connections_per_user=config.max_connections_per_user,
        idle_timeout=config.idle_timeout,
        publish=daemon.publish,
        events=daemon.events,
        readers=daemon.readers,
        # SQLite reads are local and never wait for the writer (WAL); PostgreSQL's
        # go over a connection and keep to the reader threads
        quick_reads_inline=isinstance(daemon.database, peewee.SqliteDatabase),
    )
    gate = RunGate()  # the queue workers give way to the scheduler's runs
    daemon.scheduler = Scheduler(
        daemon.ctx,
        scheduler_settings(config),
        daemon.publish,
        daemon.stop,
        daemon.wake_workers,
        gate,
    )
    daemon.ctx.runner = daemon.scheduler
    await daemon.scheduler.recover()
    inherited = systemd.listen_fds()
    await daemon.server.listen(
        config.socket,
        mode=config.socket_mode,
        group=config.socket_group,
        sock=inherited[0] if inherited else None,
    )
    log.info("listening on %s", config.socket)
    daemon.ctx.live = daemon.events.publish  # progress of long calls, to subscribers only
    daemon.scheduler_task = asyncio.create_task(daemon.scheduler.serve())
    daemon.documents = document_worker(daemon, gate)
    daemon.documents_task = asyncio.create_task(daemon.documents.serve())
    daemon.outbox = OutboxWorker(
        daemon.ctx,
        lambda: daemon.config.smtp,  # a reload's mail settings apply to the next batch
        template_dirs_of(daemon.ctx),
        daemon.publish,
        daemon.stop,
        gate,
    )
    daemon.outbox_task = asyncio.create_task(daemon.outbox.serve())
    systemd.ready()
    watchdog = systemd.watchdog_interval()
    while not daemon.stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), timeout=watchdog / 2 if watchdog else None)
        wake.clear()
        if watchdog:
            feed_watchdog(daemon)
        if daemon.reload_requested:
            daemon.reload_requested = False
            reload_config(daemon)


def document_worker(daemon: Daemon, gate: RunGate) -> DocumentWorker:
    """The worker that renders queued documents in ``document_workers`` processes."""
    config = daemon.config
    size = config.document_workers or default_size()
    enabled = plugins_configured(config.plugins)[0]
    template_dirs = template_dirs_of(daemon.ctx)

    def pool() -> ProcessPoolExecutor:  # a pool started again gets the reloaded settings
        return start_pool(size, daemon.plugins.settings, enabled, template_dirs)

    return DocumentWorker(daemon.ctx, pool, size, daemon.publish, daemon.stop, gate)


def feed_watchdog(daemon: Daemon) -> bool:
    """Ping the systemd watchdog while the scheduler lives (issue 9, defect 11).

    A dead scheduler bills nothing, so the daemon stops feeding the watchdog and asks
    systemd to act at once (``WATCHDOG=trigger``, once): systemd restarts the daemon.
    True when it pinged.
    """
    if daemon.scheduler is None or daemon.scheduler.alive():
        return systemd.watchdog_ping()
    if not daemon.watchdog_starved:
        daemon.watchdog_starved = True
        log.critical("the scheduler is dead: no longer feeding the systemd watchdog")
        systemd.status("scheduler dead: billing stopped; waiting for systemd to restart")
        systemd.watchdog_trigger()
    return False


def reload_config(daemon: Daemon) -> None:
    """Apply a re-read config's access rules and log level; a bad file changes nothing."""
    systemd.reloading()
    try:
        fresh = load_config(daemon.config.source)
        problems = daemon.plugins.check_settings(fresh.plugins.get("settings") or {})
        if problems:  # like any bad config: refused whole (the plugins' own schemas)
            key, _, first = problems[0].partition(": ")
            raise fresh.error(key, "; ".join([first, *problems[1:]]))
        if unsafe := config_file_problems(fresh):
            raise ConfigError("; ".join(unsafe))
    except ConfigError as exc:
        log.error("config reload refused, keeping the running config: %s", exc)
    else:
        redact_secrets(fresh)
        reload_plugins(daemon, fresh)
        daemon.config = fresh
        daemon.ctx.payment_retries = fresh.payment_retries
        daemon.ctx.gateway_timeout = fresh.gateway_timeout
        daemon.roles.clear()
        logging.getLogger().setLevel(fresh.log_level.upper())
        if daemon.server is not None:
            daemon.server.access_changed()
        if daemon.scheduler is not None:
            daemon.scheduler.settings = scheduler_settings(fresh)
            daemon.scheduler.wake()
        log.info("config reloaded from %s", fresh.source)
    systemd.ready()


def reload_plugins(daemon: Daemon, fresh: Config) -> None:
    """Apply a reloaded config's plugin settings and trace switch (already checked).

    Each plugin whose settings changed is told (``settings_changed``, or ``startup``
    again); a changed allowlist needs a restart.
    """
    enabled, trace = plugins_configured(fresh.plugins)
    daemon.plugins.set_trace(trace)
    try:
        changed = daemon.plugins.apply_settings(fresh.plugins.get("settings"))
    except ValidationError as exc:  # checked before; a plugin's schema changed meanwhile
        log.error("plugin settings not applied, keeping the running ones: %s", exc.message)
    else:
        if changed:
            log.info("plugin settings applied: %s", ", ".join(changed))
    allowed = None if enabled is None else frozenset(enabled)
    if allowed != daemon.plugins.allowlist:
        log.warning("plugins.enabled changed: the plugins loaded change at the next start")


async def shutdown(daemon: Daemon) -> None:
    """Stop accepting, let the current transaction finish, close the database."""
    systemd.stopping()
    if daemon.server is not None:
        await daemon.server.close()
    if daemon.scheduler_task is not None:
        await daemon.scheduler_task  # it stops after the client in progress
    if daemon.documents_task is not None:
        await daemon.documents_task  # it records the renders under way
    if daemon.outbox_task is not None:
        await daemon.outbox_task  # it records the deliveries under way
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(daemon.executor, daemon.database.close)
    daemon.executor.shutdown(wait=True)
    daemon.readers.shutdown(wait=True)
    daemon.listeners.shutdown(wait=True)
    log.info("stopped")


def serve(config: Config) -> int:
    """Serve until stopped: 0; 2 when the config file, the socket's directory or the
    data's place is unsafe to serve from (billingd.hardening.start_problems)."""
    private_files()
    configure_logging(config.log_level)
    redact_secrets(config)
    problems = start_problems(config)
    for problem in problems:
        log.error("refusing to start: %s", problem)
    if problems:
        return 2
    daemon = start(config)

    async def main() -> None:
        try:
            await run(daemon)
        finally:
            await shutdown(daemon)

    asyncio.run(main())
    return 0
