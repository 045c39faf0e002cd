"""Embedding TrueType subsets without subsetting the font file for every document.

fpdf2 runs fontTools' subsetter on every font of every PDF it writes — about 8 ms
even for a tiny font, and it consumes the parsed font. :class:`EmbeddingProducer`
embeds the fonts of :mod:`billingd_plugins.pdf_fonts` instead from a per-process
cache of subsets that keep the original glyph ids (``retain_gids``): one subset
serves every document whose glyphs it holds. A main-family subset always holds
the common Latin characters, so Latin documents share one subset per process.

The PDF objects are those fpdf2 writes for a TrueType font (Type0 with an
Identity-H CIDFontType2, ToUnicode map, CIDToGIDMap and FontFile2), so the
output is a normal embedded, subset font.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import io
import threading
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from fontTools import subset as ftsubset
from fontTools.ttLib import TTFont
from fpdf.fonts import SubsetMap, TTFFont
from fpdf.output import (
    CIDSystemInfo,
    OutputProducer,
    PDFContentStream,
    PDFFont,
    _build_cmap_blocks,
    _tt_font_widths,
)
from fpdf.syntax import Name, PDFArray

# Characters every main-family subset holds: ASCII, Latin-1, Latin Extended-A, the
# punctuation and currency signs invoices use.
COMMON = frozenset([*range(0x20, 0x7F), *range(0xA0, 0x180), *map(ord, "–—‘’‚“”„•…‰‹›€™\ufffd")])
DROPPED_TABLES = ["FFTM", "GDEF", "GPOS", "GSUB", "MATH", "hdmx", "meta", "DSIG"]
_lock = threading.Lock()


@functools.lru_cache(maxsize=16)
def _font_bytes(path: Path, mtime_ns: int) -> bytes:
    return path.read_bytes()


def _common_glyphs(font: TTFFont) -> frozenset[int]:
    """Glyph ids of :data:`COMMON` in a font that has most of them (the main family)."""
    ids = {font.glyph_ids[c] for c in COMMON if c in font.glyph_ids}
    return frozenset(ids) if len(ids) > len(COMMON) // 2 else frozenset()


@functools.lru_cache(maxsize=64)
def _subset(path: Path, mtime_ns: int, glyph_ids: frozenset[int]) -> tuple[bytes, int]:
    """The font reduced to ``glyph_ids`` (ids unchanged): compressed bytes, raw length."""
    font = TTFont(io.BytesIO(_font_bytes(path, mtime_ns)), recalcTimestamp=False, lazy=True)
    options = ftsubset.Options(notdef_outline=True, recommended_glyphs=True, retain_gids=True)
    options.drop_tables += DROPPED_TABLES
    options.name_IDs = ["*"]
    subsetter = ftsubset.Subsetter(options)
    subsetter.populate(gids=sorted(glyph_ids | {0}))
    subsetter.subset(font)
    out = io.BytesIO()
    font.save(out)
    raw = out.getvalue()
    return zlib.compress(raw), len(raw)


def subset_for(font: TTFFont, glyph_ids: Iterable[int]) -> tuple[bytes, int]:
    """A cached subset of ``font``'s file holding ``glyph_ids`` (and the common glyphs)."""
    path = Path(font.ttffile)
    wanted = frozenset(glyph_ids) | _common_glyphs(font)
    with _lock:
        return _subset(path, path.stat().st_mtime_ns, wanted)


class _FontFile(PDFContentStream):
    """A FontFile2 stream from already compressed bytes."""

    def __init__(self, compressed: bytes, raw_length: int) -> None:
        super().__init__(b"")
        self._contents = compressed
        self.filter = Name("FlateDecode")
        self.length = len(compressed)
        self.length1 = raw_length


def _tag(glyph_ids: Iterable[int]) -> str:
    """The six-letter subset tag PDF asks for, derived from the glyphs."""
    digest = hashlib.md5(repr(sorted(glyph_ids)).encode(), usedforsecurity=False).digest()
    return "".join(chr(ord("A") + b % 26) for b in digest[:6])


def _to_unicode(font: TTFFont) -> PDFContentStream:
    entries = [
        f"<{code:04X}> <{''.join(_utf16(u) for u in glyph.unicode)}>\n"
        for glyph, code in font.subset.items()
        if glyph is not None and isinstance(glyph.unicode, tuple) and glyph.unicode
    ]
    return PDFContentStream(
        (
            "/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n"
            "/CIDSystemInfo\n<</Registry (Adobe)\n/Ordering (UCS)\n/Supplement 0\n>> def\n"
            "/CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n"
            "1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n"
            f"{_build_cmap_blocks(entries, 'bfchar')}"
            "endcmap\nCMapName currentdict /CMap defineresource pop\nend\nend"
        ).encode("latin-1")
    )


def _utf16(code: int) -> str:
    if code > 0xFFFF:
        high, low = 0xD800 | (code - 0x10000) >> 10, 0xDC00 | (code & 0x3FF)
        return f"{high:04X}{low:04X}"
    return f"{code:04X}"


class EmbeddingProducer(OutputProducer):
    """fpdf2's output, with TrueType fonts embedded from the subset cache."""

    def _add_fonts(self, *args: Any, **kwargs: Any) -> dict[int, Any]:
        fonts = self.fpdf.fonts
        ours = {key: f for key, f in fonts.items() if _embeddable(f)}
        for key in ours:  # fpdf2 writes the others (core fonts, CFF, colour fonts)
            del fonts[key]
        try:
            objects = super()._add_fonts(*args, **kwargs)
        finally:
            fonts.update(ours)
        for font in sorted(ours.values(), key=lambda f: f.i):
            objects[font.i] = self._embed(font)
        SubsetMap.pick.cache_clear()  # fpdf2's per-method caches hold every subset map
        SubsetMap.get_glyph.cache_clear()
        return objects

    def _embed(self, font: TTFFont) -> PDFFont:
        code_to_glyph = {code: g.glyph_id for g, code in font.subset.items() if g is not None}
        compressed, raw_length = subset_for(font, code_to_glyph.values())
        name = f"{_tag(code_to_glyph.values())}+{font.name}"
        composite = PDFFont(subtype="Type0", base_font=name, encoding="Identity-H")
        self._add_pdf_obj(composite, "fonts")
        cid_font = PDFFont(
            subtype="CIDFontType2",
            base_font=name,
            d_w=font.desc.missing_width,
            w=_tt_font_widths(font),
        )
        self._add_pdf_obj(cid_font, "fonts")
        composite.descendant_fonts = PDFArray([cid_font])
        composite.to_unicode = _to_unicode(font)
        self._add_pdf_obj(composite.to_unicode, "fonts")
        cid_font.c_i_d_system_info = CIDSystemInfo()
        self._add_pdf_obj(cid_font.c_i_d_system_info, "fonts")
        descriptor = copy.copy(font.desc)  # the parsed font's is shared by every document
        descriptor.font_name = Name(name)
        self._add_pdf_obj(descriptor, "fonts")
        cid_font.font_descriptor = descriptor
        cid_to_gid = bytearray(2 * (max(code_to_glyph, default=0) + 1))
        for code, glyph in code_to_glyph.items():
            cid_to_gid[2 * code : 2 * code + 2] = glyph.to_bytes(2, "big")
        cid_font.c_i_d_to_g_i_d_map = PDFContentStream(bytes(cid_to_gid), compress=True)
        self._add_pdf_obj(cid_font.c_i_d_to_g_i_d_map, "fonts")
        font_file = _FontFile(compressed, raw_length)
        self._add_pdf_obj(font_file, "fonts")
        descriptor.font_file2 = font_file
        return composite


def _embeddable(font: Any) -> bool:
    """TrueType-outline fonts; CFF and colour fonts are left to fpdf2."""
    return isinstance(font, TTFFont) and not font.is_cff and not font.color_font
