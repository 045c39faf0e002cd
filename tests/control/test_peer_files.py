"""A path a socket peer sends is opened with the peer's rights, not the daemon's (SPEC
§12, issue 14; billingd.peer_files). ``brand.add``/``brand.update``'s ``logo_path`` is
the only such parameter in the registry (imports are streamed by billingctl, exports
come back in the reply, templates are names in the daemon's own directory).

The daemon here runs as root and can read everything; its peers run as other uids
(``setpriv``). A file only root may read, behind a link, above a ``..``, readable by
a group the peer left, or closed to it by an ACL, is refused naming the path, and
nothing is written; what the peer may read is accepted, and the daemon keeps a copy.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from billingd.peer_files import ACL_XATTR, READ, PeerFileError, PeerRights, allows, read_as
from tests.conftest import RunningDaemon
from tests.control.peers import as_user, open_daemon, run_as, user_name

PEER, OTHER_PEER, GROUP = 65533, 65532, 4242
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(17)
SECRET_PNG = b"\x89PNG\r\n\x1a\n" + b"root's own" + bytes(17)
ALICE = PeerRights(PEER, PEER, frozenset(), "alice")
ALICE_IN_GROUP = PeerRights(PEER, PEER, frozenset({GROUP}), "alice")
BOB = PeerRights(OTHER_PEER, OTHER_PEER, frozenset(), "bob")
NO_ENTRY = 0xFFFFFFFF


def _acl(*entries: tuple[int, int, int]) -> bytes:
    """A POSIX access ACL as Linux stores it: ``(tag, perm, id)`` entries, sorted."""
    return struct.pack("<I", 2) + b"".join(struct.pack("<HHI", *entry) for entry in entries)


CLOSED_TO_PEER = _acl(
    (0x01, 6, NO_ENTRY),  # user::rw-
    (0x02, 0, PEER),  # user:65533:---
    (0x04, 4, NO_ENTRY),  # group::r--
    (0x10, 4, NO_ENTRY),  # mask::r--
    (0x20, 4, NO_ENTRY),  # other::r--
)


def files(root: Path) -> Path:
    """Logo files for the cases, owned by root, under ``root/files`` (0755)."""
    folder = root / "files"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    for name, mode in (("public.png", 0o644), ("mine-not.png", 0o600), ("group.png", 0o640)):
        (folder / name).write_bytes(PNG)
        (folder / name).chmod(mode)
    os.chown(folder / "group.png", 0, GROUP)
    (folder / "acl.png").write_bytes(PNG)
    (folder / "acl.png").chmod(0o644)
    try:
        os.setxattr(folder / "acl.png", ACL_XATTR, CLOSED_TO_PEER)
    except OSError:
        (folder / "acl.png").unlink()  # no ACLs on this file system: the case is skipped
    private = folder / "private"
    private.mkdir(mode=0o700)
    (private / "secret.png").write_bytes(SECRET_PNG)
    (private / "secret.png").chmod(0o600)
    (folder / "link.png").symlink_to(private / "secret.png")
    (folder / "relative-link.png").symlink_to("private/secret.png")
    os.mkfifo(folder / "pipe.png", 0o666)
    (folder / "big.png").write_bytes(PNG + bytes(100))
    (folder / "big.png").chmod(0o644)
    return folder


@pytest.fixture
def folder(short_dir: Path) -> Path:
    short_dir.chmod(0o755)  # in /tmp: pytest's own folders are closed to other users
    return files(short_dir)


# -- the rule, on real files, with the rights a peer would have ---------------------------

ACL_CASES = [
    ("owner bits", 0o400, PEER, 0, None, ALICE, True),
    ("owner bits, not the others'", 0o044, PEER, 0, None, ALICE, False),
    ("a supplementary group", 0o040, 0, GROUP, None, ALICE_IN_GROUP, True),
    ("other bits", 0o004, 0, 0, None, ALICE, True),
    ("a named group", 0o640, 0, 0, _acl((1, 6, NO_ENTRY), (4, 0, NO_ENTRY), (8, 4, GROUP),
     (0x10, 4, NO_ENTRY), (0x20, 0, NO_ENTRY)), ALICE_IN_GROUP, True),
    ("a named group under a mask", 0o600, 0, 0, _acl((1, 6, NO_ENTRY), (4, 0, NO_ENTRY),
     (8, 4, GROUP), (0x10, 0, NO_ENTRY), (0x20, 0, NO_ENTRY)), ALICE_IN_GROUP, False),
    ("a group that matches decides, not other", 0o604, 0, GROUP, _acl((1, 6, NO_ENTRY),
     (4, 0, NO_ENTRY), (0x10, 4, NO_ENTRY), (0x20, 4, NO_ENTRY)), ALICE_IN_GROUP, False),
    ("a named user", 0o600, 0, 0, _acl((1, 6, NO_ENTRY), (2, 4, PEER), (4, 0, NO_ENTRY),
     (0x10, 4, NO_ENTRY), (0x20, 0, NO_ENTRY)), ALICE, True),
]  # fmt: skip


@pytest.mark.parametrize(
    ("mode", "uid", "gid", "acl", "rights", "granted"),
    [case[1:] for case in ACL_CASES],
    ids=[case[0] for case in ACL_CASES],
)
def test_read_permission_follows_mode_and_acl(
    mode: int, uid: int, gid: int, acl: bytes | None, rights: PeerRights, granted: bool
) -> None:
    info = os.stat_result((stat.S_IFREG | mode, 1, 1, 1, uid, gid, 0, 0, 0, 0))
    assert allows(rights, info, acl, READ) is granted


def test_a_peer_reads_what_its_rights_allow(folder: Path) -> None:
    assert read_as(None, str(folder / "public.png"), limit=1000) == PNG
    assert read_as(PeerRights(0, 0, frozenset(), "root"), str(folder / "link.png"), limit=99) == (
        SECRET_PNG
    )
    assert read_as(ALICE_IN_GROUP, str(folder / "group.png"), limit=1000) == PNG
    assert read_as(ALICE, f"{folder}//./../files/public.png", limit=1000) == PNG


def _refusal(rights: PeerRights | None, path: str, limit: int = 1000) -> str:
    with pytest.raises(PeerFileError) as refused:
        read_as(rights, path, limit=limit)
    return str(refused.value)


@pytest.mark.skipif(os.geteuid() != 0, reason="the files must belong to another user than PEER")
def test_a_peer_is_refused_what_it_may_not_read_naming_the_path(folder: Path) -> None:
    secret = str(folder / "private" / "secret.png")
    closed = f"({folder}/private is closed to them)"
    assert _refusal(ALICE, secret) == (
        f"permission denied: user alice may not read {secret!r} {closed}"
    )
    mine_not = str(folder / "mine-not.png")
    assert _refusal(ALICE, mine_not) == f"permission denied: user alice may not read {mine_not!r}"
    for link in ("link.png", "relative-link.png"):
        assert closed in _refusal(ALICE, str(folder / link))
    assert closed in _refusal(ALICE, f"{folder}/private/../private/secret.png")
    assert "may not read" in _refusal(ALICE, str(folder / "group.png"))  # not in the group
    if (folder / "acl.png").exists():
        assert "may not read" in _refusal(ALICE, str(folder / "acl.png"))
        assert read_as(BOB, str(folder / "acl.png"), limit=1000) == PNG
    # nothing is looked up in a directory the peer may not search: no file told apart
    missing = f"{folder}/private/nope.png"
    assert _refusal(ALICE, missing) == (
        f"permission denied: user alice may not read {missing!r} {closed}"
    )


def test_what_is_no_readable_regular_file_is_refused_at_once(folder: Path) -> None:
    started = time.monotonic()
    assert _refusal(ALICE, str(folder / "pipe.png")).endswith("is not a regular file")
    assert time.monotonic() - started < 1  # a FIFO is never opened, so never waited on
    assert "no such file" in _refusal(ALICE, str(folder / "nope.png"))
    assert "it is a directory" in _refusal(ALICE, str(folder))
    assert "is no directory" in _refusal(ALICE, f"{folder}/public.png/x")
    assert "is not an absolute path" in _refusal(ALICE, "files/public.png")
    assert "larger than 50 bytes" in _refusal(ALICE, str(folder / "big.png"), limit=50)
    loop = folder / "loop.png"
    loop.symlink_to(loop)
    assert "too many levels of symbolic links" in _refusal(None, str(loop))


# -- through the real daemon, billingctl and the peers' own uids --------------------------


def _peer_prefix(uid: int, groups: str) -> list[str]:
    """``setpriv`` as ``uid`` with the supplementary ``groups`` (empty: none)."""
    prefix = as_user(uid)
    return [*prefix[:-1], f"--groups={groups}"] if groups else prefix


def _brand_add(prefix: list[str], daemon: RunningDaemon, name: str, logo: str) -> dict[str, Any]:
    (reply,) = run_as(prefix, daemon, [("brand.add", {"name": name, "logo_path": logo})])
    return reply


def _written(daemon: RunningDaemon) -> tuple[Any, ...]:
    return daemon.call("brand.list"), len(daemon.call("audit.list", limit=5000))


@pytest.mark.slow
def test_logo_paths_are_opened_with_the_peers_rights(short_dir: Path) -> None:
    folder = files(short_dir)
    operators = json.dumps([user_name(PEER), user_name(OTHER_PEER)])
    daemon = open_daemon(short_dir, f"{{admin: [root], operator: {operators}}}")
    alice, bob = as_user(PEER), as_user(OTHER_PEER)
    try:
        before = _written(daemon)
        refused = {
            "root's file": str(folder / "private" / "secret.png"),
            "the daemon's database": str(short_dir / "billing.db"),
            "a link to root's file": str(folder / "link.png"),
            "a way round through ..": f"{folder}/private/../private/secret.png",
            "a group it left": str(folder / "group.png"),
            "a FIFO": str(folder / "pipe.png"),
        }
        if (folder / "acl.png").exists():
            refused["an ACL against it"] = str(folder / "acl.png")
        for case, path in refused.items():
            error = _brand_add(alice, daemon, case, path)["error"]
            assert error["data"]["field"] == "logo_path", case
            assert repr(path) in error["message"], (case, error["message"])
        assert _written(daemon) == before  # nothing written

        grouped = _brand_add(_peer_prefix(PEER, str(GROUP)), daemon, "Grouped", refused[
            "a group it left"
        ])  # fmt: skip
        assert "result" in grouped, grouped
        if "an ACL against it" in refused:
            assert "result" in _brand_add(bob, daemon, "Bob's", refused["an ACL against it"])
        added = _brand_add(alice, daemon, "Public", str(folder / "public.png"))["result"]
        kept = Path(added["logo_path"])
        assert kept == short_dir / "data" / "logos" / f"{hashlib.sha256(PNG).hexdigest()}.png"
        assert kept.read_bytes() == PNG and stat.S_IMODE(kept.stat().st_mode) == 0o640
        (audit,) = [e for e in daemon.call("audit.list", limit=50) if e["subject_id"] == added[
            "id"
        ] and e["event"] == "brand.created"]  # fmt: skip
        assert audit["details"]["logo_source"] == str(folder / "public.png")
        assert audit["actor"] == user_name(PEER)

        # billingctl, as the peer: the refusal names the path, the exit status is 1
        secret = str(folder / "private" / "secret.png")
        done = subprocess.run(
            [*alice, sys.executable, "-m", "billingd.ctl", "--socket", str(daemon.socket),
             "brand", "add", "--name", "Stolen", "--logo", secret],
            capture_output=True, text=True, timeout=60, cwd="/",
        )  # fmt: skip
        assert done.returncode == 1, done.stdout + done.stderr
        assert f"may not read {secret!r}" in done.stderr
        assert daemon.process.poll() is None
    finally:
        daemon.stop()
