"""billingd: a self-hosted billing daemon."""

__version__ = "0.1.0"
