"""Code lists the e-invoice formats share: UN/ECE Rec 20 units, UNCL 4461 payment
means, VATEX exemption codes and EN 16931's identifiers of the specifications."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_UNIT = "C62"  # "one"

# billingd's units (lower-cased) and their UN/ECE Recommendation 20 codes.
UNIT_CODES = {
    "": DEFAULT_UNIT,
    "pc": "H87",
    "pcs": "H87",
    "piece": "H87",
    "s": "SEC",
    "sec": "SEC",
    "second": "SEC",
    "min": "MIN",
    "minute": "MIN",
    "h": "HUR",
    "hour": "HUR",
    "day": "DAY",
    "week": "WEE",
    "month": "MON",
    "year": "ANN",
    "kb": "2P",
    "mb": "4L",
    "gb": "E34",
    "tb": "E35",
    "kwh": "KWH",
    "sms": DEFAULT_UNIT,
    "call": DEFAULT_UNIT,
}
# Codes already in Rec 20 that billingd may store verbatim.
REC20_CODES = frozenset({*UNIT_CODES.values(), "C62", "XPP", "LS", "MTK", "MTR", "KGM"})


def unit_code(unit: str | None) -> str | None:
    """The Rec 20 code of a billingd unit; None when the unit is not known."""
    text = (unit or "").strip()
    if text in REC20_CODES:
        return text
    return UNIT_CODES.get(text.lower())


# UNCL 4461 payment means per ``payment.means``. A card payment is "mutually defined":
# code 54/55 would need the card's number (BG-18), which the document does not carry.
PAYMENT_MEANS = {
    "credit_transfer": ("58", "SEPA credit transfer"),
    "direct_debit": ("59", "SEPA direct debit"),
    "card": ("ZZZ", "Card payment"),
    "none": ("ZZZ", "Mutually defined"),
}

# VATEX codes of the categories that carry an exemption code (BT-121) by default.
EXEMPTION_CODES = {"AE": "VATEX-EU-AE", "K": "VATEX-EU-IC", "G": "VATEX-EU-G", "O": "VATEX-EU-O"}
# Categories whose breakdown states an exemption reason (BR-E-10, BR-AE-10 ...); S and Z
# must not (BR-S-10, BR-Z-10).
EXEMPT_CATEGORIES = frozenset({"E", "AE", "K", "G", "O"})
ZERO_RATE_CATEGORIES = frozenset({"Z", "E", "AE", "K", "G"})
CATEGORIES = frozenset({"S", *ZERO_RATE_CATEGORIES, "O"})

EN16931 = "urn:cen.eu:en16931:2017"
XRECHNUNG = f"{EN16931}#compliant#urn:xeinkauf.de:kosit:xrechnung_3.0"
PEPPOL = f"{EN16931}#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0"
PEPPOL_PROCESS = "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0"


@dataclass(frozen=True)
class Profile:
    """What one e-invoice flavour states about itself (BT-23, BT-24) and requires."""

    name: str
    specification: str
    process: str | None = None
    xrechnung: bool = False  # the KoSIT rules apply (BR-DE-*)
    peppol: bool = False  # the Peppol rules apply (PEPPOL-EN16931-*)

    @property
    def needs_endpoints(self) -> bool:
        """BT-34 and BT-49 are mandatory (PEPPOL-EN16931-R010/R020, BR-DE via XRechnung)."""
        return self.xrechnung or self.peppol


FACTURX_EN16931 = Profile("facturx", EN16931)
XRECHNUNG_CII = Profile("xrechnung", XRECHNUNG, PEPPOL_PROCESS, xrechnung=True)
XRECHNUNG_UBL = Profile("xrechnung-ubl", XRECHNUNG, PEPPOL_PROCESS, xrechnung=True)
PEPPOL_UBL = Profile("ubl", PEPPOL, PEPPOL_PROCESS, peppol=True)

# The Electronic Address Scheme codes Peppol accepts for BT-34/BT-49 (PEPPOL-EN16931-CL008;
# the e-mail scheme "EM" is not among them).
PEPPOL_EAS = frozenset(
    """0002 0007 0009 0060 0088 0096 0097 0106 0130 0135 0142 0151 0183 0184 0188 0190
    0191 0192 0195 0196 0198 0199 0200 0201 0204 0208 0209 0210 0211 0216 0218 0221 0225
    0230 0235 0240 0242 0244 0245 0246 0248 9910 9913 9914 9915 9918 9919 9920 9922 9923
    9924 9925 9926 9927 9928 9929 9930 9931 9932 9933 9934 9935 9936 9937 9938 9939 9940
    9941 9942 9943 9944 9945 9946 9947 9948 9949 9950 9951 9952 9953 9957 9959""".split()
)
# The EAS code of a VAT number, by the number's country prefix.
VAT_EAS = {
    "AT": "9914",
    "BE": "9925",
    "BG": "9926",
    "CY": "9928",
    "CZ": "9929",
    "DE": "9930",
    "EE": "9931",
    "GB": "9932",
    "EL": "9933",
    "GR": "9933",
    "HR": "9934",
    "IE": "9935",
    "LI": "9936",
    "LT": "9937",
    "LU": "9938",
    "LV": "9939",
    "MT": "9943",
    "NL": "9944",
    "PL": "9945",
    "PT": "9946",
    "RO": "9947",
    "SI": "9949",
    "SK": "9950",
    "FR": "9957",
    "HU": "9910",
    "ES": "9920",
}
LEITWEG_EAS = "0204"  # a German public buyer's Leitweg-ID
