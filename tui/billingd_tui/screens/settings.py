"""A client's billing settings (seed 000): every field ``client.update`` takes, in one form.

Open it with :func:`edit_billing_settings` from any screen that knows a client id. The
daemon checks each value; its refusal shows under the field it names (an invalid VAT
id under "VAT id"). The enterprise is fixed at creation (``client.update`` does not
take it): the form's title names it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from textual.screen import Screen

from billingd_tui.connection import Daemon
from billingd_tui.screens.form import Field, FormScreen

CLIENT_STATUSES = (("active", "active"), ("suspended", "suspended"), ("closed", "closed"))
LANGUAGES = (("English", "en"), ("Deutsch", "de"))
EINVOICE_FORMATS = (
    ("PDF only", ""), ("Factur-X", "facturx"), ("XRechnung (CII)", "xrechnung"),
    ("XRechnung (UBL)", "xrechnung-ubl"), ("UBL", "ubl"),
)  # fmt: skip
TAX_CATEGORIES = (
    ("the enterprise's rule", ""), ("S standard rate", "S"), ("Z zero rated", "Z"),
    ("E exempt", "E"), ("AE reverse charge", "AE"), ("K intra-EU supply", "K"),
    ("G export", "G"), ("O outside the scope", "O"),
)  # fmt: skip

ADDRESS_FIELDS: tuple[Field, ...] = (
    Field("address", "Street address"),
    Field("postcode", "Postcode"),
    Field("city", "City"),
    Field("country", "Country", placeholder="ISO code, e.g. DE"),
)
"""A postal address, as clients and bill groups have it."""

SETTINGS_FIELDS: tuple[Field, ...] = (
    Field("name", "Name"),
    Field("contract_number", "Contract number"),
    Field("company", "Company"),
    Field("tax_id", "VAT id", placeholder="company credential, e.g. DE136695976"),
    Field("business_type", "Business type"),
    Field("category_type", "Category type"),
    Field("invoice_days", "Invoice days", placeholder="e.g. 1,15; empty: per contract cycle"),
    Field("send_stats", "Send stats", kind="check"),
    Field("publish", "Send invoices (portal)", kind="check"),
    Field("send_email", "Send to email", kind="check"),
    Field("email", "Billing emails", placeholder="a@x.example, b@x.example"),
    *ADDRESS_FIELDS,
    Field("language", "Language", kind="choice", choices=LANGUAGES),
    Field("currency", "Currency", placeholder="ISO 4217, e.g. EUR"),
    Field("tax_rate", "Tax rate %", kind="number", placeholder="empty: the enterprise's"),
    Field("tax_category", "VAT category", kind="choice", choices=TAX_CATEGORIES),
    Field("exemption_reason", "Exemption reason", placeholder="the law; required for E"),
    Field("einvoice_format", "E-invoice format", kind="choice", choices=EINVOICE_FORMATS),
    Field("endpoint_id", "Endpoint id", placeholder="Peppol address for e-invoices"),
    Field("endpoint_scheme", "Endpoint scheme", placeholder="9930, 0088, EM …"),
    Field("status", "Status", kind="choice", choices=CLIENT_STATUSES),
)
"""The billing settings in the order the form shows them (seed 000's first)."""


def with_values(fields: tuple[Field, ...], current: dict[str, Any]) -> list[Field]:
    """``fields`` starting from the values in ``current`` (a daemon object; null: empty)."""
    out = []
    for field in fields:
        value = current.get(field.param)
        if field.kind == "check":
            start: Any = bool(value)
        elif field.kind == "lines":
            start = list(value or [])
        else:
            start = "" if value is None else str(value)
        out.append(replace(field, value=start))
    return out


def settings_form(
    daemon: Daemon, client: dict[str, Any], enterprise: dict[str, Any] | None = None
) -> FormScreen:
    """The billing settings form of ``client`` (as ``client.show`` gives it); its title
    names the ``enterprise`` that invoices it, which the form cannot change."""
    invoiced_by = f" · invoiced by {enterprise['name']}" if enterprise else ""
    return FormScreen(
        daemon=daemon,
        title=f"Billing settings · {client.get('name')}{invoiced_by}",
        method="client.update",
        fields=with_values(SETTINGS_FIELDS, client),
        fixed={"id": client["id"]},
        send_empty=True,
    )


def edit_billing_settings(
    screen: Screen[Any],
    daemon: Daemon,
    client_id: int,
    saved: Callable[[dict[str, Any]], None] | None = None,
) -> None:
    """Read the client and open its settings form over ``screen``; once saved, notify
    and call ``saved`` with the changed client. A failed read is posted to ``screen``."""

    def done(answer: dict[str, Any] | None) -> None:
        if answer is not None:
            screen.notify("billing settings saved", title=str(answer.get("name")))
            if saved is not None:
                saved(answer)

    def read() -> None:
        client = daemon.request(screen, "client.show", id=client_id)
        if client is None:
            return
        enterprise = daemon.request(screen, "enterprise.show", id=client["enterprise_id"])
        form = settings_form(daemon, client, enterprise)
        screen.app.call_from_thread(screen.app.push_screen, form, done)

    screen.run_worker(read, thread=True, exclusive=True, group="billing-settings")
