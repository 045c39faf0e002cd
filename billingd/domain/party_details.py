"""The EN 16931 details of a party, checked where they are set (R-VAT-1, R-DEL-6).

E-invoices need what a PDF can leave vague: an ISO country code, a postcode and
city apart from the street, a VAT id that is really one, an electronic address
with its scheme, and the document format the client receives. Each setting is
checked here once, for enterprises, resellers, clients, bill groups and contracts
alike; a bad value is a :class:`~billingd.errors.ValidationError` naming its field.
"""

from __future__ import annotations

import re
from typing import Any

from billingd.domain.vat import REVERSE_CHARGE_RULES, VatError, check_category
from billingd.domain.vat_ids import VatIdError, normalise_vat_id
from billingd.errors import ValidationError

# ISO 3166-1 alpha-2 (the code list EN 16931 checks, BR-CL-14/15)
COUNTRIES = frozenset(
    """AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN
    BO BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE
    DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN
    GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE
    KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK
    ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA
    PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK
    SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG
    UM US UY UZ VA VC VE VG VI VN VU WF WS XI YE YT ZA ZM ZW""".split()
)
# The details each kind of row has (their socket parameters, import columns, views)
ADDRESS_FIELDS = ("postcode", "city", "country")
ENDPOINT_FIELDS = ("endpoint_id", "endpoint_scheme")
CATEGORY_FIELDS = ("tax_category", "exemption_reason")
PARTY_FIELDS = (*ADDRESS_FIELDS, *ENDPOINT_FIELDS, *CATEGORY_FIELDS, "einvoice_format", "language")
ENTERPRISE_FIELDS = (*ADDRESS_FIELDS, *ENDPOINT_FIELDS, "phone", "reverse_charge")
BILL_GROUP_FIELDS = (*ADDRESS_FIELDS, "einvoice_format")
CONTRACT_FIELDS = CATEGORY_FIELDS

EINVOICE_FORMATS = ("facturx", "xrechnung", "xrechnung-ubl", "ubl")
LANGUAGES = ("en", "de")
# Electronic address schemes (EAS): four digits, or EM for an e-mail address
ENDPOINT_SCHEME = re.compile(r"^([0-9]{4}|EM)$")


def _country(value: str, field: str) -> str:
    code = value.strip().upper()
    if code and code not in COUNTRIES:
        raise ValidationError(
            f"{field} must be an ISO 3166-1 alpha-2 code such as DE or NL, got {value!r}",
            field=field,
        )
    return code


def _choice(value: str, allowed: tuple[str, ...], field: str, *, empty: bool = True) -> str:
    value = value.strip()
    if (value or not empty) and value not in allowed:
        none = " (or empty)" if empty else ""
        raise ValidationError(f"{field} must be one of {', '.join(allowed)}{none}", field=field)
    return value


def _endpoint_scheme(value: str, field: str) -> str:
    value = value.strip().upper()
    if value and not ENDPOINT_SCHEME.match(value):
        raise ValidationError(
            f"{field} must be an EAS code: four digits (e.g. 9930 for a German VAT id, "
            f"0088 for a GLN) or EM for an e-mail address, got {value!r}",
            field=field,
        )
    return value


def _text(value: str, field: str) -> str:
    return value.strip()


CHECKS = {
    "country": _country,
    "postcode": _text,
    "city": _text,
    "endpoint_id": _text,
    "endpoint_scheme": _endpoint_scheme,
    "einvoice_format": lambda v, f: _choice(v, EINVOICE_FORMATS, f),
    "language": lambda v, f: _choice(v, LANGUAGES, f, empty=False),
    "reverse_charge": lambda v, f: _choice(v, REVERSE_CHARGE_RULES, f, empty=False),
}


def check_details(values: dict[str, Any], current: Any = None) -> dict[str, Any]:
    """``values`` with the EN 16931 details among them checked and normalised.

    ``current`` is the row being changed (or None): a VAT id is checked against the
    country given with it, else the row's; a category against the reason given with
    it, else the row's.
    """
    out = dict(values)
    for key, check in CHECKS.items():
        if out.get(key) is not None:
            out[key] = check(out[key], key)
    country = out.get("country") or getattr(current, "country", "") or ""
    if out.get("tax_id"):
        try:
            out["tax_id"] = normalise_vat_id(out["tax_id"], country)
        except VatIdError as exc:
            raise ValidationError(str(exc), field="tax_id") from None
    if out.get("tax_category") is not None or out.get("exemption_reason") is not None:
        category = out.get("tax_category")
        if category is None:
            category = getattr(current, "tax_category", "") or ""
        reason = out.get("exemption_reason")
        if reason is None:
            reason = getattr(current, "exemption_reason", "") or ""
        try:
            out["tax_category"] = check_category(category, reason)
        except VatError as exc:
            raise ValidationError(str(exc), field=exc.field) from None
        if out.get("exemption_reason") is not None:
            out["exemption_reason"] = reason.strip()
    return out
