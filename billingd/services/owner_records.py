"""What a run reads of its owners, loaded for many owners in a few queries (issue 13).

A run plans each owner (client or reseller) from its contracts, bill groups, billed
cycles, unbilled usage, pending charges, price overrides and scheduled invoices.
:func:`load_records` reads these for a whole batch of owners with one query per
table instead of a dozen per owner; a dry run and a run of one client use the same
loader with a batch of one, so what is planned never depends on how it was read
(R-RUN-16). Pure reads: nothing is written.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import peewee

from billingd.db.models import (
    BilledCycle,
    BillGroup,
    Client,
    Contract,
    Enterprise,
    Invoice,
    ParkedClient,
    PendingCharge,
    PriceOverride,
    Reseller,
    UsageRecord,
)
from billingd.db.prepared import PreparedSelect, id_slots, id_values
from billingd.services.billing_items import USAGE_COLUMNS, UsageRow, usage_rows
from billingd.services.usage_sums import UsageSum, load_sums, summable, unbilled

Owner = Client | Reseller

CHUNK = 900
"""Ids per ``IN (...)``: small enough for one statement's parameters on every backend."""


def chunks(ids: Sequence[int], size: int = CHUNK) -> Iterator[Sequence[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def select_in(build: Callable[[Sequence[int]], peewee.Query], ids: Iterable[int]) -> Iterator[Any]:
    """The rows of ``build(chunk)`` for every chunk of ``ids`` (none when there are none)."""
    for chunk in chunks(sorted(set(ids))):
        yield from build(chunk)


@dataclass
class OwnerRecords:
    """One owner's rows as a run plans them; lists in id order, as single reads give."""

    owner: Owner
    contracts: list[Contract] = field(default_factory=list)  # every one, by id
    bill_groups: list[BillGroup] = field(default_factory=list)  # the default first
    billed_starts: dict[int, set[dt.date]] = field(default_factory=dict)  # per contract
    usage: list[UsageRow] = field(default_factory=list)
    usage_sums: list[UsageSum] = field(default_factory=list)  # instead of its usage rows
    charges: list[PendingCharge] = field(default_factory=list)  # pending, by id
    invoiced: set[tuple[int | None, dt.date]] = field(default_factory=set)
    overrides: dict[int, PriceOverride] = field(default_factory=dict)  # active, newest

    def default_group(self) -> BillGroup:
        """The client's default bill group (each client has one, R-RUN-17)."""
        if not self.bill_groups:
            raise BillGroup.DoesNotExist(f"client {self.owner.id} has no bill group")
        return self.bill_groups[0]

    def override_of(self, contract: Contract) -> PriceOverride | None:
        return self.overrides.get(contract.id)


def load_owners(clients: Sequence[int], resellers: Sequence[int]) -> dict[str, Owner]:
    """Clients (with their reseller) and resellers with their enterprise, by key
    (``client:ID``, ``reseller:ID``)."""
    found: dict[str, Owner] = {}

    def client_query(chunk: Sequence[int]) -> peewee.Query:
        return (
            Client.select(Client, Enterprise, Reseller)
            .join(Enterprise)
            .switch(Client)
            .join(Reseller, peewee.JOIN.LEFT_OUTER)
            .where(Client.id.in_(chunk))
        )

    def reseller_query(chunk: Sequence[int]) -> peewee.Query:
        return Reseller.select(Reseller, Enterprise).join(Enterprise).where(Reseller.id.in_(chunk))

    for query, ids in ((client_query, clients), (reseller_query, resellers)):
        for owner in select_in(query, ids):
            found[_key(owner)] = owner
    return found


def load_records(owners: Sequence[Owner]) -> dict[str, OwnerRecords]:
    """Every owner's records, by key, in a few queries for the whole batch."""
    records = {_key(o): OwnerRecords(o) for o in owners}
    clients = {o.id: records[_key(o)] for o in owners if isinstance(o, Client)}
    resellers = {o.id: records[_key(o)] for o in owners if isinstance(o, Reseller)}
    contracts = _load_contracts(clients, resellers)
    _load_billed(contracts)
    _load_overrides(contracts)
    for chunk_groups in select_in(
        lambda chunk: (
            BillGroup.select()
            .where(BillGroup.client.in_(chunk))
            .order_by(BillGroup.is_default.desc(), BillGroup.id)
        ),
        clients,
    ):
        clients[chunk_groups.client_id].bill_groups.append(chunk_groups)
    _load_usage(clients, resellers)
    for charge in select_in(
        lambda chunk: (
            PendingCharge.select()
            .where(PendingCharge.client.in_(chunk) & (PendingCharge.status == "pending"))
            .order_by(PendingCharge.id)
        ),
        clients,
    ):
        clients[charge.client_id].charges.append(charge)
    _load_invoiced(clients, resellers)
    return records


def _key(owner: Owner) -> str:
    return f"{'client' if isinstance(owner, Client) else 'reseller'}:{owner.id}"


def _load_contracts(
    clients: dict[int, OwnerRecords], resellers: dict[int, OwnerRecords]
) -> dict[int, OwnerRecords]:
    """Every contract of the owners; returns the records of each contract's owner."""
    of_contract: dict[int, OwnerRecords] = {}
    for column, owners in ((Contract.client, clients), (Contract.reseller, resellers)):

        def query(chunk: Sequence[int], column: peewee.Field = column) -> peewee.Query:
            return Contract.select().where(column.in_(chunk))

        for contract in sorted(select_in(query, owners), key=lambda c: c.id):
            records = owners[getattr(contract, column.name + "_id")]
            records.contracts.append(contract)
            of_contract[contract.id] = records
    return of_contract


def _load_billed(contracts: dict[int, OwnerRecords]) -> None:
    for contract_id, start in select_in(
        lambda chunk: (
            BilledCycle.select(BilledCycle.contract, BilledCycle.cycle_start)
            .where(BilledCycle.contract.in_(chunk))
            .tuples()
        ),
        contracts,
    ):
        contracts[contract_id].billed_starts.setdefault(contract_id, set()).add(start)


def _load_overrides(contracts: dict[int, OwnerRecords]) -> None:
    """The newest active price override of each contract."""
    for override in select_in(
        lambda chunk: (
            PriceOverride.select()
            .where(PriceOverride.contract.in_(chunk) & (PriceOverride.status == "active"))
            .order_by(PriceOverride.id)
        ),
        contracts,
    ):
        contracts[override.contract_id].overrides[override.contract_id] = override


def _load_usage(clients: dict[int, OwnerRecords], resellers: dict[int, OwnerRecords]) -> None:
    """Unbilled usage: a client's records not claimed by its invoices; a reseller's are
    its clients' records not claimed by the reseller's invoices (R-INV-3)."""
    summed: dict[str, dict[int, OwnerRecords]] = {}  # by timezone
    one_by_one = []
    for client_id, records in clients.items():
        if summable(records.owner, records.contracts):
            summed.setdefault(records.owner.enterprise.timezone, {})[client_id] = records
        else:
            one_by_one.append(client_id)
    for timezone, group in summed.items():
        for chunk in chunks(sorted(group)):
            contracts = [c for client_id in chunk for c in group[client_id].contracts]
            for usage_sum in load_sums(chunk, contracts, timezone):
                group[usage_sum.client_id].usage_sums.append(usage_sum)
    for chunk in chunks(sorted(one_by_one)):
        for client_id, *columns in UNBILLED_USAGE.tuples((len(chunk),), **id_values(chunk)):
            records = clients[client_id]
            records.usage.append(UsageRow.of(columns, records.owner.enterprise.timezone))
    for records in resellers.values():
        records.usage = usage_rows(records.owner)


def _unbilled_usage(count: int) -> peewee.Select:
    """The unbilled usage of ``count`` clients (a batch's most rows: compiled once)."""
    clients = UsageRecord.client.in_(id_slots(count))
    return (
        UsageRecord.select(UsageRecord.client, *USAGE_COLUMNS)
        .where(clients & unbilled(UsageRecord.invoice))
        .order_by(UsageRecord.id)
    )


UNBILLED_USAGE = PreparedSelect(_unbilled_usage)


def _load_invoiced(clients: dict[int, OwnerRecords], resellers: dict[int, OwnerRecords]) -> None:
    """(bill group, billing date) of the owners' scheduled invoices so far."""
    for column, owners in ((Invoice.client, clients), (Invoice.reseller, resellers)):

        def query(chunk: Sequence[int], column: peewee.Field = column) -> peewee.Query:
            scheduled = column.in_(chunk) & Invoice.billing_date.is_null(False)
            return (
                Invoice.select(column, Invoice.bill_group, Invoice.billing_date)
                .where(scheduled)
                .tuples()
            )

        for owner_id, group, day in select_in(query, owners):
            owners[owner_id].invoiced.add((group, day))


@dataclass
class Batch:
    """A batch of a run's owners as read at its start: the owners with their
    enterprises, which of them are parked, and their records."""

    owners: dict[str, Owner]
    parked: set[int]  # client ids
    records: dict[str, OwnerRecords]

    def owner(self, key: str) -> Owner:
        """The owner of a key (``client:ID`` or ``reseller:ID``); DoesNotExist when gone."""
        found = self.owners.get(key)
        if found is None:
            kind, _, number = key.partition(":")
            model = Client if kind == "client" else Reseller
            raise model.DoesNotExist(f"{kind} {number} does not exist")
        return found


def load_batch(keys: Iterable[str]) -> Batch:
    """Read a batch of owners (keys ``client:ID``, ``reseller:ID``) in a few queries."""
    ids: dict[str, list[int]] = {"client": [], "reseller": []}
    for key in keys:
        kind, _, number = key.partition(":")
        ids[kind].append(int(number))
    owners = load_owners(ids["client"], ids["reseller"])
    parked = {
        client_id
        for (client_id,) in select_in(
            lambda chunk: (
                ParkedClient.select(ParkedClient.client)
                .where(ParkedClient.client.in_(chunk) & ParkedClient.released_at.is_null())
                .tuples()
            ),
            ids["client"],
        )
    }
    billed = [o for o in owners.values() if not (isinstance(o, Client) and o.id in parked)]
    return Batch(owners, parked, load_records(billed))


def charged_through_gateway(records: OwnerRecords) -> bool:
    """Whether the owner has a self-checkout contract paid through a gateway (R-RUN-7)."""
    return any(
        c.origin == "self_checkout" and c.payment_method not in ("", "manual")
        for c in records.contracts
    )
