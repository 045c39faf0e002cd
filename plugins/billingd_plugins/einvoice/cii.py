"""UN/CEFACT Cross Industry Invoice D16B, as Factur-X EN 16931 and XRechnung write it.

Element order follows the CII D16B schema (and the Factur-X EN 16931 subset of it).
"""

from __future__ import annotations

from decimal import Decimal

from lxml import etree

from billingd_plugins.einvoice.codes import Profile
from billingd_plugins.einvoice.model import Allowance, Invoice, Line, Party, TaxGroup, plain
from billingd_plugins.einvoice.xmltree import amount, serialize, sub

RSM_NS = "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"
RAM_NS = "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"
QDT_NS = "urn:un:unece:uncefact:data:standard:QualifiedDataType:100"
UDT_NS = "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100"
NSMAP = {"rsm": RSM_NS, "qdt": QDT_NS, "ram": RAM_NS, "udt": UDT_NS}
RSM, RAM, QDT, UDT = (f"{{{ns}}}" for ns in (RSM_NS, RAM_NS, QDT_NS, UDT_NS))


def _date(parent: etree._Element, tag: str, iso: str, prefix: str = UDT) -> None:
    """A date element in format 102 (``20261201``)."""
    holder = sub(parent, tag)
    sub(holder, f"{prefix}DateTimeString", iso.replace("-", ""), format="102")


def _period(parent: etree._Element, start: str | None, end: str | None) -> None:
    if not (start or end):
        return
    period = sub(parent, f"{RAM}BillingSpecifiedPeriod")
    if start:
        _date(period, f"{RAM}StartDateTime", start)
    if end:
        _date(period, f"{RAM}EndDateTime", end)


def _rate(parent: etree._Element, category: str, rate: Decimal, *, breakdown: bool = False) -> None:
    """The VAT rate. A line or allowance "not subject to VAT" states none (BR-O-05,
    BR-O-06); its breakdown row states 0 (XRechnung's BR-DE-14 wants BT-119)."""
    if category != "O" or breakdown:
        sub(parent, f"{RAM}RateApplicablePercent", plain(rate))


def _party(parent: etree._Element, tag: str, party: Party, *, contact: bool) -> None:
    element = sub(parent, tag)
    sub(element, f"{RAM}Name", party.name)
    if party.registration_id:
        legal = sub(element, f"{RAM}SpecifiedLegalOrganization")
        sub(legal, f"{RAM}ID", party.registration_id)
    if contact and (party.contact_name or party.phone or party.email):
        trade_contact = sub(element, f"{RAM}DefinedTradeContact")
        if party.contact_name:
            sub(trade_contact, f"{RAM}PersonName", party.contact_name)
        if party.phone:
            phone = sub(trade_contact, f"{RAM}TelephoneUniversalCommunication")
            sub(phone, f"{RAM}CompleteNumber", party.phone)
        if party.email:
            email = sub(trade_contact, f"{RAM}EmailURIUniversalCommunication")
            sub(email, f"{RAM}URIID", party.email)
    _address(element, party)
    if party.endpoint_id:
        uri = sub(element, f"{RAM}URIUniversalCommunication")
        sub(uri, f"{RAM}URIID", party.endpoint_id, schemeID=party.endpoint_scheme)
    for scheme, value in (("VA", party.vat_id), ("FC", party.tax_number)):
        if value:
            registration = sub(element, f"{RAM}SpecifiedTaxRegistration")
            sub(registration, f"{RAM}ID", value, schemeID=scheme)


def _address(parent: etree._Element, party: Party) -> None:
    address = sub(parent, f"{RAM}PostalTradeAddress")
    if party.postcode:
        sub(address, f"{RAM}PostcodeCode", party.postcode)
    lines = list(party.address_lines[:2])
    if len(party.address_lines) > 2:
        lines.append(", ".join(party.address_lines[2:]))
    for tag, line in zip(("LineOne", "LineTwo", "LineThree"), lines, strict=False):
        sub(address, f"{RAM}{tag}", line)
    if party.city:
        sub(address, f"{RAM}CityName", party.city)
    sub(address, f"{RAM}CountryID", party.country)


def _line(parent: etree._Element, line: Line) -> None:
    item = sub(parent, f"{RAM}IncludedSupplyChainTradeLineItem")
    document = sub(item, f"{RAM}AssociatedDocumentLineDocument")
    sub(document, f"{RAM}LineID", line.id)
    if line.note:
        sub(sub(document, f"{RAM}IncludedNote"), f"{RAM}Content", line.note)
    sub(sub(item, f"{RAM}SpecifiedTradeProduct"), f"{RAM}Name", line.name)
    agreement = sub(item, f"{RAM}SpecifiedLineTradeAgreement")
    price = sub(agreement, f"{RAM}NetPriceProductTradePrice")
    sub(price, f"{RAM}ChargeAmount", plain(line.price))
    delivery = sub(item, f"{RAM}SpecifiedLineTradeDelivery")
    sub(delivery, f"{RAM}BilledQuantity", plain(line.quantity), unitCode=line.unit)
    settlement = sub(item, f"{RAM}SpecifiedLineTradeSettlement")
    tax = sub(settlement, f"{RAM}ApplicableTradeTax")
    sub(tax, f"{RAM}TypeCode", "VAT")
    sub(tax, f"{RAM}CategoryCode", line.category)
    _rate(tax, line.category, line.rate)
    _period(settlement, line.start, line.end)
    summation = sub(settlement, f"{RAM}SpecifiedTradeSettlementLineMonetarySummation")
    sub(summation, f"{RAM}LineTotalAmount", amount(line.net))


def _tax_group(parent: etree._Element, group: TaxGroup) -> None:
    tax = sub(parent, f"{RAM}ApplicableTradeTax")
    sub(tax, f"{RAM}CalculatedAmount", amount(group.tax))
    sub(tax, f"{RAM}TypeCode", "VAT")
    if group.reason:
        sub(tax, f"{RAM}ExemptionReason", group.reason)
    sub(tax, f"{RAM}BasisAmount", amount(group.basis))
    sub(tax, f"{RAM}CategoryCode", group.category)
    if group.reason_code:
        sub(tax, f"{RAM}ExemptionReasonCode", group.reason_code)
    _rate(tax, group.category, group.rate, breakdown=True)


def _allowance(parent: etree._Element, allowance: Allowance) -> None:
    element = sub(parent, f"{RAM}SpecifiedTradeAllowanceCharge")
    sub(sub(element, f"{RAM}ChargeIndicator"), f"{UDT}Indicator", "false")
    sub(element, f"{RAM}ActualAmount", amount(allowance.amount))
    sub(element, f"{RAM}ReasonCode", "95")  # UNCL 5189: discount
    sub(element, f"{RAM}Reason", allowance.reason)
    tax = sub(element, f"{RAM}CategoryTradeTax")
    sub(tax, f"{RAM}TypeCode", "VAT")
    sub(tax, f"{RAM}CategoryCode", allowance.category)
    _rate(tax, allowance.category, allowance.rate)


def _agreement(parent: etree._Element, invoice: Invoice, profile: Profile) -> None:
    agreement = sub(parent, f"{RAM}ApplicableHeaderTradeAgreement")
    if invoice.buyer_reference:
        sub(agreement, f"{RAM}BuyerReference", invoice.buyer_reference)
    _party(agreement, f"{RAM}SellerTradeParty", invoice.seller, contact=True)
    _party(agreement, f"{RAM}BuyerTradeParty", invoice.buyer, contact=True)
    if invoice.contract_reference:
        contract = sub(agreement, f"{RAM}ContractReferencedDocument")
        sub(contract, f"{RAM}IssuerAssignedID", invoice.contract_reference)


def _delivery(parent: etree._Element, invoice: Invoice) -> None:
    delivery = sub(parent, f"{RAM}ApplicableHeaderTradeDelivery")
    if invoice.deliver_to_country:  # BR-IC-12: deliver-to country; the buyer's address
        ship_to = sub(delivery, f"{RAM}ShipToTradeParty")
        sub(ship_to, f"{RAM}Name", invoice.buyer.name)
        _address(ship_to, invoice.buyer)
        if not (invoice.period_start and invoice.period_end):  # BR-IC-11
            event = sub(delivery, f"{RAM}ActualDeliverySupplyChainEvent")
            _date(event, f"{RAM}OccurrenceDateTime", invoice.issue_date)


def _payment_means(parent: etree._Element, invoice: Invoice) -> None:
    payment = invoice.payment
    means = sub(parent, f"{RAM}SpecifiedTradeSettlementPaymentMeans")
    sub(means, f"{RAM}TypeCode", payment.code)
    sub(means, f"{RAM}Information", payment.code_name)
    if payment.direct_debit and payment.debtor_iban:
        debtor = sub(means, f"{RAM}PayerPartyDebtorFinancialAccount")
        sub(debtor, f"{RAM}IBANID", payment.debtor_iban)
    if payment.credit_transfer and payment.iban:
        account = sub(means, f"{RAM}PayeePartyCreditorFinancialAccount")
        sub(account, f"{RAM}IBANID", payment.iban)
        if payment.account_name:
            sub(account, f"{RAM}AccountName", payment.account_name)
        if payment.bic:
            bank = sub(means, f"{RAM}PayeeSpecifiedCreditorFinancialInstitution")
            sub(bank, f"{RAM}BICID", payment.bic)


def _settlement(parent: etree._Element, invoice: Invoice) -> None:
    settlement = sub(parent, f"{RAM}ApplicableHeaderTradeSettlement")
    payment, totals = invoice.payment, invoice.totals
    if payment.direct_debit and payment.creditor_id:
        sub(settlement, f"{RAM}CreditorReferenceID", payment.creditor_id)
    if payment.reference:
        sub(settlement, f"{RAM}PaymentReference", payment.reference)
    sub(settlement, f"{RAM}InvoiceCurrencyCode", invoice.currency)
    _payment_means(settlement, invoice)
    for group in invoice.tax_groups:
        _tax_group(settlement, group)
    _period(settlement, invoice.period_start, invoice.period_end)
    for allowance in invoice.allowances:
        _allowance(settlement, allowance)
    mandate = payment.mandate if payment.direct_debit else ""
    if payment.terms or invoice.due_date or mandate:
        terms = sub(settlement, f"{RAM}SpecifiedTradePaymentTerms")
        if payment.terms:
            sub(terms, f"{RAM}Description", payment.terms)
        if invoice.due_date:
            _date(terms, f"{RAM}DueDateDateTime", invoice.due_date)
        if mandate:
            sub(terms, f"{RAM}DirectDebitMandateID", mandate)
    summation = sub(settlement, f"{RAM}SpecifiedTradeSettlementHeaderMonetarySummation")
    sub(summation, f"{RAM}LineTotalAmount", amount(totals.lines))
    if invoice.allowances:
        sub(summation, f"{RAM}AllowanceTotalAmount", amount(totals.allowances))
    sub(summation, f"{RAM}TaxBasisTotalAmount", amount(totals.tax_exclusive))
    sub(summation, f"{RAM}TaxTotalAmount", amount(totals.tax), currencyID=invoice.currency)
    sub(summation, f"{RAM}GrandTotalAmount", amount(totals.tax_inclusive))
    if totals.paid:
        sub(summation, f"{RAM}TotalPrepaidAmount", amount(totals.paid))
    sub(summation, f"{RAM}DuePayableAmount", amount(totals.payable))
    if invoice.preceding_number:
        preceding = sub(settlement, f"{RAM}InvoiceReferencedDocument")
        sub(preceding, f"{RAM}IssuerAssignedID", invoice.preceding_number)
        if invoice.preceding_date:
            _date(preceding, f"{RAM}FormattedIssueDateTime", invoice.preceding_date, QDT)


def build_cii(invoice: Invoice, profile: Profile) -> bytes:
    """The invoice as a CII D16B document of the profile's specification (BT-24)."""
    root = etree.Element(f"{RSM}CrossIndustryInvoice", nsmap=NSMAP)
    context = sub(root, f"{RSM}ExchangedDocumentContext")
    if profile.process:
        process = sub(context, f"{RAM}BusinessProcessSpecifiedDocumentContextParameter")
        sub(process, f"{RAM}ID", profile.process)
    guideline = sub(context, f"{RAM}GuidelineSpecifiedDocumentContextParameter")
    sub(guideline, f"{RAM}ID", profile.specification)
    document = sub(root, f"{RSM}ExchangedDocument")
    sub(document, f"{RAM}ID", invoice.number)
    sub(document, f"{RAM}TypeCode", invoice.type_code)
    _date(document, f"{RAM}IssueDateTime", invoice.issue_date)
    for note in invoice.notes:
        sub(sub(document, f"{RAM}IncludedNote"), f"{RAM}Content", note)
    transaction = sub(root, f"{RSM}SupplyChainTradeTransaction")
    for line in invoice.lines:
        _line(transaction, line)
    _agreement(transaction, invoice, profile)
    _delivery(transaction, invoice)
    _settlement(transaction, invoice)
    return serialize(root)
