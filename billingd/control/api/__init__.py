"""Socket methods, one module per area; importing this package registers them all."""

from billingd.control.api import events, imports, invoices, money, parties, runs, system  # noqa: F401
