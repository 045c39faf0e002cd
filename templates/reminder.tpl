# billingd's default payment reminder template (dunning, R-DUN-1).
#
# Same language as invoice.tpl (see the comments there). A reminder is the
# overdue invoice plus {reminder_level}, {fee} and {interest}; `totals` adds the
# amount paid so far, the fee, the interest and the amount now due, and `payment`
# asks for that amount (with an EPC QR code for EUR).

font-size 10

logo right
heading? {brand.name}
small? {seller.name} · {seller.address} · {seller.postcode} {seller.city} · {seller.country}
small? VAT ID: {seller.tax_id} · {seller.email} · {seller.phone}
space 8

address bill_to
text? Contract: {bill_to.contract_number}
space 8

title
info? Reminder | {reminder_level}
info Invoice date | {issue_date}
info? Due since | {due_date}
space 4

text? Our invoice {number} of {issue_date} was due on {due_date}. We have not yet received the full payment. If you have paid in the meantime, please disregard this reminder.
space 4

lines
space 3
totals
space 6
tax-breakdown
space 4
notes
space 6
payment

header {number} · {bill_to.company}
footer? {brand.footer}
footer? {seller.name} · {seller.address} · {seller.postcode} {seller.city}
footer? Registration: {seller.registration_id} · VAT ID: {seller.tax_id}
