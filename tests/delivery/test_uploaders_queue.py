"""Portal uploads queued with the invoice and delivered from the outbox (R-DEL-4):
through the real services on both storage backends, and through a running daemon."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

import billingd.control.api  # noqa: F401  (registers the socket methods)
from billingd.control.params import validate_params
from billingd.control.registry import METHODS
from billingd.db.models import OutboxMessage
from billingd.plugins import PermanentFailure
from billingd.services import document_queue, documents, outbox, uploads
from billingd.services.context import ServiceContext
from tests.conftest import RunningDaemon, billingctl_ok
from tests.delivery.conftest import wait_until
from tests.delivery.receivers import Receiver, self_signed, server_tls


def _call(ctx: ServiceContext, method_name: str, /, **params: Any) -> Any:
    entry = METHODS[method_name]
    return entry.handler(ctx, **validate_params(entry.params, params))


def _client_with_uploader(
    ctx: ServiceContext, enterprise_id: int, folder: Path | None, name: str = "Buyer"
) -> dict[str, Any]:
    client = _call(ctx, "client.add", name=name, enterprise=enterprise_id, email="ap@b.test")
    if folder is not None:
        (group,) = _call(ctx, "client.show", id=client["id"])["bill_groups"]
        _call(
            ctx,
            "billgroup.update",
            id=group["id"],
            uploader="dropfolder",
            custom_fields={"dropfolder_path": str(folder), "buyer_ref": "B-1"},
        )
    return client


def _uploads(invoice_id: int) -> list[OutboxMessage]:
    return list(
        OutboxMessage.select()
        .where((OutboxMessage.invoice == invoice_id) & (OutboxMessage.channel == "upload"))
        .order_by(OutboxMessage.id)
    )


def _deliver_uploads(ctx: ServiceContext) -> list[outbox.Outcome]:
    """What the daemon's outbox worker does for uploads: claim, deliver, record."""
    claimed = outbox.claim(ctx, 50, "tester", [outbox.UPLOAD])
    outcomes = [uploads.deliver(message, ctx.plugins) for message in claimed]
    outbox.record(ctx, outcomes, "tester")
    return outcomes


def test_R_DEL_4_issuing_queues_the_upload_and_the_outbox_delivers_it(
    ctx: ServiceContext, acme: Any, tmp_path: Path
) -> None:
    folder = tmp_path / "portal"
    folder.mkdir()
    client = _client_with_uploader(ctx, acme.id, folder)
    (invoice,) = _call(
        ctx, "invoice.amount", client=client["id"], date="2026-01-05", amount="119.00"
    )

    (message,) = _uploads(invoice["id"])
    assert (message.target, message.kind, message.state) == ("dropfolder", "invoice", "queued")
    assert message.dedupe_key == f"upload:{invoice['id']}:1"
    assert message.document_version == 1
    shown = _call(ctx, "invoice.show", invoice=invoice["number"])
    (delivery,) = [d for d in shown["deliveries"] if d["channel"] == "upload"]
    assert delivery == {
        "id": message.id,
        "channel": "upload",
        "kind": "invoice",
        "target": "dropfolder",
        "recipients": [],
        "state": "queued",
        "attempts": 0,
        "last_error": "",
        "sent_at": None,
    }

    # the document is rendered after the commit: until then the upload waits, uncounted
    with pytest.raises(uploads.NotReady, match="pending"):
        uploads.upload_delivery(message)
    (waiting,) = _deliver_uploads(ctx)
    assert waiting.later is not None and not waiting.permanent
    message = OutboxMessage.get_by_id(message.id)
    assert (message.state, message.attempts) == ("queued", 0)
    assert os.listdir(folder) == []

    document_queue.render_pending(ctx)
    message.next_attempt_at = None  # due now (the test does not wait for the pause)
    message.save()
    (done,) = _deliver_uploads(ctx)
    assert done.error == "", done.error
    stem = invoice["number"].replace("/", "_")
    assert sorted(os.listdir(folder)) == [f"{stem}.json", f"{stem}.pdf"]
    pdf = documents.read_document(_invoice(invoice["id"]), "pdf")
    assert (folder / f"{stem}.pdf").read_bytes() == pdf
    manifest = json.loads((folder / f"{stem}.json").read_text())
    assert manifest["custom_fields"] == {"dropfolder_path": str(folder), "buyer_ref": "B-1"}
    assert manifest["message_id"] == OutboxMessage.get_by_id(message.id).message_id

    shown = _call(ctx, "invoice.show", invoice=invoice["number"])
    (delivery,) = [d for d in shown["deliveries"] if d["channel"] == "upload"]
    assert (delivery["state"], delivery["attempts"], delivery["last_error"]) == ("sent", 1, "")
    assert delivery["sent_at"]
    assert _deliver_uploads(ctx) == []  # nothing left: delivered once


def _invoice(invoice_id: int) -> Any:
    from billingd.db.models import Invoice

    return Invoice.get_by_id(invoice_id)


def test_R_DEL_4_the_delivery_has_documents_custom_fields_and_a_stable_message_id(
    ctx: ServiceContext, acme: Any, tmp_path: Path
) -> None:
    client = _client_with_uploader(ctx, acme.id, tmp_path)
    (invoice,) = _call(
        ctx, "invoice.amount", client=client["id"], date="2026-01-05", amount="119.00"
    )
    document_queue.render_pending(ctx)
    (message,) = outbox.claim(ctx, 5, "tester", [outbox.UPLOAD])
    delivery = uploads.upload_delivery(message, ctx.plugins)
    assert delivery["message_id"] == message.message_id
    assert delivery["invoice"]["number"] == invoice["number"]
    assert delivery["invoice"]["total"] == "119.00"
    assert delivery["invoice"]["lines"] and delivery["invoice"]["tax_breakdown"]
    assert delivery["seller"]["name"] == "Acme"
    assert delivery["custom_fields"]["buyer_ref"] == "B-1"
    (document,) = delivery["documents"]
    assert document["format"] == "pdf" and document["content_type"] == "application/pdf"
    assert document["filename"] == invoice["number"].replace("/", "_") + ".pdf"
    assert document["data"].startswith(b"%PDF")


def test_R_DEL_4_no_uploader_no_upload_and_reissue_uploads_the_new_invoice(
    ctx: ServiceContext, acme: Any, tmp_path: Path
) -> None:
    plain = _client_with_uploader(ctx, acme.id, None, name="Plain")
    (invoice,) = _call(ctx, "invoice.amount", client=plain["id"], date="2026-01-05", amount="10")
    assert _uploads(invoice["id"]) == []

    portal = _client_with_uploader(ctx, acme.id, tmp_path, name="Portal")
    (first,) = _call(ctx, "invoice.amount", client=portal["id"], date="2026-01-05", amount="119.00")
    document_queue.render_pending(ctx)
    # an edited address re-renders the document, but the portal already has the invoice
    _call(ctx, "invoice.edit_address", invoice=first["id"], address="New Street 1\nBerlin")
    assert len(_uploads(first["id"])) == 1
    # a reissued invoice is a new invoice: uploaded like any other
    second = _call(ctx, "invoice.reissue", invoice=first["id"], reason="wrong amount")
    assert [m.target for m in _uploads(second["id"])] == ["dropfolder"]


def test_R_DEL_4_an_unknown_uploader_or_a_failed_render_fails_the_upload_for_good(
    ctx: ServiceContext, acme: Any, tmp_path: Path
) -> None:
    client = _client_with_uploader(ctx, acme.id, tmp_path)
    (invoice,) = _call(
        ctx, "invoice.amount", client=client["id"], date="2026-01-05", amount="119.00"
    )
    document_queue.render_pending(ctx)
    (message,) = _uploads(invoice["id"])
    message.target = "ariba-nonexistent"
    message.save()
    (outcome,) = _deliver_uploads(ctx)
    assert outcome.permanent and "ariba-nonexistent" in outcome.error
    assert OutboxMessage.get_by_id(message.id).state == "failed"

    job = document_queue.latest_job(_invoice(invoice["id"]))
    job.state, job.error, job.retry_at = "failed", "template broken", None
    job.save()
    with pytest.raises(PermanentFailure, match="template broken"):
        uploads.upload_delivery(message)


# -- end to end: the daemon uploads what it issues ----------------------------------------


@pytest.mark.slow
def test_R_DEL_4_daemon_uploads_an_issued_invoice_to_the_drop_folder(short_dir: Path) -> None:
    folder = short_dir / "portal"
    folder.mkdir()
    daemon = RunningDaemon(
        short_dir, f"sqlite:///{short_dir / 'billing.db'}", "invoicing: manual\nclock: test\n"
    )
    try:
        enterprise = daemon.call("enterprise.add", name="Acme", currency="EUR", tax_rate="19")
        client = daemon.call("client.add", enterprise=enterprise["id"], name="Buyer")
        (group,) = daemon.call("client.show", id=client["id"])["bill_groups"]
        daemon.call(
            "billgroup.update",
            id=group["id"],
            uploader="dropfolder",
            custom_fields={"dropfolder_path": str(folder)},
        )
        (invoice,) = daemon.call(
            "invoice.amount", client=client["id"], date="2026-01-05", amount="119.00"
        )

        def uploaded() -> list[dict[str, Any]]:
            shown = daemon.call("invoice.show", invoice=invoice["number"])
            return [d for d in shown["deliveries"] if d["channel"] == "upload" and d["sent_at"]]

        (delivery,) = wait_until(uploaded, timeout=60, what="the upload sent")
        assert (delivery["state"], delivery["attempts"]) == ("sent", 1)
        shown = billingctl_ok(daemon, "invoice", "show", invoice["number"])
        assert any(d["channel"] == "upload" for d in shown["deliveries"])
        human = subprocess.run(
            [sys.executable, "-m", "billingd.ctl", "--socket", str(daemon.socket), "invoice",
             "show", invoice["number"]],
            capture_output=True, text=True, timeout=60, check=True,
        ).stdout  # fmt: skip
        table = human[human.index("deliveries:") :].splitlines()
        header = ["id", "channel", "target", "recipients", "state", "attempts", "sent_at"]
        assert table[1].split()[:7] == header  # (cut to the terminal's width)
        assert any(row.split()[1:3] == ["upload", "dropfolder"] for row in table[3:])
    finally:
        daemon.stop()
    stem = invoice["number"].replace("/", "_")
    assert f"{stem}.pdf" in os.listdir(folder)
    assert (folder / f"{stem}.pdf").read_bytes().startswith(b"%PDF")


def test_R_DEL_4_cxml_upload_of_a_real_invoice_and_a_refusal_failed_for_good_and_shown(
    ctx: ServiceContext, acme: Any, tmp_path: Path
) -> None:
    cert, key = self_signed(tmp_path)
    seen: list[etree._Element] = []
    answers = [b"200", b"406"]

    def portal(request: dict[str, Any]) -> tuple[int, bytes]:
        body = request["body"]
        start = body.index(b"<?xml")
        end = body.index(b"</cXML>") + len(b"</cXML>")
        parser = etree.XMLParser(load_dtd=False, no_network=True, resolve_entities=False)
        seen.append(etree.fromstring(body[start:end], parser))
        code = answers.pop(0).decode()
        return 200, (
            f'<?xml version="1.0"?><cXML><Response><Status code="{code}" text="t"/>'
            "</Response></cXML>"
        ).encode()

    receiver = Receiver(portal, tls=server_tls(cert, key)).start()
    try:
        client = _call(ctx, "client.add", name="Buyer", enterprise=acme.id, email="ap@b.test")
        (group,) = _call(ctx, "client.show", id=client["id"])["bill_groups"]
        _call(
            ctx,
            "billgroup.update",
            id=group["id"],
            uploader="cxml",
            custom_fields={
                "cxml_url": receiver.url,
                "cxml_ca_file": str(cert),
                "cxml_from_identity": "AN-SUPPLIER",
                "cxml_to_identity": "AN-BUYER",
                "cxml_sender_identity": "AN-SUPPLIER",
                "cxml_shared_secret": "s3cret",
            },
        )
        first, second = _call(
            ctx, "invoice.amount", client=client["id"], date="2026-01-05", amount="119.00",
            count=2,
        )  # fmt: skip
        document_queue.render_pending(ctx)
        outcomes = _deliver_uploads(ctx)
    finally:
        receiver.stop()
    assert [(o.error == "", o.permanent) for o in outcomes] == [(True, False), (False, True)]
    assert "cXML 406" in outcomes[1].error
    assert [doc.find("Request/InvoiceDetailRequest/InvoiceDetailRequestHeader").get("invoiceID")
            for doc in seen] == [first["number"], second["number"]]  # fmt: skip
    summary = seen[0].find("Request/InvoiceDetailRequest/InvoiceDetailSummary")
    assert summary.findtext("GrossAmount/Money") == first["total"] == "119.00"
    assert summary.findtext("Tax/Money") == first["tax"]
    assert summary.findtext("SubtotalAmount/Money") == first["subtotal"]
    assert seen[0].findtext("Header/To/Credential/Identity") == "AN-BUYER"

    shown = _call(ctx, "invoice.show", invoice=second["number"])
    (delivery,) = [d for d in shown["deliveries"] if d["channel"] == "upload"]
    assert (delivery["state"], delivery["attempts"]) == ("failed", 1)
    assert "406" in delivery["last_error"]
    assert [d["state"] for d in _call(ctx, "invoice.show", invoice=first["number"])["deliveries"]
            if d["channel"] == "upload"] == ["sent"]  # fmt: skip
