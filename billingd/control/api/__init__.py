"""Socket methods, one module per area; importing this package registers them all."""

from billingd.control.api import (  # noqa: F401
    brands,
    dunning,
    events,
    imports,
    invoices,
    money,
    outbox,
    parties,
    reports,
    runs,
    system,
    usage,
)
