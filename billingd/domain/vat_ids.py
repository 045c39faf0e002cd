"""VAT identification numbers: format and check digit (python-stdnum, R-VAT-1).

An id that starts with the prefix of a country whose VAT numbers stdnum knows (the
EU's, GB, CH, NO, ...) must be valid for that country. An id without such a prefix
is checked against the party's country where stdnum knows that country's format;
elsewhere (a US EIN, a tax number of a country stdnum has no VAT rules for) it is
kept as given, since nothing can be checked.

stdnum is imported on the first check, not with this module: importing it costs
about 30 ms (it imports ssl and pydoc), which billingctl, importing the party
fields for its options, would pay on every start.
"""

from __future__ import annotations

from types import ModuleType

from billingd.domain.vat import VAT_PREFIXES


class VatIdError(ValueError):
    """The id is not a valid VAT id; the message says why."""


def _module(country: str) -> ModuleType | None:
    """stdnum's VAT module of a two-letter country code, if it has one."""
    from stdnum import get_cc_module

    code = country.strip().lower()
    if len(code) != 2 or not code.isascii() or not code.isalpha():
        return None
    code = {"el": "gr"}.get(code, code)
    return get_cc_module(code, "vat")


def _split(value: str, country: str) -> tuple[str, str]:
    """(country code, the number as typed) for an id with or without its prefix."""
    prefix = value[:2].upper()
    if prefix.isalpha() and _module(prefix) is not None:
        return ("GR" if prefix == "EL" else prefix), value
    return country.strip().upper(), value


def normalise_vat_id(value: str, country: str = "") -> str:
    """The id in its compact form (``de 136 695 976`` → ``DE136695976``), checked.

    :raises VatIdError: the id has a known country's form but is not valid.
    """
    value = value.strip()
    if not value:
        return ""
    code, number = _split(value, country)
    module = _module(code)
    if module is None:
        return value
    from stdnum.exceptions import ValidationError as StdnumError

    try:
        compact = module.validate(number)
    except StdnumError as exc:
        raise VatIdError(f"{value!r} is not a valid {code} VAT id: {exc}") from None
    prefix = VAT_PREFIXES.get(code, code)
    return compact if compact[:2].upper() == prefix else f"{prefix}{compact}"


def is_valid_vat_id(value: str, country: str = "") -> bool:
    """Whether ``value`` is a VAT id whose format and check digit could be verified."""
    if not value.strip():
        return False
    code, _ = _split(value.strip(), country)
    if _module(code) is None:
        return False
    try:
        normalise_vat_id(value, country)
    except VatIdError:
        return False
    return True
