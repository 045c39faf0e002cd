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
import signal
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import peewee

from billingd import systemd
from billingd.clock import SystemClock
from billingd.config import Config, ConfigError, load_config
from billingd.control.server import ControlServer
from billingd.db.connection import open_database
from billingd.db.migrations import migrate
from billingd.plugins import PluginHost, load_plugins
from billingd.services.context import ServiceContext

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
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    reload_requested: bool = False

    def resolve_role(self, user: str, groups: tuple[str, ...]) -> str | None:
        return self.config.access.role_for(user, groups)

    def publish(self, name: str, payload: dict[str, Any]) -> None:
        """Hand a committed event to the plugins' listeners."""
        self.plugins.emit(name, payload)


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def start(config: Config) -> Daemon:
    """Open and upgrade the database and load the plugins (no socket yet)."""
    database = open_database(config.database)
    version = migrate(database)
    log.info("database ready (schema version %s)", version)
    plugins = load_plugins(config.plugins.get("settings"), config.plugins.get("enabled"))
    for problem in plugins.check_settings():
        log.warning("plugin settings: %s", problem)
    config.data_dir.mkdir(parents=True, exist_ok=True)
    ctx = ServiceContext(
        clock=SystemClock(),
        plugins=plugins,
        data_dir=config.data_dir,
        allocation_policy=config.allocation_policy,
    )
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="billingd-db")
    return Daemon(config, database, plugins, ctx, executor)


async def run(daemon: Daemon) -> None:
    """Serve the socket until asked to stop; reload the config on SIGHUP."""
    loop = asyncio.get_running_loop()
    wake = asyncio.Event()

    def request_stop() -> None:
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
        publish=daemon.publish,
    )
    inherited = systemd.listen_fds()
    await daemon.server.listen(
        config.socket,
        mode=config.socket_mode,
        group=config.socket_group,
        sock=inherited[0] if inherited else None,
    )
    log.info("listening on %s", config.socket)
    systemd.ready()
    watchdog = systemd.watchdog_interval()
    while not daemon.stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), timeout=watchdog / 2 if watchdog else None)
        wake.clear()
        if watchdog:
            systemd.watchdog_ping()
        if daemon.reload_requested:
            daemon.reload_requested = False
            reload_config(daemon)


def reload_config(daemon: Daemon) -> None:
    """Apply a re-read config's access rules and log level; a bad file changes nothing."""
    systemd.reloading()
    try:
        fresh = load_config(daemon.config.source)
    except ConfigError as exc:
        log.error("config reload refused, keeping the running config: %s", exc)
    else:
        daemon.config = fresh
        logging.getLogger().setLevel(fresh.log_level.upper())
        log.info("config reloaded from %s", fresh.source)
    systemd.ready()


async def shutdown(daemon: Daemon) -> None:
    """Stop accepting, let the current transaction finish, close the database."""
    systemd.stopping()
    if daemon.server is not None:
        await daemon.server.close()
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(daemon.executor, daemon.database.close)
    daemon.executor.shutdown(wait=True)
    log.info("stopped")


def serve(config: Config) -> int:
    configure_logging(config.log_level)
    daemon = start(config)

    async def main() -> None:
        try:
            await run(daemon)
        finally:
            await shutdown(daemon)

    asyncio.run(main())
    return 0
