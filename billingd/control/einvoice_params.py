"""Socket parameters for the EN 16931 details of parties, bill groups and contracts.

Declared once: which rows have which detail is :mod:`billingd.domain.party_details`;
the socket methods spread these dicts into their parameters and billingctl derives
its options from them (``ctl_commands.base.options``).
"""

from __future__ import annotations

from billingd.control.params import Param, Str
from billingd.domain import party_details as details

HELP = {
    "postcode": "postcode, apart from the street (EN 16931 BT-38/BT-53)",
    "city": "city (BT-37/BT-52)",
    "country": "ISO 3166-1 alpha-2 country code, e.g. DE",
    "endpoint_id": "electronic address for e-invoices (Peppol, BT-34/BT-49)",
    "endpoint_scheme": "its EAS scheme: 9930 (DE VAT id), 0088 (GLN), EM (e-mail) ...",
    "tax_category": "VAT category S|Z|E|AE|K|G|O; empty: the enterprise's rule decides",
    "exemption_reason": "the law an exemption rests on; required for E",
    "einvoice_format": "facturx|xrechnung|xrechnung-ubl|ubl beside the PDF; empty: none",
    "language": "document language: en|de",
    "phone": "",
    "reverse_charge": "auto|off: auto invoices EU business clients abroad with a valid VAT "
    "id under the reverse charge",
}


def _params(names: tuple[str, ...]) -> dict[str, Param]:
    return {name: Str(help=HELP[name]) for name in names}


PARTY = _params(details.PARTY_FIELDS)
ENTERPRISE = _params(details.ENTERPRISE_FIELDS)
BILL_GROUP = _params(details.BILL_GROUP_FIELDS)
CONTRACT = _params(details.CONTRACT_FIELDS)
