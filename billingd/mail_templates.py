"""Email texts an operator can edit (R-DEL-5): ``mail/<name>.<language>.txt`` and
``.html`` in the template directories (the operator's ``data_dir/templates`` first).

The ``.txt`` file starts with a ``Subject:`` line, then one blank line, then the plain
body; the ``.html`` file, optional, is the HTML body. Placeholders are ``{dotted.path}``
into the message's context (``{invoice.number}``, ``{brand.name}``); ``{{`` and
``}}`` are literal braces. In the HTML body every value is escaped. A placeholder the
context lacks is an error naming the file and line, so a typo never reaches a client;
a language without its own file falls back to English. Templates never run code.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from billingd.errors import ValidationError

PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)\}")
FALLBACK_LANGUAGE = "en"


class MailTemplateError(ValidationError):
    """A mail template that cannot be filled: names the file and line."""


@dataclass(frozen=True, slots=True)
class MailText:
    """A filled template: what one email says."""

    subject: str
    text: str
    html: str | None


def _value(context: Mapping[str, Any], path: str) -> Any:
    value: Any = context
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            raise KeyError(path)
        value = value[part]
    return value


def fill(
    text: str,
    context: Mapping[str, Any],
    source: str,
    *,
    escape: bool = False,
    first_line: int = 1,
) -> str:
    """``text`` (line ``first_line`` of ``source`` on) with its placeholders replaced;
    a None value is ""."""
    out = []
    for number, line in enumerate(text.splitlines(keepends=True), start=first_line):

        def replace(match: re.Match[str], number: int = number) -> str:
            if match.group(0) in ("{{", "}}"):
                return match.group(0)[0]
            try:
                value = _value(context, match.group(1))
            except KeyError:
                raise MailTemplateError(
                    f"{source}:{number}: unknown placeholder {{{match.group(1)}}}",
                    field="template",
                ) from None
            shown = "" if value is None else str(value)
            return html.escape(shown) if escape else shown

        out.append(PLACEHOLDER.sub(replace, line))
    return "".join(out)


def _find(dirs: Sequence[Path], name: str, language: str, suffix: str) -> Path | None:
    for lang in dict.fromkeys((language or FALLBACK_LANGUAGE, FALLBACK_LANGUAGE)):
        for directory in dirs:
            candidate = Path(directory) / "mail" / f"{name}.{lang}.{suffix}"
            if candidate.is_file():
                return candidate
    return None


def render_mail(
    name: str, language: str, context: Mapping[str, Any], dirs: Sequence[Path]
) -> MailText:
    """Fill the mail template ``name`` in ``language`` (else English)."""
    if not re.fullmatch(r"[a-z0-9_]+", name):
        raise MailTemplateError(f"not a mail template name: {name!r}", field="template")
    text_path = _find(dirs, name, language, "txt")
    if text_path is None:
        raise MailTemplateError(f"no mail template {name!r} (mail/{name}.en.txt)", field="template")
    raw = text_path.read_text(encoding="utf-8")
    head, _, body = raw.partition("\n\n")
    if not head.startswith("Subject:") or "\n" in head.strip():
        raise MailTemplateError(
            f"{text_path}:1: a mail template starts with one 'Subject: ...' line and a blank line",
            field="template",
        )
    subject = fill(head.removeprefix("Subject:").strip(), context, f"{text_path}")
    body_line = head.count("\n") + 3  # the subject line, the blank line
    text = fill(body, context, str(text_path), first_line=body_line).replace("\r\n", "\n")
    html_path = text_path.with_suffix(".html")
    html_body = None
    if html_path.is_file():
        html_body = fill(
            html_path.read_text(encoding="utf-8"), context, str(html_path), escape=True
        )
    return MailText(" ".join(subject.split()), text, html_body)
