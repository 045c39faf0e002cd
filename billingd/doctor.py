"""``billingd doctor``: check a billing database and say what is wrong, for operators
(80 columns) and monitoring (``--json``, exit 0 all well, 1 problems, 2 not checked).

The checks are :mod:`billingd.services.doctor`'s; this module opens the configured
database without changing it (no migration: an older or newer schema is "could not
check") and prints the report.
"""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path
from typing import TextIO
from urllib.parse import urlparse

import peewee

from billingd.config import Config
from billingd.db.connection import DatabaseURLError, make_database, open_database
from billingd.db.migrations import SCHEMA_VERSION, current_version
from billingd.services.doctor import Report, run_checks

WIDTH = 80
CANNOT_CHECK = 2


class CannotCheck(RuntimeError):
    """The database cannot be checked (missing, unreachable, another schema)."""


def sqlite_path(url: str) -> Path | None:
    """The file of a ``sqlite:///`` URL, None for another backend."""
    parsed = urlparse(url)
    if parsed.scheme != "sqlite":
        return None
    return Path(make_database(url).database)


def open_for_check(url: str) -> peewee.Database:
    """Bind the models to the configured database, as it is: it must exist and carry
    this billingd's schema version."""
    try:
        path = sqlite_path(url)
        if path is not None and not path.is_file():
            raise CannotCheck(f"no database at {path}")
        database = open_database(url)
        database.connect(reuse_if_open=True)
        version = current_version(database)
    except (DatabaseURLError, peewee.DatabaseError) as exc:
        raise CannotCheck(f"cannot open the database: {exc}".strip()) from exc
    if version != SCHEMA_VERSION:
        database.close()
        found = "no billingd schema" if version is None else f"schema version {version}"
        raise CannotCheck(
            f"the database has {found}; this billingd reads version {SCHEMA_VERSION} "
            "(billingd migrate upgrades an older one)"
        )
    return database


def _indented(text: str) -> list[str]:
    return textwrap.wrap(text, WIDTH, initial_indent="  ", subsequent_indent="    ")


def report_lines(report: Report) -> list[str]:
    """The report for a terminal: a line per check, its problems under it, wrapped."""
    lines = []
    for result in report.results:
        if result.error is not None:
            status = "could not check"
        elif result.problems:
            count = len(result.problems)
            status = f"{count} problem{'s' if count != 1 else ''}"
        else:
            status = "ok"
        lines.append(f"{result.name:<12} {status:<55} {result.seconds:>7.2f} s"[:WIDTH])
        if result.error is not None:
            lines += _indented(result.error)
        for problem in result.problems:
            rule = f" [{problem.rule}]" if problem.rule else ""
            lines += _indented(f"{problem.subject}: {problem.message}{rule}")
    problems = len(report.problems)
    if report.failed:
        lines.append(f"{len(report.failed)} check(s) could not run; {problems} problem(s) found")
    elif problems:
        lines.append(f"{problems} problem{'s' if problems != 1 else ''} found")
    else:
        lines.append("no problems found")
    return lines


def run_doctor(
    config: Config, *, as_json: bool = False, checks: list[str] | None = None,
    out: TextIO = sys.stdout,
) -> int:  # fmt: skip
    """Check the configured database and documents directory; print; the exit code."""
    try:
        database = open_for_check(config.database)
    except CannotCheck as exc:
        if as_json:
            print(json.dumps({"ok": False, "error": str(exc), "problems": [], "checks": []}),
                  file=out)  # fmt: skip
        else:
            print(f"billingd doctor: {exc}", file=out)
        return CANNOT_CHECK
    try:
        report = run_checks(Path(config.data_dir), checks)
    finally:
        database.close()
    if as_json:
        print(json.dumps(report.to_dict(), indent=2), file=out)
    else:
        print("\n".join(report_lines(report)), file=out)
    return report.exit_code
