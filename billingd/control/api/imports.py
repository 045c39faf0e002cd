"""Methods for importing clients and contracts in bulk (SPEC §2, seed 004)."""

from __future__ import annotations

from typing import Any

from billingd.control.params import List, Str
from billingd.control.registry import method
from billingd.errors import ValidationError
from billingd.services import imports
from billingd.services.context import ServiceContext


def _numbered(rows: list[Any], lines: list[Any] | None) -> list[tuple[int, Any]]:
    """Pair each row with its file line (default: 2, 3, … after a header row)."""
    if len(rows) > imports.MAX_ROWS:
        raise ValidationError(
            f"at most {imports.MAX_ROWS} rows per import; split the file", field="rows"
        )
    if lines is None:
        return list(enumerate(rows, start=2))
    if len(lines) != len(rows):
        raise ValidationError("lines must have one entry per row", field="lines")
    if any(isinstance(n, bool) or not isinstance(n, int) for n in lines):
        raise ValidationError("lines must be integers", field="lines")
    return list(zip(lines, rows, strict=True))


IMPORT_PARAMS = dict(
    rows=List(required=True, help="objects keyed by the add command's option names"),
    lines=List(help="the file line of each row, for error messages"),
    source=Str(help="the file name, for the audit trail"),
)


@method(
    "client.import",
    writes=True,
    result="`{imported, ids}`: how many clients were created and their ids, in file order",
    **IMPORT_PARAMS,
)
def client_import(
    ctx: ServiceContext, rows: list[Any], lines: list[Any] | None = None, source: str = ""
) -> dict[str, Any]:
    """Import clients (one transaction; a bad row names its line, nothing written)."""
    created = imports.import_clients(ctx, _numbered(rows, lines), source=source)
    return {"imported": len(created), "ids": [c.id for c in created]}


@method(
    "contract.import",
    writes=True,
    result="`{imported, ids}`: how many contracts were created and their ids, in file order",
    **IMPORT_PARAMS,
)
def contract_import(
    ctx: ServiceContext, rows: list[Any], lines: list[Any] | None = None, source: str = ""
) -> dict[str, Any]:
    """Import contracts, origin imported by default (one transaction; all or nothing)."""
    created = imports.import_contracts(ctx, _numbered(rows, lines), source=source)
    return {"imported": len(created), "ids": [c.id for c in created]}
