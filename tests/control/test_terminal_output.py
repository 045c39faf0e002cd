"""Terminal escape injection (issue 14): names and CDR fields that hold control
characters or bidi overrides reach billingctl's human output as visible escapes,
never as commands to the operator's terminal; ``--json`` keeps them exact.
"""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest

from billingd.ctl import _fail
from billingd.ctl_commands.events import _human
from billingd.ctl_output import json_text, record, table, terminal_safe
from tests.conftest import RunningDaemon
from tests.zygote import ZYGOTE

HOSTILE_NAME = "\x1b]0;owned\x07Mallory\x1b[2J \u202eLTD\u202c \x9b31m"
HOSTILE_DESTINATION = "+49\x1b[1A\x1b[K30 \u2066x\u2069 \x7f\u0085\u2028"  # NUL: refused
RAW = ("\x1b", "\x07", "\x9b", "\u202e", "\u202c", "\u2066", "\u2069", "\x00", "\x85", "\u2028")
"""Characters that act on a terminal: none may be printed as they are."""


def billingctl_text(daemon: RunningDaemon, *args: str) -> subprocess.CompletedProcess[str]:
    """The real billingctl, human output (no ``--json`` unless ``args`` say so)."""
    argv = ["--socket", str(daemon.socket), *args]
    if ZYGOTE.serves():
        return ZYGOTE.run("billingctl", argv, timeout=60)
    import sys

    command = [sys.executable, "-m", "billingd.ctl", *argv]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def _assert_inert(text: str) -> None:
    for char in RAW:
        assert char not in text, (repr(char), text)


@pytest.fixture(scope="module")
def hostile(module_daemon: RunningDaemon) -> dict[str, Any]:
    enterprise = module_daemon.call("enterprise.add", name="Hostile Ltd", currency="EUR")
    client = module_daemon.call(
        "client.add", name=HOSTILE_NAME, enterprise=enterprise["id"], company="\x1bP+q\x1b\\"
    )
    module_daemon.call(
        "usage.import",
        source="cdr.csv",
        records=[
            {
                "client": client["id"],
                "occurred_at": "2026-06-02T10:00:00Z",
                "destination": HOSTILE_DESTINATION,
                "destination_group": "\x1b[31mred",
                "quantity": "60",
                "unit": "s",
                "amount": "0.50",
            }
        ],
    )
    return client


def test_tables_and_views_show_escapes_not_controls(
    module_daemon: RunningDaemon, hostile: dict[str, Any]
) -> None:
    shown = {
        "list": billingctl_text(module_daemon, "client", "list"),
        "show": billingctl_text(module_daemon, "client", "show", str(hostile["id"])),
        "usage": billingctl_text(module_daemon, "usage", "list", "--client", str(hostile["id"])),
    }
    for what, done in shown.items():
        assert done.returncode == 0, (what, done.stderr)
        _assert_inert(done.stdout + done.stderr)
    assert "\\x1b]0;owned\\x07Mallory\\x1b[2J \\u202eLTD\\u202c \\x9b31m" in shown["list"].stdout
    assert "\\x1bP+q\\x1b\\" in shown["show"].stdout
    assert "\\x1b[31mred" in shown["usage"].stdout


def test_json_output_keeps_the_exact_strings(
    module_daemon: RunningDaemon, hostile: dict[str, Any]
) -> None:
    client = billingctl_text(module_daemon, "--json", "client", "show", str(hostile["id"]))
    usage = billingctl_text(
        module_daemon, "--json", "usage", "list", "--client", str(hostile["id"])
    )
    for done in (client, usage):
        assert done.returncode == 0, done.stderr
        _assert_inert(done.stdout)  # written as JSON escapes, which parse back the same
    assert json.loads(client.stdout)["name"] == HOSTILE_NAME
    assert json.loads(usage.stdout)[0]["destination"] == HOSTILE_DESTINATION


def test_refusal_messages_are_shown_inert(
    module_daemon: RunningDaemon, capsys: pytest.CaptureFixture[str]
) -> None:
    done = billingctl_text(module_daemon, "invoice", "show", "\x1b]0;x\x07\u202e1")
    assert done.returncode == 1
    _assert_inert(done.stderr)
    as_json = billingctl_text(module_daemon, "--json", "invoice", "show", "\x1b[2J\x9b")
    _assert_inert(as_json.stdout)
    assert json.loads(as_json.stdout)["error"]["message"] == "no invoice '\\x1b[2J\\x9b'"
    # a message that holds a name as it is (a plugin's, say): printed inert, lines kept
    assert _fail({"code": 1002, "message": "client \x1b[2JX\nrefused"}, False, 1) == 1
    assert capsys.readouterr().err == "billingctl: client \\x1b[2JX\nrefused\n"


def test_terminal_safe_escapes_only_what_acts_on_a_terminal() -> None:
    assert terminal_safe("Müller & Söhne — 東京 😀") == "Müller & Söhne — 東京 😀"
    assert terminal_safe("a\tb\rc\nd") == "a\\x09b\\x0dc\\x0ad"
    assert terminal_safe("a\nb\x1b", lines=True) == "a\nb\\x1b"
    assert terminal_safe("\u200f\u061c\u202a\u2068") == "\\u200f\\u061c\\u202a\\u2068"


def test_every_cell_key_and_heading_is_escaped() -> None:
    rows = [{"name": "\x1b[2J", "fields": {"\x1b]0;k": "\u202ev"}, "n": None}]
    _assert_inert(table(rows, ("name", "fields", "\x07")))
    _assert_inert(record({"name": "\x9b", "custom_fields": {"\x1b]0;t\x07": "\x1b[5m"}}))
    assert "\\x1b]0;t\\x07" in record({"custom_fields": {"\x1b]0;t\x07": "x"}})
    assert json.loads(json_text({"s": "\x9b\u202e\x1b"})) == {"s": "\x9b\u202e\x1b"}
    _assert_inert(_human({"at": "t", "name": "client.created", "payload": {"n": HOSTILE_NAME}}))
