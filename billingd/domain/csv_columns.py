"""Column names of the CSV files billingctl imports, read the same way on both sides."""

from __future__ import annotations


def column_key(header: str) -> str:
    """The canonical column name of a header: ``Tax_ID`` -> ``tax-id``."""
    return header.strip().lower().replace("_", "-")
