"""Bank details on the enterprise's documents: IBAN (ISO 13616 mod-97) and BIC (ISO 9362)."""

from __future__ import annotations

import re

_IBAN_RE = re.compile(r"^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}$")
_BIC_RE = re.compile(r"^[A-Z]{4}[A-Z]{2}[A-Z0-9]{2}([A-Z0-9]{3})?$")


def normalise_iban(iban: str) -> str:
    """Upper-case without spaces; raise ValueError unless the mod-97 check passes."""
    compact = re.sub(r"\s+", "", iban).upper()
    if not _IBAN_RE.match(compact):
        raise ValueError(f"not an IBAN: {iban!r}")
    rearranged = compact[4:] + compact[:4]
    digits = "".join(str(int(ch, 36)) for ch in rearranged)
    if int(digits) % 97 != 1:
        raise ValueError(f"IBAN check digits do not match: {iban!r}")
    return compact


def normalise_bic(bic: str) -> str:
    compact = bic.strip().upper()
    if not _BIC_RE.match(compact):
        raise ValueError(f"not a BIC (8 or 11 characters, e.g. COBADEFFXXX): {bic!r}")
    return compact
