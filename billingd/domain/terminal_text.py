"""Text for a person's terminal that cannot command it (SPEC §12, issue 14).

Names, CDR fields and messages come from whoever wrote them into billingd (an
import, a client's own portal, another operator). Shown raw, a control character or
a bidi override would command the operator's terminal (``ESC]0;…`` retitles it,
``ESC[2J`` clears it, U+202E reverses what follows). billingctl's human output and
the TUI's cells and labels show each such character as a visible escape
(``\\x1b``, ``\\u202e``) through :func:`terminal_safe`: one rule for both.
"""

from __future__ import annotations

_BIDI = (0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A))
UNSAFE = (*range(0x20), 0x7F, *range(0x80, 0xA0), *_BIDI, 0x2028, 0x2029)
"""C0 and C1 controls, DEL, the bidi embeddings, overrides, isolates and marks, and
the line and paragraph separators."""
_SHOWN = {c: f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}" for c in UNSAFE}
_SHOWN_KEEPING_LINES = {c: text for c, text in _SHOWN.items() if c != 0x0A}


def terminal_safe(text: str, *, lines: bool = False) -> str:
    """``text`` with each control character and bidi control shown as an escape
    (``\\x1b``, ``\\u202e``) instead of acting on the terminal; ``lines`` keeps
    line breaks."""
    if text.isprintable():
        return text
    return text.translate(_SHOWN_KEEPING_LINES if lines else _SHOWN)
