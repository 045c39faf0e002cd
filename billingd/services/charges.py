"""Pending one-time charges and price overrides for the next invoice (SPEC §2, seed 003)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from billingd.db.connection import write_transaction
from billingd.db.models import Client, Contract, PendingCharge, PriceOverride
from billingd.domain.totals import line_net
from billingd.errors import RuleViolation, ValidationError
from billingd.money import has_excess_precision, quantum
from billingd.services.audit import record_audit
from billingd.services.context import ServiceContext
from billingd.services.lookup import get_or_refuse


def add_charge(
    ctx: ServiceContext,
    *,
    client_id: int,
    description: str,
    amount: Decimal,
    contract_id: int | None = None,
    schedule_date: dt.date | None = None,
    notes: str = "",
    currency: str | None = None,
) -> PendingCharge:
    """A one-time item for the client's next invoice; eligible on or after its schedule date."""
    if not description.strip():
        raise ValidationError("description is required", field="description")
    with write_transaction():
        client = get_or_refuse(Client, client_id)
        if currency is not None and currency.upper() != client.currency:
            raise RuleViolation("R-MONEY-3", f"client {client.id} is billed in {client.currency}")
        if amount < quantum(client.currency) or has_excess_precision(amount, client.currency):
            raise ValidationError(
                f"amount must be at least {quantum(client.currency)} with at most "
                f"{client.currency}'s decimals",
                field="amount",
            )
        contract = get_or_refuse(Contract, contract_id) if contract_id is not None else None
        if contract is not None and contract.client_id != client.id:
            raise ValidationError("the contract belongs to another client", field="contract")
        charge = PendingCharge.create(
            client=client,
            contract=contract,
            description=description.strip(),
            amount=amount,
            schedule_date=schedule_date,
            notes=notes,
            created_at=ctx.now_utc(),  # the day it was added is when it is ready (R-RUN-16)
        )
        record_audit(
            ctx,
            "charge.added",
            client_id=client.id,
            subject=charge,
            description=charge.description,
            amount=str(amount),
        )
    ctx.emit("charge.added", {"id": charge.id, "client_id": client.id, "amount": str(amount)})
    return charge


def cancel_charge(ctx: ServiceContext, charge_id: int) -> PendingCharge:
    """Only a pending charge can be cancelled."""
    with write_transaction():
        charge = get_or_refuse(PendingCharge, charge_id)
        if charge.status != "pending":
            raise RuleViolation("R-INV-1", f"charge {charge.id} is {charge.status}, not pending")
        charge.status = "cancelled"
        charge.save()
        record_audit(
            ctx,
            "charge.cancelled",
            client_id=charge.client_id,
            subject=charge,
            status=["pending", "cancelled"],
        )
    ctx.emit("charge.cancelled", {"id": charge.id, "client_id": charge.client_id})
    return charge


def list_charges(client_id: int, status: str | None = None) -> list[PendingCharge]:
    get_or_refuse(Client, client_id)
    query = PendingCharge.select().where(PendingCharge.client == client_id)
    if status is not None:
        query = query.where(PendingCharge.status == status)
    return list(query.order_by(PendingCharge.id))


def set_price_override(
    ctx: ServiceContext, *, contract_id: int, final_amount: Decimal
) -> PriceOverride | None:
    """Set the contract's amount on its next invoice; equal to the base removes the override."""
    with write_transaction():
        contract = get_or_refuse(Contract, contract_id)
        owner = contract.client or contract.reseller
        if final_amount < 0 or has_excess_precision(final_amount, owner.currency):
            raise ValidationError("final amount must be a non-negative amount", field="amount")
        base = line_net(contract.quantity, contract.unit_price, owner.currency)
        PriceOverride.update(status="replaced").where(
            (PriceOverride.contract == contract) & (PriceOverride.status == "active")
        ).execute()
        override = None
        if final_amount != base:
            override = PriceOverride.create(contract=contract, final_amount=final_amount)
        record_audit(
            ctx,
            "price_override.set" if override else "price_override.cleared",
            client_id=contract.client_id,
            subject=contract,
            base=str(base),
            final=str(final_amount),
        )
    ctx.emit("price_override.set", {"contract_id": contract.id, "client_id": contract.client_id})
    return override


def clear_price_override(ctx: ServiceContext, contract_id: int) -> None:
    with write_transaction():
        contract = get_or_refuse(Contract, contract_id)
        PriceOverride.update(status="replaced").where(
            (PriceOverride.contract == contract) & (PriceOverride.status == "active")
        ).execute()
        record_audit(ctx, "price_override.cleared", client_id=contract.client_id, subject=contract)
    payload = {"contract_id": contract.id, "client_id": contract.client_id}
    ctx.emit("price_override.cleared", payload)
