"""Methods for importing clients and contracts in bulk (SPEC §2, seed 004).

``client.import`` / ``contract.import`` take a file's rows in one call. A file of any
size is staged chunk by chunk instead: ``*.import_begin``, ``*.import_rows`` per
chunk, ``*.import_commit`` (or ``*.import_abort``), like usage files.
"""

from __future__ import annotations

from typing import Any

from billingd.control.params import Lines, List, Str
from billingd.control.registry import Handler, method
from billingd.errors import ValidationError
from billingd.services import imports, staging
from billingd.services.context import ServiceContext
from billingd.services.import_writers import Written

ROWS = List(required=True, help="objects keyed by the add command's option names")
LINES = Lines(help="the file line of each row, for error messages (default 2, 3, …)")
SOURCE = Str(default="", help="the file name, for the audit trail")
IMPORT_ID = Str(required=True, help="what the import_begin call returned")


def _numbered(rows: list[Any], lines: list[Any] | None) -> list[tuple[int, Any]]:
    """Pair each row with its file line (default: 2, 3, … after a header row)."""
    if lines is None:
        return list(enumerate(rows, start=2))
    if len(lines) != len(rows):
        raise ValidationError("lines must have one entry per row", field="lines")
    return list(zip(lines, rows, strict=True))


def _imported(written: Written) -> dict[str, Any]:
    return {"imported": len(written.ids), "ids": written.ids}


def _register(noun: str, origin: str) -> None:
    """The five import methods of ``noun`` (client or contract)."""
    imported = f"`{{imported, ids}}`: how many {noun}s were created and their ids, in file order"

    def one_call(
        ctx: ServiceContext, rows: list[Any], lines: list[Any] | None = None, source: str = ""
    ) -> dict[str, Any]:
        return _imported(imports.import_rows(ctx, noun, _numbered(rows, lines), source=source))

    def begin(ctx: ServiceContext, source: str = "") -> dict[str, Any]:
        return {"import_id": imports.begin(ctx, noun, source=source), "max_rows": imports.MAX_CHUNK}

    def rows(
        ctx: ServiceContext, import_id: str, rows: list[Any], lines: list[Any] | None = None
    ) -> dict[str, Any]:
        return {"staged": imports.stage(ctx, import_id, noun, _numbered(rows, lines))}

    def commit(ctx: ServiceContext, import_id: str) -> dict[str, Any]:
        return _imported(imports.commit(ctx, import_id, noun))

    def abort(ctx: ServiceContext, import_id: str) -> dict[str, Any]:
        return {"discarded": staging.abort(ctx, import_id)}

    def declare(name: str, handler: Handler, doc: str, result: str, **params: Any) -> None:
        handler.__doc__ = doc
        method(f"{noun}.{name}", writes=True, result=result, **params)(handler)

    declare(
        "import",
        one_call,
        f"Import {noun}s{origin} (one transaction; a bad row names its line, nothing "
        f"written).\n\nAt most {imports.MAX_ROWS} rows per call; a larger file is staged "
        f"with `{noun}.import_begin`.",
        imported,
        rows=ROWS,
        lines=LINES,
        source=SOURCE,
    )
    declare(
        "import_begin",
        begin,
        f"Open a staged {noun} import: a file sent in chunks, written all at once or not "
        f"at all.\n\nSend the rows with `{noun}.import_rows`, then write them with "
        f"`{noun}.import_commit`. Only the user who began an import can continue it; one "
        "nobody touches for an hour is discarded, never applied.",
        "`{import_id, max_rows}`: the staged import's name, and the most rows per "
        f"`{noun}.import_rows` call",
        source=SOURCE,
    )
    declare(
        "import_rows",
        rows,
        f"Check and stage a chunk of a staged {noun} import (nothing visible yet).\n\n"
        "A bad row refuses the chunk, naming every bad line and column of it "
        "(`data.errors`), and discards the whole import.",
        "`{staged}`: how many rows the import holds so far",
        import_id=IMPORT_ID,
        rows=ROWS,
        lines=LINES,
    )
    declare(
        "import_commit",
        commit,
        f"Write every staged row of a {noun} import in one transaction.\n\n"
        "Rows naming what does not exist refuse the file (naming their lines) and "
        "discard the import.",
        imported,
        import_id=IMPORT_ID,
    )
    declare(
        "import_abort",
        abort,
        f"Discard a staged {noun} import; nothing of it is written.",
        "`{discarded}`: how many staged rows were dropped (0: no such open import)",
        import_id=IMPORT_ID,
    )


_register("client", "")
_register("contract", ", origin imported by default")
