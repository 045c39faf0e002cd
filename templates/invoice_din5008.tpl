# A business letter layout after DIN 5008 (type B), for invoices, credit notes and
# reminders: brand.layout "din5008" picks it unless the brand names its own template.
#
# Same language as invoice.tpl (see the comments there). `address-window` puts the
# return address and the recipient into the window of a DL envelope (20 mm from
# the left, 45 mm from the top, 85 × 45 mm) and draws the fold and punch marks;
# the `info` lines after it form the information block to its right, and the text
# continues below the window.

font-size 10

logo right
heading? {brand.name}
small? {seller.name} · {seller.address} · {seller.postcode} {seller.city} · {seller.country}

address-window
info? Customer no. | {bill_to.contract_number}
info? Your reference | {bill_to.buyer_reference}
info? Your VAT ID | {bill_to.tax_id}
info Date | {issue_date}
info? Due date | {due_date}
info? Period | {period_start} – {period_end}
info? Reminder | {reminder_level}
info? Credits invoice | {credit_note_for}
info? Invoice date | {credit_note_for_date}
info? Our VAT ID | {seller.tax_id}
info? Phone | {seller.phone}
info? E-mail | {seller.email}

title
text? Reason: {reason}
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
footer? {seller.name} · {seller.address} · {seller.postcode} {seller.city} · Registration: {seller.registration_id}
footer? IBAN: {seller.iban} · BIC: {seller.bic}
