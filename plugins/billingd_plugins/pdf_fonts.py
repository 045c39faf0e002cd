"""Which font a PDF sets its text in, and the text that font can show.

fpdf2's core Helvetica is small and fast but covers Windows-1252 only. A document
with a character outside it (a Polish "ł", a Cyrillic or Greek name, "→") is set in
a Unicode TrueType family instead: ``plugins.settings.pdf.unicode_font`` (and
``unicode_font_bold``), else DejaVu Sans where the system installs it. Without one,
such characters are transliterated where possible and shown as ``?`` otherwise.
Characters the chosen font has no glyph for are treated the same way.
"""

from __future__ import annotations

import functools
import logging
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fontTools.ttLib import TTFont
from fpdf import FPDF

log = logging.getLogger("billingd.plugins.pdf")

ENCODING = "cp1252"  # what fpdf2's core fonts can show (WinAnsiEncoding)
CORE_FAMILY = "helvetica"
UNICODE_FAMILY = "unicode"
SYSTEM_FONTS = (  # DejaVu Sans (regular, bold) where distributions install it
    ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "DejaVuSans-Bold.ttf"),  # Debian
    ("/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf", "DejaVuSans-Bold.ttf"),  # Fedora
    ("/usr/share/fonts/TTF/DejaVuSans.ttf", "DejaVuSans-Bold.ttf"),  # Arch
    ("/usr/share/fonts/dejavu/DejaVuSans.ttf", "DejaVuSans-Bold.ttf"),  # Alpine, SUSE
)
# Letters NFKD cannot take apart, and dashes and spaces Windows-1252 lacks.
_FALLBACKS = str.maketrans(
    {
        "Ł": "L",
        "ł": "l",
        "Đ": "D",
        "đ": "d",
        "Ħ": "H",
        "ħ": "h",
        "ı": "i",
        "Ŧ": "T",
        "ŧ": "t",
        "Ŋ": "N",
        "ŋ": "n",
        "‐": "-",
        "‑": "-",
        "‒": "-",
        "−": "-",
        "→": "->",
        "←": "<-",
        "≤": "<=",
        "≥": ">=",
        "\u2009": " ",
        "\u202f": " ",
    }
)


def _visible(text: str) -> str:
    """Line breaks as ``\\n``, tabs as spaces, other control and format characters dropped."""
    text = text.replace("\r\n", "\n").replace("\t", " ")
    return "".join(c for c in text if c == "\n" or unicodedata.category(c) not in ("Cc", "Cf"))


def _substitute(char: str, shows: Any) -> str:
    """``char`` decomposed into letters ``shows`` accepts (é -> e), else ``?``."""
    simpler = char.translate(_FALLBACKS)
    if simpler == char:
        simpler = "".join(
            c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c)
        )
    return simpler if simpler and all(shows(c) for c in simpler) else "?"


def _in_core_fonts(char: str) -> bool:
    try:
        char.encode(ENCODING)
    except UnicodeEncodeError:
        return False
    return True


def pdf_text(text: str) -> str:
    """Text the core fonts can show: unencodable characters transliterated, else ``?``.

    Control and formatting characters (other than newlines) are dropped.
    """
    return "".join(
        c if _in_core_fonts(c) else _substitute(c, _in_core_fonts) for c in _visible(text)
    )


@dataclass(frozen=True)
class UnicodeFont:
    """A TrueType family: its regular and bold files and the characters it has glyphs for."""

    regular: Path
    bold: Path

    @functools.cached_property
    def characters(self) -> frozenset[str]:
        with TTFont(self.regular, lazy=True) as font:
            return frozenset(map(chr, font.getBestCmap()))

    def text(self, text: str) -> str:
        """Text this font can show: characters without a glyph transliterated, else ``?``."""
        has = self.characters.__contains__
        return "".join(c if has(c) or c == "\n" else _substitute(c, has) for c in _visible(text))


@functools.lru_cache(maxsize=8)
def find_unicode_font(regular: str | None, bold: str | None) -> UnicodeFont | None:
    """The configured family (bold defaults to the regular file), else DejaVu Sans from
    the system; None when there is none."""
    if regular:
        configured = UnicodeFont(Path(regular), Path(bold or regular))
        missing = sorted({str(p) for p in (configured.regular, configured.bold) if not p.is_file()})
        if not missing:
            return configured
        log.warning(
            "plugins.settings.pdf: no font file %s; looking for DejaVu Sans", ", ".join(missing)
        )
    for path, bold_name in SYSTEM_FONTS:
        found = UnicodeFont(Path(path), Path(path).with_name(bold_name))
        if found.regular.is_file() and found.bold.is_file():
            return found
    return None


class Typeface:
    """How one document's text is set: the family name and what the text becomes."""

    def __init__(self, font: UnicodeFont | None = None) -> None:
        self.font = font
        self.family = UNICODE_FAMILY if font else CORE_FAMILY

    def install(self, pdf: FPDF) -> None:
        if self.font is not None:
            pdf.add_font(UNICODE_FAMILY, "", self.font.regular)
            pdf.add_font(UNICODE_FAMILY, "B", self.font.bold)

    def text(self, text: str) -> str:
        return self.font.text(text) if self.font is not None else pdf_text(text)


def strings_in(value: Any) -> Iterable[str]:
    """Every string in a document (nested mappings and lists included)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from strings_in(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from strings_in(item)


def typeface_for(texts: Iterable[str], settings: Mapping[str, Any]) -> Typeface:
    """The core fonts when every text fits them, else the Unicode family (if any)."""
    if all(_in_core_fonts(c) for text in texts for c in _visible(text)):
        return Typeface()
    font = find_unicode_font(settings.get("unicode_font"), settings.get("unicode_font_bold"))
    return Typeface(font)
