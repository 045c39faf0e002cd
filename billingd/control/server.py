"""The control socket server: JSON-RPC 2.0 lines over a Unix socket.

Each request runs its service call on the database worker thread, so the event
loop never blocks; a refused call is one rolled-back transaction and an error
frame, and the connection keeps serving.
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
from billingd.control.params import validate_params
from billingd.control.peer import Peer, peer_credentials, user_and_groups
from billingd.control.protocol import (
    DEFAULT_MAX_FRAME,
    ProtocolError,
    decode_request,
    error_frame,
    result_frame,
)
from billingd.control.registry import METHODS
from billingd.errors import (
    FRAME_TOO_LARGE,
    INTERNAL_ERROR,
    METHOD_NOT_FOUND,
    BillingError,
    Conflict,
    PermissionDenied,
)
from billingd.services.context import ServiceContext

log = logging.getLogger("billingd.control")

RoleResolver = Callable[[str, tuple[str, ...]], str | None]


class _MethodNotFound(BillingError):
    code = METHOD_NOT_FOUND
    reason = "method_not_found"


class _FrameTooLarge(BillingError):
    code = FRAME_TOO_LARGE
    reason = "frame_too_large"


class _InternalError(BillingError):
    code = INTERNAL_ERROR
    reason = "internal"


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
        publish: Callable[[str, dict[str, Any]], None] | None = None,
    ) -> None:
        self.ctx = ctx
        self.executor = executor
        self.resolve_role = resolve_role
        self.max_frame = max_frame
        self.max_connections = max_connections
        self.publish = publish
        self.connections = 0
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
        if sock is None:
            path.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            self._server = await asyncio.start_unix_server(
                self._serve_connection, path=str(path), limit=self.max_frame
            )
            os.chmod(path, mode)
            if group:
                os.chown(path, -1, grp.getgrnam(group).gr_gid)
        else:
            self._server = await asyncio.start_unix_server(
                self._serve_connection, sock=sock, limit=self.max_frame
            )

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def _peer(self, writer: asyncio.StreamWriter) -> Peer:
        pid, uid, gid = peer_credentials(writer.get_extra_info("socket"))
        user, groups = user_and_groups(uid, gid)
        return Peer(pid, uid, gid, user, groups, self.resolve_role(user, groups))

    async def _serve_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.connections += 1
        try:
            if self.connections > self.max_connections:
                writer.write(error_frame(None, Conflict("too many connections; try again")))
                return
            peer = self._peer(writer)
            while True:
                try:
                    frame = await reader.readline()
                except ValueError:
                    writer.write(
                        error_frame(None, _FrameTooLarge(f"frame over {self.max_frame} bytes"))
                    )
                    return
                if not frame:
                    return
                if not frame.strip():
                    continue
                reply = await self.handle_frame(frame, peer)
                if reply is not None:
                    writer.write(reply)
                    await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self.connections -= 1
            with contextlib.suppress(Exception):
                await writer.drain()
                writer.close()
                await writer.wait_closed()

    async def handle_frame(self, frame: bytes, peer: Peer) -> bytes | None:
        """Answer one frame; notifications (no id) get no answer."""
        try:
            request = decode_request(frame)
        except ProtocolError as exc:
            return error_frame(None, exc)
        try:
            entry = METHODS.get(request.method)
            if entry is None:
                raise _MethodNotFound(f"unknown method {request.method!r}")
            required = "admin" if entry.admin_only else ("operator" if entry.writes else "viewer")
            if not peer.may(required):
                raise PermissionDenied(
                    f"user {peer.user} ({peer.role or 'no role'}) may not call "
                    f"{request.method}; it needs {required}",
                    user=peer.user,
                )
            params = validate_params(entry.params, request.params)
            ctx = self.ctx.acting_as(peer.user)
            loop = asyncio.get_running_loop()
            result = await loop.run_in_executor(self.executor, lambda: entry.handler(ctx, **params))
            for name, payload in ctx.events:
                if self.publish is not None:
                    self.publish(name, payload)
        except BillingError as exc:
            return None if request.is_notification else error_frame(request.id, exc)
        except peewee.IntegrityError as exc:
            log.warning("conflict in %s: %s", request.method, exc)
            error = Conflict(f"conflicting change, nothing written: {exc}")
            return None if request.is_notification else error_frame(request.id, error)
        except Exception as exc:
            log.exception("internal error in %s", request.method)
            error = _InternalError(f"internal error ({type(exc).__name__}); nothing written")
            return None if request.is_notification else error_frame(request.id, error)
        return None if request.is_notification else result_frame(request.id, result)
