# billingd's default credit note template.
#
# Same language as invoice.tpl (see the comments there); copy it to
# <data_dir>/templates/ to change it. {credit_note_for} is the number of the
# invoice this note credits, {credit_note_for_date} its date, {reason} why. The
# credited amount is split over the invoice's VAT rates in proportion to each
# rate's share of the invoice: `lines` shows one line per rate, `tax-breakdown`
# the net and tax credited at each rate.

font-size 10

logo right
heading? {brand.name}
small? {seller.name} · {seller.address} · {seller.postcode} {seller.city} · {seller.country}
small? VAT ID: {seller.tax_id} · {seller.email} · {seller.phone}
space 8

address bill_to
text? VAT ID: {bill_to.tax_id}
text? Contract: {bill_to.contract_number}
space 8

title
info Issue date | {issue_date}
text? Credits invoice: {credit_note_for}
text? Invoice date: {credit_note_for_date}
text? Reason: {reason}
space 6

lines
space 3
label total Total credited
totals
space 6
text? VAT credited per rate, in the proportion of invoice {credit_note_for}:
tax-breakdown
space 4
notes
space 6

text The credited amount of {total} {currency} is offset against open invoices or refunded.

header {number} · {bill_to.company}
footer? {brand.footer}
footer? {seller.name} · {seller.address} · {seller.postcode} {seller.city}
footer? Registration: {seller.registration_id} · VAT ID: {seller.tax_id}
