"""``billingctl client import FILE`` and ``contract import FILE``: CSV read on this side.

The header row uses the ``add`` commands' option names (``tax-id`` or ``tax_id``).
billingctl checks the header and the shape of every row, then sends the whole file
in one call: the daemon validates every row and writes all of them or none.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from billingd.control.client import ConnectionFailed, RemoteError
from billingd.ctl_commands import core
from billingd.ctl_commands.base import Arg, Command
from billingd.ctl_output import ProgressLine

MAX_ROWS = 20_000  # the daemon's limit too (billingd.services.imports.MAX_ROWS)
FRAME_TOO_LARGE = 1005
DEFAULT_MAX_FRAME = 1024 * 1024  # the daemon's default max_frame_bytes
IMPORT_TIMEOUT = 900.0  # seconds; 20,000 rows take about a minute on PostgreSQL
VALIDATION = -32602
PROGRESS_EVENT = "import.progress"


class ImportRefused(RemoteError):
    """Refused on this side, before anything was sent (exit code 1, like the daemon's)."""

    def __init__(self, message: str, line: int | None = None, field: str | None = None) -> None:
        data: dict[str, Any] = {"reason": "validation"}
        if line is not None:
            data["line"] = line
        if field is not None:
            data["field"] = field
        super().__init__({"code": VALIDATION, "message": message, "data": data})


def column_key(header: str) -> str:
    """``Tax_ID`` -> ``tax-id`` (the daemon normalises the same way)."""
    return header.strip().lower().replace("_", "-")


def _add_options(words: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The column names an import accepts: the options of the ``add`` command."""
    add = next(c for c in core.COMMANDS if c.words == words)
    options = [a for a in add.args if a.flag.startswith("--")]
    return (
        tuple(a.flag[2:] for a in options),
        tuple(a.flag[2:] for a in options if a.required),
    )


def _check_header(path: Path, header: list[str], words: tuple[str, ...]) -> None:
    allowed, required = _add_options(words)
    seen: dict[str, str] = {}
    for position, name in enumerate(header, start=1):
        key = column_key(name)
        if not key:
            raise ImportRefused(f"{path.name}: line 1: column {position} has no name", line=1)
        if key not in allowed:
            raise ImportRefused(
                f"{path.name}: line 1, {name}: unknown column (columns are: {', '.join(allowed)})",
                line=1,
                field=name,
            )
        if key in seen:
            raise ImportRefused(
                f"{path.name}: line 1, {name}: column given twice (as {seen[key]!r} too)",
                line=1,
                field=name,
            )
        seen[key] = name
    missing = [name for name in required if name not in seen]
    if missing:
        raise ImportRefused(
            f"{path.name}: line 1: missing column(s): {', '.join(missing)}",
            line=1,
            field=missing[0],
        )


def read_import_file(path: Path, words: tuple[str, ...]) -> tuple[list[dict[str, str]], list[int]]:
    """The rows of a CSV file keyed by its header, and the line each row starts on.

    Empty values are left out (the ``add`` default applies); blank lines are skipped.
    """
    rows: list[dict[str, str]] = []
    lines: list[int] = []
    try:
        with path.open(newline="", encoding="utf-8-sig") as stream:
            reader = csv.reader(stream)
            header = next(reader, None)
            if header is None:
                raise ImportRefused(f"{path.name} is empty: it needs a header row", line=1)
            _check_header(path, header, words)
            last = reader.line_num
            for values in reader:
                line, last = last + 1, reader.line_num
                if not any(v.strip() for v in values):
                    continue
                if len(values) != len(header):
                    raise ImportRefused(
                        f"{path.name}: line {line}: {len(values)} values, "
                        f"but the header has {len(header)} columns",
                        line=line,
                    )
                if len(rows) == MAX_ROWS:
                    raise ImportRefused(
                        f"{path.name} has more than {MAX_ROWS} rows; split it into smaller "
                        "files (each file is imported all or nothing)"
                    )
                rows.append({h: v for h, v in zip(header, values, strict=True) if v.strip()})
                lines.append(line)
    except UnicodeDecodeError:
        raise ImportRefused(f"{path.name} is not UTF-8 text") from None
    except csv.Error as exc:
        raise ImportRefused(f"{path.name}: line {reader.line_num}: {exc}") from None
    return rows, lines


def _importer(noun: str) -> Callable[[Any, dict[str, Any]], Any]:
    def run(client: Any, params: dict[str, Any]) -> Any:
        path = Path(params["file"])
        rows, lines = read_import_file(path, (noun, "add"))
        size = len(json.dumps({"rows": rows, "lines": lines}))
        if client.timeout is not None:  # one call writes the whole file: give it time
            client.timeout = max(client.timeout, IMPORT_TIMEOUT)
        me = client.call("status")["actor"]  # connection problems surface here, as usual
        progress = ProgressLine(f"importing {path.name}")
        if progress.enabled:
            client.call("subscribe", events=[PROGRESS_EVENT])

        def show(event: dict[str, Any]) -> None:  # this file's import by this user only
            payload = event.get("payload") or {}
            mine = (payload.get("source"), payload.get("actor")) == (path.name, me)
            if event.get("name") == PROGRESS_EVENT and mine:
                done, total = payload["done"], payload["total"]
                progress.show(done, total, f"{done}/{total} rows added")

        params = {"rows": rows, "lines": lines, "source": path.name}
        try:
            return client.request(f"{noun}.import", params, on_event=show)
        except RemoteError as exc:
            if exc.code == FRAME_TOO_LARGE:
                raise _too_large(path, size) from None
            if "line" in exc.data:
                raise RemoteError(
                    {**exc.to_error(), "message": f"{path.name}: {exc.message}"}
                ) from None
            raise
        except ConnectionFailed:
            if size > DEFAULT_MAX_FRAME:
                raise _too_large(path, size) from None
            raise
        finally:
            progress.end()

    return run


def _too_large(path: Path, size: int) -> ImportRefused:
    return ImportRefused(
        f"{path.name} is too large for one request ({size} bytes; the daemon's "
        "max_frame_bytes is 1 MiB by default): split the file, or raise max_frame_bytes "
        "in the daemon's config"
    )


def _import_command(noun: str) -> Command:
    columns, _ = _add_options((noun, "add"))
    return Command(
        (noun, "import"),
        f"{noun}.import",
        f"Import {noun}s from a CSV file: all rows or none.",
        (
            Arg(
                "FILE",
                "file",
                help=f"CSV with a header row of '{noun} add' option names: {', '.join(columns)}",
            ),
        ),
        run=_importer(noun),
    )


COMMANDS: tuple[Command, ...] = (_import_command("client"), _import_command("contract"))
