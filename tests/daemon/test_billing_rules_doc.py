"""docs/billing-rules.md's worked examples are what billingctl prints.

Each ``console`` block of the document is one scenario, run against a fresh daemon
on the test clock: every ``$ billingctl …`` line is executed with the real command
and its output must equal the lines that follow it. A command ending in
``> /dev/null`` has its output ignored (set-up), and a ``csv file=NAME`` block
before a scenario writes that file where the commands run.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import RunningDaemon

DOC = Path(__file__).resolve().parents[2] / "docs" / "billing-rules.md"
FENCE = re.compile(r"^```(\w+)(?: file=(\S+))?\n(.*?)^```$", re.MULTILINE | re.DOTALL)
CONFIG = "clock: test\ninvoicing: manual\ntimezone: Europe/Berlin\n"


@dataclass
class Step:
    command: str
    expected: list[str] = field(default_factory=list)


@dataclass
class Scenario:
    title: str
    steps: list[Step]
    files: dict[str, str]


def scenarios() -> list[Scenario]:
    text = DOC.read_text(encoding="utf-8")
    found: list[Scenario] = []
    files: dict[str, str] = {}
    for match in FENCE.finditer(text):
        kind, name, body = match.groups()
        if kind == "csv" and name:
            files[name] = body
            continue
        if kind != "console":
            continue
        heading = [h for h in re.findall(r"^#+ (.+)$", text[: match.start()], re.MULTILINE)]
        steps: list[Step] = []
        for line in body.splitlines():
            if line.startswith("$ "):
                steps.append(Step(line[2:]))
            elif steps:
                steps[-1].expected.append(line)
        found.append(Scenario(heading[-1] if heading else "example", steps, files))
        files = {}
    return found


def billingctl_words(command: str, socket: Path) -> list[str]:
    words = shlex.split(command)
    assert words[0] == "billingctl", command
    program = shutil.which("billingctl")
    prefix = [program] if program else [sys.executable, "-m", "billingd.ctl"]
    return [*prefix, "--socket", str(socket), *words[1:]]


@pytest.mark.slow
@pytest.mark.parametrize("scenario", scenarios(), ids=lambda s: s.title)
def test_billing_rules_examples_are_what_billingctl_prints(
    scenario: Scenario, short_dir: Path
) -> None:
    daemon = RunningDaemon(short_dir, f"sqlite:///{short_dir / 'billing.db'}", CONFIG)
    try:
        for name, content in scenario.files.items():
            (short_dir / name).write_text(content, encoding="utf-8")
        for step in scenario.steps:
            command, quiet = step.command, step.command.endswith("> /dev/null")
            command = command.removesuffix("> /dev/null").strip()
            result = subprocess.run(
                billingctl_words(command, daemon.socket),
                capture_output=True,
                text=True,
                timeout=60,
                cwd=short_dir,
            )
            assert result.returncode == 0, (command, result.stdout, result.stderr)
            if not quiet:
                printed = [line.rstrip() for line in result.stdout.rstrip("\n").splitlines()]
                assert printed == [line.rstrip() for line in step.expected], command
    finally:
        daemon.stop()
