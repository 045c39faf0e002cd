"""docs/protocol.md is generated from the method registry and must not drift from it."""

from __future__ import annotations

import difflib
import subprocess
import sys
from pathlib import Path

from billingd.control import docs
from billingd.control.registry import METHODS

DOC = Path(__file__).resolve().parent.parent / "docs" / "protocol.md"
HOW = f"regenerate it with: {docs.REGENERATE}"


def test_protocol_doc_matches_the_registry() -> None:
    expected = docs.generate()
    actual = DOC.read_text(encoding="utf-8") if DOC.exists() else ""
    if actual != expected:
        diff = "".join(
            list(
                difflib.unified_diff(
                    actual.splitlines(keepends=True),
                    expected.splitlines(keepends=True),
                    "docs/protocol.md",
                    "generated from the registry",
                )
            )[:80]
        )
        raise AssertionError(f"docs/protocol.md is out of date; {HOW}\n\n{diff}")


def test_every_method_is_documented_with_a_summary() -> None:
    text = docs.generate()
    undocumented = sorted(name for name, entry in METHODS.items() if not entry.summary)
    assert not undocumented, f"give these handlers a docstring: {undocumented}"
    for name, entry in METHODS.items():
        section = text.split(f"### `{name}`\n", 1)[1].split("\n### ", 1)[0]
        assert f"Access: **{docs.access_of(entry)}**" in section, name
        for param in entry.params:
            assert f"| `{param}` |" in section, (name, param)


def test_access_levels_follow_the_registration() -> None:
    assert docs.access_of(METHODS["client.list"]) == "read"
    assert docs.access_of(METHODS["client.add"]) == "write"
    assert docs.access_of(METHODS["subscribe"]) == "read"


def test_error_codes_are_all_in_the_table() -> None:
    from billingd import errors

    text = docs.generate()
    for name, value in vars(errors).items():
        if name.isupper() and isinstance(value, int):
            assert f"| {value} | `{name}` |" in text


def test_regeneration_is_one_command() -> None:
    printed = subprocess.run(
        [sys.executable, "-m", "billingd.control.docs"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    assert printed == docs.generate()
