"""The ``dropfolder`` uploader: an invoice's documents written into a directory that
a portal's connector (or any file watcher) picks up.

Settings: ``path`` (the directory, required; it must exist — a missing mount is
retried, not created), ``manifest`` (default true: a ``<number>.json`` describing
the invoice, its custom fields and files, written last, so a watcher that waits for
it knows every document is there).

Atomic: each file is written under a hidden temporary name in the same directory,
flushed to disk, then renamed onto its final name (``os.replace``), and the directory
itself is synced; a watcher sees a file whole or not at all. Idempotent: the names
come from the invoice number and format, so a retry after a crash replaces the same
files instead of adding copies.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from billingd.files import sync_directory, write_atomically
from billingd.plugins import PermanentFailure
from billingd_plugins.uploaders.base import BaseUploader, file_name, safe_name


class DropFolderUploader(BaseUploader):
    name = "dropfolder"
    settings_keys = ("path", "manifest")

    def upload(self, delivery: dict[str, Any]) -> dict[str, Any]:
        settings = self.settings(delivery)
        directory = Path(settings.required("path")).expanduser()
        if directory.exists() and not directory.is_dir():
            raise PermanentFailure(f"dropfolder uploader: {directory} is not a directory")
        if not directory.is_dir():  # an unmounted share: try again later
            raise FileNotFoundError(f"dropfolder uploader: directory {directory} does not exist")
        written = []
        for document in delivery["documents"]:
            name = file_name(delivery, document)
            write_atomically(directory, name, document["data"])
            written.append(name)
        if settings.flag("manifest", True):
            invoice = delivery["invoice"]
            manifest = {
                "message_id": delivery.get("message_id"),
                "invoice": {
                    key: invoice.get(key)
                    for key in ("id", "number", "issue_date", "due_date", "currency", "total")
                },
                "custom_fields": delivery.get("custom_fields") or {},
                "files": [
                    {
                        "name": name,
                        "format": document["format"],
                        "content_type": document.get("content_type"),
                        "size": len(document["data"]),
                    }
                    for name, document in zip(written, delivery["documents"], strict=True)
                ],
            }
            stem = safe_name(str(invoice.get("number") or invoice.get("id")))
            body = json.dumps(manifest, indent=2, ensure_ascii=False).encode()
            write_atomically(directory, f"{stem}.json", body)
            written.append(f"{stem}.json")
        sync_directory(directory)
        return {"path": str(directory), "files": written}
