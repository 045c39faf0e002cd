"""Socket methods, one module per area; importing this package registers them all."""

from billingd.control.api import invoices, money, parties, system  # noqa: F401
