"""The chaos soak in small (issue 14): ``bench/chaos.py`` with 5 SIGKILLs, so that the
soak keeps working; its figures at 50 kills and more are in bench/README.md."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "chaos.py"


@pytest.mark.slow
def test_r_run_9_r_del_3_five_sigkills_lose_and_double_nothing() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH), "--kills", "5", "--clients", "40", "--seed", "5",
         "--json"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    result = json.loads(done.stdout)
    assert done.returncode == 0, json.dumps(result, indent=1)[:3000]
    assert result["kills"] == 5
    assert result["doctor"] == {"clean": 5}
    assert result["final_doctor_clean"]
    assert result["duplicate_invoices"] == 0
    mail = result["mail"]
    assert mail["missing"] == 0 and mail["unknown"] == 0
    assert mail["delivered_once"] == mail["states"]["sent"] > 0
