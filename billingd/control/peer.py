"""Who is on the other end of the socket: SO_PEERCRED uid → user, groups, role (SPEC §12)."""

from __future__ import annotations

import errno
import grp
import os
import pwd
import socket
import struct
import sys
from dataclasses import dataclass

from billingd.peer_files import PeerRights

ROLES = ("viewer", "operator", "admin")


@dataclass(frozen=True, slots=True)
class Peer:
    pid: int
    uid: int
    gid: int
    user: str
    groups: tuple[str, ...]
    role: str | None
    gids: frozenset[int] = frozenset()
    """The process's supplementary groups (:func:`peer_groups`): its file rights."""

    def may(self, required: str) -> bool:
        """True when this peer's role reaches ``required`` (viewer < operator < admin)."""
        return role_reaches(self.role, required)

    def rights(self) -> PeerRights:
        """What the peer may open itself: a path it sends is opened with these."""
        return PeerRights(self.uid, self.gid, self.gids, self.user)


def role_reaches(role: str | None, required: str) -> bool:
    """True when ``role`` is at least ``required`` (viewer < operator < admin); None never is."""
    return role in ROLES and ROLES.index(role) >= ROLES.index(required)


def peer_credentials(sock: socket.socket) -> tuple[int, int, int]:
    """``(pid, uid, gid)`` of the process connected to a Unix socket."""
    data = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    pid, uid, gid = struct.unpack("3i", data)
    return pid, uid, gid


SO_PEERGROUPS = getattr(socket, "SO_PEERGROUPS", 59)
"""Linux (4.13 and later): the supplementary groups of the peer as it connected."""


def peer_groups(sock: socket.socket, gid: int, user: str) -> frozenset[int]:
    """The supplementary group ids of the process connected to ``sock`` (as it
    connected: ``setpriv --clear-groups``, ``newgrp`` count), else — on a system
    without SO_PEERGROUPS — those the user database gives ``user``."""
    if sys.platform == "linux":
        for count in (64, 65536):  # NGROUPS_MAX is 65536
            try:
                data = sock.getsockopt(socket.SOL_SOCKET, SO_PEERGROUPS, 4 * count)
            except OSError as exc:
                if exc.errno == errno.ERANGE:
                    continue
                break
            return frozenset(struct.unpack(f"{len(data) // 4}I", data))
    try:
        return frozenset(os.getgrouplist(user, gid))
    except (KeyError, OSError):
        return frozenset()


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
