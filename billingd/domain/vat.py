"""VAT categories of EN 16931 and which one a line gets (R-VAT-1).

Every invoice line carries a category of the UNCL 5305 subset EN 16931 uses. A
contract may fix its own (an exempt service), else the client's setting applies,
else the enterprise's rule decides: a business client in another EU member state
with a valid VAT id is invoiced under the reverse charge (Art. 196 VAT Directive,
services B2B), everything else at the line's rate — standard where the rate is
above zero, zero rated where it is zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

STANDARD, ZERO, EXEMPT, REVERSE_CHARGE = "S", "Z", "E", "AE"
INTRA_COMMUNITY, EXPORT, OUTSIDE_SCOPE = "K", "G", "O"
CATEGORIES = (STANDARD, ZERO, EXEMPT, REVERSE_CHARGE, INTRA_COMMUNITY, EXPORT, OUTSIDE_SCOPE)
REVERSE_CHARGE_RULES = ("auto", "off")

# What the document says about each category, and the reason an e-invoice gives
# (BT-120) where the category is not taxed; E's reason is the operator's own.
LABELS = {
    STANDARD: "Standard rate",
    ZERO: "Zero rated",
    EXEMPT: "Exempt from VAT",
    REVERSE_CHARGE: "Reverse charge",
    INTRA_COMMUNITY: "Intra-community supply",
    EXPORT: "Export outside the EU",
    OUTSIDE_SCOPE: "Not subject to VAT",
}
DEFAULT_REASONS = {
    REVERSE_CHARGE: "Reverse charge",
    INTRA_COMMUNITY: "Intra-community supply",
    EXPORT: "Export outside the EU",
    OUTSIDE_SCOPE: "Not subject to VAT",
}
EXEMPTION_CODES = {  # the VATEX code list (BT-121)
    REVERSE_CHARGE: "VATEX-EU-AE",
    INTRA_COMMUNITY: "VATEX-EU-IC",
    EXPORT: "VATEX-EU-G",
    OUTSIDE_SCOPE: "VATEX-EU-O",
}
LEGAL_NOTES = {  # the wording the law asks for on the document itself
    REVERSE_CHARGE: (
        "Reverse charge: VAT to be accounted for by the recipient "
        "(Article 196 Directive 2006/112/EC)."
    ),
    INTRA_COMMUNITY: (
        "Intra-community supply, exempt from VAT (Article 138 Directive 2006/112/EC)."
    ),
    EXPORT: "Export outside the EU, exempt from VAT (Article 146 Directive 2006/112/EC).",
    OUTSIDE_SCOPE: "Not subject to VAT.",
}

EU_MEMBER_STATES = frozenset(
    "AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK".split()
)
# VAT ids of Greece start with EL, not the ISO code GR.
VAT_PREFIXES = {"GR": "EL"}


class VatError(ValueError):
    """A category setting that makes no sense; ``field`` names the setting."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True, slots=True)
class VatParties:
    """What decides the category besides the line: who sells to whom, and their settings."""

    seller_country: str = ""
    buyer_country: str = ""
    buyer_vat_id_valid: bool = False
    client_category: str = ""
    client_reason: str = ""
    reverse_charge: str = "auto"

    @property
    def cross_border_b2b(self) -> bool:
        """A business buyer (valid VAT id) in another EU member state than the seller."""
        return (
            self.buyer_vat_id_valid
            and self.seller_country in EU_MEMBER_STATES
            and self.buyer_country in EU_MEMBER_STATES
            and self.seller_country != self.buyer_country
        )


@dataclass(frozen=True, slots=True)
class Treatment:
    """A line's category, the rate it is taxed at and the reason where it is not."""

    category: str
    rate: Decimal
    reason: str = ""


def check_category(category: str, reason: str, field: str = "tax_category") -> str:
    """A category setting: one of :data:`CATEGORIES` (or empty: decided by the rule);
    an exempt category needs its reason, since the document must state it."""
    category = category.strip().upper()
    if category and category not in CATEGORIES:
        raise VatError(f"{field} must be one of {', '.join(CATEGORIES)} (or empty)", field)
    if category == EXEMPT and not reason.strip():
        raise VatError(
            "an exempt category (E) needs exemption_reason: the law the exemption rests on",
            "exemption_reason",
        )
    return category


def treat(
    parties: VatParties, rate: Decimal, line_category: str = "", line_reason: str = ""
) -> Treatment:
    """The category a line is invoiced under (R-VAT-1).

    The line's own category wins, then the client's, then the enterprise's reverse
    charge rule; otherwise the rate decides between standard and zero rated. Only
    the standard category taxes: every other one is taxed at 0 %.
    """
    category, reason = line_category, line_reason
    if not category:
        category, reason = parties.client_category, parties.client_reason
    if not category and parties.reverse_charge == "auto" and parties.cross_border_b2b:
        category = REVERSE_CHARGE
    if not category or (category == STANDARD and rate == 0):
        category = STANDARD if rate > 0 else ZERO
    if category != STANDARD:
        rate = Decimal(0)
    return Treatment(category, rate, reason or DEFAULT_REASONS.get(category, ""))


def notes_for(categories: list[str], reasons: list[str]) -> list[str]:
    """The legal wording a document carries for its categories, each once, in order."""
    notes: list[str] = []
    for category, reason in zip(categories, reasons, strict=True):
        note = LEGAL_NOTES.get(category) or (
            f"{LABELS[EXEMPT]}: {reason}" if category == EXEMPT else ""
        )
        if note and note not in notes:
            notes.append(note)
    return notes
