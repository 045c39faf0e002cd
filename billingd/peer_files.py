"""Files a peer of the control socket names, opened with the peer's rights (SPEC §12).

The daemon often runs as root, or as a user that can read its own data directory; a
peer (an operator) may not. A path a peer sends is therefore never handed to
``open()`` as it is: :func:`read_as` walks it from ``/`` one component at a time,
each directory held open (``O_PATH``) so that nothing can be swapped in between a
check and its use, symbolic links followed by hand (their targets walked the same
way), and grants each step only as the kernel would grant it to the peer: search
permission on every directory, read permission on the file, from the peer's uid and
groups (SO_PEERCRED, SO_PEERGROUPS) against the owner, group, mode and POSIX ACL of
the very inode opened. Only a regular file is opened (never a device or a FIFO, and
without blocking); a peer that is root reads what root reads.

A refusal names the path the peer gave, and the directory that stopped it when it
was not the file itself; it says no more than the peer could find out with ``ls``
(nothing is looked up in a directory the peer may not search).
"""

from __future__ import annotations

import errno
import os
import stat
import struct
from collections import deque
from dataclasses import dataclass

READ, SEARCH = 4, 1
MAX_SYMLINKS = 40
"""Links followed in one path before it is refused, as Linux's ELOOP."""
ACL_XATTR = "system.posix_acl_access"
_ACL_USER_OBJ, _ACL_USER, _ACL_GROUP_OBJ, _ACL_GROUP, _ACL_MASK, _ACL_OTHER = (
    0x01, 0x02, 0x04, 0x08, 0x10, 0x20
)  # fmt: skip
_ACL_HEADER, _ACL_ENTRY = struct.Struct("<I"), struct.Struct("<HHI")


@dataclass(frozen=True, slots=True)
class PeerRights:
    """Whose rights a peer's path is opened with: its uid, gid and supplementary
    groups, and its name for messages."""

    uid: int
    gid: int
    groups: frozenset[int]
    user: str


class PeerFileError(Exception):
    """The file cannot be read as the peer; the message names the path."""


def read_as(rights: PeerRights | None, path: str, *, limit: int) -> bytes:
    """The bytes of the regular file at ``path`` (absolute), read with ``rights`` —
    None: the daemon's own (a call made in-process, not by a peer). More than
    ``limit`` bytes are refused."""
    descriptor = open_as(rights, path)
    try:
        if os.fstat(descriptor).st_size > limit:
            raise PeerFileError(f"{path!r} is larger than {limit} bytes")
        chunks, size = [], 0
        while chunk := os.read(descriptor, min(1 << 20, limit + 1 - size)):
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                raise PeerFileError(f"{path!r} is larger than {limit} bytes")
        return b"".join(chunks)
    finally:
        os.close(descriptor)


def open_as(rights: PeerRights | None, path: str) -> int:
    """A read-only descriptor of the regular file at ``path``, opened as ``rights``
    may (see the module's description); the caller closes it."""
    if not path.startswith("/"):
        raise PeerFileError(f"{path!r} is not an absolute path")
    if "\0" in path:
        raise PeerFileError(f"{path!r} holds a NUL character")
    remaining = deque(path.split("/"))
    folders = [(os.open("/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC), "/")]
    links = 0
    try:
        while remaining:
            name = remaining.popleft()
            if name in ("", "."):
                continue
            folder, where = folders[-1]
            _require(rights, folder, SEARCH, path, where)
            if name == "..":
                if len(folders) > 1:
                    os.close(folders.pop()[0])
                continue
            info = _lstat(name, folder, path)
            if stat.S_ISLNK(info.st_mode):
                links += 1
                if links > MAX_SYMLINKS:
                    raise PeerFileError(f"{path!r}: too many levels of symbolic links")
                target = os.readlink(name, dir_fd=folder)
                if target.startswith("/"):
                    while len(folders) > 1:
                        os.close(folders.pop()[0])
                remaining.extendleft(reversed(target.split("/")))
                continue
            inside = os.path.join(where, name)
            if remaining:  # more to come, if only a final '/': a directory
                if not stat.S_ISDIR(info.st_mode):
                    raise PeerFileError(f"no such file {path!r} ({inside} is no directory)")
                flags = os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
                folders.append((_open(name, flags, folder, path), inside))
                continue
            return _open_file(rights, name, info, folder, path)
        raise PeerFileError(f"no such file {path!r}: it is a directory")
    finally:
        for folder, _ in folders:
            os.close(folder)


def _open_file(
    rights: PeerRights | None, name: str, info: os.stat_result, folder: int, path: str
) -> int:
    if stat.S_ISDIR(info.st_mode):
        raise PeerFileError(f"no such file {path!r}: it is a directory")
    if not stat.S_ISREG(info.st_mode):
        raise PeerFileError(f"{path!r} is not a regular file")
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
    descriptor = _open(name, flags, folder, path)
    try:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):  # swapped since the lstat
            raise PeerFileError(f"{path!r} is not a regular file")
        _require(rights, descriptor, READ, path, None)
    except BaseException:
        os.close(descriptor)
        raise
    return descriptor


def _lstat(name: str, folder: int, path: str) -> os.stat_result:
    try:
        return os.stat(name, dir_fd=folder, follow_symlinks=False)
    except FileNotFoundError:
        raise PeerFileError(f"no such file {path!r}") from None
    except OSError as exc:
        raise PeerFileError(f"cannot read {path!r}: {exc.strerror}") from None


def _open(name: str, flags: int, folder: int, path: str) -> int:
    try:
        return os.open(name, flags, dir_fd=folder)
    except FileNotFoundError:
        raise PeerFileError(f"no such file {path!r}") from None
    except OSError as exc:  # ELOOP, ENOTDIR: replaced by a link or file meanwhile
        raise PeerFileError(f"cannot read {path!r}: {exc.strerror}") from None


def _require(
    rights: PeerRights | None, descriptor: int, want: int, path: str, folder: str | None
) -> None:
    """Refuse unless ``rights`` grant ``want`` on the inode of ``descriptor``
    (``folder``: the directory's path, None for the file itself)."""
    if rights is None or rights.uid == 0:
        return  # the daemon's own rights: the kernel decides; root may read and search all
    info = os.fstat(descriptor)
    if allows(rights, info, _acl(descriptor), want):
        return
    closed = f" ({folder} is closed to them)" if folder is not None else ""
    raise PeerFileError(f"permission denied: user {rights.user} may not read {path!r}{closed}")


def allows(rights: PeerRights, info: os.stat_result, acl: bytes | None, want: int) -> bool:
    """Whether ``rights`` grant ``want`` (bits of ``READ | SEARCH``) on a file of
    ``info`` whose access ACL is ``acl`` (its extended attribute; None: the mode
    alone), by the rules of acl(5)."""
    groups = rights.groups | {rights.gid}
    if acl is None:
        if rights.uid == info.st_uid:
            granted = info.st_mode >> 6
        elif info.st_gid in groups:
            granted = info.st_mode >> 3
        else:
            granted = info.st_mode
        return granted & want == want
    entries = [_ACL_ENTRY.unpack_from(acl, offset) for offset in range(4, len(acl), 8)]
    perms = {tag: perm for tag, perm, _ in entries if tag not in (_ACL_USER, _ACL_GROUP)}
    if rights.uid == info.st_uid:
        return perms.get(_ACL_USER_OBJ, 0) & want == want
    mask = perms.get(_ACL_MASK, 7)
    for tag, perm, uid in entries:
        if tag == _ACL_USER and uid == rights.uid:
            return perm & mask & want == want
    matching = [perms.get(_ACL_GROUP_OBJ, 0)] if info.st_gid in groups else []
    matching += [perm for tag, perm, gid in entries if tag == _ACL_GROUP and gid in groups]
    if matching:
        return any(perm & mask & want == want for perm in matching)
    return perms.get(_ACL_OTHER, 0) & want == want


def _acl(descriptor: int) -> bytes | None:
    """The access ACL of the inode of ``descriptor`` (``O_PATH`` too), None when it
    has none beyond its mode or the system cannot say (no /proc: the mode decides)."""
    try:
        data = os.getxattr(f"/proc/self/fd/{descriptor}", ACL_XATTR)
    except OSError as exc:
        if exc.errno in (errno.ENODATA, errno.ENOTSUP, errno.ENOENT):
            return None
        raise PeerFileError(f"cannot read the permissions of a file: {exc.strerror}") from None
    if len(data) < _ACL_HEADER.size or (len(data) - 4) % 8:
        return None
    return data
