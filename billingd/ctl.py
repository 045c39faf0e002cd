"""``billingctl``: every socket operation from the command line, for people and scripts.

Exit codes (SPEC §9): 0 success, 1 refused (by a rule, validation, permission),
2 usage or connection error. ``--json`` prints the result, or
``{"error": {...}}`` when refused.
"""

from __future__ import annotations

import argparse
import base64
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

from billingd.control.client import ConnectionFailed, ControlClient, RemoteError
from billingd.control.list_params import PAGED
from billingd.ctl_commands import COMMANDS, Arg, Command
from billingd.ctl_commands.runs import DRY_RUN_COLUMNS, dry_run_rows
from billingd.ctl_output import ProgressLine, json_text, render, terminal_safe
from billingd.errors import INVALID_REQUEST, METHOD_NOT_FOUND, PARSE_ERROR

PROTOCOL_ERRORS = (PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND)


def _common(parser: argparse.ArgumentParser, default: Any) -> None:
    parser.add_argument(
        "--socket",
        type=Path,
        default=default,
        help="daemon socket (default: $BILLINGD_SOCKET or the config's)",
    )
    parser.add_argument(
        "--json", action="store_true", default=default, help="machine-readable output"
    )


def integer(text: str) -> int:
    """An integer option in the digits 0-9 (``int()`` also reads ``١٢``, ``１２`` and
    ``1_000``); argparse reports anything else as a usage error (exit 2)."""
    if not re.fullmatch(r"[+-]?[0-9]+", text.strip()):
        raise argparse.ArgumentTypeError(f"not an integer in the digits 0-9: {text!r}")
    return int(text)


def _add_arg(parser: argparse.ArgumentParser, arg: Arg) -> None:
    if not arg.flag.startswith("-"):
        optional = arg.kind.endswith("?")
        parser.add_argument(
            arg.param,
            metavar=arg.flag,
            type=integer if arg.kind.startswith("int") else str,
            nargs="?" if optional else None,
            help=arg.help,
        )
        return
    if arg.kind == "flag":
        parser.add_argument(
            arg.flag, dest=arg.param, action="store_true", default=None, help=arg.help
        )
    elif arg.kind == "append":
        parser.add_argument(
            arg.flag, dest=arg.param, action="append", metavar=arg.param.upper(), help=arg.help
        )
    elif arg.kind == "no-flag":
        parser.add_argument(
            arg.flag, dest=arg.param, action="store_false", default=None, help=arg.help
        )
    else:
        parser.add_argument(
            arg.flag,
            dest=arg.param,
            type=integer if arg.kind == "int" else str,
            required=arg.required,
            choices=arg.choices,
            help=arg.help,
        )


Groups = dict[tuple[str, ...], Any]
"""The subparsers that take the next word after each prefix of command words."""


def _group(groups: Groups, words: tuple[str, ...]) -> Any:
    """The subparsers that take ``words[-1]``, with the groups before it."""
    for depth in range(1, len(words)):
        prefix = words[:depth]
        if prefix not in groups:
            sub = groups[prefix[:-1]].add_parser(prefix[-1], help=f"{prefix[-1]} commands")
            groups[prefix] = sub.add_subparsers(dest=f"cmd{depth}", required=True)
    return groups[words[:-1]]


def _add_command(groups: Groups, command: Command) -> None:
    leaf = _group(groups, command.words).add_parser(
        command.words[-1], help=command.help, description=command.help
    )
    _common(leaf, argparse.SUPPRESS)
    for arg in command.args:
        _add_arg(leaf, arg)
    if pages(command):
        leaf.add_argument("--all", action="store_true", help="every row: fetch page after page")
    leaf.set_defaults(command=command)


def build_parser(commands: tuple[Command, ...] = COMMANDS) -> argparse.ArgumentParser:
    """billingctl's parser, with the options of ``commands`` (by default all).

    Adding every command's options takes about a quarter of billingctl's start, so
    :func:`main` adds only those its arguments need (:func:`needed`). The first word
    of every command stays, so that help and usage errors print the same.
    """
    parser = argparse.ArgumentParser(
        prog="billingctl",
        description="Control a running billingd over its socket.",
        epilog="Exit codes: 0 success, 1 refused, 2 usage or connection error.",
    )
    _common(parser, None)
    groups: Groups = {(): parser.add_subparsers(dest="cmd0", required=True)}
    chosen = {c.words for c in commands}
    for command in COMMANDS:
        if command.words in chosen:
            _add_command(groups, command)
        elif len(command.words) > 1:
            _group(groups, command.words[:2])
        else:
            groups[()].add_parser(command.words[0], help=command.help)
    return parser


def needed(argv: list[str]) -> tuple[Command, ...]:
    """The commands whose options parsing ``argv`` needs: the one it names after the
    options ``--json`` and ``--socket PATH``, none for billingctl's own help, and all
    when it is anything else (an abbreviation, a group's help, a usage error)."""
    rest = list(argv)
    while rest and rest[0].startswith("-"):
        option = rest.pop(0)
        if option in ("-h", "--help"):
            return ()
        if option == "--socket" and rest:
            rest.pop(0)
        elif option != "--json" and not option.startswith("--socket="):
            return COMMANDS
    named = tuple(c for c in COMMANDS if tuple(rest[: len(c.words)]) == c.words)
    return named or COMMANDS


def follow_run(client: ControlClient, run_id: int) -> dict[str, Any]:
    """Wait for a run to end, with a progress bar on a terminal (R-RUN-11)."""
    line = ProgressLine(f"run {run_id}")
    try:
        while True:
            run = client.call("run.show", id=run_id)
            line.show(
                run["done"],
                run["total"],
                f"{run['done']}/{run['total']} clients, "
                f"{run['invoices']} invoices, {run['failures']} failures",
            )
            if run["status"] != "running":
                return run
            time.sleep(0.2)
    finally:
        line.end()


PAGE = 1000
"""Rows per call when ``--all`` fetches a whole list (the daemon's largest page)."""


def pages(command: Command) -> bool:
    """Whether a list command can page (it takes ``--limit`` and ``--offset``)."""
    return {"limit", "offset"} <= {a.param for a in command.args}


def fetch_all(client: ControlClient, method: str, params: dict[str, Any]) -> list[Any]:
    """Every row of a paged list, page after page."""
    rows: list[Any] = []
    params = {**params, "limit": PAGE}
    while True:
        page = client.call(method, **params, offset=params.get("offset", 0) + len(rows))
        rows.extend(page)
        if len(page) < PAGE:
            return rows


def execute(client: ControlClient, command: Command, args: argparse.Namespace) -> Any:
    """Run one command; return what to print."""
    values = {a.param: getattr(args, a.param, None) for a in command.args}
    output = values.pop("output", None)
    params = {k: v for k, v in values.items() if v is not None}
    if command.run is not None:
        return command.run(client, params)
    if getattr(args, "all", False):
        return fetch_all(client, command.method, params)
    method = command.method
    if command.alternate is not None and command.alternate[0] in params:
        method = command.alternate[1]
    result = client.call(method, **params, **command.fixed)
    if method == "run.start" and not params.get("dry_run"):
        return follow_run(client, result["id"])
    if output is not None:
        Path(output).write_bytes(base64.b64decode(result.pop("content_base64")))
        result["written"] = output
    return result


def _emit(text: str) -> None:
    """Print as UTF-8 whatever the locale says (the README promises UTF-8 JSON)."""
    sys.stdout.buffer.write(text.encode("utf-8") + b"\n")
    sys.stdout.flush()


def _page_size(command: Command, args: argparse.Namespace) -> int:
    """The rows one call returns at most: ``--limit``, else the method's default."""
    limit = getattr(args, "limit", None)
    return int(limit or PAGED[command.method]["limit"].default)


def _more_hint(command: Command, args: argparse.Namespace, result: Any) -> None:
    """Say on stderr when a list filled its page: more rows may exist."""
    if not pages(command) or getattr(args, "all", False) or not isinstance(result, list):
        return
    if len(result) >= _page_size(command, args):
        print(
            f"billingctl: {len(result)} rows shown; there may be more "
            "(--all, or --limit and --offset)",
            file=sys.stderr,
        )


def _fail(error: dict[str, Any], as_json: bool, code: int) -> int:
    if as_json:
        _emit(json_text({"error": error}))
    else:
        print(f"billingctl: {terminal_safe(str(error['message']), lines=True)}", file=sys.stderr)
    return code


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except BrokenPipeError:  # e.g. piped into head: the reader has what it wanted
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # nothing more to flush at exit
        return 0


def _main(argv: list[str] | None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(needed(argv)).parse_args(argv)
    command: Command = args.command
    try:
        from billingd.control.client import default_socket_path

        socket_path = args.socket or default_socket_path()
    except Exception as exc:  # a broken default config must not hide --socket
        return _fail({"code": 2, "message": f"no socket: {exc}"}, args.json, 2)
    try:
        with ControlClient(socket_path) as client:
            stream = getattr(command, "stream", None)
            if stream is not None:  # e.g. ``events``: prints as it goes, returns the exit code
                return stream(client, args)
            result = execute(client, command, args)
    except ConnectionFailed as exc:
        return _fail({"code": -32000, "message": str(exc)}, args.json, 2)
    except RemoteError as exc:
        return _fail(exc.to_error(), args.json, 2 if exc.code in PROTOCOL_ERRORS else 1)
    except OSError as exc:
        return _fail({"code": -32000, "message": f"{exc.filename}: {exc.strerror}"}, args.json, 2)
    if args.json:
        _emit(json_text(result, indent=2))
    elif command.method == "run.start" and getattr(args, "dry_run", False):
        _emit(render(dry_run_rows(result), DRY_RUN_COLUMNS))
    else:
        _emit(render(result, command.columns))
    _more_hint(command, args, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
