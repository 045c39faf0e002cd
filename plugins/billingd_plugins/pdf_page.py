"""The A4 page: margins, the header of following pages, the footer, DIN 5008 fold marks.

:meth:`Page.line_cell` is ``cell()`` for one line of text: text wholly in the current
font, without shaping, is measured and written with the font's metrics and subset
codes directly (the same operators fpdf2's ``text()`` writes), a fraction of the cost
of fpdf2's cell layout; any other text goes through ``cell()``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fpdf import FPDF
from fpdf.enums import Align, TextMode, XPos, YPos
from fpdf.fonts import TTFFont

from billingd_plugins.pdf_embed import EmbeddingProducer
from billingd_plugins.pdf_fonts import MAIN_FAMILY, FontPlan

MARGIN = 20.0  # mm
TOP = 18.0
LINE = 3.6  # mm per header or footer line
PAGES_ALIAS = "\x1f\x1f"  # total page count; never in document text (control characters go)
GREY = 110
FOLD_MARKS = (105.0, 210.0)  # DIN 5008 type B, mm from the top
PUNCH_MARK = 148.5


@dataclass
class PageFurniture:
    """What every page carries: footer lines, the header of pages after the first."""

    footer: list[str] = field(default_factory=list)
    header: list[str] = field(default_factory=list)
    page_label: str = "Page"
    fold_marks: bool = False


@dataclass(frozen=True)
class _Metrics:
    """A parsed font's characters and their advance widths (font units), by character."""

    cmap: dict[int, Any]
    cw: Any
    characters: frozenset[str]
    widths: dict[str, int]


_metrics: dict[int, _Metrics] = {}


def _metrics_of(font: TTFFont) -> _Metrics:
    """Per parsed font (its per-document copies share the cmap and the widths)."""
    found = _metrics.get(id(font.cmap))
    if found is None or found.cmap is not font.cmap or found.cw is not font.cw:
        cmap, cw = font.cmap, font.cw
        found = _Metrics(cmap, cw, frozenset(map(chr, cmap)), {chr(c): cw[c] for c in cmap})
        if len(_metrics) > 64:
            _metrics.clear()
        _metrics[id(cmap)] = found
    return found


class Page(FPDF):
    """An A4 document whose fonts come from a :class:`FontPlan`."""

    def __init__(self, fonts: FontPlan, furniture: PageFurniture) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        fonts.install(self)
        self.furniture = furniture
        self._codes: dict[int, dict[str, str]] = {}  # font -> character -> its escaped code
        self.alias_nb_pages(PAGES_ALIAS)
        self.set_margins(MARGIN, TOP, MARGIN)
        self.set_auto_page_break(True, margin=16 + LINE * len(furniture.footer))

    def header(self) -> None:
        if self.furniture.fold_marks:
            self.set_draw_color(GREY)
            self.set_line_width(0.2)
            for y, length in ((FOLD_MARKS[0], 5), (PUNCH_MARK, 8), (FOLD_MARKS[1], 5)):
                self.line(3, y, 3 + length, y)
        if self.page_no() == 1 or not self.furniture.header:
            return
        self.set_y(10)
        self.set_font(MAIN_FAMILY, "", 8)
        self.set_text_color(GREY)
        for line in self.furniture.header:
            self.line_cell(0, LINE, line, "L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_draw_color(170)
        self.line(self.l_margin, self.get_y() + 1, self.w - self.r_margin, self.get_y() + 1)
        self.set_text_color(0)
        self.set_y(max(self.get_y() + 4, TOP))

    def footer(self) -> None:
        lines = self.furniture.footer
        self.set_y(-(12 + LINE * len(lines)))
        self.set_font(MAIN_FAMILY, "", 7.5)
        self.set_text_color(GREY)
        for line in lines:
            self.line_cell(0, LINE, line, "C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        label = self.furniture.page_label
        self.cell(0, LINE, f"{label} {self.page_no()}/{PAGES_ALIAS}", align="R")
        self.set_text_color(0)

    # -- lean single-line text ------------------------------------------------------------------

    def plain(self, text: str) -> bool:
        """Whether ``text`` can be set without fpdf2's text layout: one line wholly in the
        current font (no fallback font, no shaping, no page-count alias, no effects)."""
        font = self.current_font
        if (
            not text
            or self.text_shaping
            or not isinstance(font, TTFFont)
            or font.is_symbol
            or font.color_font
            or "\n" in text
            or PAGES_ALIAS[0] in text
            or self.font_stretching != 100
            or self.char_spacing
            or self.underline
            or self.strikethrough
            or self.text_mode != TextMode.FILL
            or self._record_text_quad_points
        ):
            return False
        return _metrics_of(font).characters.issuperset(text)

    def _plain_width(self, text: str) -> float:
        """fpdf2's width of plain text (the same arithmetic, from the cached widths)."""
        widths = _metrics_of(self.current_font).widths  # type: ignore[arg-type]
        return sum(map(widths.__getitem__, text)) * self.font_size_pt * 0.001 / self.k

    def text_width(self, text: str) -> float:
        """``get_string_width`` without building text fragments when the text is plain."""
        if self.plain(text):
            return self._plain_width(text)
        return self.get_string_width(text)

    def _plain_text(self, x: float, y: float, text: str) -> None:
        """``text(x, y, text)`` for plain text: the same content-stream operators, with the
        characters' subset codes (escaped) looked up once per document and font."""
        font: TTFFont = self.current_font  # type: ignore[assignment]
        if not self.current_font_is_set_on_page:
            self._out(self._set_font_for_page(font, self.font_size_pt))
        codes = self._codes.setdefault(font.i, {})
        try:
            encoded = "".join(map(codes.__getitem__, text))
        except KeyError:
            for char in text:  # in order: the subset numbers glyphs as they come
                if char not in codes:
                    code = font.subset.pick(ord(char))
                    codes[char] = "" if code is None else font.escape_text(chr(code))
            encoded = "".join(map(codes.__getitem__, text))
        line = f"BT {x * self.k:.2f} {(self.h - y) * self.k:.2f} Td ({encoded}) Tj ET"
        if self.fill_color != self.text_color:
            line = f"q {self.text_color.serialize().lower()} {line} Q"
        self._out(line)

    def line_cell(
        self,
        w: float,
        h: float,
        text: str,
        align: str = "L",
        *,
        new_x: XPos = XPos.RIGHT,
        new_y: YPos = YPos.TOP,
    ) -> None:
        """``cell(w, h, text, align=align, new_x=new_x, new_y=new_y)`` for one line of
        text without border or fill, drawn with ``text()`` (a fraction of ``cell()``'s cost)
        when the text is plain and no page break is due; else by ``cell()`` itself."""
        if not self.plain(text) or self.will_page_break(h):
            self.cell(w, h, text, align=align, new_x=new_x, new_y=new_y)
            return
        if w == 0:
            w = self.w - self.r_margin - self.x
        width = self._plain_width(text)
        if align == "R" or align == Align.R:
            dx = w - self.c_margin - width
        elif align == "C" or align == Align.C:
            dx = (w - width) / 2
        else:
            dx = self.c_margin
        self._plain_text(self.x + dx, self.y + 0.5 * h + 0.3 * self.font_size, text)
        self._lasth = h
        if new_x == XPos.RIGHT:
            self.x += w
        elif new_x == XPos.LMARGIN:
            self.x = self.l_margin
        elif new_x != XPos.LEFT:
            raise ValueError(f"line_cell does not support new_x={new_x}")
        if new_y == YPos.NEXT:
            self.y += h
        elif new_y != YPos.TOP:
            raise ValueError(f"line_cell does not support new_y={new_y}")

    def _render_styled_text_line(self, *args: Any, **kwargs: Any) -> Any:
        """fpdf2 2.8 leaves a fallback font selected in the page after a text run that
        ends in it, while believing the main font is: the next text would be drawn in
        the wrong font. Have the next text select its font again."""
        try:
            return super()._render_styled_text_line(*args, **kwargs)
        finally:
            if self._fallback_font_ids:
                self.current_font_is_set_on_page = False

    def pdf_bytes(self) -> bytes:
        """The finished PDF, fonts embedded from the per-process subset cache."""
        return bytes(self.output(output_producer_class=EmbeddingProducer))
