"""What billingd checks and sets about its files before it serves (SPEC §12).

* Every file the daemon (or ``billingd migrate``, ``backup``, …) creates is 0640 and
  every directory 0750, whatever the umask it was started with: :func:`private_files`
  sets the umask to 027. The SQLite database, its ``-wal`` and ``-shm`` files (SQLite
  gives them the database file's mode), the documents and the backups follow. An
  existing data directory or database file that others may read is tightened at
  start (:func:`tighten`), with a warning.
* The control socket's directory must not be writable by every user, and must
  belong to root or to the daemon's user: anyone who can write there can replace
  the socket and read what operators send (:func:`socket_dir_problem`). A directory
  the daemon creates for the socket is 0755 (the socket's own mode guards it).
* A config file that holds secrets (``smtp.password``, a database password, any
  plugin setting named like ``*password*``, ``*secret*``, ``*token*``, ``*key``…)
  must not be readable by every user, a key file such a setting names neither, and
  no config file may be writable by every user (anyone could make themselves
  admin): :func:`config_file_problems`. The daemon refuses to start on one, a
  reload keeps the running config, and ``billingd check-config`` reports it.
* Secret values never reach the logs: :class:`RedactSecrets` replaces them in every
  record (``check-config --json`` masks them; ``status`` holds none). What billingd
  stores of a failure it did not write itself (an outbox message's ``last_error``, a
  plugin's exception) goes through :func:`mask_secrets`, the same rule, so it reaches
  neither the database nor a peer either.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pwd
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from billingd.config import Config, is_secret_key, mask_url

log = logging.getLogger("billingd")

PRIVATE_UMASK = 0o027
"""Files 0640, directories 0750."""
SOCKET_DIR_MODE = 0o755
MASK = "***"


def private_files() -> None:
    """Make every file this process creates from now on 0640, every directory 0750."""
    os.umask(PRIVATE_UMASK)


def tighten(path: Path) -> None:
    """Take away every user's access to ``path`` (the daemon's own, when it exists),
    saying so: files made before billingd set its umask, by hand or by an older
    version."""
    try:
        info = path.lstat()
    except FileNotFoundError:
        return
    others = stat.S_IMODE(info.st_mode) & 0o007
    if not others or info.st_uid != os.geteuid() or stat.S_ISLNK(info.st_mode):
        return
    mode = stat.S_IMODE(info.st_mode) & ~0o007
    os.chmod(path, mode)
    log.warning("%s was open to every user: now %04o", path, mode)


def private_dir(path: Path) -> None:
    """Create ``path`` (0750) or tighten it."""
    path.mkdir(parents=True, exist_ok=True)
    tighten(path)


def private_sqlite(path: str) -> None:
    """Tighten an existing SQLite database and its ``-wal`` and ``-shm`` files before
    it is opened (SQLite makes new ``-wal`` and ``-shm`` files with the database's mode)."""
    if path and path != ":memory:":
        for suffix in ("", "-wal", "-shm"):
            tighten(Path(path + suffix))


def socket_dir_problem(socket_path: Path) -> str | None:
    """Why the socket's directory is unsafe to serve in, or None (also when it does not
    exist yet: the daemon creates it)."""
    directory = socket_path.parent
    try:
        info = directory.stat()
    except FileNotFoundError:
        return None
    mode = stat.S_IMODE(info.st_mode)
    if mode & stat.S_IWOTH:
        return (
            f"the socket's directory {directory} is writable by every user ({mode:04o}): "
            "anyone could replace the socket; use a directory of its own, e.g. "
            "/run/billingd (chmod o-w, or set 'socket:' elsewhere)"
        )
    return _foreign(directory, "the socket's directory", "replace the socket")


def _foreign(path: Path, what: str, could: str) -> str | None:
    """A problem when ``path`` exists and belongs to neither root nor the daemon's user."""
    try:
        owner = path.stat().st_uid
    except FileNotFoundError:
        return None
    if owner in (0, os.geteuid()):
        return None
    return (
        f"{what} {path} belongs to {_user(owner)}, not to root or {_user(os.geteuid())}: "
        f"its owner could {could}"
    )


def start_problems(config: Config) -> list[str]:
    """Why ``billingd serve`` must not start with ``config``: the config file, the
    socket's directory, a data directory or SQLite database another user owns (made
    in advance where the daemon would have made its own)."""
    problems = config_file_problems(config)
    problems.append(socket_dir_problem(config.socket) or "")
    could = "read and change every invoice"
    problems.append(_foreign(config.data_dir, "the data directory", could) or "")
    if config.database.startswith("sqlite:///") and config.database != "sqlite:///:memory:":
        database = Path(config.database.removeprefix("sqlite:///"))
        problems.append(_foreign(database.parent, "the database's directory", could) or "")
        problems.append(_foreign(database, "the database", could) or "")
    return [problem for problem in problems if problem]


def socket_dir(socket_path: Path) -> None:
    """Create the socket's directory, and those above it, when missing: 0755 (the
    socket's own mode guards it), so the socket's group reaches it."""
    missing = [d for d in (socket_path.parent, *socket_path.parent.parents) if not d.exists()]
    for directory in reversed(missing):
        directory.mkdir(exist_ok=True)
        os.chmod(directory, SOCKET_DIR_MODE)


def secrets(config: Config) -> dict[str, str]:
    """The config's secret values by dotted key (``smtp.password``,
    ``plugins.settings.webhook.endpoints[0].secret``, …): settings named like secrets,
    and the passwords of URLs (``https://user:pass@host``)."""
    found: dict[str, str] = {}
    if config.smtp.password:
        found["smtp.password"] = config.smtp.password
    password = urlsplit(config.database).password
    if password:
        found["database"] = password
    for key, name, value in _leaves(config.plugins.get("settings") or {}, "plugins.settings"):
        if value in (None, ""):
            continue
        if is_secret_key(name):
            found[key] = str(value)
        elif isinstance(value, str) and "://" in value and "@" in value:
            with contextlib.suppress(ValueError):
                if password := urlsplit(value).password:
                    found[key] = password
    return found


def _leaves(value: Any, key: str, name: str = "") -> Iterator[tuple[str, str, Any]]:
    """``(dotted key, name, value)`` of every value under ``value`` that is neither a
    mapping nor a list."""
    if isinstance(value, dict):
        for child_name, child in value.items():
            yield from _leaves(child, f"{key}.{child_name}", str(child_name))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _leaves(child, f"{key}[{index}]", name)
    else:
        yield key, name, value


def config_file_problems(config: Config) -> list[str]:
    """Why the config file (and the key files it names) may not be served from."""
    if config.source is None:
        return []
    source = config.source
    problem = _foreign(source, "the config file", "change who is admin")
    problems = [problem] if problem else []
    mode = stat.S_IMODE(source.stat().st_mode)
    if mode & stat.S_IWOTH:
        problems.append(
            f"{source} is writable by every user ({mode:04o}): anyone could change "
            f"who is admin; chmod o-w {source}"
        )
    found = secrets(config)
    if found and mode & stat.S_IROTH:
        problems.append(
            f"{source} holds secrets ({', '.join(found)}) and is readable by every user "
            f"({mode:04o}): chmod o-rwx {source} (and chgrp it to the daemon's group)"
        )
    for key, value in found.items():
        file = Path(value)
        if file.is_absolute() and file.is_file():
            file_mode = stat.S_IMODE(file.stat().st_mode)
            if file_mode & stat.S_IROTH:
                problems.append(
                    f"{key}: the file {file} is readable by every user ({file_mode:04o}): "
                    f"chmod o-rwx {file}"
                )
    return problems


class RedactSecrets(logging.Filter):
    """Replaces the config's secret values, and the password of any URL, in log
    records with ``***``."""

    def __init__(self, values: list[str]) -> None:
        super().__init__()
        self.values = values

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        cleaned = self._clean(message)
        exc_text = self._clean(record.exc_text) if record.exc_text else record.exc_text
        if cleaned != message or exc_text != record.exc_text:
            record.msg, record.args, record.exc_text = cleaned, None, exc_text
        return True

    def _clean(self, text: str) -> str:
        for value in self.values:
            text = text.replace(value, MASK)
        return mask_url(text)


_redaction = RedactSecrets([])


def redact_secrets(config: Config) -> None:
    """Keep ``config``'s secrets out of every log handler's output (again on a reload)."""
    # a reload keeps masking the secrets it replaced; the longest first, so a secret
    # that holds another is masked whole
    values = {value for value in secrets(config).values() if len(value) >= 4}
    _redaction.values = sorted(values.union(_redaction.values), key=len, reverse=True)
    for handler in logging.getLogger().handlers:
        if _redaction not in handler.filters:
            handler.addFilter(_redaction)


def mask_secrets(value: Any) -> Any:
    """``value`` without the config's secret values (since :func:`redact_secrets`) and
    without the password of any URL, each shown as ``***``: a text, or every text in
    a JSON-like value (mappings and lists walked, other values as they are)."""
    if isinstance(value, str):
        return _redaction._clean(value)
    if isinstance(value, dict):
        return {key: mask_secrets(item) for key, item in value.items()}
    if isinstance(value, list):
        return [mask_secrets(item) for item in value]
    return value


def _user(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"
