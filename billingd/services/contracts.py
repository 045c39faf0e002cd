"""Contracts: subscriptions billed per cycle (SPEC §2)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from billingd.db.connection import write_transaction
from billingd.db.models import BillGroup, Client, Contract, Reseller
from billingd.domain import party_details
from billingd.domain.cycles import CYCLES, TIMINGS
from billingd.domain.party_details import check_details
from billingd.errors import RuleViolation, ValidationError
from billingd.money import has_excess_precision
from billingd.services.audit import record_audit
from billingd.services.context import ServiceContext
from billingd.services.lookup import get_or_refuse
from billingd.services.parties import _choice, _name, _tax_rate, default_bill_group

ORIGINS = ("standard", "manual", "self_checkout", "imported")
CONTRACT_FIELDS = frozenset(
    "quantity tax_rate interval anchor_date end_date status timing origin payment_method "
    "bill_group_id".split()
) | frozenset(party_details.CONTRACT_FIELDS)
STATUSES = ("active", "paused", "cancelled")


def _check_terms(values: dict[str, Any], currency: str, current: Contract | None = None) -> None:
    values.update(check_details(values, current))
    if "description" in values:
        values["description"] = _name(values["description"], "description")
    if "unit_price" in values:
        if values["unit_price"] < 0:
            raise ValidationError("price must not be negative", field="price")
        if has_excess_precision(values["unit_price"], currency):
            raise ValidationError(f"price has more decimals than {currency} allows", field="price")
    if "quantity" in values and values["quantity"] <= 0:
        raise ValidationError("quantity must be positive", field="quantity")
    if "interval" in values and values["interval"] < 1:
        raise ValidationError("interval must be at least 1", field="interval")
    if "tax_rate" in values:
        _tax_rate(values["tax_rate"])
    for key, allowed in (
        ("cycle", CYCLES),
        ("timing", TIMINGS),
        ("origin", ORIGINS),
        ("status", STATUSES),
    ):
        if key in values:
            _choice(values[key], allowed, key)


def new_contract_terms(
    values: dict[str, Any], start_date: dt.date, currency: str, default_tax_rate: Decimal
) -> dict[str, Any]:
    """A new contract's checked terms with their defaults: the anchor is the start, the
    tax rate the owner's (``default_tax_rate``); raises ValidationError naming the field."""
    values = dict(values)
    _check_terms(values, currency)
    values.setdefault("anchor_date", start_date)
    values.setdefault("tax_rate", default_tax_rate)
    end_date = values.get("end_date")
    if end_date is not None and end_date < start_date:
        raise ValidationError("end date is before the start date", field="end")
    return values


def add_contract(
    ctx: ServiceContext,
    *,
    description: str,
    unit_price: Decimal,
    cycle: str,
    start_date: dt.date,
    client_id: int | None = None,
    reseller_id: int | None = None,
    **fields: Any,
) -> Contract:
    """Create a contract for a client (or a reseller's own contract)."""
    if (client_id is None) == (reseller_id is None):
        raise ValidationError("give exactly one of client or reseller", field="client_id")
    unknown = set(fields) - CONTRACT_FIELDS
    if unknown:
        raise ValidationError(f"unknown contract field(s): {', '.join(sorted(unknown))}")
    values = {k: v for k, v in fields.items() if v is not None}
    values.update(description=description, unit_price=unit_price, cycle=cycle)
    with write_transaction():
        owner = (
            get_or_refuse(Client, client_id)
            if client_id is not None
            else get_or_refuse(Reseller, reseller_id)
        )
        default_rate = owner.tax_rate if owner.tax_rate is not None else owner.enterprise.tax_rate
        values = new_contract_terms(values, start_date, owner.currency, default_rate)
        bill_group_id = values.pop("bill_group_id", None)
        bill_group = None
        if isinstance(owner, Client):
            bill_group = (
                get_or_refuse(BillGroup, bill_group_id)
                if bill_group_id is not None
                else default_bill_group(owner)
            )
            if bill_group.client_id != owner.id:
                raise ValidationError(
                    "the bill group belongs to another client", field="bill_group_id"
                )
        contract = Contract.create(
            created_at=ctx.now_utc(),
            client=owner if isinstance(owner, Client) else None,
            reseller=owner if isinstance(owner, Reseller) else None,
            bill_group=bill_group,
            start_date=start_date,
            **values,
        )
        record_audit(
            ctx,
            "contract.created",
            client_id=client_id,
            subject=contract,
            description=contract.description,
            unit_price=str(contract.unit_price),
        )
    ctx.emit("contract.created", {"id": contract.id, "client_id": client_id})
    return contract


def update_contract(ctx: ServiceContext, contract_id: int, **fields: Any) -> Contract:
    """Amend a contract's terms; invoices already issued keep theirs (seed 004)."""
    values = {k: v for k, v in fields.items() if v is not None}
    with write_transaction():
        contract = get_or_refuse(Contract, contract_id)
        if contract.status == "cancelled":
            raise RuleViolation("R-RUN-8", "a cancelled contract cannot be changed")
        owner = contract.client or contract.reseller
        _check_terms(values, owner.currency, contract)
        changes = {}
        for key, value in values.items():
            if getattr(contract, key) != value:
                changes[key] = [str(getattr(contract, key)), str(value)]
                setattr(contract, key, value)
        contract.save()
        record_audit(
            ctx, "contract.updated", client_id=contract.client_id, subject=contract, changes=changes
        )
    return contract


def cancel_contract(ctx: ServiceContext, contract_id: int, end_date: dt.date) -> Contract:
    """Cancel a contract: it stops after ``end_date`` (R-RUN-8)."""
    with write_transaction():
        contract = get_or_refuse(Contract, contract_id)
        if contract.status == "cancelled":
            raise RuleViolation("R-RUN-8", "the contract is already cancelled")
        if end_date < contract.start_date:
            raise ValidationError("end date is before the contract's start", field="end")
        contract.status = "cancelled"
        contract.end_date = end_date
        contract.save()
        record_audit(
            ctx,
            "contract.cancelled",
            client_id=contract.client_id,
            subject=contract,
            end_date=end_date.isoformat(),
        )
    return contract


def list_contracts(client_id: int | None = None, reseller_id: int | None = None) -> list[Contract]:
    query = Contract.select().order_by(Contract.id)
    if client_id is not None:
        query = query.where(Contract.client == client_id)
    if reseller_id is not None:
        query = query.where(Contract.reseller == reseller_id)
    return list(query)
