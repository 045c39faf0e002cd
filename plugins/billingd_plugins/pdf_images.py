"""Images on the page (the brand's logo, the payment QR code), decoded once per process.

fpdf2 decodes and recompresses a raster image for every document it is placed in.
:func:`place_image` keeps the decoded form per process (a logo by path and
modification time, other images by their bytes) and hands fpdf2 a copy, so a logo
costs nothing after the first document. SVG logos are read once and laid out by
fpdf2 per document.
"""

from __future__ import annotations

import functools
import hashlib
import io
import logging
import threading
from pathlib import Path
from typing import Any

from fpdf import FPDF
from fpdf.image_parsing import get_img_info

log = logging.getLogger("billingd.plugins.pdf")
_lock = threading.Lock()


@functools.lru_cache(maxsize=64)
def _decoded(key: str, data: bytes) -> Any:
    return get_img_info(key, io.BytesIO(data), "AUTO", None)


@functools.lru_cache(maxsize=16)
def _file_bytes(path: Path, mtime_ns: int) -> bytes:
    return path.read_bytes()


def logo_bytes(path_text: str | None) -> tuple[str, bytes] | None:
    """The logo file's name and bytes (read once per process), None when there is none."""
    if not path_text:
        return None
    path = Path(path_text)
    try:
        return path.name, _file_bytes(path, path.stat().st_mtime_ns)
    except OSError as exc:
        log.warning("brand logo %s cannot be read: %s", path, exc.strerror or exc)
        return None


def place_image(
    pdf: FPDF, data: bytes, x: float, y: float, box: tuple[float, float], *, right: bool = False
) -> float:
    """Place an image scaled into ``box`` (width, height in mm) at ``x``, ``y`` (its right
    edge at ``x`` when ``right``); return the height it takes."""
    if data.lstrip()[:5] in (b"<?xml", b"<svg ") or b"<svg" in data[:512]:
        info = pdf.image(
            io.BytesIO(data),
            x=x - box[0] if right else x,
            y=y,
            w=box[0],
            h=box[1],
            keep_aspect_ratio=True,
        )
        return float(info.rendered_height)
    key = "img-" + hashlib.md5(data, usedforsecurity=False).hexdigest()
    with _lock:
        decoded = _decoded(key, data)
    if decoded.get("iccp") is None:
        return place_decoded(pdf, key, decoded, x, y, box, right=right)
    scale = min(box[0] / decoded["w"], box[1] / decoded["h"])
    w, h = decoded["w"] * scale, decoded["h"] * scale
    pdf.image(io.BytesIO(data), x=x - w if right else x, y=y, w=w, h=h)
    return h


def place_decoded(
    pdf: FPDF,
    key: str,
    decoded: Any,
    x: float,
    y: float,
    box: tuple[float, float],
    *,
    right: bool = False,
) -> float:
    """:func:`place_image` for a raster image already in the form fpdf2 embeds (no ICC
    profile), known by ``key``; fpdf2 does not parse it again."""
    scale = min(box[0] / decoded["w"], box[1] / decoded["h"])
    w, h = decoded["w"] * scale, decoded["h"] * scale
    if key not in pdf.image_cache.images:
        fresh = type(decoded)(decoded)
        fresh.update(i=len(pdf.image_cache.images) + 1, usages=0, iccp_i=None)
        pdf.image_cache.images[key] = fresh
    pdf.image(Path(key), x=x - w if right else x, y=y, w=w, h=h)
    return h
