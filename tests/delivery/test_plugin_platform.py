"""The plugin platform in a running daemon (issue 11, SPEC §11): plugin settings
applied on SIGHUP, the allowlist and trace switch from the config and environment,
and ``billingctl plugins`` showing what each plugin registers."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from billingd.config import ConfigError, parse_config
from tests.conftest import RunningDaemon, billingctl_ok
from tests.delivery.conftest import wait_until

PROBE = """
import json, os
from billingd.hookspecs import hookimpl

def _note(hook, settings):
    with open(os.environ["BILLINGD_PROBE_FILE"], "a") as out:
        out.write(json.dumps([hook, settings]) + "\\n")

class Notes:
    name = "probe-notes"
    def wants(self, event_name):
        return False
    def notify(self, event):
        pass

@hookimpl
def plugin_settings_schema():
    return {"label": "str"}

@hookimpl
def startup(host):
    _note("startup", host.settings_for("probe"))

@hookimpl
def settings_changed(settings):
    _note("changed", settings)

@hookimpl
def register_notifiers(register):
    register(Notes())
"""


@pytest.fixture
def probe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[], list[list[Any]]]:
    """An installed third-party plugin ``probe`` (a distribution with a ``billingd``
    entry point on the daemon's PYTHONPATH) that notes each start-up and settings
    change; returns a function reading its notes."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "billingd_probe_plugin.py").write_text(PROBE)
    info = site / "billingd_probe_plugin-0.3.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: billingd-probe-plugin\nVersion: 0.3.0\n"
    )
    (info / "entry_points.txt").write_text("[billingd]\nprobe = billingd_probe_plugin\n")
    notes = tmp_path / "probe-notes.jsonl"
    path = os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))
    monkeypatch.setenv("PYTHONPATH", path)
    monkeypatch.setenv("BILLINGD_PROBE_FILE", str(notes))
    monkeypatch.delenv("BILLINGD_PLUGINS", raising=False)
    monkeypatch.delenv("BILLINGD_TRACE_PLUGINS", raising=False)

    def read() -> list[list[Any]]:
        if not notes.exists():
            return []
        return [json.loads(line) for line in notes.read_text().splitlines()]

    return read


def _daemon(folder: Path, plugins: str) -> RunningDaemon:
    return RunningDaemon(
        folder, f"sqlite:///{folder / 'billing.db'}", "invoicing: manual\n" + plugins
    )


@pytest.fixture
def started() -> Iterator[list[RunningDaemon]]:
    daemons: list[RunningDaemon] = []
    yield daemons
    for daemon in daemons:
        daemon.stop()


def _reload(daemon: RunningDaemon, plugins: str, expect_in_log: str) -> None:
    config = daemon.config_path.read_text().split("plugins:")[0]
    daemon.config_path.write_text(config + plugins)
    before = daemon.log_text().count(expect_in_log)
    daemon.process.send_signal(signal.SIGHUP)
    wait_until(lambda: daemon.log_text().count(expect_in_log) > before, what=expect_in_log)


def settings(label: Any, trace: bool = False) -> str:
    return f"plugins:\n  trace: {str(trace).lower()}\n  settings:\n    probe: {{label: {label}}}\n"


@pytest.mark.slow
def test_plugin_settings_are_applied_on_sighup_and_bad_ones_refused(
    short_dir: Path, probe: Callable[[], list[list[Any]]], started: list[RunningDaemon]
) -> None:
    daemon = _daemon(short_dir, settings("one"))
    started.append(daemon)
    assert probe() == [["startup", {"label": "one"}]]

    _reload(daemon, settings("two"), "config reloaded")
    assert wait_until(lambda: len(probe()) == 2 and probe()) == [
        ["startup", {"label": "one"}],
        ["changed", {"label": "two"}],
    ]
    assert "plugin settings applied: probe" in daemon.log_text()

    # a value of the wrong type, by the plugin's own schema: refused whole, like a bad config
    _reload(daemon, settings("5") + "log_level: debug\n", "config reload refused")
    log = daemon.log_text()
    assert "plugins.settings.probe.label: expected str, got 5" in log
    assert daemon.call("status")  # still serving
    assert len(probe()) == 2  # the plugin was not told anything
    assert "DEBUG" not in log.split("config reload refused")[1]  # nothing else applied

    _reload(daemon, settings("three", trace=True), "plugin settings applied: probe")
    assert probe()[-1] == ["changed", {"label": "three"}]
    daemon.call("plugins.list")
    wait_until(lambda: "probe -> register_notifiers(register)" in daemon.log_text())

    # unchanged settings on the next reload: nobody is told
    _reload(daemon, settings("three"), "config reloaded from")
    assert len(probe()) == 3


@pytest.mark.slow
def test_billingctl_plugins_shows_what_each_registers_in_80_columns(
    short_dir: Path, probe: Callable[[], list[list[Any]]], started: list[RunningDaemon]
) -> None:
    daemon = _daemon(short_dir, "plugins:\n  enabled: [probe]\n")
    started.append(daemon)
    listing = {p["name"]: p for p in billingctl_ok(daemon, "plugins")}
    assert listing["probe"] == {
        "name": "probe",
        "version": "0.3.0",
        "hooks": [
            "plugin_settings_schema",
            "register_notifiers",
            "settings_changed",
            "startup",
        ],
        "builtin": False,
        "registers": {"renderer": [], "gateway": [], "notifier": ["probe-notes"], "uploader": []},
    }
    assert listing["sandbox"]["registers"]["gateway"] == ["sandbox"]
    assert listing["pdf"]["registers"]["renderer"] == ["pdf"]

    program = shutil.which("billingctl")
    command = [program] if program else [sys.executable, "-m", "billingd.ctl"]
    shown = subprocess.run(
        [*command, "--socket", str(daemon.socket), "plugins"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "80"},
        check=True,
    ).stdout.splitlines()
    assert shown[0].split() == ["name", "version", "builtin", "registers"]
    assert all(len(line) <= 80 for line in shown)
    rows = {line.split()[0]: line for line in shown[2:]}
    assert rows["probe"].split() == ["probe", "0.3.0", "no", "notifier", "probe-notes"]
    assert rows["sandbox"].split()[2:] == ["yes", "gateway", "sandbox"]


@pytest.mark.slow
def test_allowlist_from_the_config_and_the_environment(
    short_dir: Path,
    probe: Callable[[], list[list[Any]]],
    started: list[RunningDaemon],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = _daemon(short_dir, "plugins:\n  enabled: []\n")
    started.append(first)
    names = {p["name"] for p in first.call("plugins.list")}
    assert "probe" not in names and {"pdf", "sandbox", "manual"} <= names
    assert probe() == []
    first.stop()

    monkeypatch.setenv("BILLINGD_PLUGINS", "probe")  # the environment wins over the config
    second = _daemon(short_dir, "plugins:\n  enabled: []\n")
    started.append(second)
    assert "probe" in {p["name"] for p in second.call("plugins.list")}


def test_plugins_trace_is_a_config_key() -> None:
    assert parse_config("plugins: {trace: true}").plugins["trace"] is True
    assert "trace" not in parse_config("plugins: {}").plugins  # absent: the default
    with pytest.raises(ConfigError, match=r"plugins\.trace: expected"):
        parse_config("plugins: {trace: loud}")
