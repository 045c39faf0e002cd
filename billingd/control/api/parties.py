"""Methods for enterprises, resellers, clients, bill groups and contracts (usage: usage.py)."""

from __future__ import annotations

from typing import Any

from billingd.control import einvoice_params
from billingd.control.list_params import CLIENT_PAGE
from billingd.control.params import (
    IDENTIFIER,
    INTERVAL,
    NUMBER_START,
    PAYMENT_TERMS,
    QUANTITY,
    REVIEW_DAYS,
    TAX_RATE,
    Bool,
    Date,
    Int,
    List,
    Money,
    Object,
    PositiveInt,
    Str,
)
from billingd.control.registry import method
from billingd.db.models import Client, Contract, Enterprise
from billingd.errors import ValidationError
from billingd.services import contracts, parties
from billingd.services.context import ServiceContext
from billingd.services.lookup import get_or_refuse
from billingd.views import (
    CLIENT_COLUMNS,
    bill_group_view,
    client_row_view,
    client_view,
    contract_view,
    enterprise_view,
    reseller_view,
)

ENTERPRISE_PARAMS = dict(
    timezone=Str(help="an IANA name such as Europe/Berlin", bound=IDENTIFIER),
    pattern=Str(help="invoice numbering pattern, e.g. %num%/%year%"),
    start=PositiveInt(help="first %num%", bound=NUMBER_START),
    reset=Str(help="never|yearly|monthly"),
    credit_note_pattern=Str(),
    credit_note_start=PositiveInt(bound=NUMBER_START),
    credit_note_reset=Str(help="never|yearly|monthly: restart the credit-note %num%"),
    tax_rate=Money(help="default tax rate in percent", bound=TAX_RATE),
    terms=Int(help="payment terms in days", bound=PAYMENT_TERMS),
    address=Str(),
    tax_id=Str(),
    registration_id=Str(),
    iban=Str(),
    bic=Str(),
    email=Str(),
    brand=Str(),
    **einvoice_params.ENTERPRISE,
)


def _enterprise_fields(params: dict[str, Any]) -> dict[str, Any]:
    renames = {
        "pattern": "invoice_pattern",
        "start": "invoice_start",
        "reset": "invoice_reset",
        "terms": "payment_terms",
    }
    return {renames.get(k, k): v for k, v in params.items()}


@method(
    "enterprise.add",
    writes=True,
    result="the new `Enterprise`",
    name=Str(required=True),
    currency=Str(required=True),
    **ENTERPRISE_PARAMS,
)
def enterprise_add(ctx: ServiceContext, **params: Any) -> dict[str, Any]:
    """Create an enterprise: the legal entity on the documents (R-NUM-1)."""
    return enterprise_view(parties.add_enterprise(ctx, **_enterprise_fields(params)))


@method(
    "enterprise.update",
    writes=True,
    result="the changed `Enterprise`",
    id=Int(required=True),
    name=Str(),
    currency=Str(),
    **ENTERPRISE_PARAMS,
)
def enterprise_update(ctx: ServiceContext, id: int, **params: Any) -> dict[str, Any]:
    """Change an enterprise's details or numbering settings."""
    return enterprise_view(parties.update_enterprise(ctx, id, **_enterprise_fields(params)))


@method("enterprise.list", writes=False, result="list of `Enterprise`")
def enterprise_list(ctx: ServiceContext) -> list[dict[str, Any]]:
    """All enterprises."""
    return [enterprise_view(e) for e in parties.list_enterprises()]


@method(
    "enterprise.show", writes=False, result="the `Enterprise`", quick=True, id=Int(required=True)
)
def enterprise_show(ctx: ServiceContext, id: int) -> dict[str, Any]:
    """One enterprise."""
    return enterprise_view(get_or_refuse(Enterprise, id))


@method(
    "reseller.add",
    writes=True,
    result="the new `Reseller`",
    name=Str(required=True),
    enterprise=Int(required=True),
    email=Str(),
    company=Str(),
    tax_id=Str(),
    address=Str(),
    currency=Str(),
    tax_rate=Money(bound=TAX_RATE),
    invoice_days=Str(help="e.g. 1,15; empty: billed per contract cycle (R-RUN-3, R-RUN-16)"),
    **einvoice_params.PARTY,
)
def reseller_add(ctx: ServiceContext, name: str, enterprise: int, **params: Any) -> dict[str, Any]:
    """Create a reseller: a party with clients of its own, invoiceable itself (R-INV-3)."""
    return reseller_view(parties.add_reseller(ctx, name=name, enterprise_id=enterprise, **params))


@method("reseller.list", writes=False, result="list of `Reseller`", enterprise=Int())
def reseller_list(ctx: ServiceContext, enterprise: int | None = None) -> list[dict[str, Any]]:
    """Resellers, optionally of one enterprise."""
    return [reseller_view(r) for r in parties.list_resellers(enterprise)]


CLIENT_PARAMS = dict(
    email=Str(),
    invoice_days=Str(help="days of the month, e.g. 1,15; empty = manual only"),
    reseller=Int(),
    send_stats=Bool(),
    send_email=Bool(),
    publish=Bool(),
    currency=Str(),
    company=Str(),
    tax_id=Str(),
    contract_number=Str(),
    business_type=Str(),
    category_type=Str(),
    address=Str(),
    tax_rate=Money(bound=TAX_RATE),
    **einvoice_params.PARTY,
)


def _client_fields(params: dict[str, Any]) -> dict[str, Any]:
    return {("reseller_id" if k == "reseller" else k): v for k, v in params.items()}


@method(
    "client.add",
    writes=True,
    result="the new `Client`",
    name=Str(required=True),
    enterprise=Int(required=True),
    **CLIENT_PARAMS,
)
def client_add(ctx: ServiceContext, name: str, enterprise: int, **params: Any) -> dict[str, Any]:
    """Create a client with its billing settings and a default bill group."""
    client = parties.add_client(ctx, name=name, enterprise_id=enterprise, **_client_fields(params))
    return client_view(client)


@method(
    "client.update",
    writes=True,
    result="the changed `Client`",
    id=Int(required=True),
    name=Str(),
    status=Str(),
    **{k: v for k, v in CLIENT_PARAMS.items() if k != "reseller"},
)
def client_update(ctx: ServiceContext, id: int, **params: Any) -> dict[str, Any]:
    """Change a client's billing settings."""
    return client_view(parties.update_client(ctx, id, **params))


QUICK_OFFSET = 1000
"""Pages starting further in make SQLite step over that many rows first: not quick."""


def _page_is_quick(params: dict[str, Any]) -> bool:
    """A page near the start of the index; a text search scans every client."""
    return not params.get("search") and params["offset"] < QUICK_OFFSET


@method(
    "client.list",
    writes=False,
    result="list of `Client`, by id",
    quick=_page_is_quick,
    enterprise=Int(),
    search=Str(),
    **CLIENT_PAGE,
)
def client_list(
    ctx: ServiceContext,
    limit: int,
    offset: int,
    enterprise: int | None = None,
    search: str | None = None,
) -> list[dict[str, Any]]:
    """Clients, paged, optionally filtered by enterprise and a search text."""
    if limit > 1000:
        raise ValidationError("limit must be at most 1000", field="limit")
    rows = parties.list_client_rows(CLIENT_COLUMNS, enterprise, search, limit, offset)
    return [client_row_view(row) for row in rows]


@method(
    "client.show",
    writes=False,
    result="the `Client` with `bill_groups`: list of `BillGroup`",
    quick=True,
    id=Int(required=True),
)
def client_show(ctx: ServiceContext, id: int) -> dict[str, Any]:
    """One client with its bill groups."""
    client = get_or_refuse(Client, id)
    return {
        **client_view(client),
        "bill_groups": [bill_group_view(g) for g in parties.list_bill_groups(id)],
    }


BILL_GROUP_PARAMS = dict(
    address=Str(),
    invoicing=Str(help="auto|manual"),
    status=Str(help="active|cancelled"),
    custom_fields=Object(help="replaces all custom fields"),
    custom=List(help="KEY=VALUE entries set in the custom fields (KEY= removes the key)"),
    uploader=Str(help="a portal uploader a loaded plugin registers; empty for none"),
    emails=Str(),
    review_days=Int(help="drafts wait this long for approval (R-RUN-12)", bound=REVIEW_DAYS),
    **einvoice_params.BILL_GROUP,
)


@method(
    "billgroup.add",
    writes=True,
    result="the new `BillGroup`",
    client=Int(required=True),
    name=Str(required=True),
    **BILL_GROUP_PARAMS,
)
def billgroup_add(ctx: ServiceContext, client: int, name: str, **params: Any) -> dict[str, Any]:
    """Add a bill group to a client."""
    return bill_group_view(parties.add_bill_group(ctx, client_id=client, name=name, **params))


@method(
    "billgroup.update",
    writes=True,
    result="the changed `BillGroup`",
    id=Int(required=True),
    name=Str(),
    **BILL_GROUP_PARAMS,
)
def billgroup_update(ctx: ServiceContext, id: int, **params: Any) -> dict[str, Any]:
    """Change a bill group; a new address applies to invoices issued afterwards."""
    return bill_group_view(parties.update_bill_group(ctx, id, **params))


@method("billgroup.list", writes=False, result="list of `BillGroup`", client=Int(required=True))
def billgroup_list(ctx: ServiceContext, client: int) -> list[dict[str, Any]]:
    """A client's bill groups."""
    return [bill_group_view(g) for g in parties.list_bill_groups(client)]


CONTRACT_TERMS = dict(
    quantity=Money(bound=QUANTITY),
    interval=PositiveInt(bound=INTERVAL),
    anchor=Date(),
    end=Date(),
    timing=Str(help="advance|arrears"),
    origin=Str(help="standard|manual|self_checkout|imported"),
    tax_rate=Money(bound=TAX_RATE),
    gateway=Str(help="payment method: manual or a gateway name"),
    bill_group=Int(),
    **einvoice_params.CONTRACT,
)


def _contract_fields(params: dict[str, Any]) -> dict[str, Any]:
    renames = {
        "price": "unit_price",
        "anchor": "anchor_date",
        "end": "end_date",
        "gateway": "payment_method",
        "bill_group": "bill_group_id",
        "client": "client_id",
        "reseller": "reseller_id",
        "start": "start_date",
    }
    return {renames.get(k, k): v for k, v in params.items()}


@method(
    "contract.add",
    writes=True,
    result="the new `Contract`",
    client=Int(),
    reseller=Int(),
    description=Str(required=True),
    price=Money(required=True),
    cycle=Str(required=True),
    start=Date(required=True),
    **CONTRACT_TERMS,
)
def contract_add(ctx: ServiceContext, **params: Any) -> dict[str, Any]:
    """Create a contract (subscription) for a client, or a reseller's own contract."""
    return contract_view(contracts.add_contract(ctx, **_contract_fields(params)))


@method(
    "contract.update",
    writes=True,
    result="the changed `Contract`",
    id=Int(required=True),
    description=Str(),
    price=Money(),
    cycle=Str(),
    status=Str(),
    **{k: v for k, v in CONTRACT_TERMS.items() if k not in ("bill_group", "end")},
)
def contract_update(ctx: ServiceContext, id: int, **params: Any) -> dict[str, Any]:
    """Amend a contract; issued invoices keep their amounts."""
    return contract_view(contracts.update_contract(ctx, id, **_contract_fields(params)))


@method(
    "contract.cancel",
    writes=True,
    result="the `Contract` (status cancelled, with its end date)",
    id=Int(required=True),
    end=Date(required=True),
)
def contract_cancel(ctx: ServiceContext, id: int, end: Any) -> dict[str, Any]:
    """Cancel a contract after its end date (R-RUN-8)."""
    return contract_view(contracts.cancel_contract(ctx, id, end))


@method("contract.list", writes=False, result="list of `Contract`", client=Int(), reseller=Int())
def contract_list(
    ctx: ServiceContext, client: int | None = None, reseller: int | None = None
) -> list[dict[str, Any]]:
    """Contracts, optionally of one client or reseller."""
    return [contract_view(c) for c in contracts.list_contracts(client, reseller)]


@method("contract.show", writes=False, result="the `Contract`", quick=True, id=Int(required=True))
def contract_show(ctx: ServiceContext, id: int) -> dict[str, Any]:
    """One contract."""
    return contract_view(get_or_refuse(Contract, id))
