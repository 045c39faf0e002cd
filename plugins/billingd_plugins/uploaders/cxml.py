"""The ``cxml`` uploader: an invoice posted as a cXML ``InvoiceDetailRequest`` over
HTTPS, the supplier invoice of procurement networks such as SAP Ariba and Coupa.

Settings (usually the bill group's custom fields ``cxml_<setting>``, seed 004):

``url`` (required)
    the buyer's or network's cXML endpoint; ``https://`` (plain ``http://`` only with
    ``allow_http: true``, for a test system);
``from_identity``, ``to_identity``, ``sender_identity`` (required), ``shared_secret``
    the credentials of the cXML header: From (the supplier), To (the buyer), Sender
    (who posts, with the shared secret); ``from_domain``, ``to_domain``,
    ``sender_domain`` (default ``NetworkID``);
``order_id``
    the buyer's purchase order the invoice bills (``OrderReference``); without it the
    invoice is sent as a non-PO invoice (``OrderIDInfo`` with the invoice number);
``deployment_mode``
    ``production`` (default) or ``test``;
``attach``
    true (default): the PDF goes along as a cXML attachment (MIME
    ``multipart/related``, referenced by ``cid:`` from the header's ``Comments``);
    false: the cXML document alone;
``ca_file``, ``timeout``
    certificates to trust for the endpoint (besides the system's); seconds for
    connecting and for the answer (default 60).

Un-prefixed custom fields (a cost centre, a buyer reference) travel as ``Extrinsic``
elements of the header. The ``payloadID`` is the outbox message id, the same on
every retry, so the network drops a duplicate.

Outcomes: HTTP 2xx with a cXML ``Status`` code 2xx is delivered; a 4xx status (HTTP
or cXML) is a rejection retrying cannot fix (except HTTP 408/429); 5xx, timeouts and
connection errors are tried again later.
"""

from __future__ import annotations

import datetime as dt
import http.client
import re
import ssl
import uuid
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from lxml import etree

import billingd
from billingd.plugins import PermanentFailure
from billingd_plugins.uploaders.base import BaseUploader, Settings, file_name

CXML_VERSION = "1.2.050"
DOCTYPE = (
    f'<!DOCTYPE cXML SYSTEM "http://xml.cxml.org/schemas/cXML/{CXML_VERSION}/InvoiceDetail.dtd">'
)
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
RETRYABLE_4XX = frozenset({408, 425, 429})


class CxmlError(Exception):
    """A post that may work later (5xx, timeout, connection error)."""


def _sub(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> Any:
    element = etree.SubElement(parent, tag, {k: v for k, v in attrs.items() if v is not None})
    if text is not None:
        element.text = text
    return element


def _money(parent: etree._Element, tag: str, amount: Any, currency: str) -> None:
    _sub(_sub(parent, tag), "Money", str(amount), currency=currency)


def _credential(
    parent: etree._Element, domain: str, identity: str, secret: str | None = None
) -> None:
    credential = _sub(parent, "Credential", domain=domain)
    _sub(credential, "Identity", identity)
    if secret is not None:
        _sub(credential, "SharedSecret", secret)


def _lines(address: str) -> list[str]:
    return [line.strip() for line in (address or "").splitlines() if line.strip()]


def _contact(parent: etree._Element, role: str, party: dict[str, Any]) -> None:
    """An ``InvoicePartner``: the party's name, postal address (when its country is
    known: cXML requires one), first email and VAT id."""
    partner = _sub(parent, "InvoicePartner")
    contact = _sub(partner, "Contact", role=role)
    name = party.get("company") or party.get("name") or ""
    _sub(contact, "Name", name, **{XML_LANG: "en"})
    country = str(party.get("country") or "").strip().upper()
    lines = _lines(party.get("address", ""))
    city, postcode = party.get("city") or "", party.get("postcode") or ""
    if not city and len(lines) > 1:  # "10115 Berlin" as the address's last line
        match = re.fullmatch(r"(\S*\d\S*)\s+(.+)", lines[-1])
        if match:
            postcode, city, lines = match[1], match[2], lines[:-1]
    if country and (lines or city):
        postal = _sub(contact, "PostalAddress")
        for line in lines[:3] or [name]:
            _sub(postal, "Street", line)
        _sub(postal, "City", city or "-")
        if postcode:
            _sub(postal, "PostalCode", postcode)
        _sub(postal, "Country", country, isoCountryCode=country[:2])
    if party.get("email"):
        _sub(contact, "Email", re.split(r"[,;]", party["email"])[0].strip(), name="default")
    if party.get("tax_id"):
        _sub(partner, "IdReference", identifier=party["tax_id"], domain="vatID")


EXEMPT_DETAIL = {"Z": "zeroRated", "E": "exempt"}
"""EN 16931 VAT categories with a cXML ``exemptDetail``."""


def _tax(parent: etree._Element, parts: list[dict[str, Any]], tax: Any, currency: str) -> None:
    """A ``Tax`` element: the amount, then a ``TaxDetail`` per rate and category."""
    element = _sub(parent, "Tax")
    _sub(element, "Money", str(tax), currency=currency)
    _sub(element, "Description", "VAT", **{XML_LANG: "en"})
    for part in parts:
        category = part.get("category") or "S"
        detail = _sub(
            element,
            "TaxDetail",
            purpose="tax",
            category="vat",
            percentageRate=str(part["rate"]),
            exemptDetail=EXEMPT_DETAIL.get(category),
        )
        _money(detail, "TaxableAmount", part["net"], currency)
        _money(detail, "TaxAmount", part["tax"], currency)
        if category != "S":
            reason = part.get("exemption_reason") or ""
            text = f"VAT category {category}" + (f": {reason}" if reason else "")
            _sub(detail, "Description", text, **{XML_LANG: "en"})


def _extrinsic_fields(custom_fields: dict[str, Any]) -> dict[str, str]:
    return {
        key: str(value)
        for key, value in sorted(custom_fields.items())
        if not key.startswith(("cxml_", "sftp_", "dropfolder_")) and value not in (None, "")
    }


def build_invoice_request(
    delivery: dict[str, Any], settings: Settings, *, cid: str | None
) -> bytes:
    """The cXML ``InvoiceDetailRequest`` document of a delivery (with its DOCTYPE)."""
    invoice = delivery["invoice"]
    seller = delivery.get("seller") or {}
    currency = invoice["currency"]
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    root = etree.Element(
        "cXML",
        {
            "payloadID": delivery["message_id"].strip("<>"),
            "timestamp": now.isoformat(),
            "version": CXML_VERSION,
            XML_LANG: "en-US",
        },
    )
    header = _sub(root, "Header")
    _credential(
        _sub(header, "From"),
        settings.str("from_domain", "NetworkID") or "NetworkID",
        settings.required("from_identity"),
    )
    _credential(
        _sub(header, "To"),
        settings.str("to_domain", "NetworkID") or "NetworkID",
        settings.required("to_identity"),
    )
    sender = _sub(header, "Sender")
    _credential(
        sender,
        settings.str("sender_domain", "NetworkID") or "NetworkID",
        settings.required("sender_identity"),
        settings.str("shared_secret") or "",
    )
    _sub(sender, "UserAgent", f"billingd {billingd.__version__}")

    mode = settings.str("deployment_mode", "production")
    if mode not in ("production", "test"):
        raise PermanentFailure(
            f"cxml uploader: deployment_mode must be production or test, not {mode!r}"
        )
    request = _sub(_sub(root, "Request", deploymentMode=mode), "InvoiceDetailRequest")
    issue = invoice.get("issue_date") or now.date().isoformat()
    head = _sub(
        request,
        "InvoiceDetailRequestHeader",
        invoiceID=str(invoice["number"]),
        purpose="standard",
        operation="new",
        invoiceDate=f"{issue}T00:00:00+00:00",
    )
    _sub(head, "InvoiceDetailHeaderIndicator")
    _sub(head, "InvoiceDetailLineIndicator", isTaxInLine="yes")
    _contact(head, "remitTo", seller)
    _contact(head, "billTo", invoice.get("bill_to") or {})
    if invoice.get("due_date") and invoice.get("issue_date"):
        days = (dt.date.fromisoformat(invoice["due_date"]) - dt.date.fromisoformat(issue)).days
        _sub(head, "PaymentTerm", payInNumberOfDays=str(max(days, 0)))
    if invoice.get("period_start") and invoice.get("period_end"):
        _sub(head, "Period", startDate=f"{invoice['period_start']}T00:00:00+00:00",
             endDate=f"{invoice['period_end']}T23:59:59+00:00")  # fmt: skip
    if cid is not None:
        comments = _sub(head, "Comments", f"Invoice {invoice['number']}", **{XML_LANG: "en"})
        _sub(_sub(comments, "Attachment"), "URL", f"cid:{cid}")
    for name, value in _extrinsic_fields(delivery.get("custom_fields") or {}).items():
        _sub(head, "Extrinsic", value, name=name)

    order = _sub(request, "InvoiceDetailOrder")
    info = _sub(order, "InvoiceDetailOrderInfo")
    order_id = settings.str("order_id")
    if order_id:
        reference = _sub(info, "OrderReference", orderID=order_id)
        _sub(reference, "DocumentReference", payloadID="")
    else:
        _sub(info, "OrderIDInfo", orderID=str(invoice["number"]))
    for position, line in enumerate(invoice.get("lines") or [], start=1):
        item = _sub(
            order,
            "InvoiceDetailItem",
            invoiceLineNumber=str(position),
            quantity=str(line["quantity"]),
        )
        _sub(item, "UnitOfMeasure", _unit(line.get("unit")))
        _money(item, "UnitPrice", line["unit_price"], currency)
        reference = _sub(item, "InvoiceDetailItemReference", lineNumber=str(position))
        _sub(reference, "Description", line["description"], **{XML_LANG: "en"})
        _money(item, "SubtotalAmount", line["net"], currency)
        _tax(
            item,
            [{"rate": line["tax_rate"], "net": line["net"], "tax": line["tax"],
              "category": line.get("tax_category"),
              "exemption_reason": line.get("exemption_reason")}],
            line["tax"],
            currency,
        )  # fmt: skip

    summary = _sub(request, "InvoiceDetailSummary")
    _money(summary, "SubtotalAmount", invoice["subtotal"], currency)
    _tax(summary, invoice.get("tax_breakdown") or [], invoice["tax"], currency)
    _money(summary, "GrossAmount", invoice["total"], currency)
    _money(summary, "NetAmount", invoice["total"], currency)
    due = invoice.get("balance", invoice["total"])
    _money(summary, "DueAmount", due if Decimal(str(due)) >= 0 else "0", currency)
    body = etree.tostring(root, encoding="UTF-8", xml_declaration=False, pretty_print=True)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + DOCTYPE.encode() + b"\n" + body


UNITS = {"": "EA", "piece": "EA", "pcs": "EA", "month": "MON", "months": "MON", "hour": "HUR",
         "hours": "HUR", "day": "DAY", "days": "DAY", "minute": "MIN", "minutes": "MIN",
         "gb": "E34", "mb": "4L"}  # fmt: skip
"""Invoice units to the UN/CEFACT codes cXML expects."""


def _unit(unit: str | None) -> str:
    text = (unit or "").strip()
    return UNITS.get(text.lower(), text.upper()[:3] if text else "EA")


def multipart(xml: bytes, attachments: list[tuple[str, str, str, bytes]]) -> tuple[str, bytes]:
    """``(content type, body)`` of a cXML ``multipart/related`` post; ``attachments``
    are ``(content id, file name, content type, data)``."""
    boundary = f"billingd-{uuid.uuid4().hex}"
    parts = [
        b"--" + boundary.encode() + b"\r\n"
        b"Content-Type: text/xml; charset=UTF-8\r\n"
        b"Content-ID: <payload.xml>\r\n\r\n" + xml + b"\r\n"
    ]
    for cid, name, content_type, data in attachments:
        parts.append(
            (
                f"--{boundary}\r\n"
                f"Content-Type: {content_type}\r\n"
                f"Content-Transfer-Encoding: binary\r\n"
                f"Content-ID: <{cid}>\r\n"
                f'Content-Disposition: attachment; filename="{name}"\r\n'
                f"Content-Length: {len(data)}\r\n\r\n"
            ).encode()
            + data
            + b"\r\n"
        )
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    content_type = (
        f'multipart/related; boundary="{boundary}"; type="text/xml"; start="<payload.xml>"'
    )
    return content_type, body


def response_status(body: bytes) -> tuple[int, str]:
    """The ``Status`` code and text of a cXML response document."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    try:
        root = etree.fromstring(body, parser)
    except etree.XMLSyntaxError as exc:
        raise ValueError(f"not a cXML response: {exc}") from None
    status = root.find("Response/Status")
    if status is None:
        raise ValueError("the cXML response has no Response/Status")
    try:
        code = int(status.get("code", ""))
    except ValueError:
        raise ValueError(f"the cXML status code {status.get('code')!r} is not a number") from None
    text = " ".join(part for part in (status.get("text"), (status.text or "").strip()) if part)
    return code, text


class CxmlUploader(BaseUploader):
    name = "cxml"
    settings_keys = (
        *("url", "from_identity", "to_identity", "sender_identity", "shared_secret"),
        *("from_domain", "to_domain", "sender_domain", "order_id", "deployment_mode"),
        *("attach", "ca_file", "timeout", "allow_http"),
    )

    def upload(self, delivery: dict[str, Any]) -> dict[str, Any]:
        settings = self.settings(delivery)
        url = settings.required("url")
        parts = urlsplit(url)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise PermanentFailure(f"cxml uploader: url {url!r} is not an https URL")
        if parts.scheme == "http" and not settings.flag("allow_http", False):
            raise PermanentFailure(
                f"cxml uploader: url {url!r} is not https (allow_http: true for a test system)"
            )
        attachments = []
        if settings.flag("attach", True):
            for document in delivery["documents"]:
                if document["format"] == "pdf":
                    cid = f"{uuid.uuid5(uuid.NAMESPACE_URL, delivery['message_id']).hex}@billingd"
                    name = file_name(delivery, document)
                    attachments.append((cid, name, "application/pdf", document["data"]))
                    break
        xml = build_invoice_request(
            delivery, settings, cid=attachments[0][0] if attachments else None
        )
        if attachments:
            content_type, body = multipart(xml, attachments)
        else:
            content_type, body = "text/xml; charset=UTF-8", xml
        timeout = settings.number("timeout", 60)
        if parts.scheme == "https":
            context = ssl.create_default_context(cafile=settings.str("ca_file"))
            connection: http.client.HTTPConnection = http.client.HTTPSConnection(
                parts.hostname, parts.port, timeout=timeout, context=context
            )
        else:
            connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        headers = {"Content-Type": content_type, "User-Agent": f"billingd/{billingd.__version__}"}
        try:
            connection.request("POST", path, body=body, headers=headers)
            response = connection.getresponse()
            answer = response.read(1 << 20)
        except ssl.SSLCertVerificationError as exc:
            raise PermanentFailure(
                f"cxml uploader: {url}: TLS certificate refused: {exc}"
            ) from None
        except TimeoutError as exc:
            raise CxmlError(f"cxml uploader: {url}: timed out ({exc})") from None
        except (OSError, http.client.HTTPException) as exc:
            raise CxmlError(f"cxml uploader: {url}: {type(exc).__name__}: {exc}") from None
        finally:
            connection.close()
        if not 200 <= response.status < 300:
            detail = f"cxml uploader: {url} answered HTTP {response.status} {response.reason}"
            try:
                code, text = response_status(answer)
                detail += f" (cXML {code} {text})"
            except ValueError:
                pass
            if 400 <= response.status < 500 and response.status not in RETRYABLE_4XX:
                raise PermanentFailure(detail)
            raise CxmlError(detail)
        try:
            code, text = response_status(answer)
        except ValueError as exc:
            raise CxmlError(f"cxml uploader: {url}: {exc}") from None
        if 200 <= code < 300:
            return {"url": url, "payload_id": delivery["message_id"].strip("<>"), "status": code,
                    "text": text}  # fmt: skip
        detail = f"cxml uploader: {url} refused the invoice: cXML {code} {text}"
        if 400 <= code < 500:
            raise PermanentFailure(detail)
        raise CxmlError(detail)
