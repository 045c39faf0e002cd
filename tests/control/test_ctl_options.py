"""billingctl's options are the socket's parameters (SPEC §9), and it starts light.

A parameter is declared once, at the socket: in ``billingd.control.api``, or, where
billingctl derives options or page sizes from it, in a module that is light to
import (``billingd.control.list_params``, ``billingd.control.einvoice_params``)
whose dicts the registrations spread into their parameters. billingctl does not
import the registry, which imports every service and the database layer. These
tests hold both halves: the options match the registry, and a fresh billingctl
imports none of it.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from billingd.control import api  # noqa: F401  (registers the methods)
from billingd.control.list_params import PAGED
from billingd.control.registry import METHODS
from billingd.ctl import build_parser, needed, pages
from billingd.ctl_commands import COMMANDS, Arg, Command

KINDS = {"int": "integer", "flag": "boolean", "no-flag": "boolean", "append": "list"}
"""An option's kind and the parameter type it fills; every other kind fills a string."""

CTL_ONLY = {
    "output": "the file billingctl writes a document to",
    "file": "the file billingctl reads and sends as rows",
    "format": "how billingctl reads the usage file (csv|jsonl)",
    "logo": "the image file billingctl reads and sends as logo_path's content",
    "filter": "billingctl's --filter, sent as the event prefixes",
    "clear": "dunning plan --clear, sent as an empty list of steps",
}
"""Options billingctl turns into something else before it calls the method."""

NOT_OFFERED = {
    ("billgroup.add", "status"): "not offered yet",
    ("billgroup.add", "custom_fields"): "an object: --custom KEY=VALUE fills it",
    ("billgroup.update", "custom_fields"): "an object: --custom KEY=VALUE fills it",
    ("invoice.preview", "bill_group"): "not offered yet",
    ("invoice.period", "bill_group"): "not offered yet",
    ("brand.add", "logo_path"): "--logo sends the file",
    ("brand.update", "logo_path"): "--logo sends the file",
    ("client.import", "rows"): "read from FILE",
    ("client.import", "lines"): "read from FILE",
    ("client.import", "source"): "FILE's name",
    ("contract.import", "rows"): "read from FILE",
    ("contract.import", "lines"): "read from FILE",
    ("contract.import", "source"): "FILE's name",
    ("usage.import", "records"): "read from FILE",
    ("usage.import", "lines"): "read from FILE",
    ("usage.import", "source"): "FILE's name",
    ("subscribe", "events"): "--filter",
}
"""Parameters of a command's method that billingctl does not offer as options."""


def _params(command: Command) -> dict:
    """The parameters a command can fill: its method's, and its alternate's."""
    params = dict(METHODS[command.method].params)
    if command.alternate is not None:
        params.update(METHODS[command.alternate[1]].params)
    return params


def _mismatch(command: Command, arg: Arg, params: dict) -> str | None:
    if arg.param in CTL_ONLY:
        return None
    param = params.get(arg.param)
    if param is None:
        return "no such parameter"
    kind = arg.kind.rstrip("?")
    if KINDS.get(kind, "string") not in (param.type_name.split()[0], "string"):
        return f"{arg.kind} option, {param.type_name} parameter"
    optional_positional = arg.kind.endswith("?") and command.alternate is None
    if not arg.flag.startswith("-") and param.required == optional_positional:
        return "required differs"
    if arg.flag.startswith("-") and arg.required != param.required:
        return "required differs"
    return None


def test_every_command_calls_a_registered_method() -> None:
    unknown = [c.words for c in COMMANDS if c.method not in METHODS]
    assert not unknown, unknown


def test_options_are_the_parameters_of_their_method() -> None:
    wrong = [
        (" ".join(c.words), a.flag, problem)
        for c in COMMANDS
        for a in c.args
        if (problem := _mismatch(c, a, _params(c)))
    ]
    assert not wrong, wrong


def test_every_parameter_is_an_option() -> None:
    missing = sorted(
        (c.method, name)
        for c in COMMANDS
        for name in METHODS[c.method].params
        if name not in {a.param for a in c.args} | set(c.fixed)
        and (c.method, name) not in NOT_OFFERED
    )
    assert not missing, f"add an option, or say in NOT_OFFERED why not: {missing}"


def test_page_sizes_are_the_registered_defaults() -> None:
    paged = {c.method for c in COMMANDS if pages(c)}
    assert paged == set(PAGED)
    for method, page in PAGED.items():
        assert page.items() <= METHODS[method].params.items(), method


def test_billingctl_starts_without_the_registry(tmp_path: Path) -> None:
    """What billingctl imports to parse its options and call the daemon: no service,
    no database layer, no registry (each of them costs its start time)."""
    code = (
        "import json, sys\n"
        "from billingd.ctl import main\n"
        "for argv in (['status'], ['client', 'list'], ['outbox', 'list']):\n"
        f"    main(['--socket', {str(tmp_path)!r} + '/none.sock', *argv])\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    modules = json.loads(result.stdout.splitlines()[-1])
    heavy = ("peewee", "stdnum", "asyncio", "billingd.services", "billingd.db")
    loaded = [
        m
        for m in modules
        if m.startswith(heavy) or m in ("billingd.control.api", "billingd.control.registry")
    ]
    assert not loaded, loaded


def _output(parser: argparse.ArgumentParser, argv: list[str]) -> tuple[str, str]:
    """What parsing ``argv`` prints on stdout and stderr before it exits."""
    out, err = io.StringIO(), io.StringIO()
    with (
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
        pytest.raises(SystemExit),
    ):
        parser.parse_args(argv)
    return out.getvalue(), err.getvalue()


def test_a_parser_with_the_options_needed_answers_as_the_whole_parser() -> None:
    whole = build_parser()
    tries = [["--help"], ["--json", "-h"], []]
    for command in COMMANDS:
        tries += [[*command.words, "--help"], [*command.words, "--no-such-option"]]
    for argv in tries:
        assert _output(build_parser(needed(argv)), argv) == _output(whole, argv), argv


def test_only_what_is_plainly_named_gets_a_parser_of_its_own() -> None:
    status = next(c for c in COMMANDS if c.words == ("status",))
    assert needed(["--socket", "/s", "--json", "status"]) == (status,)
    assert needed(["--socket=/s", "status", "--json"]) == (status,)
    assert needed(["--json", "--help"]) == needed(["-h", "status"]) == ()
    for argv in (["--sock", "/s", "status"], ["client"], ["client", "lst"], [], ["--"]):
        assert needed(argv) == COMMANDS, argv
