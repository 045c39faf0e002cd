"""Portal uploads (R-DEL-4, seed 004): an issued invoice's documents handed to its bill
group's uploader plugin, queued and retried like email.

:func:`queue_upload` is called where an invoice is issued, in the issuing transaction:
when the invoice's bill group names an ``uploader``, it queues one outbox message
(channel ``upload``, ``target`` the uploader's name) beside the invoice's document job.
The documents are rendered after the commit, so the outbox worker asks
:func:`upload_delivery` for the delivery only when it is due: it raises
:class:`NotReady` while the invoice's newest document version is still queued or
rendering (the worker puts the message back without counting an attempt), and
:class:`~billingd.plugins.PermanentFailure` when that version failed for good.

What is uploaded is the newest rendered version at the time of the upload, so an
address edited before the upload went out is uploaded corrected. An edit after the
upload does **not** upload again: portals such as Ariba and Coupa refuse a second
invoice with the same number, and a corrected invoice is a credit note plus a new
invoice there — which is what ``invoice reissue`` does (the new invoice is issued,
so it is uploaded like any other).
"""

from __future__ import annotations

import datetime as dt
import mimetypes
from pathlib import Path
from typing import TYPE_CHECKING, Any

from billingd.db.models import Document, DocumentJob, Invoice, OutboxMessage
from billingd.errors import NotFound
from billingd.plugins import PermanentFailure
from billingd.services import delivered_documents, documents, outbox
from billingd.services.context import ServiceContext
from billingd.views import invoice_view

if TYPE_CHECKING:
    from billingd.plugins import PluginHost

KIND = "invoice"
SKIPPED_FORMATS = frozenset({"stats-csv", "stats-pdf"})
"""Formats never uploaded: the statistics file is for the client's own eyes."""
NOT_READY_PAUSE = dt.timedelta(seconds=30)
"""How long the worker waits before asking again for documents still rendering."""
CONTENT_TYPES = {"pdf": "application/pdf"}


class NotReady(delivered_documents.NotReady):
    """The invoice's documents are not rendered yet; ask again after ``pause``."""

    def __init__(self, message: str, pause: dt.timedelta = NOT_READY_PAUSE) -> None:
        super().__init__(message)
        self.pause = pause


def queue_upload(
    ctx: ServiceContext, invoice: Invoice, job: DocumentJob | None
) -> OutboxMessage | None:
    """Queue the upload of an issued invoice to its bill group's portal; call in the
    issuing transaction, after its document job was queued. Nothing happens without an
    uploader or without documents; queueing twice for one version is a no-op."""
    group = invoice.bill_group
    if group is None or not group.uploader or job is None:
        return None
    message = outbox.enqueue(
        ctx,
        channel=outbox.UPLOAD,
        kind=KIND,
        target=group.uploader,
        enterprise=invoice.enterprise_id,
        client=invoice.client_id,
        invoice=invoice,
        dedupe_key=f"upload:{invoice.id}:{job.version}",
    )
    if message is not None:
        message.document_version = job.version
        message.save(only=[OutboxMessage.document_version])
    return message


def _newest_job(invoice: Invoice) -> DocumentJob | None:
    return (
        DocumentJob.select()
        .where(DocumentJob.invoice == invoice.id)
        .order_by(DocumentJob.version.desc())
        .first()
    )


def _suffix(document: Document) -> str:
    """The file suffix of a stored document (``.pdf``, ``.facturx.pdf``, ``.ubl.xml``)."""
    if document.format in documents.FILE_SUFFIXES:
        return documents.FILE_SUFFIXES[document.format]
    name = Path(document.path).name
    marker = f".{document.format}."
    at = name.find(marker)
    return name[at:] if at >= 0 else f".{document.format}"


def _content_type(document: Document, filename: str, plugins: PluginHost | None) -> str:
    if document.format in CONTENT_TYPES:
        return CONTENT_TYPES[document.format]
    if plugins is not None:
        renderer = plugins.renderers().get(document.format)
        media_type = getattr(renderer, "media_type", None)
        if media_type:
            return str(media_type)
    return mimetypes.guess_type(filename)[0] or "application/octet-stream"


def _documents(invoice: Invoice, version: int, plugins: PluginHost | None) -> list[dict[str, Any]]:
    rows = (
        Document.select()
        .where((Document.invoice == invoice.id) & (Document.version == version))
        .order_by(Document.id)
    )
    found: dict[str, Document] = {}
    for row in rows:
        if row.format not in SKIPPED_FORMATS:
            found[row.format] = row  # the last stored of a format wins
    ordered = sorted(found.values(), key=lambda d: (d.format != "pdf", d.format))
    stem = documents.stem(invoice.number, invoice.id).rpartition("-")[0] or "invoice"
    result = []
    for document in ordered:
        filename = f"{stem}{_suffix(document)}"
        result.append(
            {
                "format": document.format,
                "filename": filename,
                "content_type": _content_type(document, filename, plugins),
                "data": Path(document.path).read_bytes(),
            }
        )
    return result


def upload_delivery(message: OutboxMessage, plugins: PluginHost | None = None) -> dict[str, Any]:
    """The ``delivery`` an uploader receives for an upload message (see
    :class:`billingd.plugins.Uploader`): the invoice's JSON view (plus ``seller``, the
    seller's details at issue), the documents of its newest rendered version (PDF and
    e-invoice formats, read from the files), the bill group's custom fields and
    uploader settings, and the message's stable id.

    Raises :class:`NotReady` while the newest document version is queued or rendering
    (or failed and will be tried again), :class:`PermanentFailure` when it failed for
    good or the invoice is gone.
    """
    invoice = Invoice.get_or_none(Invoice.id == message.invoice_id)
    if invoice is None:
        raise PermanentFailure(f"upload message {message.id}: its invoice no longer exists")
    job = _newest_job(invoice)
    if job is None:
        raise PermanentFailure(f"invoice {invoice.number} has no documents to upload")
    if job.state == "failed" and job.retry_at is None:
        raise PermanentFailure(
            f"the documents of invoice {invoice.number} could not be rendered: {job.error}"
        )
    if job.state != "ready":
        raise NotReady(
            f"the documents of invoice {invoice.number} (version {job.version}) are "
            f"{job.state}; the upload waits for them"
        )
    files = _documents(invoice, job.version, plugins)
    if not files:
        raise PermanentFailure(f"invoice {invoice.number} has no documents to upload")
    group = invoice.bill_group
    view = invoice_view(invoice)
    return {
        "invoice": view,
        "seller": dict(invoice.seller or {}),
        "documents": files,
        "custom_fields": dict(group.custom_fields or {}) if group is not None else {},
        "settings": dict(group.uploader_settings or {}) if group is not None else {},
        "message_id": message.message_id or f"<billingd.upload.inv{invoice.id}.m{message.id}>",
        "document_version": job.version,
    }


def deliver(message: OutboxMessage, plugins: PluginHost) -> outbox.Outcome:
    """Make one claimed upload message's attempt, outside any transaction: the outcome
    to :func:`billingd.services.outbox.record`. Never raises for the upload's own
    failures (a plugin's bug is an error to retry, like a refused connection)."""
    try:
        delivery = upload_delivery(message, plugins)
        uploader = plugins.uploader(message.target)
        receipt = uploader.upload(delivery)
    except NotReady as exc:
        return outbox.Outcome(message.id, error=str(exc), later=exc.pause)
    except (PermanentFailure, NotFound) as exc:
        return outbox.Outcome(message.id, error=str(exc) or type(exc).__name__, permanent=True)
    except Exception as exc:
        return outbox.Outcome(message.id, error=f"{type(exc).__name__}: {exc}")
    if receipt is not None and not isinstance(receipt, dict):
        receipt = {"result": str(receipt)}
    return outbox.Outcome(message.id, receipt=receipt)
