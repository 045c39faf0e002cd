"""billingd.config: loading, defaults, validation with key and line, access roles."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest
import yaml

from billingd.config import (
    SYSTEM_CONFIG,
    AccessConfig,
    Config,
    ConfigError,
    SmtpConfig,
    default_config_path,
    load_config,
    parse_config,
)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config" / "billingd.yaml"


@pytest.fixture(autouse=True)
def _no_config_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "BILLINGD_CONFIG",
        "CONFIGURATION_DIRECTORY",
        "STATE_DIRECTORY",
        "RUNTIME_DIRECTORY",
    ):
        monkeypatch.delenv(name, raising=False)


def as_user(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Pretend to be an ordinary user whose XDG directories live under ``tmp_path``."""
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    for name, sub in (("XDG_CONFIG_HOME", "config"), ("XDG_DATA_HOME", "data")):
        monkeypatch.setenv(name, str(tmp_path / sub))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    return tmp_path


def error_of(text: str, source: str = "billingd.yaml") -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_config(text, source)
    return info.value


# --- defaults ----------------------------------------------------------------------------


def test_empty_config_gives_defaults_for_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    config = parse_config("# nothing but a comment\n")
    assert config.database == "sqlite:////var/lib/billingd/billingd.db"
    assert config.socket == Path("/run/billingd/billingd.sock")
    assert config.data_dir == Path("/var/lib/billingd")
    assert (config.timezone, config.invoicing, config.log_level) == ("UTC", "auto", "INFO")
    assert config.smtp == SmtpConfig()
    assert config.smtp.sender == "billing@example.com"
    assert config.access == AccessConfig()
    assert config.plugins == {"settings": {}, "enabled": None}
    assert (config.socket_mode, config.socket_group) == (0o660, None)
    assert (config.max_frame_bytes, config.max_connections) == (1048576, 64)
    assert config.source is None


def test_defaults_for_ordinary_user_follow_xdg_dirs(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    as_user(monkeypatch, tmp_path)
    config = parse_config("")
    assert config.data_dir == tmp_path / "data" / "billingd"
    assert config.database == f"sqlite:///{tmp_path}/data/billingd/billingd.db"
    assert config.socket == tmp_path / "runtime" / "billingd" / "billingd.sock"
    assert default_config_path() == tmp_path / "config" / "billingd" / "billingd.yaml"


def test_defaults_under_systemd_use_its_directories(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A service running as User=billingd gets RuntimeDirectory= and StateDirectory=."""
    as_user(monkeypatch, tmp_path)
    monkeypatch.setenv("RUNTIME_DIRECTORY", "/run/billingd")
    monkeypatch.setenv("STATE_DIRECTORY", "/var/lib/other:/var/lib/billingd")
    monkeypatch.setenv("CONFIGURATION_DIRECTORY", "/etc/billingd")
    config = parse_config("")
    assert config.socket == Path("/run/billingd/billingd.sock")
    assert config.data_dir == Path("/var/lib/billingd")
    assert default_config_path() == Path("/etc/billingd/billingd.yaml")
    monkeypatch.setenv("RUNTIME_DIRECTORY", "/run/other-service")  # not ours: ignored
    assert parse_config("").socket == tmp_path / "runtime" / "billingd" / "billingd.sock"


def test_database_defaults_into_configured_data_dir() -> None:
    config = parse_config("data_dir: /srv/billing\n")
    assert config.database == "sqlite:////srv/billing/billingd.db"


def test_r_run_1_schedule_defaults_to_nightly() -> None:
    assert parse_config("").schedule == "0 2 * * *"


def test_r_run_15_clock_test_is_never_the_default() -> None:
    assert parse_config("").clock == "system"
    assert parse_config("clock: test").clock == "test"


def test_r_run_14_catch_up_limit_defaults_to_24() -> None:
    assert parse_config("").catch_up_limit == 24
    assert parse_config("catch_up_limit: 3").catch_up_limit == 3


@pytest.mark.parametrize("policy", ["oldest_first", "due_date", "target_only"])
def test_r_pay_2_allocation_policies(policy: str) -> None:
    assert parse_config(f"allocation_policy: {policy}").allocation_policy == policy
    assert parse_config("").allocation_policy == "oldest_first"


def test_r_run_5_global_invoicing_manual() -> None:
    assert parse_config("invoicing: manual").invoicing == "manual"


def test_full_config_is_read() -> None:
    config = parse_config(
        """
database: postgresql://billing@db.example.com:5432/billingd
socket: /run/b/b.sock
data_dir: /srv/b
timezone: Europe/Berlin
clock: test
schedule: "30 3 * * 1-5"
invoicing: manual
smtp: {host: mail.example.com, port: 587, starttls: true, username: u, password: p,
       from: "Billing <billing@example.com>"}
access: {admin: [alice], operator: ["@billing"], viewer: [bob, "@audit"]}
plugins: {enabled: [pdf], settings: {pdf: {paper: A4}, stats: null}}
socket_mode: 0640
socket_group: billing
max_frame_bytes: 4096
max_connections: 8
allocation_policy: due_date
catch_up_limit: 5
log_level: debug
"""
    )
    assert config.database == "postgresql://billing@db.example.com:5432/billingd"
    assert (config.socket, config.data_dir) == (Path("/run/b/b.sock"), Path("/srv/b"))
    assert (config.timezone, config.clock, config.schedule) == (
        "Europe/Berlin",
        "test",
        "30 3 * * 1-5",
    )
    assert config.smtp == SmtpConfig(
        "mail.example.com", 587, True, "u", "p", "Billing <billing@example.com>"
    )
    assert config.access == AccessConfig(("alice",), ("@billing",), ("bob", "@audit"))
    assert config.plugins == {"settings": {"pdf": {"paper": "A4"}, "stats": {}}, "enabled": ["pdf"]}
    assert (config.socket_mode, config.socket_group) == (0o640, "billing")
    assert (config.max_frame_bytes, config.max_connections, config.catch_up_limit) == (4096, 8, 5)
    assert (config.allocation_policy, config.log_level) == ("due_date", "DEBUG")


def test_cron_shortcut_accepted() -> None:
    assert parse_config("schedule: '@daily'").schedule == "@daily"


@pytest.mark.parametrize("mode", ["0600", "'0o600'", "'600'", "384"])
def test_socket_mode_forms(mode: str) -> None:
    assert parse_config(f"socket_mode: {mode}").socket_mode == 0o600


def test_null_sections_mean_defaults() -> None:
    config = parse_config("smtp:\naccess:\nplugins:\nsocket_group:\n")
    assert config.smtp == SmtpConfig()
    assert config.access == AccessConfig()
    assert config.plugins == {"settings": {}, "enabled": None}


# --- errors name the key and the line ---------------------------------------------------


def test_config_error_names_key_and_line() -> None:
    text = "# billingd\n\ntimezone: UTC\n\nsmtp:\n  host: mail\n  port: abc\n"
    error = error_of(text)
    assert (error.key, error.line, error.source) == ("smtp.port", 7, "billingd.yaml")
    assert str(error) == "billingd.yaml:7: smtp.port: expected an integer, got 'abc'"


ERRORS = [
    # (yaml text, key, line, words in the message)
    ("clock: sytem", "clock", 1, "did you mean 'system'"),
    ("\ninvoicing: sometimes", "invoicing", 2, "expected one of auto, manual"),
    ("allocation_policy: newest_first", "allocation_policy", 1, "oldest_first"),
    ("log_level: loud", "log_level", 1, "DEBUG"),
    ("timezone: Europe/Berln", "timezone", 1, "did you mean 'Europe/Berlin'"),
    ("timezone: Mars/Olympus_Mons", "timezone", 1, "unknown IANA time zone"),
    ("timezone: 5", "timezone", 1, "expected a string, got number 5"),
    ("schedule: '0 2 * *'", "schedule", 1, "expected 5"),
    ("schedule: '61 2 * * *'", "schedule", 1, "invalid cron expression"),
    ("schedule: 'every night'", "schedule", 1, "expected 5"),
    ("schedule: '0 2 30 2 *'", "schedule", 1, "never fires"),
    ("schedule: '@reboot'", "schedule", 1, "unknown shortcut"),
    ("database: mysql://db/billing", "database", 1, "expected a database URL"),
    ("database: /var/lib/billingd/billingd.db", "database", 1, "sqlite:////"),
    ("database: 'sqlite://x.db'", "database", 1, "sqlite:/// and a path"),
    ("database: postgresql://db.example.com", "database", 1, "names no database"),
    ("database: postgresql://db:port/x", "database", 1, "bad port"),
    ("socket: ''", "socket", 1, "non-empty"),
    ("socket: /" + "s" * 120, "socket", 1, "at most 107"),
    ("data_dir: [a]", "data_dir", 1, "expected a string, got a list"),
    ("socket_mode: 660", "socket_mode", 1, "octal"),
    ("socket_mode: rw", "socket_mode", 1, "octal"),
    ("socket_group: 100", "socket_group", 1, "put it in quotes"),
    ("max_frame_bytes: 1.5", "max_frame_bytes", 1, "expected an integer, got number 1.5"),
    ("max_frame_bytes: '1024'", "max_frame_bytes", 1, "expected an integer, got '1024'"),
    ("max_connections: 0", "max_connections", 1, "at least 1"),
    ("catch_up_limit: true", "catch_up_limit", 1, "expected an integer, got boolean"),
    ("gateway_timeout: 0", "gateway_timeout", 1, "between 1 and 600"),
    ("gateway_timeout: 3600", "gateway_timeout", 1, "between 1 and 600"),
    ("clock: yes", "clock", 1, "got boolean true"),
    ("smtp: localhost", "smtp", 1, "expected a mapping"),
    ("smtp:\n  port: 70000", "smtp.port", 2, "between 1 and 65535"),
    ("smtp:\n  port:", "smtp.port", 2, "got nothing"),
    ("smtp:\n  starttls: 'yes'", "smtp.starttls", 2, "expected true or false"),
    ("smtp:\n  host: mail\n  from: billing", "smtp.from", 3, "email address"),
    ("smtp:\n  username: 1234", "smtp.username", 2, "put it in quotes"),
    ("smtp:\n  sender: a@b.c", "smtp.sender", 2, "did you mean 'from'"),
    ("access:\n  admin: root", "access.admin", 2, "expected a list"),
    ("access:\n  admin:\n    - root\n    - 0", "access.admin[1]", 4, "expected a string"),
    ("access:\n  viewer: ['@']", "access.viewer[0]", 2, "not a user or @group name"),
    ("access:\n  operators: []", "access.operators", 2, "did you mean 'operator'"),
    ("plugins: [pdf]", "plugins", 1, "expected a mapping"),
    ("plugins:\n  settings:\n    pdf: A4", "plugins.settings.pdf", 3, "expected a mapping"),
    ("plugins:\n  enabled: pdf", "plugins.enabled", 2, "expected a list"),
    ("plugins:\n  setting: {}", "plugins.setting", 2, "did you mean 'settings'"),
    ("timezone: UTC\ntimezone: UTC", "timezone", 2, "duplicate key 'timezone' (first on line 1)"),
    ("true: 1", "True", 1, "a key must be a name"),
]


@pytest.mark.parametrize(("text", "key", "line", "words"), ERRORS)
def test_config_error_names_key_and_line_for_every_check(
    text: str, key: str, line: int, words: str
) -> None:
    error = error_of(text)
    assert (error.key, error.line) == (key, line)
    assert words in error.message
    assert str(error).startswith(f"billingd.yaml:{line}: {key}: ")


def test_unknown_top_level_key_suggests_the_close_one() -> None:
    error = error_of("timezone: UTC\ndatabse: sqlite:////tmp/x.db\n")
    assert (error.key, error.line) == ("databse", 2)
    assert str(error) == "billingd.yaml:2: databse: unknown key (did you mean 'database'?)"


def test_unknown_key_without_a_close_one_is_still_named() -> None:
    error = error_of("colour: blue")
    assert str(error) == "billingd.yaml:1: colour: unknown key"


def test_six_field_cron_is_refused_as_seconds() -> None:
    error = error_of('\n\nschedule: "0 0 2 * * *"\n')
    assert (error.key, error.line) == ("schedule", 3)
    assert "sixth field would mean seconds" in error.message
    assert "use 5 fields" in error.message


@pytest.mark.parametrize(
    ("text", "line", "key"),
    [
        ("timezone: UTC\nschedule: * * * * *\n", 2, "schedule"),
        ("smtp:\n  host: x\n  port: [25,\n", 4, "smtp.port"),
        ("smtp:\n  host: a\n port: 25\n", 3, "smtp.port"),
        ("clock: system\nfoo bar\ninvoicing: auto\n", 2, None),
        ("a: 1\n--- \nb: 2\n", 2, None),
        ("timezone: !python/name:os.system UTC\n", 1, "timezone"),
    ],
)
def test_bad_yaml_is_a_config_error_with_line(text: str, line: int, key: str | None) -> None:
    error = error_of(text)
    assert error.line == line
    assert error.key == key
    assert "invalid YAML" in error.message
    assert str(error).startswith(f"billingd.yaml:{line}: ")


def test_cron_needing_quotes_says_so() -> None:
    assert "must be quoted" in error_of("schedule: * * * * *").message


def test_document_must_be_a_mapping() -> None:
    error = error_of("- database\n- socket\n")
    assert error.line == 1
    assert "must be a mapping" in str(error)


# --- paths ---------------------------------------------------------------------------------


def test_relative_paths_resolve_against_the_config_file(tmp_path: Path) -> None:
    etc = tmp_path / "etc"
    etc.mkdir()
    file = etc / "billingd.yaml"
    file.write_text("socket: run/billingd.sock\ndata_dir: ../data\ndatabase: sqlite:///db/b.db\n")
    config = load_config(file)
    assert config.socket == etc / "run" / "billingd.sock"
    assert config.data_dir == tmp_path / "data"
    assert config.database == f"sqlite:///{etc}/db/b.db"
    assert config.source == file


def test_absolute_and_home_paths(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    config = parse_config("socket: /run/x.sock\ndata_dir: ~/billing\n", str(tmp_path / "c.yaml"))
    assert config.socket == Path("/run/x.sock")
    assert config.data_dir == tmp_path / "billing"


def test_sqlite_memory_database_is_kept() -> None:
    assert parse_config("database: 'sqlite:///:memory:'").database == "sqlite:///:memory:"


# --- finding the file -------------------------------------------------------------------


def test_env_var_names_the_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    file = tmp_path / "from-env.yaml"
    file.write_text("timezone: Europe/Berlin\n")
    monkeypatch.setenv("BILLINGD_CONFIG", str(file))
    config = load_config()
    assert (config.timezone, config.source) == ("Europe/Berlin", file)


def test_explicit_path_beats_env_var(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "env.yaml").write_text("timezone: Europe/Berlin\n")
    (tmp_path / "arg.yaml").write_text("timezone: Asia/Tokyo\n")
    monkeypatch.setenv("BILLINGD_CONFIG", str(tmp_path / "env.yaml"))
    assert load_config(str(tmp_path / "arg.yaml")).timezone == "Asia/Tokyo"


def test_env_var_naming_a_missing_file_is_an_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("BILLINGD_CONFIG", str(tmp_path / "missing.yaml"))
    with pytest.raises(ConfigError, match="not found"):
        load_config()


def test_explicit_missing_path_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "missing.yaml"
    with pytest.raises(ConfigError) as info:
        load_config(missing)
    assert info.value.source == str(missing)
    assert str(info.value) == f"{missing}: config file not found"


def test_unreadable_config_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path)  # a directory
    binary = tmp_path / "latin1.yaml"
    binary.write_bytes(b"timezone: \xe9\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(binary)


def test_errors_in_a_file_name_the_file(tmp_path: Path) -> None:
    file = tmp_path / "billingd.yaml"
    file.write_text("timezone: UTC\nclock: fast\n")
    with pytest.raises(ConfigError) as info:
        load_config(file)
    assert str(info.value).startswith(f"{file}:2: clock: ")


def test_user_default_file_is_used_when_present(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    as_user(monkeypatch, tmp_path)
    assert load_config().source is None  # no file yet: defaults
    file = tmp_path / "config" / "billingd" / "billingd.yaml"
    file.parent.mkdir(parents=True)
    file.write_text("log_level: WARNING\n")
    config = load_config()
    assert (config.log_level, config.source) == ("WARNING", file)


def test_root_default_file_is_etc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert default_config_path() == SYSTEM_CONFIG == Path("/etc/billingd/billingd.yaml")
    if not SYSTEM_CONFIG.exists():
        assert load_config() == parse_config("")


# --- the example config ---------------------------------------------------------------------


def test_example_config_parses() -> None:
    config = load_config(EXAMPLE)
    assert config.source == EXAMPLE
    assert config.access.role_for("alice", ["billing"]) == "operator"


def test_example_config_covers_every_key() -> None:
    example = yaml.safe_load(EXAMPLE.read_text())
    skip = {"source", "lines"}
    assert set(example) == {f.name for f in dataclasses.fields(Config)} - skip
    smtp = {f.name for f in dataclasses.fields(SmtpConfig)} - {"sender"} | {"from"}
    assert set(example["smtp"]) == smtp
    assert set(example["access"]) == {f.name for f in dataclasses.fields(AccessConfig)}
    assert set(example["plugins"]) == {"settings", "enabled", "trace"}


def test_example_config_documents_each_key_with_a_comment() -> None:
    lines = EXAMPLE.read_text().splitlines()
    for number, line in enumerate(lines):
        if line and not line.startswith((" ", "#")):
            above = lines[number - 1]
            assert above.startswith("#"), f"line {number + 1}: {line!r} has no comment above"


# --- access roles ---------------------------------------------------------------------------


def test_access_root_is_admin_by_default() -> None:
    access = parse_config("").access
    assert access.role_for("root", []) == "admin"
    assert access.role_for("alice", ["billing"]) is None


def test_access_explicit_admin_list_can_exclude_root() -> None:
    access = parse_config("access: {admin: [alice]}").access
    assert access.role_for("root", ["root"]) is None
    assert access.role_for("alice", []) == "admin"


def test_access_groups_and_highest_role_wins() -> None:
    access = AccessConfig(
        admin=("@wheel",), operator=("@billing", "carol"), viewer=("bob", "carol")
    )
    assert access.role_for("dave", ["users", "wheel"]) == "admin"
    assert access.role_for("erin", ["billing"]) == "operator"
    assert access.role_for("carol", []) == "operator"  # operator beats viewer
    assert access.role_for("bob", ["billing"]) == "operator"  # the group's role is higher
    assert access.role_for("bob", []) == "viewer"
    assert access.role_for("wheel", []) is None  # a user name is not a group
    assert access.role_for("mallory", ["staff"]) is None


# --- to_dict and later errors ------------------------------------------------------------------


def test_to_dict_is_json_safe_and_hides_secrets() -> None:
    config = parse_config(
        """
database: postgresql://billing:s3cret@db/billingd
smtp: {username: u, password: hunter2}
plugins:
  settings:
    stripe: {api_key: sk_live_x, account: acct_1, since: 2024-01-01}
"""
    )
    data = config.to_dict()
    text = json.dumps(data)
    assert "hunter2" not in text and "s3cret" not in text and "sk_live_x" not in text
    assert "password" not in data["smtp"]
    assert data["database"] == "postgresql://billing:***@db/billingd"
    assert data["smtp"]["from"] == "billing@example.com"
    assert data["plugins"]["settings"]["stripe"] == {
        "api_key": "***",
        "account": "acct_1",
        "since": "2024-01-01",
    }
    assert data["socket_mode"] == "0660"
    assert parse_config(yaml.safe_dump({k: v for k, v in data.items() if k != "source"}))


def test_config_error_for_plugin_settings_has_the_line(tmp_path: Path) -> None:
    file = tmp_path / "billingd.yaml"
    file.write_text("plugins:\n  settings:\n    pdf:\n      paper: A3\n")
    config = load_config(file)
    error = config.error("plugins.settings.pdf.paper", "expected A4 or Letter")
    assert str(error) == f"{file}:4: plugins.settings.pdf.paper: expected A4 or Letter"


def test_yaml_nested_too_deeply_is_a_config_error() -> None:
    error = error_of("plugins: {settings: {x: " + "[" * 100_000 + "]" * 100_000 + "}}")
    assert str(error) == "billingd.yaml: lists and mappings nested too deeply"
