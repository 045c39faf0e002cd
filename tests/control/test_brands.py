"""Brands operators manage through the socket and billingctl (SPEC §1, R-DEL-2, seed 001).

One daemon serves the module: refused calls write nothing, and every accepted one uses
names of its own.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from billingd.control.client import RemoteError
from billingd.errors import INVALID_PARAMS, NOT_FOUND
from billingd.views import OBJECTS
from tests.conftest import RunningDaemon, billingctl
from tests.conftest import billingctl_ok as ok

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(17)
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(8)
SVG = b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"/>'


@pytest.fixture(scope="module")
def served() -> Iterator[RunningDaemon]:
    folder = Path(tempfile.mkdtemp(prefix="bd-", dir="/tmp"))
    templates = folder / "data" / "templates"
    templates.mkdir(parents=True)
    (templates / "acme.tpl").write_text("heading Acme {number}\nlines\ntotals\n")
    (templates / "broken.tpl").write_text("heading ok\nbogus directive\n")
    running = RunningDaemon(folder, f"sqlite:///{folder / 'billing.db'}")
    yield running
    running.stop()
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def logos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("logos")
    (folder / "logo.png").write_bytes(PNG)
    (folder / "logo.jpg").write_bytes(JPEG)
    (folder / "logo.svg").write_bytes(SVG)
    (folder / "svg-inside.png").write_bytes(SVG)  # judged by content, not by name
    (folder / "text.png").write_text("this is not an image\n")
    (folder / "html.svg").write_text("<html><body>no</body></html>")
    (folder / "empty.jpg").write_bytes(b"")
    return folder


@pytest.fixture(scope="module")
def target(served: RunningDaemon) -> str:
    """A brand the refused updates aim at."""
    return ok(served, "brand", "add", "--name", "Target")["name"]


def refused(daemon: RunningDaemon, *args: str) -> dict[str, Any]:
    """billingctl's error for a refused command: exit 1, nothing written."""
    before = state(daemon)
    result = billingctl(daemon.socket, *args)
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert state(daemon) == before
    return json.loads(result.stdout)["error"]


def state(daemon: RunningDaemon) -> tuple[Any, ...]:
    """What a refused call must leave as it was: brands, enterprises, the audit trail."""
    return (
        daemon.call("brand.list"),
        daemon.call("enterprise.list"),
        len(daemon.call("audit.list", limit=5000)),
    )


def kept(daemon: RunningDaemon, image: bytes, kind: str) -> str:
    """Where the daemon keeps its copy of a logo (billingd.services.brands.keep_logo)."""
    name = f"{hashlib.sha256(image).hexdigest()}.{kind}"
    return str(daemon.folder / "data" / "logos" / name)


def audit_of(daemon: RunningDaemon, brand_id: int) -> list[dict[str, Any]]:
    """The brand's audit events, oldest first."""
    events = daemon.call("audit.list", limit=5000)
    mine = [e for e in events if (e["subject_type"], e["subject_id"]) == ("brand", brand_id)]
    return mine[::-1]


# -- add, list, show, update ---------------------------------------------------------------


def test_add_list_show_and_update_a_brand(served: RunningDaemon, logos: Path) -> None:
    added = ok(
        served,
        "brand", "add", "--name", "Northwind", "--logo", str(logos / "logo.png"),
        "--accent-color", "#12AB9f", "--footer", "Northwind Telecom · Berlin",
        "--layout", "din5008", "--invoice-template", "acme.tpl",
        "--credit-note-template", "credit_note.tpl",
    )  # fmt: skip
    assert tuple(added) == OBJECTS["Brand"]
    assert added == {
        "id": added["id"],
        "name": "Northwind",
        "logo_path": kept(served, PNG, "png"),  # the daemon's copy
        "accent_color": "#12ab9f",
        "footer": "Northwind Telecom · Berlin",
        "layout": "din5008",
        "invoice_template": "acme.tpl",
        "credit_note_template": "credit_note.tpl",
        "reminder_template": "reminder.tpl",  # the default, stored as it is
    }
    assert ok(served, "brand", "show", "Northwind") == added
    assert ok(served, "brand", "show", str(added["id"])) == added
    assert added in ok(served, "brand", "list")
    assert Path(added["logo_path"]).read_bytes() == PNG

    changed = ok(
        served, "brand", "update", "Northwind", "--accent-color", "#000000", "--layout",
        "default", "--logo", str(logos / "logo.svg"),
    )  # fmt: skip
    assert changed == {
        **added,
        "accent_color": "#000000",
        "layout": "default",
        "logo_path": kept(served, SVG, "svg"),
    }
    assert served.call("brand.show", brand="Northwind") == changed


def test_brands_are_listed_by_name_and_shown_as_a_table(served: RunningDaemon) -> None:
    for name in ("Zeta", "Alpha"):
        ok(served, "brand", "add", "--name", name)
    names = [b["name"] for b in ok(served, "brand", "list")]
    assert names == sorted(names) and {"Alpha", "Zeta"} <= set(names)
    table = billingctl(served.socket, "brand", "list")  # --json is always given: the rows
    assert table.returncode == 0


def test_non_ascii_names_are_fine(served: RunningDaemon, logos: Path) -> None:
    name = "Müller & Söhne 東京 🧾"
    added = ok(served, "brand", "add", "--name", name, "--logo", str(logos / "logo.jpg"))
    assert ok(served, "brand", "show", name) == added
    renamed = ok(served, "brand", "update", name, "--name", "Ærø Øst")
    assert renamed["name"] == "Ærø Øst" and renamed["id"] == added["id"]


def test_a_relative_logo_path_is_taken_where_billingctl_runs(
    served: RunningDaemon, logos: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(logos)  # billingctl resolves it where it runs, not where the daemon does
    added = ok(served, "brand", "add", "--name", "Relative", "--logo", "svg-inside.png")
    assert added["logo_path"] == kept(served, SVG, "svg")
    (audit,) = audit_of(served, added["id"])
    assert audit["details"]["logo_source"] == str(logos / "svg-inside.png")


def test_the_logo_is_a_copy_a_later_change_of_the_file_does_not_reach(
    served: RunningDaemon, tmp_path: Path
) -> None:
    source = tmp_path / "logo.png"
    source.write_bytes(PNG + b"first")
    added = ok(served, "brand", "add", "--name", "Copied", "--logo", str(source))
    source.write_bytes(PNG + b"second")
    assert Path(added["logo_path"]).read_bytes() == PNG + b"first"
    again = ok(served, "brand", "add", "--name", "Copied again", "--logo", str(source))
    assert Path(again["logo_path"]).read_bytes() == PNG + b"second"


# -- every refusal names its field and writes nothing --------------------------------------

BAD_ADDS = [
    ("missing logo file", ["--logo", "{logos}/nope.png"], "logo_path", "no such file"),
    ("a directory as logo", ["--logo", "{logos}"], "logo_path", "no such file"),
    ("a .png that is text", ["--logo", "{logos}/text.png"], "logo_path", "not a PNG, JPEG, SVG"),
    ("an .svg that is html", ["--logo", "{logos}/html.svg"], "logo_path", "not a PNG"),
    ("an empty .jpg", ["--logo", "{logos}/empty.jpg"], "logo_path", "not a PNG"),
    ("a colour name", ["--accent-color", "red"], "accent_color", "#rrggbb"),
    ("a short colour", ["--accent-color", "#12345"], "accent_color", "#rrggbb"),
    ("a colour not hex", ["--accent-color", "#gggggg"], "accent_color", "#rrggbb"),
    ("unknown template", ["--invoice-template", "nope.tpl"], "invoice_template", "not found"),
    (
        "template that does not parse",
        ["--credit-note-template", "broken.tpl"],
        "credit_note_template",
        "unknown directive 'bogus'",
    ),
    (
        "template outside the search path",
        ["--reminder-template", "../billing.db"],
        "reminder_template",
        "plain file name",
    ),
    ("empty name", ["--name", "  "], "name", "must not be empty"),
]


@pytest.mark.parametrize(
    ("args", "field", "words"),
    [case[1:] for case in BAD_ADDS],
    ids=[case[0] for case in BAD_ADDS],
)
def test_bad_input_is_refused_naming_the_field(
    served: RunningDaemon, logos: Path, target: str, args: list[str], field: str, words: str
) -> None:
    args = [a.format(logos=logos) for a in args]
    name = [] if "--name" in args else ["--name", "Refused"]
    error = refused(served, "brand", "add", *name, *args)
    assert (error["code"], error["data"]["field"]) == (INVALID_PARAMS, field)
    assert words in error["message"], error["message"]
    # an update is checked the same way
    error = refused(served, "brand", "update", target, *args)
    assert error["data"]["field"] == field and words in error["message"]


def test_an_unknown_layout_is_refused(served: RunningDaemon) -> None:
    before = state(served)
    with pytest.raises(RemoteError) as caught:
        served.call("brand.add", name="Layouts", layout="din5009")
    assert (caught.value.code, caught.value.data["field"]) == (INVALID_PARAMS, "layout")
    assert "default, din5008" in caught.value.message
    assert state(served) == before
    usage = billingctl(served.socket, "brand", "add", "--name", "Layouts", "--layout", "x")
    assert usage.returncode == 2 and "din5008" in usage.stderr  # billingctl knows the choices


def test_a_duplicate_name_is_refused(served: RunningDaemon) -> None:
    ok(served, "brand", "add", "--name", "Twice")
    error = refused(served, "brand", "add", "--name", "Twice")
    assert error["data"]["field"] == "name" and "exists already" in error["message"]
    ok(served, "brand", "add", "--name", "Other")
    error = refused(served, "brand", "update", "Other", "--name", "Twice")
    assert error["data"]["field"] == "name" and "exists already" in error["message"]


def test_an_unknown_brand_is_not_found(served: RunningDaemon) -> None:
    for command in (["show", "No such brand"], ["update", "99999", "--footer", "x"]):
        error = refused(served, "brand", *command)
        assert error["code"] == NOT_FOUND and "no brand" in error["message"]


# -- enterprises name brands --------------------------------------------------------------


def test_an_enterprise_names_an_existing_brand_only(served: RunningDaemon) -> None:
    ok(served, "brand", "add", "--name", "House style")
    error = refused(
        served, "enterprise", "add", "--name", "Acme", "--currency", "EUR", "--brand", "Nope"
    )
    assert (error["code"], error["data"]["field"]) == (NOT_FOUND, "brand")
    assert "no brand named 'Nope'" in error["message"]
    company = ok(
        served, "enterprise", "add", "--name", "Acme", "--currency", "EUR", "--brand", "House style"
    )
    assert company["brand"] == "House style"
    error = refused(served, "enterprise", "update", str(company["id"]), "--brand", "Nope")
    assert (error["code"], error["data"]["field"]) == (NOT_FOUND, "brand")
    ok(served, "brand", "add", "--name", "Second style")
    moved = ok(served, "enterprise", "update", str(company["id"]), "--brand", "Second style")
    assert moved["brand"] == "Second style"


# -- the audit trail ----------------------------------------------------------------------


def test_each_add_and_update_is_audited_with_old_and_new_values(
    served: RunningDaemon, logos: Path
) -> None:
    added = ok(served, "brand", "add", "--name", "Audited", "--accent-color", "#112233")
    ok(served, "brand", "update", "Audited", "--accent-color", "#445566", "--footer", "Thanks")
    ok(served, "brand", "update", "Audited", "--logo", str(logos / "logo.png"))
    created, colour, logo = audit_of(served, added["id"])
    assert (created["event"], created["actor"]) == ("brand.created", getpass.getuser())
    assert created["details"]["changes"] == {
        "name": [None, "Audited"],
        "accent_color": [None, "#112233"],
    }
    assert colour["event"] == "brand.updated"
    assert colour["details"]["changes"] == {
        "accent_color": ["#112233", "#445566"],
        "footer": ["", "Thanks"],
    }
    assert logo["details"]["changes"] == {"logo_path": [None, kept(served, PNG, "png")]}
    assert logo["details"]["logo_source"] == str(logos / "logo.png")
