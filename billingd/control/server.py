"""The control socket server: JSON-RPC 2.0 lines over a Unix socket.

Writes run their service call on the one database writer thread and reads on
reader threads beside it, so the event loop never waits for the database; a
refused call is one rolled-back transaction and an error frame, and the
connection keeps serving. On an embedded database (SQLite in WAL mode, where a
read never waits for a writer) the quick reads (a status, a page of clients, one
invoice: bounded, indexed, tens of microseconds) are answered on the loop
itself: a hand-off to a thread and back costs more than the read.

Every connection is its own task: a client that sends half a frame, never reads
its replies or falls behind on events only ever stalls itself. The peer's uid
(SO_PEERCRED) names the user whose role is checked on every request and who is
the audit actor of every write (SPEC §12).

A peer with no role is refused as it connects, before it takes a connection slot;
one user holds at most ``max_connections_per_user`` connections, and admins have
:data:`ADMIN_RESERVE` slots beyond ``max_connections``, so no user locks root out.
A connection with no request under way and no event subscription is closed after
``idle_timeout`` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import grp
import logging
import os
import socket
from collections.abc import Callable
from concurrent.futures import Executor
from pathlib import Path
from typing import Any

import peewee

from billingd.control import api  # noqa: F401  (registers the methods)
from billingd.control.events import EventHub, Subscription
from billingd.control.params import validate_params
from billingd.control.peer import (
    Peer,
    peer_credentials,
    peer_groups,
    role_reaches,
    user_and_groups,
)
from billingd.control.protocol import (
    DEFAULT_MAX_FRAME,
    ProtocolError,
    decode_request,
    error_frame,
    result_frame,
)
from billingd.control.registry import METHODS, Method
from billingd.db.faults import fault_of
from billingd.errors import (
    BillingError,
    Conflict,
    FrameTooLarge,
    IdleTimeout,
    InternalError,
    MethodNotFound,
    PermissionDenied,
    TooManyConnections,
)
from billingd.hardening import socket_dir
from billingd.services.context import ServiceContext

log = logging.getLogger("billingd.control")

RoleResolver = Callable[[str, tuple[str, ...]], str | None]
CLOSE_GRACE = 2.0
"""Seconds a closing connection gets to flush its last frames before it is cut."""
LISTEN_BACKLOG = 1024
"""Connections the kernel queues before the daemon accepts them: a burst of connects
(a flood of refused ones, say) does not turn others away at once."""
REFUSALS_LOGGED_EVERY = 60.0
"""Seconds between log lines about one user's refused connections (a flood of them
is one line a minute, with its count)."""
ADMIN_RESERVE = 4
"""Connections admins may open beyond ``max_connections`` (each within their own
per-user limit): a full socket never locks an admin out."""


def required_role(entry: Method) -> str:
    """The role a method needs: admin for admin-only, operator for writes, else viewer."""
    return "admin" if entry.admin_only else ("operator" if entry.writes else "viewer")


class Connection:
    """One client connection: its peer, its writer and its event subscription."""

    def __init__(self, server: ControlServer, writer: asyncio.StreamWriter, peer: Peer) -> None:
        self.server = server
        self.writer = writer
        self.peer = peer
        self.subscription: Subscription | None = None
        self._pump: asyncio.Task[None] | None = None
        self.idle_since: float | None = asyncio.get_running_loop().time()
        """Loop time of its last reply (or its start); None while a request is under way."""

    @property
    def subscribed(self) -> bool:
        return self.subscription is not None and not self.subscription.closed

    def subscribe(self, prefixes: tuple[str, ...]) -> dict[str, Any]:
        """Start (or re-filter) this connection's event stream."""
        hub = self.server.events
        if self.subscription is not None and not self.subscription.closed:
            self.subscription.prefixes = prefixes
        else:
            self.subscription = hub.subscribe(prefixes)
            self._pump = asyncio.get_running_loop().create_task(
                self._deliver(self.subscription, after=self._pump)
            )
        return {"subscribed": list(prefixes), "seq": hub.seq, "queue_limit": hub.queue_limit}

    def unsubscribe(self) -> dict[str, Any]:
        """Stop the event stream; no event notification follows the reply."""
        was = self.subscription is not None and not self.subscription.closed
        if self.subscription is not None:
            self.server.events.unsubscribe(self.subscription)
            self.subscription = None
        return {"unsubscribed": was}

    def drop_subscription(self, reason: str) -> None:
        """End the event stream with a final ``events.dropped`` notification."""
        if self.subscription is not None:
            self.server.events.drop(self.subscription, reason)

    async def _deliver(
        self, subscription: Subscription, after: asyncio.Task[None] | None = None
    ) -> None:
        """Write the subscription's frames; a new stream waits until an ended one is flushed."""
        if after is not None:
            await asyncio.wait([after])
        with contextlib.suppress(ConnectionError):
            while (frame := await subscription.next_frame()) is not None:
                self.writer.write(frame)
                await self.writer.drain()

    def close(self) -> None:
        if self.subscription is not None:
            self.server.events.unsubscribe(self.subscription)
            self.subscription = None
        if self._pump is not None:
            self._pump.cancel()


class ControlServer:
    """Serves the registered methods on a Unix socket."""

    def __init__(
        self,
        ctx: ServiceContext,
        executor: Executor,
        resolve_role: RoleResolver,
        *,
        max_frame: int = DEFAULT_MAX_FRAME,
        max_connections: int = 64,
        max_connections_per_user: int = 16,
        idle_timeout: float = 600,
        publish: Callable[[str, dict[str, Any]], None] | None = None,
        events: EventHub | None = None,
        readers: Executor | None = None,
        quick_reads_inline: bool = False,
    ) -> None:
        self.ctx = ctx
        self.executor = executor
        # reads run beside the writer (SQLite WAL and PostgreSQL let them), so a long
        # billing run on the writer never holds up a status or a list
        self.readers = readers or executor
        self.quick_reads_inline = quick_reads_inline
        self.resolve_role = resolve_role
        self.max_frame = max_frame
        self.max_connections = max_connections
        self.max_per_user = max_connections_per_user
        self.idle_timeout = idle_timeout
        """Seconds an unsubscribed connection may wait between requests; 0: forever."""
        self.events = events if events is not None else EventHub()
        self.publish = publish if publish is not None else self.events.publish
        self.connections = 0
        self._per_user: dict[int, int] = {}
        self._open: set[Connection] = set()
        self._sweeper: asyncio.Task[None] | None = None
        self._refused: dict[str, tuple[float, int]] = {}
        """user → (when its refusals were last logged, how many since)"""
        self._tasks: set[asyncio.Task[Any]] = set()
        self._server: asyncio.AbstractServer | None = None

    async def listen(
        self,
        path: Path,
        *,
        mode: int = 0o660,
        group: str | None = None,
        sock: socket.socket | None = None,
    ) -> None:
        """Bind ``path`` (or serve an inherited socket) with the given mode and group."""
        self.events.bind(asyncio.get_running_loop())
        if self.idle_timeout:
            self._sweeper = asyncio.create_task(self._close_idle())
        if sock is None:
            socket_dir(path)
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            self._server = await asyncio.start_unix_server(
                self._serve_connection, path=str(path), limit=self.max_frame, backlog=LISTEN_BACKLOG
            )
            os.chmod(path, mode)
            if group:
                os.chown(path, -1, grp.getgrnam(group).gr_gid)
        else:
            self._server = await asyncio.start_unix_server(
                self._serve_connection, sock=sock, limit=self.max_frame, backlog=LISTEN_BACKLOG
            )

    async def close(self) -> None:
        """Stop accepting, end subscriptions, and close every connection.

        Replies already written get ``CLOSE_GRACE`` seconds to reach their clients;
        a client that does not read is cut off then.
        """
        if self._server is not None:
            self._server.close()
        if self._sweeper is not None:
            self._sweeper.cancel()
        self.events.close()
        for connection in list(self._open):
            connection.writer.close()
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=CLOSE_GRACE)
        for connection in list(self._open):
            connection.writer.transport.abort()
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=1.0)
            for task in pending:
                task.cancel()
        if self._server is not None:
            await self._server.wait_closed()

    def access_changed(self) -> None:
        """Re-check event subscribers after a config reload: end those that lost access."""
        for connection in list(self._open):
            if connection.subscription is not None and not role_reaches(
                self._role(connection.peer), "viewer"
            ):
                connection.drop_subscription("access_revoked")

    def _peer(self, writer: asyncio.StreamWriter) -> Peer:
        sock = writer.get_extra_info("socket")
        pid, uid, gid = peer_credentials(sock)
        user, groups = user_and_groups(uid, gid)
        role = self.resolve_role(user, groups)
        return Peer(pid, uid, gid, user, groups, role, peer_groups(sock, gid, user))

    def _role(self, peer: Peer) -> str | None:
        """The peer's role under the current config (a reload applies to open connections)."""
        return self.resolve_role(peer.user, peer.groups)

    def _admission(self, peer: Peer) -> BillingError | None:
        """Why ``peer`` may not open a connection now, or None.

        No role: refused before it takes a slot. Then the per-user limit, then
        ``max_connections`` (plus :data:`ADMIN_RESERVE` for admins).
        """
        role = self._role(peer)
        if role is None:
            return _no_role(peer)
        if self._per_user.get(peer.uid, 0) >= self.max_per_user:
            return TooManyConnections(
                f"too many connections from user {peer.user} ({self.max_per_user} open, "
                "max_connections_per_user); close one and try again",
                limit=self.max_per_user,
                user=peer.user,
            )
        reserve = ADMIN_RESERVE if role == "admin" else 0
        if self.connections >= self.max_connections + reserve:
            return TooManyConnections(
                f"too many connections ({self.max_connections} open); try again",
                limit=self.max_connections,
            )
        return None

    async def _serve_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        connection: Connection | None = None
        try:
            peer = self._peer(writer)
            refusal = self._admission(peer)
            if refusal is not None:
                self._log_refusal(peer.user, refusal)
                writer.write(error_frame(None, refusal))
                return
            connection = Connection(self, writer, peer)
            self._open.add(connection)
            self.connections += 1
            self._per_user[peer.uid] = self._per_user.get(peer.uid, 0) + 1
            loop = asyncio.get_running_loop()
            while True:
                try:
                    frame = await reader.readline()
                except ValueError:
                    writer.write(
                        error_frame(None, FrameTooLarge(f"frame over {self.max_frame} bytes"))
                    )
                    return
                if not frame:
                    return
                if frame.isspace():
                    continue
                connection.idle_since = None
                reply = await self.handle_frame(frame, connection.peer, connection)
                connection.idle_since = loop.time()  # (a client that never reads is idle)
                if reply is not None:
                    writer.write(reply)
                    await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            if connection is not None:
                self.connections -= 1
                uid = connection.peer.uid
                self._per_user[uid] -= 1
                if not self._per_user[uid]:
                    del self._per_user[uid]
                connection.close()
                self._open.discard(connection)
            await self._close_writer(writer)
            if task is not None:
                self._tasks.discard(task)

    def _log_refusal(self, user: str, refusal: BillingError) -> None:
        """Log a refused connection, at most once a minute per user, with the count."""
        now = asyncio.get_running_loop().time()
        last, count = self._refused.get(user, (-REFUSALS_LOGGED_EVERY, 0))
        if now - last < REFUSALS_LOGGED_EVERY:
            self._refused[user] = (last, count + 1)
            return
        more = f" ({count} more since the last report)" if count else ""
        log.warning("connection of %s refused%s: %s", user, more, refusal.message)
        self._refused[user] = (now, 0)

    async def _close_idle(self) -> None:
        """Close connections idle for ``idle_timeout`` seconds that subscribe to nothing;
        each gets an error frame (1004, ``idle_timeout``) first, so a client that sends
        again learns why. One that has not read its last replies in that time is cut
        off."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(min(max(self.idle_timeout / 4, 0.05), 30))
            cutoff = loop.time() - self.idle_timeout
            for connection in list(self._open):
                since = connection.idle_since
                if since is None or since > cutoff or connection.subscribed:
                    continue
                connection.idle_since = None
                if connection.writer.transport.get_write_buffer_size():
                    log.info("cutting off a connection of %s: reads nothing", connection.peer.user)
                    connection.writer.transport.abort()
                    continue
                log.info("closing a connection of %s: idle", connection.peer.user)
                seconds = f"{self.idle_timeout:g}"
                notice = IdleTimeout(
                    f"connection closed after {seconds} s without a request (idle_timeout)",
                    limit=self.idle_timeout,
                )
                connection.writer.write(error_frame(None, notice))
                connection.writer.close()

    async def _close_writer(self, writer: asyncio.StreamWriter) -> None:
        """Close after the last frames are flushed, or cut off a client that does not read."""
        writer.close()
        try:
            await asyncio.wait_for(writer.wait_closed(), CLOSE_GRACE)
        except (TimeoutError, asyncio.CancelledError):
            writer.transport.abort()
        except Exception as exc:  # the peer is gone; nothing more to do
            log.debug("closing a connection: %s", exc)

    async def handle_frame(
        self, frame: bytes, peer: Peer, connection: Connection | None = None
    ) -> bytes | None:
        """Answer one frame; notifications (no id) get no answer."""
        try:
            request = decode_request(frame)
        except ProtocolError as exc:
            return error_frame(None, exc)
        except Exception as exc:  # a bug: answered, and the connection keeps serving
            log.exception("internal error reading a frame")
            return error_frame(None, InternalError(f"internal error ({type(exc).__name__})"))
        try:
            role = self._role(peer)
            if role is None:
                raise _no_role(peer)
            entry = METHODS.get(request.method)
            if entry is None:
                raise MethodNotFound(f"unknown method {request.method!r}")
            required = required_role(entry)
            if not role_reaches(role, required):
                raise PermissionDenied(
                    f"user {peer.user} is a {role} and may not call {request.method}; "
                    f"it needs {required}",
                    user=peer.user,
                    role=role,
                    required=required,
                )
            if getattr(entry.handler, "per_connection", False):
                if connection is None:
                    raise MethodNotFound(f"{request.method} needs a socket connection")
                params = validate_params(entry.params, request.params)
                result = entry.handler(connection, **params)
            else:
                result = await self._call(entry, peer, request.params)
        except BillingError as exc:
            return None if request.is_notification else error_frame(request.id, exc)
        except peewee.IntegrityError as exc:
            log.warning("conflict in %s: %s", request.method, exc)
            error = Conflict(f"conflicting change, nothing written: {exc}")
            return None if request.is_notification else error_frame(request.id, error)
        except Exception as exc:
            if (fault := fault_of(exc)) is not None:  # not a bug: the database or the disk
                log.warning("%s refused: %s", request.method, fault.message)
                return None if request.is_notification else error_frame(request.id, fault)
            log.exception("internal error in %s", request.method)
            error = InternalError(f"internal error ({type(exc).__name__}); nothing written")
            return None if request.is_notification else error_frame(request.id, error)
        return None if request.is_notification else result_frame(request.id, result)

    async def _call(self, entry: Method, peer: Peer, raw: dict[str, Any]) -> Any:
        """Run a service method on a database thread, then publish its committed events.

        Writes queue on the one writer thread; reads go to the reader threads, quick
        reads stay on the loop when ``quick_reads_inline``.
        """
        params = validate_params(entry.params, raw)
        ctx = self.ctx.acting_as(peer.user, peer.rights())
        handler = entry.handler
        if self.quick_reads_inline and entry.is_quick(params):
            return handler(ctx, **params)  # a read: no events to publish
        loop = asyncio.get_running_loop()
        done = loop.create_future()

        def work() -> None:  # on the database worker thread
            try:
                outcome: tuple[Any, BaseException | None] = (handler(ctx, **params), None)
            except Exception as exc:  # handed to the awaiting request
                outcome = (None, exc)
            except BaseException as exc:
                outcome = (None, RuntimeError(f"database worker interrupted: {exc!r}"))
                raise
            finally:
                with contextlib.suppress(RuntimeError):  # the loop is gone (shutdown)
                    loop.call_soon_threadsafe(_settle, done, outcome)

        # (lighter than loop.run_in_executor: one thread hand-off each way, no future chaining)
        (self.executor if entry.writes else self.readers).submit(work)
        result = await done
        for name, payload in ctx.events:
            self.publish(name, payload)
        return result


def _no_role(peer: Peer) -> PermissionDenied:
    return PermissionDenied(
        f"user {peer.user} (uid {peer.uid}) has no role on this daemon; "
        "an admin can grant one under 'access:' in the config",
        user=peer.user,
    )


def _settle(future: asyncio.Future[Any], outcome: tuple[Any, BaseException | None]) -> None:
    if future.cancelled():
        return
    result, error = outcome
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
