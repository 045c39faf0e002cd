"""Portal uploaders (R-DEL-4, seed 004): the built-in drop folder, SFTP and cXML
uploaders against real servers started by the tests."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from email.parser import BytesParser
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import asyncssh
import pytest
from lxml import etree

from billingd.plugins import PermanentFailure
from billingd_plugins.uploaders import UPLOADERS
from billingd_plugins.uploaders.cxml import CxmlUploader, build_invoice_request, response_status
from billingd_plugins.uploaders.dropfolder import DropFolderUploader
from billingd_plugins.uploaders.sftp import SftpUploader
from tests.delivery.receivers import Receiver, self_signed, server_tls

PDF = b"%PDF-1.7\n" + os.urandom(40_000) + b"\n%%EOF\n"
XML = b'<?xml version="1.0"?><Invoice xmlns="urn:oasis:names:specification:ubl"/>'


def sample_delivery(**custom_fields: str) -> dict[str, Any]:
    """A delivery as billingd.services.uploads builds it (see test_upload_queue.py for
    the real thing from the database)."""
    number = custom_fields.pop("number", "100001/2026")
    return {
        "invoice": {
            "id": 7,
            "number": number,
            "status": "open",
            "issue_date": "2026-01-05",
            "due_date": "2026-01-19",
            "period_start": "2026-01-01",
            "period_end": "2026-01-31",
            "currency": "EUR",
            "subtotal": "100.00",
            "tax": "19.00",
            "total": "119.00",
            "balance": "119.00",
            "bill_to": {
                "name": "Jane Doe",
                "company": "Buyer GmbH",
                "address": "Hauptstr. 1\n10115 Berlin",
                "country": "DE",
                "tax_id": "DE123456789",
                "email": "ap@buyer.test; cc@buyer.test",
            },
            "lines": [
                {
                    "kind": "contract",
                    "description": "Hosted PBX",
                    "quantity": "2",
                    "unit": "month",
                    "unit_price": "30.00",
                    "net": "60.00",
                    "tax_rate": "19",
                    "tax": "11.40",
                    "tax_category": "S",
                    "exemption_reason": "",
                },
                {
                    "kind": "usage",
                    "description": "Calls",
                    "quantity": "1",
                    "unit": "",
                    "unit_price": "40.00",
                    "net": "40.00",
                    "tax_rate": "19",
                    "tax": "7.60",
                    "tax_category": "S",
                    "exemption_reason": "",
                },
            ],
            "tax_breakdown": [{"rate": "19", "net": "100.00", "tax": "19.00", "category": "S"}],
        },
        "seller": {
            "name": "Acme Telecom",
            "address": "Werkstr. 2",
            "postcode": "20095",
            "city": "Hamburg",
            "country": "de",
        },
        "documents": [
            {
                "format": "pdf",
                "filename": "100001_2026.pdf",
                "content_type": "application/pdf",
                "data": PDF,
            },
            {
                "format": "ubl",
                "filename": "100001_2026.ubl.xml",
                "content_type": "application/xml",
                "data": XML,
            },
        ],
        "custom_fields": custom_fields,
        "settings": {},
        "message_id": f"<billingd.invoice.inv7.v1.m{uuid.uuid4().hex[:6]}@billingd.test>",
    }


# -- the drop folder ----------------------------------------------------------------------


def test_R_DEL_4_dropfolder_writes_documents_and_manifest_named_by_invoice(tmp_path: Path) -> None:
    delivery = sample_delivery(dropfolder_path=str(tmp_path), buyer_ref="PO-7")
    receipt = DropFolderUploader().upload(delivery)
    assert sorted(os.listdir(tmp_path)) == [
        "100001_2026.json",
        "100001_2026.pdf",
        "100001_2026.ubl.xml",
    ]
    assert (tmp_path / "100001_2026.pdf").read_bytes() == PDF
    assert (tmp_path / "100001_2026.ubl.xml").read_bytes() == XML
    assert receipt == {
        "path": str(tmp_path),
        "files": ["100001_2026.pdf", "100001_2026.ubl.xml", "100001_2026.json"],
    }
    manifest = json.loads((tmp_path / "100001_2026.json").read_text())
    assert manifest["custom_fields"]["buyer_ref"] == "PO-7"
    assert manifest["invoice"]["number"] == "100001/2026"
    assert [f["name"] for f in manifest["files"]] == ["100001_2026.pdf", "100001_2026.ubl.xml"]
    # a retry (the same delivery again) replaces the same files: no copies
    DropFolderUploader().upload(delivery)
    assert len(os.listdir(tmp_path)) == 3


def test_R_DEL_4_dropfolder_never_shows_a_partial_file(tmp_path: Path) -> None:
    """A watcher polling the folder while many invoices are dropped sees every file
    under its final name whole: the size and the trailer of the content it expects."""
    folder = tmp_path / "out"
    folder.mkdir()
    expected: dict[str, bytes] = {}
    seen: set[str] = set()
    partial: list[str] = []
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            for name in os.listdir(folder):
                if name.startswith(".") or name.endswith(".json"):
                    continue  # a temporary name; the manifest is checked below
                try:
                    data = (folder / name).read_bytes()
                except FileNotFoundError:
                    continue
                seen.add(name)
                if not (data.startswith(b"%PDF") and data.endswith(b"%%EOF\n")):
                    partial.append(f"{name}: {len(data)} bytes")

    watcher = threading.Thread(target=watch)
    watcher.start()
    uploader = DropFolderUploader()
    uploader.plugin_settings = {"path": str(folder)}
    try:
        for n in range(60):
            body = b"%PDF-1.7\n" + os.urandom(200_000 + n * 997) + b"\n%%EOF\n"
            delivery = sample_delivery(number=f"INV-{n % 20:03d}")  # 3 rounds over 20 names
            delivery["documents"] = [
                {"format": "pdf", "filename": f"INV-{n % 20:03d}.pdf",
                 "content_type": "application/pdf", "data": body},
            ]  # fmt: skip
            uploader.upload(delivery)
            expected[f"INV-{n % 20:03d}.pdf"] = body
    finally:
        done.set()
        watcher.join()
    assert partial == []
    assert seen  # the watcher did look at the files while they were written
    names = sorted(n for n in os.listdir(folder) if n.endswith(".pdf"))
    assert names == sorted(expected)
    assert all((folder / name).read_bytes() == expected[name] for name in names)
    assert not [n for n in os.listdir(folder) if n.startswith(".")]  # no temporary left


def test_R_DEL_4_dropfolder_missing_directory_is_retried_and_no_path_is_permanent(
    tmp_path: Path,
) -> None:
    uploader = DropFolderUploader()
    with pytest.raises(FileNotFoundError) as caught:
        uploader.upload(sample_delivery(dropfolder_path=str(tmp_path / "not-mounted")))
    assert not isinstance(caught.value, PermanentFailure)
    with pytest.raises(PermanentFailure, match="'path' is required"):
        uploader.upload(sample_delivery())


def test_R_DEL_4_settings_bill_group_over_custom_fields_over_plugin(tmp_path: Path) -> None:
    uploader = DropFolderUploader()
    uploader.plugin_settings = {"path": "/plugin", "manifest": False}
    delivery = sample_delivery(dropfolder_path="/custom-field", cxml_url="https://x")
    assert uploader.settings(delivery).values == {"path": "/custom-field", "manifest": False}
    delivery["settings"] = {"path": "/bill-group"}
    assert uploader.settings(delivery).values["path"] == "/bill-group"
    assert {u.name for u in UPLOADERS.all} == {"dropfolder", "sftp", "cxml"}


# -- SFTP ------------------------------------------------------------------------------------


class SftpServer:
    """A real asyncssh SFTP server on 127.0.0.1, in a thread of its own, chrooted to
    ``root``; it accepts the client keys in ``authorized``."""

    def __init__(self, root: Path, authorized: Path) -> None:
        self.root = root
        self.authorized = authorized
        self.host_key = asyncssh.generate_private_key("ssh-ed25519")
        self.port = 0
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.server: Any = None

    async def _listen(self) -> Any:
        return await asyncssh.listen(
            "127.0.0.1",
            0,
            server_host_keys=[self.host_key],
            authorized_client_keys=str(self.authorized),
            sftp_factory=lambda chan: asyncssh.SFTPServer(chan, chroot=str(self.root)),
        )

    def start(self) -> SftpServer:
        self.thread.start()
        self.server = asyncio.run_coroutine_threadsafe(self._listen(), self.loop).result(10)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        async def close() -> None:
            self.server.close()
            await self.server.wait_closed()

        asyncio.run_coroutine_threadsafe(close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    @property
    def fingerprint(self) -> str:
        return self.host_key.get_fingerprint("sha256")

    @property
    def public_key(self) -> str:
        return self.host_key.export_public_key("openssh").decode().strip()


@pytest.fixture
def sftp(tmp_path: Path) -> Iterator[tuple[SftpServer, dict[str, str]]]:
    """The server and the sftp uploader's settings that log in to it."""
    root = tmp_path / "sftp-root"
    (root / "incoming").mkdir(parents=True)
    client_key = asyncssh.generate_private_key("ssh-ed25519")
    key_file = tmp_path / "id_ed25519"
    key_file.write_bytes(client_key.export_private_key())
    authorized = tmp_path / "authorized_keys"
    authorized.write_bytes(client_key.export_public_key())
    server = SftpServer(root, authorized).start()
    settings = {
        "sftp_host": "127.0.0.1",
        "sftp_port": str(server.port),
        "sftp_username": "billing",
        "sftp_private_key": str(key_file),
        "sftp_remote_dir": "/incoming",
        "sftp_connect_timeout": "5",
        "sftp_timeout": "20",
    }
    yield server, settings
    server.stop()


def test_R_DEL_4_sftp_uploads_with_the_pinned_host_key(sftp, tmp_path: Path) -> None:
    server, settings = sftp
    delivery = sample_delivery(**settings, sftp_host_key=server.fingerprint)
    receipt = SftpUploader().upload(delivery)
    incoming = server.root / "incoming"
    assert sorted(os.listdir(incoming)) == ["100001_2026.pdf", "100001_2026.ubl.xml"]
    assert (incoming / "100001_2026.pdf").read_bytes() == PDF
    assert (incoming / "100001_2026.ubl.xml").read_bytes() == XML
    assert receipt["files"] == ["100001_2026.pdf", "100001_2026.ubl.xml"]
    # a retry replaces its own files (atomically, through .part names): no copies
    SftpUploader().upload(sample_delivery(**settings, sftp_host_key=server.public_key))
    assert sorted(os.listdir(incoming)) == ["100001_2026.pdf", "100001_2026.ubl.xml"]
    # an OpenSSH known_hosts file pins it as well
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(f"[127.0.0.1]:{server.port} {server.public_key}\n")
    SftpUploader().upload(sample_delivery(**settings, sftp_known_hosts=str(known_hosts)))


def test_R_DEL_4_sftp_refuses_a_server_whose_host_key_is_not_pinned(sftp, tmp_path: Path) -> None:
    server, settings = sftp
    other = asyncssh.generate_private_key("ssh-ed25519")
    for pin in (
        {"sftp_host_key": other.get_fingerprint("sha256")},
        {"sftp_host_key": other.export_public_key("openssh").decode()},
    ):
        with pytest.raises(PermanentFailure, match=r"not pinned|not trusted"):
            SftpUploader().upload(sample_delivery(**settings, **pin))
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(f"[127.0.0.1]:{server.port} {other.export_public_key().decode()}")
    with pytest.raises(PermanentFailure):
        SftpUploader().upload(sample_delivery(**settings, sftp_known_hosts=str(known_hosts)))
    with pytest.raises(PermanentFailure, match="no host key is pinned"):
        SftpUploader().upload(sample_delivery(**settings))
    assert os.listdir(server.root / "incoming") == []


def test_R_DEL_4_sftp_wrong_login_is_permanent_and_server_down_is_retried(
    sftp, tmp_path: Path
) -> None:
    server, settings = sftp
    stranger = tmp_path / "stranger"
    stranger.write_bytes(asyncssh.generate_private_key("ssh-ed25519").export_private_key())
    pinned = {**settings, "sftp_host_key": server.fingerprint}
    with pytest.raises(PermanentFailure, match="refused"):
        SftpUploader().upload(sample_delivery(**{**pinned, "sftp_private_key": str(stranger)}))
    server.stop()
    started = time.monotonic()
    with pytest.raises(Exception) as caught:
        SftpUploader().upload(sample_delivery(**pinned))
    assert not isinstance(caught.value, PermanentFailure)
    assert time.monotonic() - started < 10
    server.stop = lambda: None  # type: ignore[method-assign]


# -- cXML --------------------------------------------------------------------------------


CXML_FIELDS = {
    "cxml_from_domain": "NetworkID",
    "cxml_from_identity": "AN01000000001",
    "cxml_to_identity": "AN02000000002",
    "cxml_sender_identity": "AN01000000001",
    "cxml_shared_secret": "abracadabra",
    "cxml_order_id": "PO-4711",
    "cost_center": "CC-42",
}


def _cxml_response(code: int, text: str) -> bytes:
    return (
        f'<?xml version="1.0"?><cXML payloadID="r1@portal" timestamp="2026-01-05T10:00:00Z">'
        f'<Response><Status code="{code}" text="{text}"/></Response></cXML>'
    ).encode()


class Portal:
    """What the test portal saw: the parsed cXML and the attachments by Content-ID."""

    def __init__(self) -> None:
        self.documents: list[etree._Element] = []
        self.attachments: dict[str, bytes] = {}
        self.answer = (200, _cxml_response(200, "OK"))

    def handle(self, request: dict[str, Any]) -> tuple[int, bytes]:
        content_type = request["headers"]["Content-Type"]
        message = BytesParser(policy=default_policy).parsebytes(
            f"Content-Type: {content_type}\r\n\r\n".encode() + request["body"]
        )
        if message.is_multipart():
            parts = list(message.iter_parts())
            xml = parts[0].get_payload(decode=True)
            for part in parts[1:]:
                self.attachments[part["Content-ID"].strip("<>")] = part.get_payload(decode=True)
        else:
            xml = request["body"]
        parser = etree.XMLParser(load_dtd=False, no_network=True, resolve_entities=False)
        self.documents.append(etree.fromstring(xml, parser))
        return self.answer


@pytest.fixture
def portal(tmp_path: Path) -> Iterator[tuple[Portal, Receiver, Path]]:
    cert, key = self_signed(tmp_path)
    state = Portal()
    receiver = Receiver(state.handle, tls=server_tls(cert, key)).start()
    yield state, receiver, cert
    receiver.stop()


def test_R_DEL_4_cxml_invoice_detail_request_reaches_the_portal(portal) -> None:
    state, receiver, cert = portal
    delivery = sample_delivery(**CXML_FIELDS, cxml_url=receiver.url, cxml_ca_file=str(cert))
    receipt = CxmlUploader().upload(delivery)
    assert receipt["status"] == 200
    (doc,) = state.documents
    assert doc.tag == "cXML"
    assert doc.get("payloadID") == delivery["message_id"].strip("<>")
    header = doc.find("Header")
    assert header.findtext("From/Credential/Identity") == "AN01000000001"
    assert header.find("From/Credential").get("domain") == "NetworkID"
    assert header.findtext("To/Credential/Identity") == "AN02000000002"
    assert header.findtext("Sender/Credential/Identity") == "AN01000000001"
    assert header.findtext("Sender/Credential/SharedSecret") == "abracadabra"
    request = doc.find("Request/InvoiceDetailRequest")
    head = request.find("InvoiceDetailRequestHeader")
    assert head.get("invoiceID") == "100001/2026"
    assert (head.get("purpose"), head.get("operation")) == ("standard", "new")
    assert head.get("invoiceDate").startswith("2026-01-05")
    roles = [c.get("role") for c in head.findall("InvoicePartner/Contact")]
    assert roles == ["remitTo", "billTo"]
    bill_to = head.find("InvoicePartner/Contact[@role='billTo']")
    assert bill_to.findtext("Name") == "Buyer GmbH"
    assert bill_to.findtext("Email") == "ap@buyer.test"
    postal = bill_to.find("PostalAddress")
    assert [e.text for e in postal.findall("Street")] == ["Hauptstr. 1"]
    assert (postal.findtext("PostalCode"), postal.findtext("City")) == ("10115", "Berlin")
    assert postal.find("Country").get("isoCountryCode") == "DE"
    remit = head.find("InvoicePartner/Contact[@role='remitTo']/PostalAddress")
    assert (remit.findtext("Street"), remit.findtext("City")) == ("Werkstr. 2", "Hamburg")
    assert remit.find("Country").get("isoCountryCode") == "DE"
    assert head.find("PaymentTerm").get("payInNumberOfDays") == "14"
    assert head.findtext("Extrinsic[@name='cost_center']") == "CC-42"
    order = request.find("InvoiceDetailOrder")
    assert order.find("InvoiceDetailOrderInfo/OrderReference").get("orderID") == "PO-4711"
    items = order.findall("InvoiceDetailItem")
    assert [i.get("quantity") for i in items] == ["2", "1"]
    assert [i.findtext("SubtotalAmount/Money") for i in items] == ["60.00", "40.00"]
    assert items[0].findtext("UnitOfMeasure") == "MON"
    assert items[0].findtext("InvoiceDetailItemReference/Description") == "Hosted PBX"
    summary = request.find("InvoiceDetailSummary")
    assert summary.findtext("SubtotalAmount/Money") == "100.00"
    assert summary.findtext("Tax/Money") == "19.00"
    assert summary.find("Tax/TaxDetail").get("percentageRate") == "19"
    assert summary.findtext("GrossAmount/Money") == "119.00"
    assert summary.findtext("NetAmount/Money") == "119.00"
    assert summary.findtext("DueAmount/Money") == "119.00"
    assert summary.find("GrossAmount/Money").get("currency") == "EUR"
    # the PDF travels as a cXML attachment, referenced from the header
    url = head.findtext("Comments/Attachment/URL")
    assert url.startswith("cid:")
    assert state.attachments[url.removeprefix("cid:")] == PDF


def test_R_DEL_4_cxml_rejections_are_permanent_server_errors_retried(portal) -> None:
    state, receiver, cert = portal
    delivery = sample_delivery(**CXML_FIELDS, cxml_url=receiver.url, cxml_ca_file=str(cert))
    state.answer = (200, _cxml_response(406, "Duplicate invoice"))
    with pytest.raises(PermanentFailure, match="406 Duplicate invoice"):
        CxmlUploader().upload(delivery)
    state.answer = (400, _cxml_response(400, "Bad Request"))
    with pytest.raises(PermanentFailure, match="HTTP 400"):
        CxmlUploader().upload(delivery)
    for answer in ((500, b"oops"), (503, b""), (200, _cxml_response(500, "Internal"))):
        state.answer = answer
        with pytest.raises(Exception) as caught:
            CxmlUploader().upload(delivery)
        assert not isinstance(caught.value, PermanentFailure), answer
    # a certificate the uploader was not told to trust is refused
    untrusted = sample_delivery(**CXML_FIELDS, cxml_url=receiver.url)
    with pytest.raises(PermanentFailure, match="certificate"):
        CxmlUploader().upload(untrusted)


def test_R_DEL_4_cxml_timeout_and_missing_identity(portal) -> None:
    state, receiver, cert = portal
    original = state.handle

    def slow(request: dict[str, Any]) -> tuple[int, bytes]:
        time.sleep(2)
        return original(request)

    receiver.handler = slow
    fields = {**CXML_FIELDS, "cxml_url": receiver.url, "cxml_ca_file": str(cert)}
    with pytest.raises(Exception, match="timed out") as caught:
        CxmlUploader().upload(sample_delivery(**fields, cxml_timeout="0.5"))
    assert not isinstance(caught.value, PermanentFailure)
    del fields["cxml_to_identity"]
    with pytest.raises(PermanentFailure, match="'to_identity' is required"):
        CxmlUploader().upload(sample_delivery(**fields))


def test_R_DEL_4_cxml_response_status_is_parsed() -> None:
    assert response_status(_cxml_response(201, "Accepted")) == (201, "Accepted")
    with pytest.raises(ValueError):
        response_status(b"<html>not cxml</html>")


def test_R_DEL_4_unknown_plugin_settings_are_refused_and_change_nothing() -> None:
    UPLOADERS.configure({"sftp": {"host": "a.example"}})
    try:
        with pytest.raises(ValueError, match=r"uploaders\.sftp\.hots: unknown setting"):
            UPLOADERS.configure({"sftp": {"hots": "b.example"}, "cxml": {"url": "https://x"}})
        (sftp,) = [u for u in UPLOADERS.all if u.name == "sftp"]
        (cxml,) = [u for u in UPLOADERS.all if u.name == "cxml"]
        assert sftp.plugin_settings == {"host": "a.example"} and cxml.plugin_settings == {}
    finally:
        UPLOADERS.configure({})


def test_R_DEL_4_cxml_exempt_lines_carry_their_category_and_reason() -> None:
    delivery = sample_delivery(**CXML_FIELDS, cxml_url="https://portal.test/cxml")
    line = delivery["invoice"]["lines"][1]
    line.update(tax_rate="0", tax="0.00", tax_category="E", exemption_reason="Art. 132 VAT Dir.")
    uploader = CxmlUploader()
    xml = build_invoice_request(delivery, uploader.settings(delivery), cid=None)
    doc = etree.fromstring(xml, etree.XMLParser(load_dtd=False, no_network=True))
    items = doc.findall("Request/InvoiceDetailRequest/InvoiceDetailOrder/InvoiceDetailItem")
    standard, exempt = (item.find("Tax/TaxDetail") for item in items)
    assert standard.get("exemptDetail") is None and standard.find("Description") is None
    assert (exempt.get("exemptDetail"), exempt.get("percentageRate")) == ("exempt", "0")
    assert exempt.findtext("Description") == "VAT category E: Art. 132 VAT Dir."
    head = doc.find("Request/InvoiceDetailRequest/InvoiceDetailRequestHeader")
    assert head.find("Comments") is None  # nothing attached
    # the order is a non-PO invoice without an order id
    delivery["custom_fields"].pop("cxml_order_id")
    xml = build_invoice_request(delivery, uploader.settings(delivery), cid=None)
    doc = etree.fromstring(xml, etree.XMLParser(load_dtd=False, no_network=True))
    info = doc.find("Request/InvoiceDetailRequest/InvoiceDetailOrder/InvoiceDetailOrderInfo")
    assert info.find("OrderIDInfo").get("orderID") == "100001/2026"


def test_R_DEL_4_sftp_server_that_never_answers_times_out_and_is_retried(sftp) -> None:
    server, settings = sftp
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)  # the TCP handshake completes; no SSH banner ever comes
    try:
        port = str(silent.getsockname()[1])
        fields = {**settings, "sftp_port": port, "sftp_connect_timeout": "1"}
        started = time.monotonic()
        with pytest.raises(TimeoutError, match="timed out") as caught:
            SftpUploader().upload(sample_delivery(**fields, sftp_host_key=server.fingerprint))
        assert not isinstance(caught.value, PermanentFailure)
        assert time.monotonic() - started < 5
    finally:
        silent.close()
