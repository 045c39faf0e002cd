"""Methods for usage records: imports (one call, or staged chunk by chunk), list, delete."""

from __future__ import annotations

from typing import Any

from billingd.control.params import (
    FILE_LINES,
    Bool,
    Date,
    Int,
    Lines,
    List,
    Param,
    PositiveInt,
    Str,
)
from billingd.control.registry import method
from billingd.errors import ValidationError
from billingd.services import staging, usage
from billingd.services.context import ServiceContext

RECORD = (
    "`{id, client_id, occurred_at, destination, destination_group, quantity, unit, amount, "
    "external_id, contract_id, invoice_id, reseller_invoice_id, imported_at}`"
)
IMPORTED = (
    "`{imported, duplicates}`: records stored, and records skipped because their client "
    "has their `external_id` already with the same content (in the store or earlier in the file)"
)
RECORDS = dict(
    records=List(
        required=True,
        help="objects with the columns of a usage file: client, occurred_at, destination, "
        "destination_group, quantity, unit, amount, external_id, contract",
    ),
    lines=Lines(help="the file line of each record, for error messages (default 1, 2, …)"),
)
IMPORT_ID = Str(required=True, help="what usage.import_begin returned")
SOURCE = Str(default="", help="the file name, for the audit trail")


def _text(name: str, value: Any) -> str:
    """A file's text, of any length: its rows are checked, not the text as a whole."""
    if not isinstance(value, str):
        raise ValidationError(f"{name} must be a string", field=name)
    return value


def _numbered(records: list[Any], lines: list[Any] | None) -> list[tuple[int, Any]]:
    """Pair each record with its file line; each must be an object."""
    if lines is not None and len(lines) != len(records):
        raise ValidationError("lines must have one entry per record", field="lines")
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            raise ValidationError(f"record {index + 1} must be an object", field="records")
    numbers = lines if lines is not None else range(1, len(records) + 1)
    return list(zip(numbers, records, strict=True))


def _imported(result: usage.ImportResult) -> dict[str, Any]:
    return {"imported": result.imported, "duplicates": result.duplicates}


@method("usage.import", writes=True, result=IMPORTED, **RECORDS, source=SOURCE)
def usage_import(
    ctx: ServiceContext, records: list[Any], source: str, lines: list[Any] | None = None
) -> dict[str, Any]:
    """Import usage records (one transaction; a bad record names its line, nothing written).

    At most 5,000 records per call. A file that needs several calls is imported all or
    nothing with `usage.import_begin`, `usage.import_rows` and `usage.import_commit`. An
    `external_id` is unique per client: a record its client has already with the same
    content is a duplicate (skipped); with other content it is a conflict that refuses the
    call, naming the line and the differing field. `contract`, when given, must be a
    contract of the record's client.
    """
    return _imported(usage.import_usage(ctx, _numbered(records, lines), source=source))


@method(
    "usage.import_begin",
    writes=True,
    result="`{import_id, max_records}`: the staged import's name, and the most records per "
    "`usage.import_rows` call",
    source=SOURCE,
)
def usage_import_begin(ctx: ServiceContext, source: str) -> dict[str, Any]:
    """Open a staged usage import: a file sent in chunks, stored all at once or not at all.

    Send the records with `usage.import_rows`, then store them with `usage.import_commit`.
    Staged records are invisible to billing. Only the user who began an import can
    continue it. A refused chunk or commit discards the import; one nobody touches for an
    hour (its client was killed) is discarded, never applied. The later calls answer
    1001 `not_found` for an import that is no longer open (committed, aborted, refused or
    discarded): send the file again.
    """
    return {"import_id": usage.begin_import(ctx, source=source), "max_records": usage.MAX_BATCH}


@method(
    "usage.import_rows",
    writes=True,
    result="`{staged}`: how many records the import holds so far",
    import_id=IMPORT_ID,
    records=List(help=RECORDS["records"].help + "; or send `csv`"),
    lines=RECORDS["lines"],
    csv=Param(
        _text,
        "string",
        help="instead of `records`: whole lines of a CSV usage file as its text (at most "
        f"{usage.MAX_TEXT_LINES}), under `header`; the quick way for large files",
    ),
    header=List(help="with `csv`: the file's column names, in order"),
    first_line=PositiveInt(
        default=2, help="with `csv`: the file line of its first line", bound=FILE_LINES
    ),
)
def usage_import_rows(
    ctx: ServiceContext,
    import_id: str,
    first_line: int,
    records: list[Any] | None = None,
    lines: list[Any] | None = None,
    csv: str | None = None,
    header: list[Any] | None = None,
) -> dict[str, Any]:
    """Validate, rate and stage a chunk of a staged usage import (nothing visible yet).

    The chunk is `records`, or `csv` text under `header`. A bad record refuses the
    chunk, naming every bad line and field of it (`data.errors`), and discards the whole
    import.
    """
    if (records is None) == (csv is None):
        raise ValidationError("send either records or csv (with header)", field="records")
    if csv is None:
        return {"staged": usage.stage_rows(ctx, import_id, _numbered(records or [], lines))}
    if not header or not all(isinstance(name, str) for name in header):
        raise ValidationError("csv needs header: the file's column names", field="header")
    return {"staged": usage.stage_text(ctx, import_id, header, csv, first_line)}


@method("usage.import_commit", writes=True, result=IMPORTED, import_id=IMPORT_ID)
def usage_import_commit(ctx: ServiceContext, import_id: str) -> dict[str, Any]:
    """Store every staged record of a usage import in one transaction.

    Duplicates and conflicts are decided here, over the whole file and the records stored:
    a conflict refuses the file (naming its lines) and discards the import.
    """
    return _imported(usage.commit_import(ctx, import_id))


@method(
    "usage.import_abort",
    writes=True,
    result="`{discarded}`: how many staged records were dropped (0: no such open import)",
    import_id=IMPORT_ID,
)
def usage_import_abort(ctx: ServiceContext, import_id: str) -> dict[str, Any]:
    """Discard a staged usage import; nothing of it is stored."""
    return {"discarded": staging.abort(ctx, import_id)}


@method(
    "usage.list",
    writes=False,
    result=f"list of {RECORD}, by `occurred_at`",
    client=Int(required=True),
    **{"from": Date(help="first day, in the enterprise's timezone")},
    to=Date(help="last day (the whole day is included)"),
    unbilled=Bool(help="only records on no invoice yet (neither the client's nor a reseller's)"),
    external_id=Str(),
    limit=PositiveInt(default=200, help=f"at most {usage.MAX_LIST}"),
)
def usage_list(
    ctx: ServiceContext,
    client: int,
    limit: int,
    unbilled: bool = False,
    external_id: str | None = None,
    **period: Any,
) -> list[dict[str, Any]]:
    """A client's usage records, with their ids (e.g. to find one to delete)."""
    records = usage.list_usage(
        client,
        start=period.get("from"),
        end=period.get("to"),
        unbilled=unbilled,
        external_id=external_id,
        limit=limit,
    )
    return [usage.usage_fields(r) for r in records]


@method("usage.delete", writes=True, result=f"the deleted record, {RECORD}", id=Int(required=True))
def usage_delete(ctx: ServiceContext, id: int) -> dict[str, Any]:
    """Delete a usage record that is on no invoice yet (audited as `usage.deleted`).

    A record on an invoice (the client's or its reseller's) is refused; voiding that
    invoice returns its records to unbilled.
    """
    return usage.usage_fields(usage.delete_usage(ctx, id))
