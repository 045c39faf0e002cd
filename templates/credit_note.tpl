# billingd's default credit note template.
#
# Same language as invoice.tpl (see the comments there); copy it to
# <data_dir>/templates/ to change it. {credit_note_for} is the number of the
# invoice this note credits, {reason} why.

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
tax-breakdown
space 8

text The credited amount of {total} {currency} is offset against open invoices or refunded.

footer? {brand.footer}
footer? {seller.name} · {seller.address}
footer? Registration: {seller.registration_id} · VAT ID: {seller.tax_id}
