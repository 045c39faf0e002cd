"""Writing a batch of imported clients or contracts: a few lookups, then bulk inserts.

Each row is held to the rules of ``client add`` / ``contract add``
(:func:`parties.new_client_values`, :func:`contracts.new_contract_terms`); what needs
the database (the enterprise, reseller, owner, bill group a row names) is read for
the whole batch at once. A batch with a bad row writes nothing and returns the row
errors; a good one is inserted with its default bill groups and audit events, inside
the caller's transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import orjson
import peewee

from billingd.db.bulk import found, insert_rows, reserve_ids, stored_form
from billingd.db.models import AuditEvent, BillGroup, Client, Contract, Enterprise, Reseller
from billingd.errors import ValidationError
from billingd.services.context import ServiceContext
from billingd.services.contracts import new_contract_terms
from billingd.services.import_rows import ParsedRow, RowError


@dataclass
class Written:
    """What a batch wrote: the new rows' ids in file order, and their owners (clients)."""

    ids: list[int]
    client_ids: set[int]


class Stored(str):
    """A value already in its stored form (JSON encoded by the caller)."""


PLAIN = (peewee.TextField, peewee.IntegerField, peewee.ForeignKeyField)
"""Fields whose Python values (text, whole numbers, ids) the drivers store as they are."""


class Table:
    """A model's columns in stored form: each row's values over the model's defaults.

    Only the columns some row may set (``given``; None: any) are sent with each row; the
    others are the same on every row, sent once (:func:`insert_rows`'s ``fixed``). Defaults are
    converted once; of a row's own values only those of fields that store another form
    (decimals as text, JSON, times) go through the field's ``db_value``.
    """

    def __init__(
        self,
        model: type[peewee.Model],
        defaults: dict[str, Any],
        given: Iterable[str] | None = None,
    ) -> None:
        self.model = model
        fields = [f for f in model._meta.sorted_fields if f.name != "id"]
        merged = {f.name: _default(f) for f in fields} | defaults
        stored = {f.name: stored_form(f.db_value(merged[f.name])) for f in fields}
        given = {f.name for f in fields} if given is None else set(given)
        self.fields = [model._meta.primary_key, *(f for f in fields if f.name in given)]
        self.fixed = [(f, stored[f.name]) for f in fields if f.name not in given]
        self.stored = [None, *(stored[f.name] for f in self.fields[1:])]
        self.position = {f.name: index for index, f in enumerate(self.fields)}
        self.convert = {f.name: f.db_value for f in self.fields if not _plain(f)}

    def row(self, row_id: int, values: dict[str, Any]) -> tuple[Any, ...]:
        """A row's stored values in the order of ``fields``; ``values`` sets only given
        columns."""
        stored = self.stored.copy()
        position, convert = self.position, self.convert
        for name, value in values.items():
            plain = name not in convert or type(value) is Stored
            stored[position[name]] = value if plain else convert[name](value)
        stored[0] = row_id
        return tuple(stored)

    def insert(self, rows: list[tuple[Any, ...]]) -> None:
        insert_rows(self.model, self.fields, rows, self.fixed)


def _plain(field: peewee.Field) -> bool:
    """Whether the field stores its Python value as it is (a foreign key: given as id)."""
    if isinstance(field, peewee.ForeignKeyField):
        return True
    return isinstance(field, PLAIN) and type(field).db_value is peewee.Field.db_value


def _default(field: peewee.Field) -> Any:
    default = field.default
    return default() if callable(default) else default


def _ids(rows: list[ParsedRow], param: str) -> set[int]:
    return {row.values[param] for row in rows if param in row.values}


class BatchChecks:
    """Row errors of a batch, each naming the column as the file spells it."""

    def __init__(self, column_of: dict[str, str]) -> None:
        self.column_of = column_of  # service keyword -> column name
        self.errors: list[RowError] = []

    def add(self, row: ParsedRow, field: str | None, message: str) -> None:
        column = self.column_of.get(field, field) if field else None
        self.errors.append(RowError(row.line, row.headers.get(column, column), message))

    def refused(self, row: ParsedRow, exc: ValidationError) -> None:
        self.add(row, exc.data.get("field"), exc.message)


class AuditRows:
    """The ``created`` audit events of a batch (R-AUD-1), inserted together."""

    def __init__(self, ctx: ServiceContext, event: str, subject: str) -> None:
        self.table = Table(
            AuditEvent,
            {"event": event, "actor": ctx.actor, "subject_type": subject},
            ("client_id", "subject_id", "details"),
        )
        self.now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        self.rows: list[dict[str, Any]] = []

    def add(self, client_id: int | None, subject_id: int, **details: Any) -> None:
        self.rows.append(
            {
                "client_id": client_id,
                "subject_id": subject_id,
                "details": Stored(orjson.dumps(details, option=orjson.OPT_SORT_KEYS).decode()),
            }
        )

    def insert(self) -> None:
        ids = reserve_ids(AuditEvent, len(self.rows))
        self.table.insert([self.table.row(i, r) for i, r in zip(ids, self.rows, strict=True)])


# -- clients --------------------------------------------------------------------------


def write_clients(
    ctx: ServiceContext, rows: list[ParsedRow], checks: BatchChecks, *, insert: bool = True
) -> Written | None:
    """Insert a batch of clients, each with its default bill group (SPEC §1); None, with
    ``checks`` holding the errors, when a row names what does not exist (or, with
    ``insert`` false, after checking only)."""
    currencies = found(
        Enterprise.select(Enterprise.id, Enterprise.currency),
        Enterprise.id,
        _ids(rows, "enterprise_id"),
    )
    reseller_enterprise = found(
        Reseller.select(Reseller.id, Reseller.enterprise), Reseller.id, _ids(rows, "reseller_id")
    )
    before = len(checks.errors)
    for row in rows:
        enterprise_id = row.values["enterprise_id"]
        reseller_id = row.values.get("reseller_id")
        if enterprise_id not in currencies:
            checks.add(row, "enterprise_id", f"no enterprise with id {enterprise_id}")
        elif reseller_id is not None and reseller_id not in reseller_enterprise:
            checks.add(row, "reseller_id", f"no reseller with id {reseller_id}")
        elif reseller_id is not None and reseller_enterprise[reseller_id] != enterprise_id:
            checks.add(row, "reseller_id", "the reseller belongs to another enterprise")
    if len(checks.errors) > before or not insert:
        return None
    client_ids = reserve_ids(Client, len(rows))
    group_ids = reserve_ids(BillGroup, len(rows))
    given = {"enterprise", "reseller", "currency"}.union(*(row.values for row in rows))
    clients = Table(Client, {"created_at": ctx.now_utc()}, given)
    groups = Table(BillGroup, {"name": "Default", "is_default": True}, ("client", "address"))
    audit = AuditRows(ctx, "client.created", "client")
    client_rows, group_rows = [], []
    for row, client_id, group_id in zip(rows, client_ids, group_ids, strict=True):
        values = dict(row.values)
        values["enterprise"] = values.pop("enterprise_id")
        values["reseller"] = values.pop("reseller_id", None)
        values.setdefault("currency", currencies[values["enterprise"]])
        client_rows.append(clients.row(client_id, values))
        address = values.get("address", "")
        group_rows.append(groups.row(group_id, {"client": client_id, "address": address}))
        audit.add(client_id, client_id, name=values["name"])
    clients.insert(client_rows)
    groups.insert(group_rows)
    audit.insert()
    return Written(client_ids, set(client_ids))


# -- contracts ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Owner:
    currency: str
    tax_rate: Decimal  # what a contract of it defaults to
    default_group: int | None  # a client's default bill group


def _client_owners(ids: set[int]) -> dict[int, Owner]:
    default_group = (
        BillGroup.select(BillGroup.id)
        .where(BillGroup.client == Client.id)
        .order_by(BillGroup.is_default.desc(), BillGroup.id)
        .limit(1)
    )
    query = Client.select(
        Client.id,
        Client.currency,
        Client.tax_rate,
        Enterprise.tax_rate,
        default_group.alias("default_group"),
    ).join(Enterprise)
    return {
        cid: Owner(currency, _rate(own, enterprise), group)
        for cid, (currency, own, enterprise, group) in found(query, Client.id, ids).items()
    }


def _reseller_owners(ids: set[int]) -> dict[int, Owner]:
    query = Reseller.select(
        Reseller.id, Reseller.currency, Reseller.tax_rate, Enterprise.tax_rate
    ).join(Enterprise)
    return {
        rid: Owner(currency, _rate(own, enterprise), None)
        for rid, (currency, own, enterprise) in found(query, Reseller.id, ids).items()
    }


def _rate(own: Any, enterprise: Any) -> Decimal:
    """The tax rate a contract takes by default: its owner's, else the enterprise's."""
    field = Client.tax_rate
    return field.python_value(own) if own is not None else field.python_value(enterprise)


@dataclass(frozen=True)
class Referred:
    """What a batch of contracts names, read for the whole batch at once."""

    clients: dict[int, Owner]
    resellers: dict[int, Owner]
    group_owner: dict[int, int]  # bill group -> its client

    @classmethod
    def of(cls, rows: list[ParsedRow]) -> Referred:
        groups = BillGroup.select(BillGroup.id, BillGroup.client)
        return cls(
            _client_owners(_ids(rows, "client_id")),
            _reseller_owners(_ids(rows, "reseller_id")),
            found(groups, BillGroup.id, _ids(rows, "bill_group_id")),
        )

    def bill_group(self, group_id: int | None, client_id: int | None, owner: Owner) -> int | None:
        """A contract's bill group: the one named, else its client's default; a
        reseller's own contract has none, as with ``contract add``."""
        if group_id is not None and group_id not in self.group_owner:
            raise ValidationError(f"no bill group with id {group_id}", field="bill_group_id")
        if client_id is None:
            return None
        if group_id is None:
            return owner.default_group
        if self.group_owner[group_id] != client_id:
            raise ValidationError("the bill group belongs to another client", field="bill_group_id")
        return group_id


def _contract_terms(row: ParsedRow, referred: Referred) -> dict[str, Any]:
    """A row's contract as stored, by the rules of ``contract add``; ValidationError
    naming the field otherwise."""
    values = dict(row.values)
    client_id = values.pop("client_id", None)
    reseller_id = values.pop("reseller_id", None)
    if (client_id is None) == (reseller_id is None):
        raise ValidationError("give exactly one of client or reseller", field="client_id")
    if client_id is not None:
        owner, kind = referred.clients.get(client_id), "client"
    else:
        owner, kind = referred.resellers.get(reseller_id), "reseller"
    if owner is None:
        raise ValidationError(f"no {kind} with id {client_id or reseller_id}", field=f"{kind}_id")
    values = new_contract_terms(values, values["start_date"], owner.currency, owner.tax_rate)
    group_id = referred.bill_group(values.pop("bill_group_id", None), client_id, owner)
    values.update(client=client_id, reseller=reseller_id, bill_group=group_id)
    return values


def write_contracts(
    ctx: ServiceContext, rows: list[ParsedRow], checks: BatchChecks, *, insert: bool = True
) -> Written | None:
    """Insert a batch of contracts; None, with ``checks`` holding the errors, when a row
    breaks a rule of ``contract add`` (or, with ``insert`` false, after checking only)."""
    referred = Referred.of(rows)
    before = len(checks.errors)
    terms: list[dict[str, Any]] = []
    for row in rows:
        try:
            terms.append(_contract_terms(row, referred))
        except ValidationError as exc:
            checks.refused(row, exc)
    if len(checks.errors) > before or not insert:
        return None
    contract_ids = reserve_ids(Contract, len(terms))
    contracts = Table(Contract, {"created_at": ctx.now_utc()}, set().union(*terms))
    audit = AuditRows(ctx, "contract.created", "contract")
    contract_rows = []
    for values, contract_id in zip(terms, contract_ids, strict=True):
        contract_rows.append(contracts.row(contract_id, values))
        description, price = values["description"], str(values["unit_price"])
        audit.add(values["client"], contract_id, description=description, unit_price=price)
    contracts.insert(contract_rows)
    audit.insert()
    return Written(contract_ids, {v["client"] for v in terms if v["client"] is not None})
