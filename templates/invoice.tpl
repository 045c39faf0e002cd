# billingd's default invoice template.
#
# To change it, copy this file to <data_dir>/templates/ and edit the copy; a brand
# picks a template by file name (brand.invoice_template). Preview a template as a
# PDF to see its placeholders unreplaced.
#
# One directive per line; lines starting with # are comments:
#   heading TEXT       a large bold line in the brand's accent colour
#   title              the document's title and number ("Invoice INV-2026-0001")
#   bold TEXT          a bold paragraph
#   text TEXT          a paragraph, wrapped to the page width
#   right TEXT         a right-aligned paragraph
#   small TEXT         a paragraph in a smaller, grey type
#   header TEXT        a line at the top of every page after the first
#   footer TEXT        a line at the bottom of every page
#   logo [left|right]  the brand's logo (brand.logo_path: PNG, JPEG or SVG)
#   address PARTY      seller or bill_to: name and address block
#   address-window     DIN 5008 address field with the return address; fold marks
#   info LABEL | TEXT  a line of the information block beside the address window
#   lines              the line table (description, quantity, unit price, net, VAT)
#   tax-breakdown      net and tax per VAT category and rate, with the legal wording
#   totals             subtotal, tax and total (paid and amount due when paid in part)
#   notes              the document's notes (legal wording)
#   payment            how to pay: transfer details and EPC QR code (EUR), the
#                      direct debit mandate, or that the invoice is paid
#   statistics         usage records and totals per destination group
#   rule               a horizontal line
#   space N            N millimetres of vertical space
#   font-size N        body text size in points from here on
#   label KEY TEXT     rename a column, title or total: description, quantity,
#                      unit_price, net, tax_rate, tax, category, subtotal, total, paid,
#                      balance, fee, interest, page, invoice, credit_note, reminder, ...
#
# TEXT may use placeholders for the invoice's fields: {number}, {issue_date},
# {due_date}, {period_start}, {period_end}, {currency}, {subtotal}, {tax}, {total},
# {balance}, {seller.name}, {seller.iban}, {bill_to.company}, {payment.terms},
# {brand.footer}, ...
# Write {{ and }} for literal braces. A directive written with a trailing ?
# (text?, footer?, ...) leaves out each " · "-separated part of its line that has
# an empty placeholder, and the whole line when no part is left.

font-size 10

# Who sends it.
logo right
heading? {brand.name}
small? {seller.name} · {seller.address} · {seller.postcode} {seller.city} · {seller.country}
small? VAT ID: {seller.tax_id} · {seller.email} · {seller.phone}
space 8

# Who receives it.
address bill_to
text? VAT ID: {bill_to.tax_id}
text? Contract: {bill_to.contract_number}
text? Your reference: {bill_to.buyer_reference}
space 8

title
info Issue date | {issue_date}
info? Due date | {due_date}
info? Service period | {period_start} – {period_end}
space 6

lines
space 3
totals
space 6
tax-breakdown
space 4
notes
space 6

# How to pay: transfer with a QR code, direct debit, or paid.
payment

header {number} · {bill_to.company}
footer? {brand.footer}
footer? {seller.name} · {seller.address} · {seller.postcode} {seller.city}
footer? Registration: {seller.registration_id} · VAT ID: {seller.tax_id}
