"""``billingctl client import FILE``, ``contract import FILE`` and the ``usage`` commands.

Client and contract files (any size): the header row uses the ``add`` commands'
option names (``tax-id`` or ``tax_id``). billingctl checks the header and the shape
of each row as it reads the file, and streams it to a staged import in chunks
(``client.import_begin`` / ``import_rows`` / ``import_commit``): the daemon checks
every row and writes all of them or none.

Usage files (CSV or JSON lines, any size): billingctl streams the file as it reads it
to a staged import in chunks, which the daemon checks (``usage.import_begin`` / ``import_rows`` /
``import_commit``); the daemon stores the whole file in one transaction at the commit,
or nothing — also when billingctl or the daemon is killed half-way.
``usage list`` and ``usage delete`` find and remove a record not invoiced yet.
"""

from __future__ import annotations

import contextlib
import csv
import itertools
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from billingd.control.client import RemoteError
from billingd.ctl_commands import core
from billingd.ctl_commands.base import Arg, Command, opt, req
from billingd.ctl_output import ProgressLine
from billingd.domain.csv_columns import column_key
from billingd.domain.usage_rows import COLUMNS as USAGE_FILE_COLUMNS
from billingd.domain.usage_rows import REQUIRED as USAGE_REQUIRED
from billingd.domain.usage_rows import RowError, read_rows

CHUNK_BYTES = 768 * 1024  # JSON per chunk sent: inside the daemon's 1 MiB frames
IMPORT_TIMEOUT = 900.0  # seconds for the commit of a large file
VALIDATION = -32602
PROGRESS_EVENT = "import.progress"
USAGE_CHUNK = 2000  # records per usage.import_rows call: well inside a 1 MiB frame
TEXT_CHUNK = 512 * 1024  # characters of a plain CSV file read per chunk sent as text
TEXT_FRAME_BYTES = 900 * 1024  # the most JSON of one chunk's text: inside a 1 MiB frame
TEXT_LINES = 20_000  # lines per chunk sent as text (the daemon takes up to 50,000)


class ImportRefused(RemoteError):
    """Refused on this side, before anything was sent (exit code 1, like the daemon's)."""

    def __init__(self, message: str, line: int | None = None, field: str | None = None) -> None:
        data: dict[str, Any] = {"reason": "validation"}
        if line is not None:
            data["line"] = line
        if field is not None:
            data["field"] = field
        super().__init__({"code": VALIDATION, "message": message, "data": data})


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


def not_utf8(path: Path) -> ImportRefused:
    """The refusal of a file that is not UTF-8 text, naming its first such line."""
    with path.open("rb") as stream:
        for line, raw in enumerate(stream, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                byte = raw[exc.start : exc.start + 1].hex()
                message = (
                    f"{path.name}: line {line}: not UTF-8 text (byte 0x{byte}); save it as UTF-8"
                )
                return ImportRefused(message, line=line)
    return ImportRefused(f"{path.name} is not UTF-8 text")


def read_import_file(path: Path, words: tuple[str, ...]) -> Iterator[tuple[int, dict[str, str]]]:
    """The rows of a CSV file keyed by its header, with the line each row starts on,
    read as they are needed (any size).

    Empty values are left out (the ``add`` default applies); blank lines are skipped.
    A malformed line raises ImportRefused when it is reached.
    """
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
                if len(values) != len(header):
                    if not any(v.strip() for v in values):
                        continue
                    raise ImportRefused(
                        f"{path.name}: line {line}: {len(values)} values, "
                        f"but the header has {len(header)} columns",
                        line=line,
                    )
                row = {h: v for h, v in zip(header, values, strict=True) if v and not v.isspace()}
                if row:
                    yield line, row
    except UnicodeDecodeError:
        raise not_utf8(path) from None
    except csv.Error as exc:
        raise ImportRefused(f"{path.name}: line {reader.line_num}: {exc}") from None


def _json_size(row: dict[str, str]) -> int:
    """About the bytes of a row in the JSON sent (past ASCII, ``\\uXXXX`` a character)."""
    text = "".join(row) + "".join(row.values())
    return (len(text) if text.isascii() else 6 * len(text)) + 6 * len(row) + 8


def _chunks(
    rows: Iterator[tuple[int, dict[str, str]]], max_rows: int
) -> Iterator[tuple[list[int], list[dict[str, str]]]]:
    """``(lines, rows)`` of at most ``max_rows`` rows and about ``CHUNK_BYTES`` of JSON."""
    lines: list[int] = []
    chunk: list[dict[str, str]] = []
    size = 0
    for line, row in rows:
        lines.append(line)
        chunk.append(row)
        size += _json_size(row)
        if len(chunk) >= max_rows or size >= CHUNK_BYTES:
            yield lines, chunk
            lines, chunk, size = [], [], 0
    if chunk:
        yield lines, chunk


def _estimated_rows(path: Path) -> int:
    """About how many rows a file has (its line breaks), for the progress bar."""
    with path.open("rb") as stream:
        return max(sum(block.count(b"\n") for block in iter(lambda: stream.read(1 << 20), b"")), 1)


def _importer(noun: str) -> Callable[[Any, dict[str, Any]], Any]:
    """Stream a CSV file to a staged import chunk by chunk, then commit it."""

    def run(client: Any, params: dict[str, Any]) -> Any:
        path = Path(params["file"])
        rows = read_import_file(path, (noun, "add"))
        first = next(rows, None)  # the header is checked before anything is sent
        if client.timeout is not None:  # the commit writes the whole file: give it time
            client.timeout = max(client.timeout, IMPORT_TIMEOUT)
        if first is None:
            return {"imported": 0, "ids": []}
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

        import_id = None
        try:
            begun = client.call(f"{noun}.import_begin", source=path.name)
            import_id = begun["import_id"]
            estimate, sent = _estimated_rows(path), 0
            for lines, chunk in _chunks(itertools.chain([first], rows), begun["max_rows"]):
                client.call(f"{noun}.import_rows", import_id=import_id, rows=chunk, lines=lines)
                sent += len(chunk)
                progress.show(sent, max(estimate, sent), f"{sent} rows sent")
            result = client.request(
                f"{noun}.import_commit", {"import_id": import_id}, on_event=show
            )
            import_id = None  # committed: nothing to abort
            return result
        except RemoteError as exc:
            if "line" in exc.data:
                raise RemoteError(
                    {**exc.to_error(), "message": f"{path.name}: {exc.message}"}
                ) from None
            raise
        finally:
            progress.end()
            if import_id is not None:  # refused or interrupted (Ctrl-C): drop the stage
                with contextlib.suppress(Exception):
                    client.call(f"{noun}.import_abort", import_id=import_id)

    return run


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


# -- usage ------------------------------------------------------------------------------


def _usage_format(path: Path, fmt: str | None) -> str:
    return fmt or ("jsonl" if path.suffix in (".jsonl", ".ndjson", ".json") else "csv")


def _usage_chunks(path: Path, fmt: str) -> Iterator[tuple[list[int], list[dict]]]:
    """The file's rows as sent: ``(lines, records)`` of at most ``USAGE_CHUNK`` rows."""
    lines: list[int] = []
    records: list[dict] = []
    with path.open(newline="", encoding="utf-8-sig") as stream:
        for line, raw in read_rows(stream, fmt):
            lines.append(line)
            records.append(raw)
            if len(records) == USAGE_CHUNK:
                yield lines, records
                lines, records = [], []
    if records:
        yield lines, records


def _plain_text(path: Path) -> bool:
    """Whether a CSV file can be sent as its text, cut at line breaks: no quoted cell
    (which may hold a line break), no line break other than ``\n`` or ``\r\n``."""
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            if b'"' in block or block.count(b"\r") != block.count(b"\r\n"):
                return False
    return True


def _fitted(first_line: int, text: str) -> Iterator[tuple[int, str, int]]:
    """``(first line, text, rows)`` pieces of whole lines of ``text``, each within a frame
    (its JSON, non-ASCII escaped, under ``TEXT_FRAME_BYTES``) and ``TEXT_LINES`` lines."""
    lines = text.count("\n")
    if lines > 1 and (lines > TEXT_LINES or len(json.dumps(text)) > TEXT_FRAME_BYTES):
        middle = text.rfind("\n", 0, len(text) // 2) + 1 or text.index("\n") + 1
        head, tail = text[:middle], text[middle:]
        yield from _fitted(first_line, head)
        yield from _fitted(first_line + head.count("\n"), tail)
        return
    yield first_line, text, lines


def _text_chunks(path: Path) -> Iterator[tuple[list[str], int, str, int]]:
    """A plain CSV file (:func:`_plain_text`) as sent: ``(header, first line, text,
    lines)``, whole lines of about ``TEXT_CHUNK`` characters, read as they are needed."""
    with path.open(newline="", encoding="utf-8-sig") as stream:
        header = next(csv.reader([stream.readline()]), [])
        missing = [c for c in USAGE_REQUIRED if c not in header]
        if missing:
            raise RowError(1, None, f"missing column(s): {', '.join(missing)}")
        line, rest = 2, ""
        for block in iter(lambda: stream.read(TEXT_CHUNK), ""):
            text = rest + block
            cut = text.rfind("\n") + 1
            text, rest = text[:cut], text[cut:]
            for first, piece, lines in _fitted(line, text):
                yield header, first, piece, lines
            line += text.count("\n")
        if rest:
            yield header, line, rest, 1


def _send_usage(client: Any, import_id: str, path: Path, fmt: str) -> Iterator[int]:
    """Send the file's chunks to the staged import; each chunk's rows, as it is sent."""
    if fmt == "csv" and _plain_text(path):
        for header, first, text, lines in _text_chunks(path):
            client.call(
                "usage.import_rows", import_id=import_id, csv=text, header=header, first_line=first
            )
            yield lines
        return
    for lines, records in _usage_chunks(path, fmt):
        client.call("usage.import_rows", import_id=import_id, records=records, lines=lines)
        yield len(records)


def import_usage(client: Any, params: dict[str, Any]) -> dict[str, Any]:
    """Stage the file chunk by chunk as it is read, then commit it: all rows or none.

    A plain CSV file goes as its text, cut at line breaks; others as records. The
    daemon checks each chunk; a bad row refuses the file and the stage is dropped.
    Prints ``{imported, duplicates, batches}`` (``batches``: the chunks sent); a terminal
    shows the records sent so far.
    """
    path = Path(params["file"])
    fmt = _usage_format(path, params.get("format"))
    progress = ProgressLine(f"importing {path.name}")
    import_id = None
    try:
        total = _estimated_rows(path) - (fmt == "csv")
        if client.timeout is not None:  # the commit stores the whole file: give it time
            client.timeout = max(client.timeout, IMPORT_TIMEOUT)
        import_id = client.call("usage.import_begin", source=path.name)["import_id"]
        sent = batches = 0
        for rows in _send_usage(client, import_id, path, fmt):
            sent, batches = sent + rows, batches + 1
            progress.show(sent, max(total, sent), f"{sent}/{max(total, sent)} records sent")
        result = client.call("usage.import_commit", import_id=import_id)
        import_id = None  # committed: nothing to abort
        return {
            "imported": result["imported"],
            "duplicates": result["duplicates"],
            "batches": batches,
        }
    except RowError as exc:
        raise ImportRefused(f"{path.name}: {exc}", exc.line, exc.field) from None
    except UnicodeDecodeError:
        raise not_utf8(path) from None
    except RemoteError as exc:
        if "line" in exc.data:
            raise RemoteError(
                {**exc.to_error(), "message": f"{path.name}: {exc.message}"}
            ) from None
        raise
    finally:
        progress.end()
        if import_id is not None:  # refused or interrupted (Ctrl-C): drop what was staged
            with contextlib.suppress(Exception):
                client.call("usage.import_abort", import_id=import_id)


USAGE_COLUMNS = (
    "id",
    "occurred_at",
    "destination_group",
    "amount",
    "external_id",
    "invoice_id",
)  # fits 80 columns; --json has every field
USAGE_COMMANDS: tuple[Command, ...] = (
    Command(
        ("usage", "import"),
        "usage.import",
        "Import usage records from CSV or JSON lines: all rows or none.",
        (
            Arg("FILE", "file", help=f"columns: {', '.join(USAGE_FILE_COLUMNS)}"),
            Arg("--format", "format", choices=("csv", "jsonl"), help="default: from the file name"),
        ),
        run=import_usage,
    ),
    Command(
        ("usage", "list"),
        "usage.list",
        "List a client's usage records with their ids.",
        (
            req("--client", "int"),
            Arg("--from", "from", help="first day YYYY-MM-DD"),
            opt("--to", help="last day YYYY-MM-DD (the whole day is included)"),
            opt("--unbilled", "flag", help="only records on no invoice yet"),
            opt("--external-id"),
            opt("--limit", "int", help="at most this many (default 200)"),
        ),
        columns=USAGE_COLUMNS,
    ),
    Command(
        ("usage", "delete"),
        "usage.delete",
        "Delete a usage record that is on no invoice yet (audited).",
        (Arg("ID", "id", "int"),),
    ),
)

COMMANDS: tuple[Command, ...] = (
    _import_command("client"),
    _import_command("contract"),
    *USAGE_COMMANDS,
)
