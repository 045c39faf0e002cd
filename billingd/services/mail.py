"""What an outbox email says and carries (R-DEL-3, R-DEL-5): recipients, the filled
mail template, the documents as attachments, the Message-ID it keeps across retries.

Kinds: ``invoice`` and ``credit_note`` (the documents of the newest version, see
:mod:`billingd.services.delivered_documents`), ``reminder`` (the dunning step's PDF)
and ``notification`` (a notice; its template and context were fixed when queued).
"""

from __future__ import annotations

import base64
import datetime as dt
import re
import uuid
from collections.abc import Callable, Sequence
from email.header import Header
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import compat32
from email.utils import encode_rfc2231, format_datetime, formataddr, getaddresses, parseaddr
from pathlib import Path
from typing import TYPE_CHECKING, Any

from billingd.db.models import Client, CreditNote, Enterprise, Invoice, OutboxMessage
from billingd.errors import ValidationError
from billingd.mail_templates import render_mail
from billingd.services import delivered_documents
from billingd.services.delivered_documents import Attachment

CRLF = compat32.clone(linesep="\r\n")
if TYPE_CHECKING:
    from billingd.plugins import PluginHost

INVOICE_KEYS = (
    "id", "number", "issue_date", "due_date", "period_start", "period_end",
    "currency", "subtotal", "tax", "total", "balance", "status",
)  # fmt: skip


PLAIN_ADDRESS = re.compile(r"[^\s@,;<>()\[\]\"\\:]+@[^\s@,;<>()\[\]\"\\:]+")
"""``local@domain`` with nothing to parse: taken as it is (imports check thousands)."""


def split_addresses(text: str) -> list[str]:
    """Addresses from a bill group's or client's email field (comma or semicolon
    separated, ``Name <address>`` allowed), duplicates dropped."""
    if PLAIN_ADDRESS.fullmatch(text.strip()):
        return [text.strip()]  # one plain address: nothing to parse (a run sends thousands)
    found = getaddresses([text.replace(";", ",")])
    return list(dict.fromkeys(addr.strip() for _, addr in found if "@" in addr))


def check_addresses(text: str, field: str) -> str:
    """Refuse an email field with something that is no address (the field named)."""
    if PLAIN_ADDRESS.fullmatch(text.strip()):
        return text
    for part in re.split(r"[,;]", text):
        if part.strip() and "@" not in parseaddr(part)[1]:
            raise ValidationError(f"{field}: not an email address: {part.strip()!r}", field=field)
    return text


def invoice_recipients(invoice: Invoice) -> list[str]:
    """The bill group's recipients at issue (seed 004), else the client's billing emails."""
    recipients = split_addresses((invoice.bill_to or {}).get("email") or "")
    owner = invoice.client or invoice.reseller
    if not recipients and owner is not None:
        recipients = split_addresses(owner.email)
    return recipients


def party_context(enterprise: Enterprise | None, client: Client | None) -> dict[str, Any]:
    """The sender's and the client's details every mail template may use."""
    return {**sender_context(enterprise), **client_context(client)}


def sender_context(enterprise: Enterprise | None) -> dict[str, Any]:
    """The enterprise and its brand, as mail templates see them."""
    brand = enterprise.brand if enterprise is not None else None
    return {
        "enterprise": {
            name: str(getattr(enterprise, name, "") or "")
            for name in ("name", "email", "phone", "address", "iban", "bic", "tax_id")
        },
        "brand": {
            "name": (brand.name if brand else "") or (enterprise.name if enterprise else ""),
            "accent_color": brand.accent_color if brand else "#1f6feb",
            "footer": brand.footer if brand else "",
        },
    }


def client_context(client: Client | None) -> dict[str, Any]:
    """The client, as mail templates see it."""
    return {
        "client": {
            "id": client.id if client else "",
            "name": (client.company or client.name) if client else "",
            "email": client.email if client else "",
        },
    }


def _invoice_context(invoice: Invoice) -> dict[str, Any]:
    return {key: "" if getattr(invoice, key) is None else str(getattr(invoice, key))
            for key in INVOICE_KEYS}  # fmt: skip


def _credit_note_context(note: CreditNote) -> dict[str, Any]:
    return {
        **{key: str(getattr(note, key) or "")
           for key in ("id", "number", "issue_date", "amount", "currency", "reason")},
        "invoice_number": note.invoice.number,
    }  # fmt: skip


def _reminder(
    message: OutboxMessage, template_dirs: Sequence[Path], plugins: PluginHost | None
) -> tuple[dict[str, Any], list[Attachment]]:
    from billingd.services import dunning  # dunning builds on the outbox

    notice_id = int(message.payload["notice_id"])
    filename, data = dunning.reminder_attachment(
        notice_id, plugins=plugins, template_dirs=list(template_dirs)
    )
    context = dunning.reminder_context(notice_id)
    return context, [Attachment(filename, "application/pdf", data, "pdf")]


def _cached(cache: dict[Any, Any] | None, key: Any, make: Callable[[], Any]) -> Any:
    if cache is None:
        return make()
    if key not in cache:
        cache[key] = make()
    return cache[key]


def content(
    message: OutboxMessage,
    template_dirs: Sequence[Path] = (),
    plugins: PluginHost | None = None,
    cache: dict[Any, Any] | None = None,
) -> tuple[str, dict[str, Any], list[Attachment]]:
    """The template name, its context and the attachments of a message (a reminder's
    PDF is rendered here, from ``template_dirs`` by ``plugins``' renderer). ``cache``
    keeps the sender's and client's details across the messages of one round.

    Raises :class:`~billingd.services.delivered_documents.NotReady` while a document
    it carries is not rendered yet.
    """
    base = _cached(
        cache, ("enterprise", message.enterprise_id), lambda: sender_context(message.enterprise)
    )
    base = {
        **base,
        **_cached(cache, ("client", message.client_id), lambda: client_context(message.client)),
    }
    if message.kind == "invoice":
        invoice = message.invoice
        documents = delivered_documents.stored_documents(invoice)
        context = {**base, "invoice": _invoice_context(invoice)}
        return "invoice", context, delivered_documents.for_recipient(documents)
    if message.kind == "credit_note":
        note = message.credit_note
        documents = delivered_documents.stored_documents(note)
        context = {**base, "credit_note": _credit_note_context(note)}
        return "credit_note", context, [documents["pdf"]]
    if message.kind == "reminder":
        context, attachments = _reminder(message, template_dirs, plugins)
        return "reminder", {**base, **context}, attachments
    if message.kind == "notification":
        return message.payload["template"], {**base, **message.payload["context"]}, []
    raise ValidationError(f"outbox message {message.id}: unknown email kind {message.kind!r}")


def compose(
    message: OutboxMessage,
    sender: str,
    template_dirs: Sequence[Path],
    plugins: PluginHost | None = None,
    cache: dict[Any, Any] | None = None,
) -> bytes:
    """The RFC 5322 message for an outbox email, with its stable Message-ID, as the
    bytes to send (CRLF line ends)."""
    name, context, attachments = content(message, template_dirs, plugins, cache)
    text = render_mail(name, message.language, context, template_dirs)
    headers = {
        "From": _address(sender),
        "To": ", ".join(message.recipients),
        "Subject": Header(text.subject, "utf-8").encode(),
        "Date": format_datetime(message.created_at.replace(tzinfo=dt.UTC)),
        "Message-ID": message.message_id,
        "Auto-Submitted": "auto-generated",
    }
    return assemble(headers, text.text, text.html, attachments)


def _address(text: str) -> str:
    display, address = parseaddr(text)
    return formataddr((display, address), "utf-8") if display else address


def _header_block(headers: dict[str, str]) -> bytes:
    return "".join(f"{key}: {value}\r\n" for key, value in headers.items()).encode() + b"\r\n"


def _attachment_part(attachment: Attachment) -> bytes:
    """A base64 MIME part, written directly: the email package's generator is slow for
    a PDF whose lines need no folding."""
    filename = attachment.filename
    if filename.isascii() and '"' not in filename and "\\" not in filename:
        disposition = f'attachment; filename="{filename}"'
    else:
        disposition = f"attachment; filename*={encode_rfc2231(filename, 'utf-8')}"
    head = {
        "Content-Type": attachment.content_type,
        "Content-Transfer-Encoding": "base64",
        "Content-Disposition": disposition,
    }
    encoded = base64.b64encode(attachment.data)
    lines = [encoded[i : i + 76] for i in range(0, len(encoded), 76)]  # RFC 2045 lines
    return _header_block(head) + b"\r\n".join(lines) + b"\r\n"


def _body_part(text: str, html: str | None) -> bytes:
    plain = MIMEText(text, "plain", "utf-8")
    if html is None:
        return plain.as_bytes(policy=CRLF)
    alternative = MIMEMultipart("alternative")
    alternative.attach(plain)
    alternative.attach(MIMEText(html, "html", "utf-8"))
    return alternative.as_bytes(policy=CRLF)


def assemble(
    headers: dict[str, str], text: str, html: str | None, attachments: Sequence[Attachment]
) -> bytes:
    """A multipart/mixed message: ``headers`` (already encoded), the text (and HTML)
    body, the attachments."""
    boundary = "=_billingd_" + uuid.uuid4().hex
    block = {
        **headers,
        "MIME-Version": "1.0",
        "Content-Type": f'multipart/mixed; boundary="{boundary}"',
    }
    parts = [_body_part(text, html), *(_attachment_part(a) for a in attachments)]
    delimiter = b"--" + boundary.encode()
    out = [_header_block(block)]
    for part in parts:
        out += [delimiter, b"\r\n", part, b"\r\n"]
    out += [delimiter, b"--\r\n"]
    return b"".join(out)
