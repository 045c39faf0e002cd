# billingd's default credit note template.
#
# Same language as invoice.tpl (see the comments there); copy it to
# <data_dir>/templates/ to change it. {credit_note_for} is the number of the
# invoice this note credits, {reason} why. The credited amount is split over the
# invoice's VAT rates in proportion to each rate's share of the invoice: `lines`
# shows one line per rate, `tax-breakdown` the net and tax credited at each rate.

font-size 10

heading? {brand.name}
right? {seller.name}
right? {seller.address}
right? VAT ID: {seller.tax_id}
right? {seller.email}
space 8

address bill_to
text? VAT ID: {bill_to.tax_id}
text? Contract: {bill_to.contract_number}
space 8

heading Credit note {number}
text Issue date: {issue_date}
text? Credits invoice: {credit_note_for}
text? Reason: {reason}
space 6

lines
space 3
label total Total credited
totals
space 6
text? VAT credited per rate, in the proportion of invoice {credit_note_for}:
tax-breakdown
space 8

text The credited amount of {total} {currency} is offset against open invoices or refunded.

footer? {brand.footer}
footer? {seller.name} · {seller.address}
footer? Registration: {seller.registration_id} · VAT ID: {seller.tax_id}
