"""Who is on the other end of the socket: SO_PEERCRED uid → user, groups, role (SPEC §12)."""

from __future__ import annotations

import grp
import os
import pwd
import socket
import struct
from dataclasses import dataclass

ROLES = ("viewer", "operator", "admin")


@dataclass(frozen=True, slots=True)
class Peer:
    pid: int
    uid: int
    gid: int
    user: str
    groups: tuple[str, ...]
    role: str | None

    def may(self, required: str) -> bool:
        """True when this peer's role reaches ``required`` (viewer < operator < admin)."""
        return role_reaches(self.role, required)


def role_reaches(role: str | None, required: str) -> bool:
    """True when ``role`` is at least ``required`` (viewer < operator < admin); None never is."""
    return role in ROLES and ROLES.index(role) >= ROLES.index(required)


def peer_credentials(sock: socket.socket) -> tuple[int, int, int]:
    """``(pid, uid, gid)`` of the process connected to a Unix socket."""
    data = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    pid, uid, gid = struct.unpack("3i", data)
    return pid, uid, gid


def user_and_groups(uid: int, gid: int) -> tuple[str, tuple[str, ...]]:
    """The user name (or ``uid:N`` if unknown) and the names of the user's groups."""
    try:
        user = pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid:{uid}", ()
    names = []
    for group_id in os.getgrouplist(user, gid):
        try:
            names.append(grp.getgrgid(group_id).gr_name)
        except KeyError:
            continue
    return user, tuple(names)
