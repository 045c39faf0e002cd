"""The daemon's files and config under local users (SPEC §12, issue 14).

Files 0640 and directories 0750 whatever the umask; a world-writable socket
directory refused; a config file with secrets readable by every user refused;
secret values in no output (``check-config``, ``status``, the log).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from billingd.config import parse_config
from billingd.hardening import (
    PRIVATE_UMASK,
    RedactSecrets,
    config_file_problems,
    secrets,
    socket_dir,
)
from tests.conftest import RunningDaemon
from tests.zygote import ZYGOTE

SMTP_PASSWORD = "smtp-Pw-7f3a9c"
WEBHOOK_SECRET = "hook-Secret-51d0e2b8"
CXML_SECRET = "cxml-Shared-0c4e"
SECRET_CONFIG = f"""\
smtp: {{host: 127.0.0.1, port: 2525, username: billing, password: "{SMTP_PASSWORD}"}}
plugins:
  settings:
    webhook:
      endpoints:
        - {{name: erp, url: "http://127.0.0.1:9/hook", secret: "{WEBHOOK_SECRET}"}}
    uploaders:
      cxml: {{url: "http://127.0.0.1:9/cxml", shared_secret: "{CXML_SECRET}"}}
"""
SECRET_VALUES = (SMTP_PASSWORD, WEBHOOK_SECRET, CXML_SECRET)


def billingd(*argv: str, umask: int | None = None) -> subprocess.CompletedProcess[str]:
    """The real ``billingd`` command (forked from the zygote where it may)."""
    if ZYGOTE.serves():
        return ZYGOTE.run("billingd", list(argv), timeout=60, umask=umask)
    return subprocess.run(
        [sys.executable, "-m", "billingd", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=None if umask is None else lambda: os.umask(umask),
    )


def _modes(root: Path) -> dict[str, int]:
    return {
        str(path.relative_to(root)): stat.S_IMODE(path.lstat().st_mode)
        for path in [root, *root.rglob("*")]
    }


@pytest.mark.parametrize("umask", [0o022, 0o000], ids=["umask022", "umask000"])
def test_files_0640_and_directories_0750_whatever_the_umask(short_dir: Path, umask: int) -> None:
    # the database in a directory of its own that the daemon creates, with -wal and -shm
    daemon = RunningDaemon(short_dir, f"sqlite:///{short_dir / 'db' / 'billing.db'}", umask=umask)
    try:
        enterprise = daemon.call("enterprise.add", name="Acme", currency="EUR")
        client = daemon.call("client.add", name="Jane", enterprise=enterprise["id"])
        (invoice,) = daemon.call(
            "invoice.amount", client=client["id"], date="2026-01-05", amount="119.00"
        )
        assert daemon.call("invoice.pdf", invoice=invoice["id"])["content_base64"]
        backup = billingd(
            "backup",
            "--config",
            str(daemon.config_path),
            "-o",
            str(short_dir / "b" / "x.db"),
            umask=umask,
        )
        assert backup.returncode == 0, backup.stderr
        written = {**_modes(short_dir / "db"), **_modes(short_dir / "data")}
        written |= {f"b/{k}": v for k, v in _modes(short_dir / "b").items()}
        assert {"billing.db", "billing.db-wal", "billing.db-shm", "b/x.db"} <= set(written)
        assert any(name.endswith(".pdf") for name in written), written
        for name, mode in written.items():
            is_dir = (short_dir / "db" / name).is_dir() or (short_dir / "data" / name).is_dir()
            is_dir = is_dir or (short_dir / name).is_dir()
            assert mode == (0o750 if is_dir else 0o640), (name, oct(mode))
        assert stat.S_IMODE(daemon.socket.stat().st_mode) == 0o660  # socket_mode
    finally:
        daemon.stop()


def test_existing_files_open_to_everyone_are_tightened(short_dir: Path) -> None:
    database = short_dir / "billing.db"
    database.touch(mode=0o644)
    database.chmod(0o644)  # (not the umask's doing)
    (short_dir / "data").mkdir(mode=0o755)
    (short_dir / "data").chmod(0o777)
    daemon = RunningDaemon(short_dir, f"sqlite:///{database}")
    try:
        assert stat.S_IMODE(database.stat().st_mode) == 0o640
        assert stat.S_IMODE((short_dir / "data").stat().st_mode) == 0o770
        assert "was open to every user: now 0640" in daemon.log_text()
    finally:
        daemon.stop()


def test_world_writable_socket_directory_is_refused(short_dir: Path) -> None:
    sockets = short_dir / "run"
    sockets.mkdir()
    sockets.chmod(0o1777)  # like /tmp: anyone could put their own socket there
    config = short_dir / "billingd.yaml"
    config.write_text(f"database: sqlite:///{short_dir / 'b.db'}\nsocket: {sockets / 'b.sock'}\n")
    done = billingd("serve", "--config", str(config))
    assert done.returncode == 2
    assert f"the socket's directory {sockets} is writable by every user (1777)" in done.stderr
    assert not (sockets / "b.sock").exists() and not (short_dir / "b.db").exists()


def test_socket_directory_of_another_user_is_refused(short_dir: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to give the directory away")
    sockets = short_dir / "run"
    sockets.mkdir()
    os.chown(sockets, 65534, 65534)
    config = short_dir / "billingd.yaml"
    config.write_text(f"database: sqlite:///{short_dir / 'b.db'}\nsocket: {sockets / 'b.sock'}\n")
    done = billingd("serve", "--config", str(config))
    assert done.returncode == 2
    assert "belongs to nobody, not to root" in done.stderr


@pytest.mark.parametrize("made_by_another", ["data", "billing.db", "billingd.yaml"])
def test_data_or_config_another_user_made_is_refused(short_dir: Path, made_by_another: str) -> None:
    """A user who makes the data directory, the database or the config before the
    daemon does (a path under /tmp, say) would read or steer everything."""
    if os.geteuid() != 0:
        pytest.skip("needs root to give the files away")
    config = short_dir / "billingd.yaml"
    config.write_text(
        f"database: sqlite:///{short_dir / 'billing.db'}\nsocket: {short_dir / 'b.sock'}\n"
        f"data_dir: {short_dir / 'data'}\n"
    )
    config.chmod(0o600)
    (short_dir / "data").mkdir()
    (short_dir / "billing.db").touch()
    os.chown(short_dir / made_by_another, 65534, 65534)
    done = billingd("serve", "--config", str(config))
    assert done.returncode == 2
    assert f"{short_dir / made_by_another} belongs to nobody, not to root" in done.stderr
    assert not (short_dir / "b.sock").exists()


def test_a_socket_directory_it_creates_lets_the_socket_group_in(tmp_path: Path) -> None:
    old = os.umask(PRIVATE_UMASK)
    try:
        socket_dir(tmp_path / "new" / "run" / "billingd.sock")
    finally:
        os.umask(old)
    for directory in (tmp_path / "new", tmp_path / "new" / "run"):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o755  # the socket's mode guards it


def test_config_with_secrets_readable_by_everyone_is_refused(short_dir: Path) -> None:
    config = short_dir / "billingd.yaml"
    config.write_text(
        f"database: sqlite:///{short_dir / 'b.db'}\nsocket: {short_dir / 'b.sock'}\n"
        + SECRET_CONFIG
    )
    config.chmod(0o644)
    for command in ("check-config", "serve"):
        done = billingd(command, "--config", str(config))
        assert done.returncode == 2, (command, done.stderr)
        assert f"{config} holds secrets (smtp.password, " in done.stderr
        assert "plugins.settings.webhook.endpoints[0].secret" in done.stderr
        assert f"chmod o-rwx {config}" in done.stderr
        assert not any(secret in done.stdout + done.stderr for secret in SECRET_VALUES)
    assert not (short_dir / "b.sock").exists() and not (short_dir / "b.db").exists()
    config.chmod(0o640)
    assert billingd("check-config", "--config", str(config)).returncode == 0


def test_world_writable_config_is_refused_even_without_secrets(short_dir: Path) -> None:
    config = short_dir / "billingd.yaml"
    config.write_text(f"database: sqlite:///{short_dir / 'b.db'}\n")
    config.chmod(0o666)
    done = billingd("check-config", "--config", str(config))
    assert done.returncode == 2
    assert "writable by every user (0666): anyone could change who is admin" in done.stderr


def test_key_file_a_secret_names_must_be_private(tmp_path: Path) -> None:
    key = tmp_path / "id_ed25519"
    key.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\n")
    key.chmod(0o644)
    source = tmp_path / "billingd.yaml"
    source.write_text(f"plugins: {{settings: {{uploaders: {{sftp: {{private_key: {key}}}}}}}}}\n")
    source.chmod(0o600)
    config = parse_config(source.read_text(), str(source))
    (problem,) = config_file_problems(config)
    assert problem.startswith("plugins.settings.uploaders.sftp.private_key: the file")
    key.chmod(0o600)
    assert config_file_problems(config) == []


def test_secrets_are_found_wherever_the_settings_hold_them() -> None:
    config = parse_config(
        "database: postgresql://billing:db-Pass-99@127.0.0.1/billing\n"
        + SECRET_CONFIG
        + "    acme: {portal: 'https://me:url-Pass-3@portal.example', api_keys: [k-1, k-2]}\n"
    )
    assert secrets(config) == {
        "smtp.password": SMTP_PASSWORD,
        "database": "db-Pass-99",
        "plugins.settings.webhook.endpoints[0].secret": WEBHOOK_SECRET,
        "plugins.settings.uploaders.cxml.shared_secret": CXML_SECRET,
        "plugins.settings.acme.portal": "url-Pass-3",
        "plugins.settings.acme.api_keys[0]": "k-1",
        "plugins.settings.acme.api_keys[1]": "k-2",
    }


def test_secret_values_are_in_no_output(short_dir: Path) -> None:
    """check-config (text and JSON), status and the log, through a reload and a bad one;
    a secret of the wrong type is not echoed in the config error either."""
    daemon = RunningDaemon(
        short_dir, f"sqlite:///{short_dir / 'billing.db'}", "invoicing: manual\n" + SECRET_CONFIG
    )
    try:
        status = json.dumps(daemon.call("status"))
        checked = billingd("check-config", "--config", str(daemon.config_path))
        as_json = billingd("check-config", "--json", "--config", str(daemon.config_path))
        assert checked.returncode == 0 and as_json.returncode == 0, checked.stderr
        assert (
            json.loads(as_json.stdout)["plugins"]["settings"]["webhook"]["endpoints"][0]["secret"]
            == "***"
        )
        text = daemon.config_path.read_text()
        daemon.config_path.write_text(text.replace(f'"{SMTP_PASSWORD}"', "8675309"))
        bad = billingd("check-config", "--config", str(daemon.config_path))
        assert bad.returncode == 2 and "smtp.password" in bad.stderr
        assert "8675309" not in bad.stderr
        daemon.process.send_signal(signal.SIGHUP)  # refused: the running config stays
        _wait_for(daemon, "config reload refused")
        daemon.config_path.write_text(text)
        daemon.process.send_signal(signal.SIGHUP)
        _wait_for(daemon, "config reloaded")
        outputs = [status, checked.stdout, checked.stderr, as_json.stdout, daemon.log_text()]
        for output in outputs:
            for secret in (*SECRET_VALUES, "8675309"):
                assert secret not in output, (secret, output[-2000:])
    finally:
        daemon.stop()


def _wait_for(daemon: RunningDaemon, text: str) -> None:
    deadline = time.monotonic() + 20
    while text not in daemon.log_text():
        assert time.monotonic() < deadline, daemon.log_text()
        time.sleep(0.05)


def test_log_records_are_redacted() -> None:
    record = logging.LogRecord(
        "billingd", logging.ERROR, __file__, 1, "login %s failed for %r", ("x", "pw-12345"), None
    )
    try:
        raise RuntimeError("server said: bad password pw-12345")
    except RuntimeError:
        record.exc_info = sys.exc_info()
    assert RedactSecrets(["pw-12345"]).filter(record)
    formatted = logging.Formatter().format(record)
    assert "pw-12345" not in formatted
    assert "login x failed for '***'" in formatted and "bad password ***" in formatted
