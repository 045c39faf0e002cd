"""Small lxml helpers the CII and UBL writers share."""

from __future__ import annotations

from decimal import Decimal

from lxml import etree


def sub(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    """Append ``<tag attrs>text</tag>`` to ``parent`` and return it."""
    element = etree.SubElement(parent, tag, {k: v for k, v in attrs.items() if v})
    if text is not None:
        element.text = text
    return element


def amount(value: Decimal) -> str:
    """An amount as EN 16931 writes it: two decimals, no exponent."""
    return f"{value:.2f}"


def serialize(root: etree._Element) -> bytes:
    """UTF-8 XML with its declaration, indented for people who read it."""
    etree.indent(root, space="  ")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")
