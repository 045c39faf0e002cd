"""The fonts a PDF sets its text in: one family per script, all embedded.

billingd ships freely licensed TrueType fonts in ``billingd_plugins/fonts`` (see the
README there): Noto Sans for Latin, Greek and Cyrillic, Noto Sans Arabic, Hebrew and
Thai, Noto Sans Math for arrows and symbols, and Droid Sans Fallback for Chinese,
Japanese and Korean. A document gets Noto Sans (regular and bold) and only the
fallback families its characters need; fpdf2 picks a family per run of text. An
operator can replace the main family with ``plugins.settings.pdf.unicode_font``
(and ``unicode_font_bold``).

Every TrueType file is parsed once per process (keyed by path and modification
time); each document gets a light copy with its own glyph subset
(:func:`install`). A character no family has is replaced (``é`` by ``e``, else by
U+FFFD) and reported by :func:`FontPlan.warnings`.
"""

from __future__ import annotations

import functools
import logging
import threading
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fpdf import FPDF
from fpdf.fonts import SubsetMap, TTFFont

log = logging.getLogger("billingd.plugins.pdf")
for _name in ("fontTools", "fontTools.subset", "fontTools.ttLib"):  # INFO chatter per subset
    logging.getLogger(_name).setLevel(logging.WARNING)

FONT_DIR = Path(__file__).resolve().parent / "fonts"
MAIN_FAMILY = "main"
REPLACEMENT = "\ufffd"


@dataclass(frozen=True)
class Family:
    """A family fpdf2 knows by ``name``: a regular file and optionally a bold one."""

    name: str
    regular: Path
    bold: Path | None = None

    def files(self) -> list[tuple[str, Path]]:
        """(fpdf2 style, file) pairs; a family without bold has regular only."""
        return [("", self.regular)] + ([("B", self.bold)] if self.bold else [])


def _packaged(name: str, regular: str, bold: str | None = None) -> Family:
    return Family(name, FONT_DIR / regular, FONT_DIR / bold if bold else None)


MAIN = _packaged(MAIN_FAMILY, "NotoSans-Regular.ttf", "NotoSans-Bold.ttf")
NOTO = _packaged("noto", "NotoSans-Regular.ttf", "NotoSans-Bold.ttf")  # behind an operator's
FALLBACKS: tuple[Family, ...] = (
    _packaged("arabic", "NotoSansArabic-Regular.ttf", "NotoSansArabic-Bold.ttf"),
    _packaged("hebrew", "NotoSansHebrew-Regular.ttf", "NotoSansHebrew-Bold.ttf"),
    _packaged("thai", "NotoSansThai-Regular.ttf", "NotoSansThai-Bold.ttf"),
    _packaged("symbols", "NotoSansMath-Regular.ttf"),
    _packaged("cjk", "DroidSansFallback.ttf"),
)


# -- parsing once per process ---------------------------------------------------------------

_parse_lock = threading.Lock()


class _Host:
    """What :class:`TTFFont` reads from an FPDF while parsing: no fonts yet, no colour."""

    fonts: dict[str, Any] = {}  # noqa: RUF012 - read only
    render_color_fonts = False


@functools.lru_cache(maxsize=32)
def _parsed(path: Path, mtime_ns: int, style: str) -> TTFFont:
    """The file parsed by fpdf2; shared by every document of this process."""
    return TTFFont(_Host(), path, f"parsed{style}", style)  # type: ignore[arg-type]


def parsed_font(path: Path, style: str = "") -> TTFFont:
    """A font file parsed once per process (again when the file changes)."""
    with _parse_lock:
        return _parsed(path, path.stat().st_mtime_ns, style)


@functools.lru_cache(maxsize=32)
def _characters(path: Path, mtime_ns: int) -> frozenset[int]:
    return frozenset(parsed_font(path).cmap)


def characters(path: Path) -> frozenset[int]:
    """The code points a font file has glyphs for."""
    return _characters(path, path.stat().st_mtime_ns)


def _copy_for(pdf: FPDF, parsed: TTFFont, fontkey: str, shaping: bool) -> TTFFont:
    """A per-document TTFFont sharing the parsed tables, with its own glyph subset."""
    font = TTFFont.__new__(TTFFont)
    for slot in TTFFont.__slots__:
        if hasattr(parsed, slot):
            setattr(font, slot, getattr(parsed, slot))
    font.i = len(pdf.fonts) + 1
    font.fontkey = fontkey
    font.missing_glyphs = []
    font.biggest_size_pt = 0
    font.color_font = None
    font._hbfont = parsed.hbfont if shaping else None  # HarfBuzz face: read-only, shareable
    font.subset = SubsetMap(font)
    return font


# -- choosing families per document -----------------------------------------------------------


def visible(text: str) -> str:
    """Line breaks as ``\\n``, tabs as spaces, other control and format characters dropped
    (zero-width joiners are kept: Arabic and Indic shaping needs them)."""
    if text.isprintable():  # no control, format or line separator characters
        return text
    text = text.replace("\r\n", "\n").replace("\t", " ")
    return "".join(
        c
        for c in text
        if c == "\n" or c in "\u200c\u200d" or unicodedata.category(c) not in ("Cc", "Cf")
    )


def _needs_shaping(code: int) -> bool:
    """Right-to-left and complex scripts (Hebrew .. Myanmar), and combining marks."""
    return 0x0590 <= code < 0x1100 or unicodedata.category(chr(code)) in ("Mn", "Mc")


@dataclass
class FontPlan:
    """The families one document needs, and what its text becomes."""

    main: Family
    fallbacks: list[Family]
    missing: dict[str, str] = field(default_factory=dict)  # character -> its replacement
    shaping: bool = False

    def text(self, text: str) -> str:
        """``text`` as it is set: invisible characters dropped, missing ones replaced."""
        shown = visible(text)
        if self.missing and any(c in self.missing for c in shown):
            shown = "".join(self.missing.get(c, c) for c in shown)
        return shown

    def warnings(self) -> list[str]:
        """One line per character no font has, for the render context."""
        return [
            f"PDF: no font has a glyph for {char!r} (U+{ord(char):04X}), shown as {shown!r}"
            for char, shown in self.missing.items()
        ]

    def install(self, pdf: FPDF) -> None:
        """Add the families to ``pdf`` (parsed once per process) and set the fallbacks."""
        for family in (self.main, *self.fallbacks):
            for style, path in family.files():
                fontkey = f"{family.name}{style}"
                pdf.fonts[fontkey] = _copy_for(pdf, parsed_font(path, style), fontkey, self.shaping)
        if self.main.bold is None:  # one file serves regular and bold
            pdf.fonts[f"{self.main.name}B"] = _copy_for(
                pdf, parsed_font(self.main.regular), f"{self.main.name}B", self.shaping
            )
        if self.fallbacks:
            pdf.set_fallback_fonts([f.name for f in self.fallbacks], exact_match=False)
        pdf.set_text_shaping(self.shaping)


def configured_main(settings: Mapping[str, Any]) -> Family:
    """The operator's ``unicode_font`` family when its files exist, else Noto Sans."""
    regular = settings.get("unicode_font")
    if not regular:
        return MAIN
    bold = settings.get("unicode_font_bold")
    family = Family(MAIN_FAMILY, Path(regular), Path(bold) if bold else None)
    missing = [str(p) for _, p in family.files() if not p.is_file()]
    if missing:
        log.warning("plugins.settings.pdf: no font file %s; using Noto Sans", ", ".join(missing))
        return MAIN
    return family


def _substitute(char: str, has: Any) -> str:
    """``char`` decomposed into characters a font has (``ǆ`` -> ``dž``), else U+FFFD."""
    simpler = "".join(
        c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c)
    )
    return simpler if simpler and all(has(ord(c)) for c in simpler) else REPLACEMENT


def plan_fonts(texts: Iterable[str], settings: Mapping[str, Any] | None = None) -> FontPlan:
    """The families that show ``texts``: the main one plus each fallback a character needs."""
    main = configured_main(settings or {})
    codes = {ord(c) for c in visible("".join(set("".join(set(texts))))) if c != "\n"}
    uncovered = codes - characters(main.regular)
    fallbacks = []
    for family in FALLBACKS if main == MAIN else (NOTO, *FALLBACKS):
        if not uncovered:
            break
        has = characters(family.regular)
        if uncovered & has:
            fallbacks.append(family)
            uncovered -= has
    missing = {}
    if uncovered:
        covered = characters(main.regular).union(*(characters(f.regular) for f in FALLBACKS))
        missing = {chr(c): _substitute(chr(c), covered.__contains__) for c in sorted(uncovered)}
    return FontPlan(main, fallbacks, missing, shaping=any(map(_needs_shaping, codes)))


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
