"""Import files as editors save them, through the real billingctl (issue 14, SPEC §2).

A UTF-8 byte-order mark is read past; a file in another encoding is refused naming
its first such line; a row with more or fewer values than its header is refused
naming the line and, for an extra value, its column by position. Nothing is
written by a refused file.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from billingd.errors import INVALID_PARAMS
from tests.conftest import RunningDaemon, billingctl
from tests.conftest import billingctl_ok as ok

HEADER = "client,occurred_at,destination_group,unit,quantity,amount,external_id\n"


@pytest.fixture
def client_id(module_daemon: RunningDaemon) -> int:
    enterprise = module_daemon.call("enterprise.add", name="Acme", currency="EUR", tax_rate="19")
    return module_daemon.call("client.add", enterprise=enterprise["id"], name="Jane")["id"]


def _write(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


def _usage(daemon: RunningDaemon, client: int) -> int:
    return len(daemon.call("usage.list", client=client))


def _refused(daemon: RunningDaemon, noun: str, path: Path, line: int) -> str:
    """``billingctl NOUN import PATH`` refused by a rule naming ``line``: its message."""
    result = billingctl(daemon.socket, noun, "import", str(path))
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    error = json.loads(result.stdout)["error"]
    assert error["code"] == INVALID_PARAMS and error["data"]["line"] == line, error
    return error["message"]


@pytest.mark.parametrize("quoted", [False, True], ids=["plain", "quoted"])
def test_a_usage_file_with_a_byte_order_mark_is_imported(
    module_daemon: RunningDaemon, client_id: int, tmp_path: Path, quoted: bool
) -> None:
    group = '"Fixed"' if quoted else "Fixed"  # a quoted cell: the file goes row by row
    row = f"{client_id},2026-01-05T10:00:00Z,{group},s,60,0.12,bom-{quoted}\n"
    path = _write(tmp_path, "bom.csv", b"\xef\xbb\xbf" + (HEADER + row).encode())
    assert ok(module_daemon, "usage", "import", str(path))["imported"] == 1


def test_a_latin_1_usage_file_is_refused_naming_the_line(
    module_daemon: RunningDaemon, client_id: int, tmp_path: Path
) -> None:
    before = _usage(module_daemon, client_id)
    rows = f"{client_id},2026-01-05T10:00:00Z,Fixed,s,60,0.12,ok-1\n"
    rows += f"{client_id},2026-01-05T10:00:00Z,Festnetz Gebühr,s,60,0.12,latin-1\n"
    path = _write(tmp_path, "latin.csv", (HEADER + rows).encode("latin-1"))
    message = _refused(module_daemon, "usage", path, 3)
    assert "latin.csv: line 3: not UTF-8 text (byte 0xfc)" in message
    assert _usage(module_daemon, client_id) == before


def test_a_latin_1_client_file_is_refused_naming_the_line(
    module_daemon: RunningDaemon, tmp_path: Path
) -> None:
    path = _write(tmp_path, "clients.csv", "enterprise,name\n1,Jürgen\n".encode("latin-1"))
    message = _refused(module_daemon, "client", path, 2)
    assert "clients.csv: line 2: not UTF-8 text (byte 0xfc)" in message


@pytest.mark.parametrize("quoted", [False, True], ids=["plain", "quoted"])
def test_an_extra_usage_value_is_refused_by_its_position(
    module_daemon: RunningDaemon, client_id: int, tmp_path: Path, quoted: bool
) -> None:
    before = _usage(module_daemon, client_id)
    group = '"Fixed"' if quoted else "Fixed"
    row = f"{client_id},2026-01-05T10:00:00Z,{group},s,60,0.12,extra-{quoted},surplus\n"
    path = _write(tmp_path, "extra.csv", (HEADER + row).encode())
    message = _refused(module_daemon, "usage", path, 2)
    assert (
        "line 2: 8 values, but the header has 7 columns (a value in column 8, which has no name)"
        in message
    )
    assert "null" not in message and "None" not in message
    assert _usage(module_daemon, client_id) == before


def test_a_short_usage_row_is_refused_naming_its_line(
    module_daemon: RunningDaemon, client_id: int, tmp_path: Path
) -> None:
    before = _usage(module_daemon, client_id)
    row = f"{client_id},2026-01-05T10:00:00Z,Fixed,s,60,0.12\n"
    path = _write(tmp_path, "short.csv", (HEADER + row).encode())
    message = _refused(module_daemon, "usage", path, 2)
    assert "line 2: 6 values, but the header has 7 columns" in message
    assert _usage(module_daemon, client_id) == before
