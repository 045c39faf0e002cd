"""What a document is made of, rendering it and storing it (R-INV-11, R-DEL-1).

Rendering happens after the issuing transaction, through the queue of
:mod:`billingd.services.document_queue`; this module has the pieces it puts together.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from billingd.db.connection import on_rollback
from billingd.db.models import CreditNote, Document, Invoice
from billingd.errors import RuleViolation
from billingd.rendering import RenderContext, default_template_dirs
from billingd.services import statistics
from billingd.services.context import ServiceContext
from billingd.services.document_data import credit_note_document, invoice_document

if TYPE_CHECKING:
    from billingd.plugins import PluginHost


FILE_SUFFIXES = {"pdf": ".pdf", "stats-csv": ".csv", "stats-pdf": ".stats.pdf"}
"""File suffixes of the stored formats; a renderer plugin's format uses its extension."""
BUILT_IN_FORMATS = frozenset({"stats-csv"})
"""Formats billingd makes itself from the database; every other is a renderer plugin's."""


RENDERERS = {"stats-pdf": "pdf"}
"""Formats rendered by a renderer of another name (the statistics table by the PDF one)."""


def renderer_for(fmt: str) -> str:
    """The renderer plugin that makes a format."""
    return RENDERERS.get(fmt, fmt)


def formats_for(owner: Invoice | CreditNote) -> list[str]:
    """The formats an issued invoice's or credit note's documents are rendered in: the
    PDF; the e-invoice format of the invoice's bill group, else of its client or reseller
    (R-DEL-6); for an invoice, the statistics file when the client receives it (R-INV-2)."""
    invoice = owner if isinstance(owner, Invoice) else owner.invoice
    formats = ["pdf"]
    party = invoice.client or invoice.reseller
    group = invoice.bill_group
    einvoice = (group.einvoice_format if group is not None else "") or party.einvoice_format
    if einvoice:
        formats.append(einvoice)
    if owner is invoice and invoice.client is not None and invoice.client.send_stats:
        formats.append("stats-csv")
    return formats


def stem(number: str | None, row_id: int) -> str:
    """A file name stem from a document number, safe for any pattern."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", number or "draft").strip("_") or "document"
    return f"{safe}-{row_id}"


def file_suffix(fmt: str, plugins: PluginHost | None = None) -> str:
    """The file suffix of a format: a stored format's, else its renderer's extension."""
    if fmt in FILE_SUFFIXES:
        return FILE_SUFFIXES[fmt]
    extension = plugins.renderer(fmt).file_extension if plugins is not None else "bin"
    return f".{fmt}.{extension.lstrip('.')}"


def document_path(
    data_dir: Path, enterprise_id: int, file_stem: str, suffix: str, version: int
) -> Path:
    """Where one version of a document lives: the same path for the same version, so a
    render repeated after a crash replaces its own file (R-INV-11)."""
    name = f"{file_stem}{suffix}" if version <= 1 else f"{file_stem}.v{version}{suffix}"
    return data_dir / "documents" / str(enterprise_id) / name


def write_file(path: Path, data: bytes) -> None:
    """Write ``path`` whole or not at all (through a sibling temporary file), and remove
    it again if the current write transaction rolls back."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    try:
        partial.write_bytes(data)
        partial.replace(path)
    except BaseException as exc:  # a full disk: no partial file is left behind
        partial.unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.filename is None:
            exc.filename = str(path)  # a refused write names no file: this one
        raise
    on_rollback(path.unlink)


def store(
    path: Path,
    fmt: str,
    version: int,
    data: bytes,
    *,
    invoice_id: int | None = None,
    credit_note_id: int | None = None,
) -> Document:
    """Write one version's file and its Document row (inside a write transaction).

    The newest version of a format is the current one, whichever finishes first;
    the files of earlier versions are kept (R-INV-11).
    """
    write_file(path, data)
    owner = (
        (Document.invoice == invoice_id)
        if invoice_id is not None
        else (Document.credit_note == credit_note_id)
    )
    same = owner & (Document.format == fmt)
    newer = Document.select().where(same & (Document.version > version)).exists()
    if not newer:
        Document.update(current=False).where(same & (Document.version < version)).execute()
    return Document.create(
        invoice=invoice_id,
        credit_note=credit_note_id,
        format=fmt,
        path=str(path),
        sha256=hashlib.sha256(data).hexdigest(),
        version=version,
        current=not newer,
    )


@dataclass
class Rendered:
    """A renderer's output and the warnings it left on its context."""

    data: bytes
    warnings: list[str] = field(default_factory=list)


def render_with(
    plugins: PluginHost | None,
    template_dirs: list[Path],
    renderer_name: str,
    document: dict[str, Any],
) -> Rendered:
    """Render a document with a renderer plugin; touches no database (runs in the
    document worker processes as well as in-process)."""
    if plugins is None:
        raise RuleViolation("R-DEL-1", "no renderer plugins are loaded")
    context = RenderContext(
        template_dirs=template_dirs, settings=plugins.settings_for(renderer_name)
    )
    data = plugins.renderer(renderer_name).render(document, context)
    return Rendered(data, [str(w) for w in getattr(context, "warnings", None) or ()])


def template_dirs_of(ctx: ServiceContext) -> list[Path]:
    return default_template_dirs(ctx.data_dir / "templates")


def render_as(ctx: ServiceContext, owner: Invoice | CreditNote, fmt: str) -> bytes:
    """An invoice or credit note rendered now in a format (e.g. an e-invoice format the
    client does not receive by default), not stored."""
    if isinstance(owner, CreditNote):
        document = credit_note_document(owner)
    elif fmt == "stats-pdf":
        document = statistics.statistics_document(owner)
    else:
        document = invoice_document(owner)
    return render_with(ctx.plugins, template_dirs_of(ctx), renderer_for(fmt), document).data


def invoice_statistics(invoice: Invoice) -> bytes:
    """The statistics file of the usage records an invoice bills (R-INV-2)."""
    return statistics.invoice_statistics_csv(invoice)


def current_document(owner: Invoice | CreditNote, fmt: str) -> Document | None:
    """The current document of an invoice or credit note in a format, if rendered."""
    column = Document.invoice if isinstance(owner, Invoice) else Document.credit_note
    return (
        Document.select()
        .where((column == owner.id) & (Document.format == fmt) & Document.current)
        .first()
    )


def read_document(owner: Invoice | CreditNote, fmt: str) -> bytes | None:
    document = current_document(owner, fmt)
    if document is None:
        return None
    return Path(document.path).read_bytes()
