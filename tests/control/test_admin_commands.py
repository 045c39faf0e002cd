"""Template list/preview (R-DEL-2) and backups, through billingctl and billingd."""

from __future__ import annotations

import io
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pypdf

from tests.conftest import RunningDaemon, billingctl


def test_template_list_and_preview_shows_placeholders(
    daemon: RunningDaemon, tmp_path: Path
) -> None:
    listed = json.loads(billingctl(daemon.socket, "template", "list").stdout)
    assert {"invoice.tpl", "credit_note.tpl"} <= {t["name"] for t in listed}
    assert {t["source"] for t in listed} == {"packaged"}
    out = tmp_path / "preview.pdf"
    result = billingctl(daemon.socket, "template", "preview", "invoice.tpl", "-o", str(out))
    assert result.returncode == 0, result.stderr
    text = pypdf.PdfReader(io.BytesIO(out.read_bytes())).pages[0].extract_text()
    assert "{number}" in text and "{total}" in text


def test_operator_template_overrides_and_bad_one_names_line(
    daemon: RunningDaemon, tmp_path: Path
) -> None:
    folder = daemon.folder / "data" / "templates"
    folder.mkdir(parents=True)
    (folder / "invoice.tpl").write_text("heading Rechnung {number}\ntotals\n")
    (folder / "broken.tpl").write_text("heading ok\ntext {totl}\n")
    listed = {
        t["name"]: t for t in json.loads(billingctl(daemon.socket, "template", "list").stdout)
    }
    assert listed["invoice.tpl"]["source"] == "operator"
    result = billingctl(
        daemon.socket, "template", "preview", "broken.tpl", "-o", str(tmp_path / "x.pdf")
    )
    assert result.returncode == 1
    assert "broken.tpl:2" in json.loads(result.stdout)["error"]["message"]


def test_backup_of_a_running_sqlite_daemon(daemon: RunningDaemon, tmp_path: Path) -> None:
    daemon.call("enterprise.add", name="Acme", currency="EUR")
    target = tmp_path / "copy.db"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "billingd",
            "backup",
            "--config",
            str(daemon.config_path),
            "-o",
            str(target),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    with sqlite3.connect(target) as copy:
        assert copy.execute("SELECT name FROM enterprise").fetchall() == [("Acme",)]
