# billingd's default statistics PDF (R-INV-2): the period's usage records and the
# totals per destination group of an invoice.
#
# Same language as invoice.tpl (see the comments there). `statistics` lays out
# the document's `records` (time, destination, destination group, quantity,
# amount) and `groups` (destination group, records, quantity, amount).

font-size 9

heading? {brand.name}
small? {seller.name} · {seller.address} · {seller.postcode} {seller.city} · {seller.country}
space 6

title
info? Invoice | {number}
info? Client | {bill_to.company}
info? Contact | {bill_to.name}
info? Period | {period_start} – {period_end}
info? Currency | {currency}
space 6

statistics

header {number} · {bill_to.company} · {period_start} – {period_end}
footer? {brand.footer}
