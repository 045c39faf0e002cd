# billingd's default invoice template.
#
# To change it, copy this file to <data_dir>/templates/ and edit the copy; a brand
# picks a template by file name (brand.invoice_template). Preview a template as a
# PDF to see its placeholders unreplaced.
#
# One directive per line; lines starting with # are comments:
#   heading TEXT       a large bold line in the brand's accent colour
#   bold TEXT          a bold paragraph
#   text TEXT          a paragraph, wrapped to the page width
#   right TEXT         a right-aligned paragraph
#   footer TEXT        a line at the bottom of every page
#   address PARTY      seller or bill_to: name and address block
#   lines              the line table (description, quantity, unit price, net, tax rate)
#   tax-breakdown      net and tax per tax rate
#   totals             subtotal, tax and total, right-aligned
#   rule               a horizontal line
#   space N            N millimetres of vertical space
#   font-size N        body text size in points from here on
#   label KEY TEXT     rename a column or total: description, quantity, unit_price,
#                      net, tax_rate, tax, subtotal, total, page
#
# TEXT may use placeholders for the invoice's fields: {number}, {issue_date},
# {due_date}, {period_start}, {period_end}, {currency}, {subtotal}, {tax}, {total},
# {balance}, {seller.name}, {seller.iban}, {bill_to.company}, {brand.footer}, ...
# Write {{ and }} for literal braces. A directive written with a trailing ?
# (text?, footer?, ...) is left out when any of its placeholders is empty.

font-size 10

# Who sends it.
heading? {brand.name}
right? {seller.name}
right? {seller.address}
right? VAT ID: {seller.tax_id}
right? {seller.email}
space 8

# Who receives it.
address bill_to
text? VAT ID: {bill_to.tax_id}
text? Contract: {bill_to.contract_number}
space 8

heading Invoice {number}
text Issue date: {issue_date}
text Due date: {due_date}
text? Service period: {period_start} – {period_end}
space 6

lines
space 3
totals
space 6
tax-breakdown
space 8

# How to pay.
text Please transfer {total} {currency} by {due_date}, quoting {number}, to:
text? Account holder: {seller.name}
text? IBAN: {seller.iban}
text? BIC: {seller.bic}

footer? {brand.footer}
footer? {seller.name} · {seller.address}
footer? Registration: {seller.registration_id} · VAT ID: {seller.tax_id}
