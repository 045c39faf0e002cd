"""OASIS UBL 2.1 Invoice and CreditNote, as Peppol BIS Billing 3.0 and XRechnung write them.

Element order follows the UBL 2.1 schemas. A credit note is a ``CreditNote`` document
with positive amounts and the credited invoice as its billing reference (BG-3).
"""

from __future__ import annotations

from decimal import Decimal

from lxml import etree

from billingd_plugins.einvoice.codes import Profile
from billingd_plugins.einvoice.model import Invoice, Line, Party, plain
from billingd_plugins.einvoice.xmltree import amount, serialize, sub

INVOICE_NS = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
CREDIT_NOTE_NS = "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2"
CAC_NS = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
CBC_NS = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"
CAC, CBC = f"{{{CAC_NS}}}", f"{{{CBC_NS}}}"


class _Writer:
    """Writes one invoice; ``currency`` goes on every amount."""

    def __init__(self, invoice: Invoice) -> None:
        self.invoice = invoice
        self.currency = invoice.currency

    def money(self, parent: etree._Element, tag: str, value: Decimal) -> None:
        sub(parent, f"{CBC}{tag}", amount(value), currencyID=self.currency)

    # -- parties ---------------------------------------------------------------------------

    def address(self, parent: etree._Element, tag: str, party: Party) -> None:
        address = sub(parent, f"{CAC}{tag}")
        lines = party.address_lines
        if lines:
            sub(address, f"{CBC}StreetName", lines[0])
        if len(lines) > 1:
            sub(address, f"{CBC}AdditionalStreetName", lines[1])
        if party.city:
            sub(address, f"{CBC}CityName", party.city)
        if party.postcode:
            sub(address, f"{CBC}PostalZone", party.postcode)
        if len(lines) > 2:
            sub(sub(address, f"{CAC}AddressLine"), f"{CBC}Line", ", ".join(lines[2:]))
        sub(sub(address, f"{CAC}Country"), f"{CBC}IdentificationCode", party.country)

    def party(self, parent: etree._Element, tag: str, party: Party, creditor_id: str) -> None:
        element = sub(sub(parent, f"{CAC}{tag}"), f"{CAC}Party")
        if party.endpoint_id:
            sub(element, f"{CBC}EndpointID", party.endpoint_id, schemeID=party.endpoint_scheme)
        if creditor_id:  # BT-90, the SEPA creditor identifier
            identification = sub(element, f"{CAC}PartyIdentification")
            sub(identification, f"{CBC}ID", creditor_id, schemeID="SEPA")
        self.address(element, "PostalAddress", party)
        for scheme, value in (("VAT", party.vat_id), ("FC", party.tax_number)):
            if value:
                tax_scheme = sub(element, f"{CAC}PartyTaxScheme")
                sub(tax_scheme, f"{CBC}CompanyID", value)
                sub(sub(tax_scheme, f"{CAC}TaxScheme"), f"{CBC}ID", scheme)
        legal = sub(element, f"{CAC}PartyLegalEntity")
        sub(legal, f"{CBC}RegistrationName", party.name)
        if party.registration_id:
            sub(legal, f"{CBC}CompanyID", party.registration_id)
        if party.contact_name or party.phone or party.email:
            contact = sub(element, f"{CAC}Contact")
            for name, value in (
                ("Name", party.contact_name),
                ("Telephone", party.phone),
                ("ElectronicMail", party.email),
            ):
                if value:
                    sub(contact, f"{CBC}{name}", value)

    # -- tax -------------------------------------------------------------------------------

    def tax_category(
        self,
        parent: etree._Element,
        tag: str,
        category: str,
        rate: Decimal,
        *,
        reason: str = "",
        reason_code: str = "",
        breakdown: bool = False,
    ) -> None:
        """A tax category; a line or allowance "not subject to VAT" states no rate
        (BR-O-05, BR-O-06), its breakdown row 0 (XRechnung's BR-DE-14)."""
        element = sub(parent, f"{CAC}{tag}")
        sub(element, f"{CBC}ID", category)
        if category != "O" or breakdown:
            sub(element, f"{CBC}Percent", plain(rate))
        if reason_code:
            sub(element, f"{CBC}TaxExemptionReasonCode", reason_code)
        if reason:
            sub(element, f"{CBC}TaxExemptionReason", reason)
        sub(sub(element, f"{CAC}TaxScheme"), f"{CBC}ID", "VAT")

    def period(self, parent: etree._Element, start: str | None, end: str | None) -> None:
        if start or end:
            period = sub(parent, f"{CAC}InvoicePeriod")
            if start:
                sub(period, f"{CBC}StartDate", start)
            if end:
                sub(period, f"{CBC}EndDate", end)

    # -- document parts --------------------------------------------------------------------

    def header(self, root: etree._Element, profile: Profile) -> None:
        invoice = self.invoice
        sub(root, f"{CBC}CustomizationID", profile.specification)
        if profile.process:
            sub(root, f"{CBC}ProfileID", profile.process)
        sub(root, f"{CBC}ID", invoice.number)
        sub(root, f"{CBC}IssueDate", invoice.issue_date)
        if invoice.credit_note:
            sub(root, f"{CBC}CreditNoteTypeCode", invoice.type_code)
        else:
            if invoice.due_date:
                sub(root, f"{CBC}DueDate", invoice.due_date)
            sub(root, f"{CBC}InvoiceTypeCode", invoice.type_code)
        if invoice.notes:  # one note: Peppol allows several only between German parties
            sub(root, f"{CBC}Note", "\n".join(invoice.notes))
        sub(root, f"{CBC}DocumentCurrencyCode", invoice.currency)
        if invoice.buyer_reference:
            sub(root, f"{CBC}BuyerReference", invoice.buyer_reference)
        self.period(root, invoice.period_start, invoice.period_end)
        if invoice.preceding_number:
            reference = sub(sub(root, f"{CAC}BillingReference"), f"{CAC}InvoiceDocumentReference")
            sub(reference, f"{CBC}ID", invoice.preceding_number)
            if invoice.preceding_date:
                sub(reference, f"{CBC}IssueDate", invoice.preceding_date)
        if invoice.contract_reference:
            contract = sub(root, f"{CAC}ContractDocumentReference")
            sub(contract, f"{CBC}ID", invoice.contract_reference)

    def parties(self, root: etree._Element) -> None:
        invoice, payment = self.invoice, self.invoice.payment
        creditor_id = payment.creditor_id if payment.direct_debit else ""
        self.party(root, "AccountingSupplierParty", invoice.seller, creditor_id)
        self.party(root, "AccountingCustomerParty", invoice.buyer, "")
        if invoice.deliver_to_country:  # BR-IC-11, BR-IC-12
            delivery = sub(root, f"{CAC}Delivery")
            if not (invoice.period_start and invoice.period_end):
                sub(delivery, f"{CBC}ActualDeliveryDate", invoice.issue_date)
            location = sub(delivery, f"{CAC}DeliveryLocation")
            self.address(location, "Address", invoice.buyer)
            party_name = sub(sub(delivery, f"{CAC}DeliveryParty"), f"{CAC}PartyName")
            sub(party_name, f"{CBC}Name", invoice.buyer.name)

    def payment(self, root: etree._Element) -> None:
        invoice, payment = self.invoice, self.invoice.payment
        means = sub(root, f"{CAC}PaymentMeans")
        sub(means, f"{CBC}PaymentMeansCode", payment.code, name=payment.code_name)
        if invoice.credit_note and invoice.due_date:
            sub(means, f"{CBC}PaymentDueDate", invoice.due_date)
        if payment.reference:
            sub(means, f"{CBC}PaymentID", payment.reference)
        if payment.credit_transfer and payment.iban:
            account = sub(means, f"{CAC}PayeeFinancialAccount")
            sub(account, f"{CBC}ID", payment.iban)
            if payment.account_name:
                sub(account, f"{CBC}Name", payment.account_name)
            if payment.bic:
                branch = sub(account, f"{CAC}FinancialInstitutionBranch")
                sub(branch, f"{CBC}ID", payment.bic)
        if payment.direct_debit:
            mandate = sub(means, f"{CAC}PaymentMandate")
            if payment.mandate:
                sub(mandate, f"{CBC}ID", payment.mandate)
            if payment.debtor_iban:
                debtor = sub(mandate, f"{CAC}PayerFinancialAccount")
                sub(debtor, f"{CBC}ID", payment.debtor_iban)
        if payment.terms:
            sub(sub(root, f"{CAC}PaymentTerms"), f"{CBC}Note", payment.terms)

    def allowances(self, root: etree._Element) -> None:
        for allowance in self.invoice.allowances:
            element = sub(root, f"{CAC}AllowanceCharge")
            sub(element, f"{CBC}ChargeIndicator", "false")
            sub(element, f"{CBC}AllowanceChargeReasonCode", "95")  # UNCL 5189: discount
            sub(element, f"{CBC}AllowanceChargeReason", allowance.reason)
            self.money(element, "Amount", allowance.amount)
            self.tax_category(element, "TaxCategory", allowance.category, allowance.rate)

    def totals(self, root: etree._Element) -> None:
        invoice, totals = self.invoice, self.invoice.totals
        tax_total = sub(root, f"{CAC}TaxTotal")
        self.money(tax_total, "TaxAmount", totals.tax)
        for group in invoice.tax_groups:
            subtotal = sub(tax_total, f"{CAC}TaxSubtotal")
            self.money(subtotal, "TaxableAmount", group.basis)
            self.money(subtotal, "TaxAmount", group.tax)
            self.tax_category(
                subtotal,
                "TaxCategory",
                group.category,
                group.rate,
                reason=group.reason,
                reason_code=group.reason_code,
                breakdown=True,
            )
        monetary = sub(root, f"{CAC}LegalMonetaryTotal")
        self.money(monetary, "LineExtensionAmount", totals.lines)
        self.money(monetary, "TaxExclusiveAmount", totals.tax_exclusive)
        self.money(monetary, "TaxInclusiveAmount", totals.tax_inclusive)
        if invoice.allowances:
            self.money(monetary, "AllowanceTotalAmount", totals.allowances)
        if totals.paid:
            self.money(monetary, "PrepaidAmount", totals.paid)
        self.money(monetary, "PayableAmount", totals.payable)

    def line(self, root: etree._Element, line: Line) -> None:
        kind = "CreditNote" if self.invoice.credit_note else "Invoice"
        element = sub(root, f"{CAC}{kind}Line")
        sub(element, f"{CBC}ID", line.id)
        if line.note:
            sub(element, f"{CBC}Note", line.note)
        quantity = "CreditedQuantity" if self.invoice.credit_note else "InvoicedQuantity"
        sub(element, f"{CBC}{quantity}", plain(line.quantity), unitCode=line.unit)
        self.money(element, "LineExtensionAmount", line.net)
        self.period(element, line.start, line.end)
        item = sub(element, f"{CAC}Item")
        sub(item, f"{CBC}Name", line.name)
        self.tax_category(item, "ClassifiedTaxCategory", line.category, line.rate)
        price = sub(element, f"{CAC}Price")
        sub(price, f"{CBC}PriceAmount", plain(line.price), currencyID=self.currency)


def build_ubl(invoice: Invoice, profile: Profile) -> bytes:
    """The invoice as a UBL 2.1 Invoice, or CreditNote for a credit note."""
    namespace = CREDIT_NOTE_NS if invoice.credit_note else INVOICE_NS
    root_tag = "CreditNote" if invoice.credit_note else "Invoice"
    root = etree.Element(
        f"{{{namespace}}}{root_tag}", nsmap={None: namespace, "cac": CAC_NS, "cbc": CBC_NS}
    )
    writer = _Writer(invoice)
    writer.header(root, profile)
    writer.parties(root)
    writer.payment(root)
    writer.allowances(root)
    writer.totals(root)
    for line in invoice.lines:
        writer.line(root, line)
    return serialize(root)
