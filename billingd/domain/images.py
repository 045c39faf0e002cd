"""What kind of image a logo file holds, judged by its content, never by its name.

PNG and JPEG are recognised by their magic bytes, SVG by its XML root element. The XML
is read only up to that root: nothing after it is parsed, and no entity is expanded
beyond what the parser's own limits allow.
"""

from __future__ import annotations

from xml.etree.ElementTree import ParseError, XMLPullParser

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
JPEG_MAGIC = b"\xff\xd8\xff"
SVG_ROOTS = frozenset({"svg", "{http://www.w3.org/2000/svg}svg"})
LOGO_KINDS = ("png", "jpeg", "svg")
_CHUNK = 64 * 1024


def image_kind(data: bytes) -> str | None:
    """``"png"``, ``"jpeg"`` or ``"svg"`` for an image of that kind, else None."""
    if data.startswith(PNG_MAGIC):
        return "png"
    if data.startswith(JPEG_MAGIC):
        return "jpeg"
    return "svg" if _xml_root(data) in SVG_ROOTS else None


def _xml_root(data: bytes) -> str | None:
    """The tag of the XML document's root element, or None when ``data`` is no XML."""
    parser = XMLPullParser(events=("start",))
    try:
        for offset in range(0, len(data), _CHUNK):
            parser.feed(data[offset : offset + _CHUNK])
            for _event, element in parser.read_events():
                return str(element.tag)
    except ParseError:
        return None
    return None
