"""The files a delivery carries: an invoice's or credit note's documents, once rendered.

Emails and portal uploads go out after the document queue rendered the version they
are about; until then :class:`NotReady` tells the outbox to look again shortly,
without counting an attempt.
"""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass
from pathlib import Path

from billingd.db.models import CreditNote, Document, DocumentJob, Invoice
from billingd.db.prepared import PreparedSelect, Slot

PDF_LIKE = frozenset({"pdf", "facturx"})
"""Formats that are a complete PDF: an e-invoice of this kind replaces the plain PDF."""


class NotReady(Exception):
    """What a delivery needs is not there yet (a document still pending or failed)."""


@dataclass(frozen=True, slots=True)
class Attachment:
    filename: str
    content_type: str
    data: bytes
    format: str = ""


def _content_type(path: str) -> str:
    return mimetypes.guess_type(path)[0] or "application/octet-stream"


LATEST_JOB = PreparedSelect(
    lambda column: (
        DocumentJob.select(DocumentJob.state, DocumentJob.error)
        .where(getattr(DocumentJob, column) == Slot("owner"))
        .order_by(DocumentJob.version.desc())
        .limit(1)
    )
)
CURRENT_DOCUMENTS = PreparedSelect(
    lambda column: Document.select(Document.format, Document.path).where(
        (getattr(Document, column) == Slot("owner")) & Document.current
    )
)


def stored_documents(owner: Invoice | CreditNote) -> dict[str, Attachment]:
    """The current document of each format of the newest version, by format.

    Raises :class:`NotReady` while that version is queued, rendering or failed.
    """
    kind = "invoice" if isinstance(owner, Invoice) else "credit_note"
    label = f"{kind.replace('_', ' ')} {owner.number}"
    job = LATEST_JOB.first((kind,), owner=owner.id)
    if job is not None and job[0] != "ready":
        detail = f": {job[1]}" if job[1] else ""
        raise NotReady(f"the documents of {label} are {job[0]}{detail}")
    found = {}
    for fmt, stored in CURRENT_DOCUMENTS.tuples((kind,), owner=owner.id):
        path = Path(stored)
        found[fmt] = Attachment(path.name, _content_type(stored), path.read_bytes(), fmt)
    if "pdf" not in found:
        raise NotReady(f"{label} has no stored PDF yet")
    return found


def for_recipient(documents: dict[str, Attachment]) -> list[Attachment]:
    """What a client receives (R-DEL-3): the PDF, or its e-invoice format instead (a
    Factur-X PDF replaces it; an XML format comes with the PDF as the readable copy),
    and the statistics file when it is among the documents."""
    chosen = [doc for fmt, doc in documents.items() if fmt not in ("pdf", "stats-csv")]
    if not any(doc.format in PDF_LIKE for doc in chosen):
        chosen.insert(0, documents["pdf"])
    if "stats-csv" in documents:
        chosen.append(documents["stats-csv"])
    return chosen
