"""Usage records: import, rating and lookup (SPEC §2)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from billingd.db.connection import write_transaction
from billingd.db.models import Client, UsageRecord
from billingd.domain.usage_rows import RowError, validate_row
from billingd.errors import ValidationError
from billingd.services.audit import record_audit
from billingd.services.context import ServiceContext

MAX_BATCH = 5000


@dataclass
class ImportResult:
    imported: int = 0
    duplicates: int = 0
    client_ids: set[int] = field(default_factory=set)


def import_usage(ctx: ServiceContext, rows: Iterable[tuple[int, dict[str, Any]]]) -> ImportResult:
    """Validate every row, then write them all in one transaction; any bad row writes nothing.

    A record whose ``external_id`` exists already is skipped (importing twice is a no-op).
    Unrated rows are priced by the ``rate_usage`` plugin hook.
    """
    try:
        checked = [validate_row(line, raw) for line, raw in rows]
    except RowError as exc:
        raise ValidationError(str(exc), line=exc.line, field=exc.field) from None
    if len(checked) > MAX_BATCH:
        raise ValidationError(f"at most {MAX_BATCH} records per call; send batches")
    result = ImportResult()
    with write_transaction():
        clients = {
            c.id: c for c in Client.select().where(Client.id.in_({r.client_id for r in checked}))
        }
        seen: set[str] = set()
        wanted_ids = [r.external_id for r in checked if r.external_id]
        existing = (
            {
                u.external_id
                for u in UsageRecord.select(UsageRecord.external_id).where(
                    UsageRecord.external_id.in_(wanted_ids)
                )
            }
            if wanted_ids
            else set()
        )
        for row in checked:
            if row.client_id not in clients:
                raise ValidationError(
                    f"line {row.line}, client: no client with id {row.client_id}",
                    line=row.line,
                    field="client",
                )
            if row.external_id and (row.external_id in existing or row.external_id in seen):
                result.duplicates += 1
                continue
            amount = row.amount
            if amount is None:
                amount = ctx.plugins.rate_usage(_row_dict(row)) if ctx.plugins else None
                if amount is None:
                    raise ValidationError(
                        f"line {row.line}, amount: missing and no plugin rated the record",
                        line=row.line,
                        field="amount",
                    )
            if row.external_id:
                seen.add(row.external_id)
            UsageRecord.create(
                client=row.client_id,
                occurred_at=row.occurred_at,
                destination=row.destination,
                destination_group=row.destination_group,
                quantity=row.quantity,
                unit=row.unit,
                amount=amount,
                external_id=row.external_id,
            )
            result.imported += 1
            result.client_ids.add(row.client_id)
        if result.imported:
            record_audit(
                ctx,
                "usage.imported",
                records=result.imported,
                duplicates=result.duplicates,
                clients=sorted(result.client_ids),
            )
    return result


def _row_dict(row: Any) -> dict[str, Any]:
    return {
        "client_id": row.client_id,
        "occurred_at": row.occurred_at.isoformat(),
        "destination": row.destination,
        "destination_group": row.destination_group,
        "quantity": str(row.quantity),
        "unit": row.unit,
    }
