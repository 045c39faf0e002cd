"""billingd's configuration: one YAML file, loaded and validated.

Every error names the file, the line and the dotted key, e.g.
``billingd.yaml:7: smtp.port: expected an integer, got 'abc'``. The daemon refuses
to start on a bad config and keeps its old one on a bad reload. Every key is
documented in ``config/billingd.yaml``.
"""

from __future__ import annotations

import base64
import difflib
import math
import os
import re
import warnings
import zoneinfo
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from email.utils import parseaddr
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import platformdirs
from croniter import CroniterBadDateError, CroniterError, croniter

from billingd import yamlmarks
from billingd.domain.charge_retries import schedule_problem
from billingd.yamlmarks import Entry

T = TypeVar("T")

ROLES = ("admin", "operator", "viewer")  # highest first
CLOCKS = ("system", "test")
INVOICING = ("auto", "manual")
ALLOCATION_POLICIES = ("oldest_first", "due_date", "target_only")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
CRON_SHORTCUTS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
SYSTEM_CONFIG = Path("/etc/billingd/billingd.yaml")
MAX_SOCKET_PATH = 107  # bytes in sockaddr_un.sun_path, less the terminating NUL

_TOP_KEYS = (
    *("database", "socket", "data_dir", "timezone", "clock", "schedule", "invoicing"),
    *("smtp", "access", "plugins", "socket_mode", "socket_group", "max_frame_bytes"),
    *("max_connections", "allocation_policy", "catch_up_limit", "log_level"),
    *("max_connections_per_user", "idle_timeout"),
    "document_workers",
    "payment_retries",
    "gateway_timeout",
)
_SMTP_KEYS = (
    *("host", "port", "starttls", "implicit_tls", "username", "password", "from"),
    *("ca_file", "timeout", "rate", "batch", "connections", "enabled"),
)
_HINTS = {"smtp.sender": "from", "smtp.tls": "starttls", "smtp.user": "username"}
_SECRET = re.compile(r"pass|secret|token|credential|private|(?:^|_)keys?$", re.IGNORECASE)


def is_secret_key(name: str) -> bool:
    """Whether a setting named ``name`` (its last part: ``password``, ``shared_secret``,
    ``private_key``…) holds a secret, which is masked wherever settings are shown."""
    return bool(_SECRET.search(name.rpartition(".")[2]))


class ConfigError(Exception):
    """A configuration billingd cannot use; names the source, line and dotted key where known."""

    def __init__(
        self,
        message: str,
        *,
        key: str | None = None,
        line: int | None = None,
        source: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.key = key
        self.line = line
        self.source = source

    def __str__(self) -> str:
        where = self.source or ""
        if self.line is not None:
            where = f"{where}:{self.line}" if where else f"line {self.line}"
        return ": ".join(part for part in (where, self.key, self.message) if part)


@dataclass(frozen=True)
class SmtpConfig:
    """Outgoing mail server; ``sender`` is the YAML key ``from``."""

    host: str = "localhost"
    port: int = 25
    starttls: bool = False
    username: str | None = None
    password: str | None = None
    sender: str = "billing@example.com"
    implicit_tls: bool = False
    """TLS from the first byte (SMTPS, usually port 465) instead of STARTTLS."""
    ca_file: Path | None = None
    """Certificates to trust besides the system's (a private mail relay)."""
    timeout: int = 30
    """Seconds for connecting and for each SMTP command."""
    rate: int = 0
    """Messages per second at most; 0: as fast as the server accepts them."""
    batch: int = 100
    """Messages claimed and sent per round before the connections are renewed."""
    connections: int = 4
    """Connections a round sends over side by side."""
    enabled: bool = True
    """False keeps every email queued (a test system that must not mail clients)."""


@dataclass(frozen=True)
class AccessConfig:
    """Who may do what on the control socket: user names, or ``@group`` names."""

    admin: tuple[str, ...] = ("root",)
    operator: tuple[str, ...] = ()
    viewer: tuple[str, ...] = ()

    def role_for(self, user: str, groups: Iterable[str]) -> str | None:
        """The highest role listing ``user`` or one of its ``groups`` (as ``@group``), or None."""
        names = {user, *(f"@{group}" for group in groups)}
        for role in ROLES:
            if names.intersection(getattr(self, role)):
                return role
        return None


@dataclass(frozen=True)
class Config:
    """The validated configuration; see ``config/billingd.yaml`` for each key."""

    database: str
    socket: Path
    data_dir: Path
    timezone: str = "UTC"
    clock: str = "system"
    schedule: str = "0 2 * * *"
    invoicing: str = "auto"
    smtp: SmtpConfig = field(default_factory=SmtpConfig)
    access: AccessConfig = field(default_factory=AccessConfig)
    plugins: dict[str, Any] = field(default_factory=lambda: {"settings": {}, "enabled": None})
    socket_mode: int = 0o660
    socket_group: str | None = None
    max_frame_bytes: int = 1048576
    max_connections: int = 64
    max_connections_per_user: int = 16
    """Connections one Unix user may hold at once (admins included)."""
    idle_timeout: int = 600
    """Seconds a connection without an event subscription may wait between requests; 0:
    no limit."""
    allocation_policy: str = "oldest_first"
    catch_up_limit: int = 24
    log_level: str = "INFO"
    document_workers: int | None = None
    """Renderer processes of the document queue; None: one per core."""
    payment_retries: tuple[int, ...] = (1, 3, 7)
    """Days after a failed self-checkout charge on which it is tried again (R-RUN-7)."""
    gateway_timeout: int = 30
    """Seconds a payment gateway may take to answer a charge or refund; one that has
    not answered by then is asked again later with the same idempotency key."""
    source: Path | None = None
    lines: Mapping[str, int] = field(default_factory=dict, repr=False, compare=False)
    """Dotted key → line in ``source``, for errors found later (e.g. in plugin settings)."""

    def error(self, key: str, message: str) -> ConfigError:
        """A ConfigError about ``key`` (e.g. ``plugins.settings.pdf.font``), located by line."""
        source = str(self.source) if self.source else None
        return ConfigError(message, key=key, line=self.lines.get(key), source=source)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe view under the YAML key names; passwords and secret-looking settings masked."""
        smtp = self.smtp
        return {
            "database": mask_url(self.database),
            "socket": str(self.socket),
            "data_dir": str(self.data_dir),
            "timezone": self.timezone,
            "clock": self.clock,
            "schedule": self.schedule,
            "invoicing": self.invoicing,
            "smtp": {
                "host": smtp.host,
                "port": smtp.port,
                "starttls": smtp.starttls,
                "implicit_tls": smtp.implicit_tls,
                "username": smtp.username,
                "from": smtp.sender,
                "ca_file": str(smtp.ca_file) if smtp.ca_file else None,
                "timeout": smtp.timeout,
                "rate": smtp.rate,
                "batch": smtp.batch,
                "connections": smtp.connections,
                "enabled": smtp.enabled,
            },
            "access": {role: list(getattr(self.access, role)) for role in ROLES},
            "plugins": _json_safe(self.plugins),
            "socket_mode": f"{self.socket_mode:04o}",
            "socket_group": self.socket_group,
            "max_frame_bytes": self.max_frame_bytes,
            "max_connections": self.max_connections,
            "max_connections_per_user": self.max_connections_per_user,
            "idle_timeout": self.idle_timeout,
            "allocation_policy": self.allocation_policy,
            "catch_up_limit": self.catch_up_limit,
            "log_level": self.log_level,
            "document_workers": self.document_workers,
            "payment_retries": list(self.payment_retries),
            "gateway_timeout": self.gateway_timeout,
            "source": str(self.source) if self.source else None,
        }


def _is_root() -> bool:
    return os.geteuid() == 0


def _service_dir(variable: str) -> Path | None:
    """The ``billingd`` directory systemd made for the service (``$RUNTIME_DIRECTORY`` etc.)."""
    for entry in os.environ.get(variable, "").split(":"):
        if entry and Path(entry).name == "billingd":
            return Path(entry)
    return None


def default_config_path() -> Path:
    """Under systemd ``$CONFIGURATION_DIRECTORY/billingd.yaml``; for root
    ``/etc/billingd/billingd.yaml``; else ``billingd/billingd.yaml`` in the user config dir."""
    if service := _service_dir("CONFIGURATION_DIRECTORY"):
        return service / "billingd.yaml"
    if _is_root():
        return SYSTEM_CONFIG
    return Path(platformdirs.user_config_dir("billingd", appauthor=False)) / "billingd.yaml"


def default_data_dir() -> Path:
    """``$STATE_DIRECTORY`` under systemd, ``/var/lib/billingd`` for root, else the user's."""
    if service := _service_dir("STATE_DIRECTORY"):
        return service
    if _is_root():
        return Path("/var/lib/billingd")
    return Path(platformdirs.user_data_dir("billingd", appauthor=False))


def default_socket_path() -> Path:
    """``billingd.sock`` in ``$RUNTIME_DIRECTORY`` under systemd, ``/run/billingd`` for root,
    else the user runtime dir (``$XDG_RUNTIME_DIR/billingd``)."""
    if service := _service_dir("RUNTIME_DIRECTORY"):
        return service / "billingd.sock"
    if _is_root():
        return Path("/run/billingd/billingd.sock")
    with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset
        warnings.simplefilter("ignore")
        try:
            runtime = platformdirs.user_runtime_dir("billingd", appauthor=False)
        except OSError:
            runtime = f"/run/user/{os.getuid()}/billingd"
    return Path(runtime) / "billingd.sock"


def load_config(path: Path | str | None = None) -> Config:
    """Load the config from ``path``, else ``$BILLINGD_CONFIG``, else the default location.

    A named file (argument or variable) must exist; a missing default file means
    the built-in defaults.
    """
    named = path if path is not None else os.environ.get("BILLINGD_CONFIG") or None
    file = Path(named).expanduser() if named is not None else default_config_path()
    if named is None and not file.exists():
        return parse_config("")
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("config file not found", source=str(file)) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text: {exc.reason}", source=str(file)) from None
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", source=str(file)) from None
    return parse_config(text, source=str(file))


def parse_config(text: str, source: str = "<string>") -> Config:
    """Validate the YAML ``text`` read from ``source``; raises :class:`ConfigError`.

    Relative paths resolve against ``source``'s directory, or the working directory
    when ``source`` is a ``<name>``.
    """
    named = not source.startswith("<")
    origin = Path(os.path.abspath(source)) if named else None
    v = _Validator(source, origin.parent if origin else Path.cwd())
    try:
        root = yamlmarks.load(text)
    except yamlmarks.YamlError as exc:
        key = yamlmarks.dotted(exc.path) or None
        raise ConfigError(exc.message, key=key, line=exc.line, source=source) from None
    top = v.mapping(root, "", _TOP_KEYS)

    def take(name: str, check: Callable[[Entry, str], T], default: T) -> T:
        return v.take(top, name, check, default)

    data_dir = v.path(top["data_dir"], "data_dir") if "data_dir" in top else default_data_dir()
    socket = v.socket(top["socket"], "socket") if "socket" in top else default_socket_path()
    return Config(
        database=take("database", v.database, f"sqlite:///{data_dir / 'billingd.db'}"),
        socket=socket,
        data_dir=data_dir,
        timezone=take("timezone", v.timezone, Config.timezone),
        clock=take("clock", v.choice(CLOCKS), Config.clock),
        schedule=take("schedule", v.schedule, Config.schedule),
        invoicing=take("invoicing", v.choice(INVOICING), Config.invoicing),
        smtp=_smtp(v, top.get("smtp")),
        access=_access(v, top.get("access")),
        plugins=_plugins(v, top.get("plugins")),
        socket_mode=take("socket_mode", v.mode, Config.socket_mode),
        socket_group=take("socket_group", v.optional_string, None),
        max_frame_bytes=take("max_frame_bytes", v.integer(1), Config.max_frame_bytes),
        max_connections=take("max_connections", v.integer(1), Config.max_connections),
        max_connections_per_user=take(
            "max_connections_per_user", v.integer(1), Config.max_connections_per_user
        ),
        idle_timeout=take("idle_timeout", v.integer(0, 604800), Config.idle_timeout),
        allocation_policy=take(
            "allocation_policy", v.choice(ALLOCATION_POLICIES), Config.allocation_policy
        ),
        catch_up_limit=take("catch_up_limit", v.integer(1), Config.catch_up_limit),
        payment_retries=take("payment_retries", v.retry_days, Config.payment_retries),
        gateway_timeout=take("gateway_timeout", v.integer(1, 600), Config.gateway_timeout),
        log_level=take("log_level", v.choice(LOG_LEVELS, fold=str.upper), Config.log_level),
        document_workers=take("document_workers", v.nullable(v.integer(1, 256)), None),
        source=origin,
        lines=root.lines() if root else {},
    )


def _smtp(v: _Validator, entry: Entry | None) -> SmtpConfig:
    found, d = v.mapping(entry, "smtp", _SMTP_KEYS), SmtpConfig()
    return SmtpConfig(
        host=v.take(found, "host", v.string, d.host, "smtp."),
        port=v.take(found, "port", v.integer(1, 65535), d.port, "smtp."),
        starttls=v.take(found, "starttls", v.boolean, d.starttls, "smtp."),
        username=v.take(found, "username", v.optional_string, d.username, "smtp."),
        password=v.take(found, "password", v.optional_string, d.password, "smtp."),
        sender=v.take(found, "from", v.address, d.sender, "smtp."),
        implicit_tls=v.take(found, "implicit_tls", v.boolean, d.implicit_tls, "smtp."),
        ca_file=v.take(found, "ca_file", v.nullable(v.path), d.ca_file, "smtp."),
        timeout=v.take(found, "timeout", v.integer(1, 3600), d.timeout, "smtp."),
        rate=v.take(found, "rate", v.integer(0, 100000), d.rate, "smtp."),
        batch=v.take(found, "batch", v.integer(1, 100000), d.batch, "smtp."),
        connections=v.take(found, "connections", v.integer(1, 64), d.connections, "smtp."),
        enabled=v.take(found, "enabled", v.boolean, d.enabled, "smtp."),
    )


def _access(v: _Validator, entry: Entry | None) -> AccessConfig:
    found, d = v.mapping(entry, "access", ROLES), AccessConfig()
    roles = {role: v.take(found, role, v.names, getattr(d, role), "access.") for role in ROLES}
    return AccessConfig(**roles)


def _plugins(v: _Validator, entry: Entry | None) -> dict[str, Any]:
    found = v.mapping(entry, "plugins", ("settings", "enabled", "trace"))
    settings: dict[str, dict[str, Any]] = {}
    for name, item in v.mapping(found.get("settings"), "plugins.settings", None).items():
        v.mapping(item, f"plugins.settings.{name}", None)  # a mapping with named keys, or null
        settings[name] = dict(item.value or {})
    enabled = v.take(found, "enabled", v.optional_names, None, "plugins.")
    plugins: dict[str, Any] = {"settings": settings, "enabled": enabled}
    if "trace" in found:  # log every plugin hook call (billingd.plugins.configured)
        plugins["trace"] = v.take(found, "trace", v.boolean, False, "plugins.")
    return plugins


class _Validator:
    """Type and value checks; each check takes ``(entry, dotted_key)`` and returns the value."""

    def __init__(self, source: str, base: Path) -> None:
        self.source = source
        self.base = base

    def fail(self, entry: Entry | None, key: str, message: str) -> ConfigError:
        line = entry.line if entry is not None else None
        return ConfigError(message, key=key or None, line=line, source=self.source)

    def take(
        self,
        found: Mapping[str, Entry],
        name: str,
        check: Callable[[Entry, str], T],
        default: T,
        prefix: str = "",
    ) -> T:
        return check(found[name], prefix + name) if name in found else default

    def mapping(
        self, entry: Entry | None, key: str, known: Iterable[str] | None
    ) -> dict[str, Entry]:
        """The entries of a mapping (empty for a missing or null one); unknown keys refused."""
        if entry is None or entry.value is None:
            return {}
        if not entry.is_mapping:
            got = _describe(entry.value)
            what = "expected a mapping" if key else "the document must be a mapping of settings"
            raise self.fail(entry, key, f"{what}, got {got}")
        known = tuple(known) if known is not None else None
        found: dict[str, Entry] = {}
        for name, child in entry.children:
            child_key = f"{key}.{name}" if key else str(name)
            if not isinstance(name, str):
                raise self.fail(child, child_key, f"a key must be a name, got {_describe(name)}")
            if known is not None and name not in known:
                close = [_HINTS[child_key]] if child_key in _HINTS else []
                close = close or difflib.get_close_matches(name, known, 1)
                message = "unknown key" + (f" (did you mean {close[0]!r}?)" if close else "")
                raise self.fail(child, child_key, message)
            found[name] = child
        return found

    def string(self, entry: Entry, key: str) -> str:
        value = entry.value
        if not isinstance(value, str):
            quote = "; put it in quotes" if not isinstance(value, (dict, list, type(None))) else ""
            got = (
                "a number or boolean (a secret: not shown)"
                if quote and is_secret_key(key)
                else _describe(value)
            )
            raise self.fail(entry, key, f"expected a string, got {got}{quote}")
        if not value.strip():
            raise self.fail(entry, key, "expected a non-empty string")
        return value.strip()

    def optional_string(self, entry: Entry, key: str) -> str | None:
        return None if entry.value is None else self.string(entry, key)

    def boolean(self, entry: Entry, key: str) -> bool:
        if not isinstance(entry.value, bool):
            raise self.fail(entry, key, f"expected true or false, got {_describe(entry.value)}")
        return entry.value

    def nullable(self, check: Callable[[Entry, str], T]) -> Callable[[Entry, str], T | None]:
        """``check``, or None for a null value (the default)."""

        def checked(entry: Entry, key: str) -> T | None:
            return None if entry.value is None else check(entry, key)

        return checked

    def integer(self, low: int, high: int | None = None) -> Callable[[Entry, str], int]:
        def check(entry: Entry, key: str) -> int:
            value = entry.value
            if isinstance(value, bool) or not isinstance(value, int):
                raise self.fail(entry, key, f"expected an integer, got {_describe(value)}")
            if value < low or (high is not None and value > high):
                bounds = f"at least {low}" if high is None else f"between {low} and {high}"
                raise self.fail(entry, key, f"must be {bounds}, got {value}")
            return value

        return check

    def choice(
        self, choices: tuple[str, ...], fold: Callable[[str], str] = str.lower
    ) -> Callable[[Entry, str], str]:
        def check(entry: Entry, key: str) -> str:
            value = fold(self.string(entry, key))
            if value not in choices:
                close = difflib.get_close_matches(value, choices, 1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise self.fail(
                    entry, key, f"expected one of {', '.join(choices)}, got {entry.value!r}{hint}"
                )
            return value

        return check

    def names(self, entry: Entry, key: str) -> tuple[str, ...]:
        """A list of user names and ``@group`` names; null is the empty list."""
        if entry.value is None:
            return ()
        if not entry.is_sequence:
            got = _describe(entry.value)
            raise self.fail(
                entry, key, f"expected a list of names, e.g. [root, '@billing'], got {got}"
            )
        names = []
        for index, item in entry.children:
            name = self.string(item, f"{key}[{index}]")
            if name == "@" or any(c.isspace() for c in name):
                raise self.fail(item, f"{key}[{index}]", f"not a user or @group name: {name!r}")
            names.append(name)
        return tuple(names)

    def optional_names(self, entry: Entry, key: str) -> list[str] | None:
        return None if entry.value is None else list(self.names(entry, key))

    def retry_days(self, entry: Entry, key: str) -> tuple[int, ...]:
        """Increasing whole days (1-365) after a failure, e.g. [1, 3, 7]; null or [] none."""
        if entry.value is None:
            return ()
        if not entry.is_sequence:
            got = _describe(entry.value)
            raise self.fail(entry, key, f"expected a list of days, e.g. [1, 3, 7], got {got}")
        days = tuple(item.value for _, item in entry.children)
        problem = schedule_problem(days)
        if problem:
            raise self.fail(entry, key, problem)
        return days  # type: ignore[return-value]

    def path(self, entry: Entry, key: str) -> Path:
        """An absolute path; a relative one is taken from the config file's directory."""
        return Path(os.path.normpath(self.base / Path(self.string(entry, key)).expanduser()))

    def socket(self, entry: Entry, key: str) -> Path:
        path = self.path(entry, key)
        if len(os.fsencode(path)) > MAX_SOCKET_PATH:
            size = len(os.fsencode(path))
            message = f"{path} is {size} bytes long; a Unix socket path can have at most 107"
            raise self.fail(entry, key, message)
        return path

    def mode(self, entry: Entry, key: str) -> int:
        value = entry.value
        if isinstance(value, str) and re.fullmatch(r"(0o?)?[0-7]{3,4}", value.strip()):
            value = int(value.strip().removeprefix("0o"), 8)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 0o777:
            got = _describe(entry.value)
            raise self.fail(entry, key, f"expected an octal file mode such as 0660, got {got}")
        return value

    def address(self, entry: Entry, key: str) -> str:
        value = self.string(entry, key)
        if "@" not in parseaddr(value)[1]:
            raise self.fail(entry, key, f"expected an email address, got {value!r}")
        return value

    def timezone(self, entry: Entry, key: str) -> str:
        name = self.string(entry, key)
        try:
            zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            close = difflib.get_close_matches(name, zoneinfo.available_timezones(), 1)
            hint = f"did you mean {close[0]!r}?" if close else "e.g. Europe/Berlin or UTC"
            raise self.fail(entry, key, f"unknown IANA time zone {name!r} ({hint})") from None
        return name

    def schedule(self, entry: Entry, key: str) -> str:
        """A five-field cron expression (or a shortcut such as ``@daily``) that fires."""
        expr = " ".join(self.string(entry, key).split())
        fields = expr.split(" ")
        if expr.startswith("@"):
            if expr.lower() not in CRON_SHORTCUTS:
                shortcuts = ", ".join(CRON_SHORTCUTS)
                raise self.fail(entry, key, f"unknown shortcut {expr!r} (expected {shortcuts})")
            expr = expr.lower()
        elif len(fields) == 6:
            raise self.fail(
                entry,
                key,
                f"{expr!r} has 6 fields; a sixth field would mean seconds, which billingd "
                "does not schedule: use 5 fields (minute hour day-of-month month day-of-week)",
            )
        elif len(fields) != 5:
            raise self.fail(
                entry,
                key,
                f"{expr!r} has {len(fields)} field(s); expected 5 "
                "(minute hour day-of-month month day-of-week), e.g. '0 2 * * *'",
            )
        try:
            croniter(expr, datetime(2000, 1, 1)).get_next(datetime)
        except CroniterBadDateError:
            raise self.fail(entry, key, f"{expr!r} never fires") from None
        except (CroniterError, ValueError, KeyError) as exc:
            raise self.fail(entry, key, f"invalid cron expression {expr!r}: {exc}") from None
        return expr

    def database(self, entry: Entry, key: str) -> str:
        """A ``sqlite:///PATH`` URL (made absolute) or a ``postgresql://`` URL."""
        url = self.string(entry, key)
        scheme = url.partition("://")[0].lower() if "://" in url else ""
        example = "sqlite:////var/lib/billingd/billingd.db or postgresql://user@host:5432/billingd"
        if scheme == "sqlite":
            file = url[len("sqlite:///") :] if url[6:].startswith(":///") else ""
            if not file:
                raise self.fail(
                    entry, key, f"a SQLite URL is sqlite:/// and a path, e.g. {example}"
                )
            if file == ":memory:":
                return "sqlite:///:memory:"
            return "sqlite:///" + str(Path(os.path.normpath(self.base / Path(file).expanduser())))
        if scheme in ("postgresql", "postgres"):
            parts = urlsplit(url)
            try:
                parts.port  # noqa: B018 - raises ValueError on a bad port
            except ValueError:
                raise self.fail(entry, key, f"bad port in {mask_url(url)}") from None
            if not parts.path.strip("/"):
                raise self.fail(entry, key, f"{mask_url(url)} names no database, e.g. {example}")
            return url
        raise self.fail(entry, key, f"expected a database URL such as {example}")


def _describe(value: Any) -> str:
    """How a wrong value reads in an error message."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()} (yes/no/on/off/true/false are booleans in YAML)"
    if isinstance(value, (int, float)):
        return f"number {value!r}"
    if isinstance(value, (date, datetime)):
        return f"date {value.isoformat()}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)


_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)([^\s/?#]*)@")
_PASSWORD_PARAMETER = re.compile(r"(?i)([?&;]password=)[^&#\s]*")


def _masked_userinfo(match: re.Match[str]) -> str:
    user, colon, _ = match[2].partition(":")
    return f"{match[1]}{user}{colon and ':***'}@"


def mask_url(text: str) -> str:
    """``text`` with the password of every URL in it replaced by ``***``: the one in
    the user part (``scheme://user:password@host``, up to the host's ``@``) and a
    ``password=`` parameter. The rest of the text is left as it is."""
    if "://" not in text and "password=" not in text.lower():
        return text
    return _PASSWORD_PARAMETER.sub(r"\1***", _URL_USERINFO.sub(_masked_userinfo, text))


def _json_safe(value: Any, key: str = "") -> Any:
    """Plain JSON values; settings whose names look secret are masked."""
    if key and is_secret_key(key) and value is not None:
        return "***"
    if isinstance(value, dict):
        return {str(k): _json_safe(v, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_json_safe(v) for v in value]
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value
