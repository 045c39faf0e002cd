"""Peewee models for parties, billable things, documents, money movements and audit.

The models hold data only; rules live in ``billingd.domain`` and transactions in
``billingd.services``. Column names follow the spec's names in snake_case.
"""

from __future__ import annotations

import datetime as dt

import peewee

from billingd.db.fields import DecimalTextField, JSONTextField

database_proxy = peewee.DatabaseProxy()


def utcnow() -> dt.datetime:
    """Now in UTC, naive, as stored (R-TIME-1)."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class BaseModel(peewee.Model):
    class Meta:
        database = database_proxy
        legacy_table_names = False


class SchemaVersion(BaseModel):
    version = peewee.IntegerField()
    applied_at = peewee.DateTimeField(default=utcnow)


# ---------------------------------------------------------------- parties


class Brand(BaseModel):
    name = peewee.TextField(unique=True)
    logo_path = peewee.TextField(null=True)
    accent_color = peewee.TextField(default="#1f6feb")
    invoice_template = peewee.TextField(default="invoice.tpl")
    credit_note_template = peewee.TextField(default="credit_note.tpl")
    reminder_template = peewee.TextField(default="reminder.tpl")
    layout = peewee.TextField(default="default")  # default | din5008
    footer = peewee.TextField(default="")


class Enterprise(BaseModel):
    name = peewee.TextField()
    address = peewee.TextField(default="")
    tax_id = peewee.TextField(default="")
    registration_id = peewee.TextField(default="")
    iban = peewee.TextField(default="")
    bic = peewee.TextField(default="")
    email = peewee.TextField(default="")
    currency = peewee.TextField()
    timezone = peewee.TextField()
    payment_terms = peewee.IntegerField(default=14)
    tax_rate = DecimalTextField(default="0")
    invoice_pattern = peewee.TextField(default="%num%")
    invoice_start = peewee.IntegerField(default=1)
    invoice_reset = peewee.TextField(default="never")
    credit_note_pattern = peewee.TextField(default="CN-%num%")
    credit_note_start = peewee.IntegerField(default=1)
    credit_note_reset = peewee.TextField(default="never")
    brand = peewee.ForeignKeyField(Brand, null=True, backref="enterprises")
    # EN 16931: the seller's address parts and electronic address (BT-34)
    postcode = peewee.TextField(default="")
    city = peewee.TextField(default="")
    country = peewee.TextField(default="")
    phone = peewee.TextField(default="")
    endpoint_id = peewee.TextField(default="")
    endpoint_scheme = peewee.TextField(default="")
    reverse_charge = peewee.TextField(default="auto")  # auto | off (R-VAT-1)
    created_at = peewee.DateTimeField(default=utcnow)


class Party(BaseModel):
    """What resellers and clients have in common; no table of its own."""

    name = peewee.TextField()
    company = peewee.TextField(default="")
    tax_id = peewee.TextField(default="")
    email = peewee.TextField(default="")
    address = peewee.TextField(default="")
    currency = peewee.TextField()
    tax_rate = DecimalTextField(null=True)
    status = peewee.TextField(default="active")
    # EN 16931: address parts, electronic address, VAT category and document format
    postcode = peewee.TextField(default="")
    city = peewee.TextField(default="")
    country = peewee.TextField(default="")
    endpoint_id = peewee.TextField(default="")
    endpoint_scheme = peewee.TextField(default="")
    tax_category = peewee.TextField(default="")  # "" = by the enterprise's rule (R-VAT-1)
    exemption_reason = peewee.TextField(default="")
    einvoice_format = peewee.TextField(default="")  # "" = PDF only
    language = peewee.TextField(default="en")
    created_at = peewee.DateTimeField(default=utcnow)


class Reseller(Party):
    enterprise = peewee.ForeignKeyField(Enterprise, backref="resellers")
    invoice_days = peewee.TextField(default="")


class Client(Party):
    enterprise = peewee.ForeignKeyField(Enterprise, backref="clients")
    reseller = peewee.ForeignKeyField(Reseller, null=True, backref="clients")
    contract_number = peewee.TextField(default="")
    business_type = peewee.TextField(default="")
    category_type = peewee.TextField(default="")
    invoice_days = peewee.TextField(default="")
    send_stats = peewee.BooleanField(default=False)
    send_email = peewee.BooleanField(default=False)
    publish = peewee.BooleanField(default=False)


class BillGroup(BaseModel):
    client = peewee.ForeignKeyField(Client, backref="bill_groups")
    name = peewee.TextField()
    address = peewee.TextField(default="")
    invoicing = peewee.TextField(default="auto")
    status = peewee.TextField(default="active")
    custom_fields = JSONTextField(default=dict)
    uploader = peewee.TextField(null=True)
    uploader_settings = JSONTextField(default=dict)
    emails = peewee.TextField(default="")
    review_days = peewee.IntegerField(default=0)
    is_default = peewee.BooleanField(default=False)
    postcode = peewee.TextField(default="")  # "" = the client's
    city = peewee.TextField(default="")
    country = peewee.TextField(default="")
    einvoice_format = peewee.TextField(default="")  # "" = the client's


# ---------------------------------------------------------------- billable things


class Contract(BaseModel):
    """A subscription of a client, or of a reseller itself (R-INV-3)."""

    client = peewee.ForeignKeyField(Client, null=True, backref="contracts")
    reseller = peewee.ForeignKeyField(Reseller, null=True, backref="contracts")
    bill_group = peewee.ForeignKeyField(BillGroup, null=True, backref="contracts")
    description = peewee.TextField()
    unit_price = DecimalTextField()
    quantity = DecimalTextField(default="1")
    tax_rate = DecimalTextField()
    cycle = peewee.TextField()
    interval = peewee.IntegerField(default=1)
    anchor_date = peewee.DateField()
    start_date = peewee.DateField()
    end_date = peewee.DateField(null=True)
    status = peewee.TextField(default="active")
    timing = peewee.TextField(default="advance")
    origin = peewee.TextField(default="standard")
    payment_method = peewee.TextField(default="manual")
    tax_category = peewee.TextField(default="")  # "" = the client's (R-VAT-1)
    exemption_reason = peewee.TextField(default="")
    created_at = peewee.DateTimeField(default=utcnow)


class UsageRecord(BaseModel):
    # indexed first in (client, external_id) below: no index of its own to maintain
    client = peewee.ForeignKeyField(Client, backref="usage", index=False)
    occurred_at = peewee.DateTimeField(index=True)
    destination = peewee.TextField(default="")
    destination_group = peewee.TextField()
    quantity = DecimalTextField()
    unit = peewee.TextField(default="")
    amount = DecimalTextField()
    external_id = peewee.TextField(null=True)
    contract = peewee.ForeignKeyField(Contract, null=True, backref="usage")
    invoice = peewee.DeferredForeignKey("Invoice", null=True, backref="usage")
    reseller_invoice = peewee.DeferredForeignKey("Invoice", null=True, backref="reseller_usage")
    imported_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        # an external id is unique per client: two clients may both have "cdr-1"
        indexes = ((("client", "external_id"), True),)


class UsageImport(BaseModel):
    """A staged usage import (SPEC §2): its rows wait in ``UsageImportRow``, invisible to
    billing, until one commit moves them all into ``UsageRecord``; an abandoned one
    (its client killed) is discarded after a while of inactivity, never half-applied."""

    token = peewee.TextField(unique=True)
    kind = peewee.TextField(default="usage")  # usage | client | contract
    actor = peewee.TextField(default="")
    source = peewee.TextField(default="")
    rows = peewee.IntegerField(default=0)
    created_at = peewee.DateTimeField(default=utcnow)
    touched_at = peewee.DateTimeField(default=utcnow, index=True)


class UsageImportRow(BaseModel):
    """One validated, rated row of a staged usage import, as it will be stored."""

    # no index: a stage is written once and read whole, by a scan (an index cost more
    # to keep than any query it served: half the staging, most of the stage's delete).
    # No foreign key either: a stage's rows go with it (staging.drop), and without one
    # SQLite empties the table at once when no other stage is open (its truncation)
    usage_import = peewee.IntegerField(column_name="usage_import_id")
    line = peewee.IntegerField()
    client_id = peewee.IntegerField()
    occurred_at = peewee.DateTimeField()
    destination = peewee.TextField(default="")
    destination_group = peewee.TextField()
    quantity = DecimalTextField()
    unit = peewee.TextField(default="")
    amount = DecimalTextField()
    external_id = peewee.TextField(null=True)
    contract_id = peewee.IntegerField(null=True)


class ImportRow(BaseModel):
    """One checked row of a staged client or contract import, as the file gave it
    (column name -> text); parsed again when the import is committed."""

    usage_import = peewee.ForeignKeyField(
        UsageImport, backref="rows_staged", on_delete="CASCADE", index=False
    )  # indexed first below
    line = peewee.IntegerField()
    data = JSONTextField()

    class Meta:
        indexes = ((("usage_import", "line"), False),)


class PendingCharge(BaseModel):
    client = peewee.ForeignKeyField(Client, backref="pending_charges")
    contract = peewee.ForeignKeyField(Contract, null=True, backref="pending_charges")
    description = peewee.TextField()
    amount = DecimalTextField()
    schedule_date = peewee.DateField(null=True)
    notes = peewee.TextField(default="")
    status = peewee.TextField(default="pending")
    invoice = peewee.DeferredForeignKey("Invoice", null=True, backref="charges")
    created_at = peewee.DateTimeField(default=utcnow)


class PriceOverride(BaseModel):
    contract = peewee.ForeignKeyField(Contract, backref="price_overrides")
    final_amount = DecimalTextField()
    status = peewee.TextField(default="active")
    invoice = peewee.DeferredForeignKey("Invoice", null=True, backref="price_overrides")
    created_at = peewee.DateTimeField(default=utcnow)


# ---------------------------------------------------------------- documents


class Invoice(BaseModel):
    enterprise = peewee.ForeignKeyField(Enterprise, backref="invoices")
    client = peewee.ForeignKeyField(Client, null=True, backref="invoices")
    reseller = peewee.ForeignKeyField(Reseller, null=True, backref="invoices")
    number = peewee.TextField(null=True, index=True)
    status = peewee.TextField()
    issue_date = peewee.DateField(null=True)
    due_date = peewee.DateField(null=True)
    period_start = peewee.DateField(null=True)
    period_end = peewee.DateField(null=True)
    billing_date = peewee.DateField(null=True)  # the scheduled date it was due for (R-NUM-6)
    bill_group = peewee.ForeignKeyField(BillGroup, null=True, backref="invoices")
    currency = peewee.TextField()
    subtotal = DecimalTextField()
    tax = DecimalTextField()
    total = DecimalTextField()
    balance = DecimalTextField()
    origin = peewee.TextField()
    actor = peewee.TextField()
    seller = JSONTextField()
    bill_to = JSONTextField()
    replaces = peewee.ForeignKeyField("self", null=True, backref="replaced_by")
    dispute = peewee.TextField(default="")  # the reason while disputed: dunning pauses (R-DUN-1)
    dunning_paused = peewee.BooleanField(default=False)
    created_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        indexes = (
            (("enterprise", "number"), True),
            (("enterprise", "issue_date"), False),  # a sequence's latest date (R-NUM-6)
        )


class InvoiceLine(BaseModel):
    invoice = peewee.ForeignKeyField(Invoice, backref="lines", on_delete="CASCADE")
    position = peewee.IntegerField()
    kind = peewee.TextField()
    description = peewee.TextField()
    quantity = DecimalTextField()
    unit = peewee.TextField(default="")
    unit_price = DecimalTextField()
    net = DecimalTextField()
    tax_rate = DecimalTextField()
    tax = DecimalTextField()
    tax_category = peewee.TextField(default="S")  # EN 16931 UNCL 5305 (R-VAT-1)
    exemption_reason = peewee.TextField(default="")
    contract = peewee.ForeignKeyField(Contract, null=True)
    cycle_start = peewee.DateField(null=True)
    cycle_end = peewee.DateField(null=True)


class BilledCycle(BaseModel):
    """The claim that one contract cycle is billed; unique, so never twice (R-RUN-9)."""

    contract = peewee.ForeignKeyField(Contract, backref="billed_cycles")
    cycle_start = peewee.DateField()
    cycle_end = peewee.DateField()
    invoice = peewee.ForeignKeyField(Invoice, backref="billed_cycles")

    class Meta:
        indexes = ((("contract", "cycle_start"), True),)


class NumberSequence(BaseModel):
    """The next ``%num%`` of one enterprise, document kind and reset period (R-NUM-3)."""

    enterprise = peewee.ForeignKeyField(Enterprise)
    kind = peewee.TextField()
    period_key = peewee.TextField()
    next_value = peewee.IntegerField()

    class Meta:
        indexes = ((("enterprise", "kind", "period_key"), True),)


class Payment(BaseModel):
    client = peewee.ForeignKeyField(Client, backref="payments")
    amount = DecimalTextField()
    currency = peewee.TextField()
    method = peewee.TextField(default="manual")
    reference = peewee.TextField(default="")
    notes = peewee.TextField(default="")
    unallocated = DecimalTextField()
    refunded = DecimalTextField(default="0")
    actor = peewee.TextField()
    received_at = peewee.DateTimeField(default=utcnow)


class Refund(BaseModel):
    """Money paid back on a payment (``payment refund``): ledger + audit in one transaction.

    ``status``: pending (the gateway is being asked, keyed by ``idempotency_key``) |
    succeeded | failed. A manual payment's refund succeeds at once.
    """

    payment = peewee.ForeignKeyField(Payment, backref="refunds")
    amount = DecimalTextField()
    currency = peewee.TextField()
    reason = peewee.TextField(default="")
    method = peewee.TextField(default="manual")
    idempotency_key = peewee.TextField(unique=True)
    status = peewee.TextField(default="pending")
    result = JSONTextField(default=dict)
    actor = peewee.TextField()
    created_at = peewee.DateTimeField(default=utcnow)


class Allocation(BaseModel):
    payment = peewee.ForeignKeyField(Payment, backref="allocations")
    invoice = peewee.ForeignKeyField(Invoice, backref="allocations")
    amount = DecimalTextField()
    created_at = peewee.DateTimeField(default=utcnow)


class CreditNote(BaseModel):
    enterprise = peewee.ForeignKeyField(Enterprise, backref="credit_notes")
    invoice = peewee.ForeignKeyField(Invoice, backref="credit_notes")
    number = peewee.TextField()
    amount = DecimalTextField()
    net = DecimalTextField(null=True)
    tax = DecimalTextField(null=True)
    tax_breakdown = JSONTextField(default=list)
    currency = peewee.TextField()
    reason = peewee.TextField(default="")
    issue_date = peewee.DateField()
    actor = peewee.TextField()
    created_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        indexes = (
            (("enterprise", "number"), True),
            (("enterprise", "issue_date"), False),  # a sequence's latest date (R-NUM-6)
        )


class Document(BaseModel):
    """A rendered file; re-renders keep the previous file (R-INV-11)."""

    invoice = peewee.ForeignKeyField(Invoice, null=True, backref="documents")
    credit_note = peewee.ForeignKeyField(CreditNote, null=True, backref="documents")
    format = peewee.TextField()
    path = peewee.TextField()
    sha256 = peewee.TextField()
    current = peewee.BooleanField(default=True)
    created_at = peewee.DateTimeField(default=utcnow)
    version = peewee.IntegerField(default=1)  # its DocumentJob's version (R-INV-11)


class DocumentJob(BaseModel):
    """One version of an invoice's or credit note's documents, to render after the
    issuing transaction committed (R-INV-11, R-DEL-1; see billingd.services.document_queue).

    ``state``: pending | rendering (claimed: ``claimed_by`` since ``claimed_at``, real
    time) | ready | failed (``error``; tried again from ``retry_at`` on the daemon's
    clock while attempts remain, else for good).
    """

    invoice = peewee.ForeignKeyField(Invoice, null=True, backref="document_jobs")
    credit_note = peewee.ForeignKeyField(CreditNote, null=True, backref="document_jobs")
    version = peewee.IntegerField()
    formats = JSONTextField()
    actor = peewee.TextField(default="system")  # who issued or edited: the renders' actor
    state = peewee.TextField(default="pending", index=True)
    attempts = peewee.IntegerField(default=0)
    error = peewee.TextField(default="")
    retry_at = peewee.DateTimeField(null=True)
    claimed_at = peewee.DateTimeField(null=True)
    claimed_by = peewee.TextField(null=True)
    created_at = peewee.DateTimeField(default=utcnow)
    finished_at = peewee.DateTimeField(null=True)

    class Meta:
        indexes = (
            (("invoice", "version"), True),
            (("credit_note", "version"), True),
        )


class Delivery(BaseModel):
    """One send of a document (R-INV-10): recorded at once, delivered from this outbox."""

    invoice = peewee.ForeignKeyField(Invoice, backref="deliveries")
    channel = peewee.TextField(default="email")
    recipient = peewee.TextField()
    status = peewee.TextField(default="queued")
    attempts = peewee.IntegerField(default=0)
    last_error = peewee.TextField(default="")
    actor = peewee.TextField()
    created_at = peewee.DateTimeField(default=utcnow)
    sent_at = peewee.DateTimeField(null=True)


class ClosedPeriod(BaseModel):
    """A month closed by an operator (R-INV-13)."""

    enterprise = peewee.ForeignKeyField(Enterprise, backref="closed_periods")
    month = peewee.TextField()  # YYYY-MM
    actor = peewee.TextField()
    closed_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("enterprise", "month"), True),)


# ---------------------------------------------------------------- automatic generation


class ClockState(BaseModel):
    """The stored instant of the test clock (R-RUN-15); one row."""

    now = peewee.DateTimeField()


class ScheduledSlot(BaseModel):
    """A schedule owner's billing date, claimed once (R-RUN-9): ``owner`` is ``client:ID``.

    The unique key is what makes a re-run, a restart or a second daemon unable to
    generate the same scheduled invoice twice. An empty period is claimed too.
    """

    owner = peewee.TextField()
    slot = peewee.DateField()
    period_start = peewee.DateField()
    period_end = peewee.DateField()
    invoice = peewee.ForeignKeyField(Invoice, null=True, backref="slots")
    run_id = peewee.IntegerField(null=True)
    created_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("owner", "slot"), True),)


class Run(BaseModel):
    """One billing run (R-RUN-11)."""

    as_of = peewee.DateField()
    client_id = peewee.IntegerField(null=True)
    clients = JSONTextField(null=True)  # a run over some clients (an import's): their ids
    dry_run = peewee.BooleanField(default=False)
    trigger = peewee.TextField(default="schedule")
    actor = peewee.TextField(default="system")
    host = peewee.TextField(default="")
    pid = peewee.IntegerField(default=0)
    status = peewee.TextField(default="running")
    started_at = peewee.DateTimeField(default=utcnow)
    heartbeat_at = peewee.DateTimeField(null=True)  # the lease of the process running it
    finished_at = peewee.DateTimeField(null=True)
    total = peewee.IntegerField(default=0)
    done = peewee.IntegerField(default=0)
    invoices = peewee.IntegerField(default=0)
    documents = peewee.IntegerField(default=0)
    emails = peewee.IntegerField(default=0)
    charges = peewee.IntegerField(default=0)
    failures = peewee.IntegerField(default=0)
    parked = peewee.IntegerField(default=0)


class RunError(BaseModel):
    run = peewee.ForeignKeyField(Run, backref="errors")
    client_id = peewee.IntegerField(null=True)
    message = peewee.TextField()
    created_at = peewee.DateTimeField(default=utcnow)


class ParkedClient(BaseModel):
    """A client the scheduler will not bill until an operator releases it (R-RUN-14)."""

    client = peewee.ForeignKeyField(Client, backref="parkings")
    reason = peewee.TextField()
    parked_at = peewee.DateTimeField(default=utcnow)
    released_at = peewee.DateTimeField(null=True)
    released_by = peewee.TextField(null=True)


class ChargeAttempt(BaseModel):
    """A gateway charge for a self-checkout invoice, keyed for idempotency (R-RUN-7)."""

    invoice = peewee.ForeignKeyField(Invoice, backref="charge_attempts")
    contract = peewee.ForeignKeyField(Contract, backref="charge_attempts")
    gateway = peewee.TextField()
    idempotency_key = peewee.TextField(unique=True)
    amount = DecimalTextField()
    status = peewee.TextField(default="pending")  # pending | succeeded | failed
    result = JSONTextField(default=dict)
    created_at = peewee.DateTimeField(default=utcnow)
    # the retry schedule (R-RUN-7): 0 the first charge, n the n-th retry; when it failed
    # (the daemon's clock) and when the next retry is due (null: none pending)
    attempt = peewee.IntegerField(default=0)
    failed_at = peewee.DateTimeField(null=True)
    retry_at = peewee.DateTimeField(null=True, index=True)


class OutboxMessage(BaseModel):
    """One delivery to make after the commit that queued it (R-DEL-3..5, R-INV-10); see
    :mod:`billingd.services.outbox`.

    ``channel``: email (SMTP) | upload (the uploader plugin ``target``) | notify (the
    notifier plugin ``target``, e.g. ``email`` or a webhook endpoint, is told ``event``).
    ``state``: queued (due from ``next_attempt_at`` on the daemon's clock) | sending
    (claimed by ``claimed_by`` since ``claimed_at``, real time) | sent | failed (for
    good: a permanent refusal or attempts exhausted) | cancelled. ``dedupe_key`` makes
    queueing the same delivery twice a no-op (a reminder step, an event's fan-out).
    ``message_id`` is fixed at the first attempt and kept for every retry.
    """

    channel = peewee.TextField()
    kind = peewee.TextField()  # invoice | credit_note | reminder | notification | event
    event = peewee.TextField(default="")
    target = peewee.TextField(default="")
    dedupe_key = peewee.TextField(null=True, unique=True)
    enterprise = peewee.ForeignKeyField(Enterprise, null=True, backref="outbox")
    client = peewee.ForeignKeyField(Client, null=True, backref="outbox")
    invoice = peewee.ForeignKeyField(Invoice, null=True, backref="outbox")
    credit_note = peewee.ForeignKeyField(CreditNote, null=True, backref="outbox")
    delivery = peewee.ForeignKeyField(Delivery, null=True, backref="messages")
    recipients = JSONTextField(default=list)
    payload = JSONTextField(default=dict)
    language = peewee.TextField(default="en")
    subject = peewee.TextField(default="")
    message_id = peewee.TextField(null=True)
    document_version = peewee.IntegerField(null=True)
    state = peewee.TextField(default="queued", index=True)
    attempts = peewee.IntegerField(default=0)
    last_error = peewee.TextField(default="")
    next_attempt_at = peewee.DateTimeField(null=True, index=True)
    claimed_by = peewee.TextField(null=True)
    claimed_at = peewee.DateTimeField(null=True)
    actor = peewee.TextField(default="system")
    created_at = peewee.DateTimeField(default=utcnow)
    sent_at = peewee.DateTimeField(null=True)


class DunningPlan(BaseModel):
    """An enterprise's reminder steps (R-DUN-1); see :mod:`billingd.domain.dunning`.

    ``steps``: ``[{"name", "days", "fee", "interest_rate"}]`` (days after the due date,
    a fixed fee, annual interest in percent). ``charge_mode``: next_invoice (fees and
    interest become pending charges) | reminder_invoice (an invoice of their own).
    """

    enterprise = peewee.ForeignKeyField(Enterprise, unique=True, backref="dunning_plans")
    steps = JSONTextField(default=list)
    charge_mode = peewee.TextField(default="next_invoice")
    actor = peewee.TextField(default="system")
    updated_at = peewee.DateTimeField(default=utcnow)


class DunningNotice(BaseModel):
    """One reminder step taken for an invoice: exactly once, by the unique key."""

    invoice = peewee.ForeignKeyField(Invoice, backref="dunning_notices")
    step = peewee.IntegerField()
    name = peewee.TextField()
    notice_date = peewee.DateField()
    days_overdue = peewee.IntegerField()
    balance = DecimalTextField()
    fee = DecimalTextField(default="0")
    interest = DecimalTextField(default="0")
    charge = peewee.ForeignKeyField(PendingCharge, null=True)
    fee_invoice = peewee.ForeignKeyField(Invoice, null=True, backref="dunning_fee_of")
    actor = peewee.TextField(default="system")
    created_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("invoice", "step"), True),)


# ---------------------------------------------------------------- ledger and audit


class LedgerEntry(BaseModel):
    client = peewee.ForeignKeyField(Client, null=True, backref="ledger")
    reseller = peewee.ForeignKeyField(Reseller, null=True, backref="ledger")
    kind = peewee.TextField()
    amount = DecimalTextField()
    currency = peewee.TextField()
    invoice = peewee.ForeignKeyField(Invoice, null=True)
    payment = peewee.ForeignKeyField(Payment, null=True)
    credit_note = peewee.ForeignKeyField(CreditNote, null=True)
    memo = peewee.TextField(default="")
    created_at = peewee.DateTimeField(default=utcnow)


class AuditEvent(BaseModel):
    """Append-only (R-AUD-1): database triggers refuse updates and deletes."""

    created_at = peewee.DateTimeField(default=utcnow, index=True)
    event = peewee.TextField()
    actor = peewee.TextField()
    client_id = peewee.IntegerField(null=True, index=True)
    subject_type = peewee.TextField(default="")
    subject_id = peewee.IntegerField(null=True)
    details = JSONTextField(default=dict)


ALL_MODELS: tuple[type[BaseModel], ...] = (
    SchemaVersion,
    Brand,
    Enterprise,
    Reseller,
    Client,
    BillGroup,
    Contract,
    UsageRecord,
    UsageImport,
    UsageImportRow,
    ImportRow,
    PendingCharge,
    PriceOverride,
    Invoice,
    InvoiceLine,
    BilledCycle,
    NumberSequence,
    Payment,
    Allocation,
    CreditNote,
    Document,
    DocumentJob,
    Delivery,
    ClosedPeriod,
    ClockState,
    ScheduledSlot,
    Run,
    RunError,
    ParkedClient,
    ChargeAttempt,
    LedgerEntry,
    AuditEvent,
    Refund,
    OutboxMessage,
    DunningPlan,
    DunningNotice,
)
