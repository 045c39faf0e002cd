"""The fast lane and the whole suite (README, "Tests").

``python -m pytest -m "not slow"`` is the fast lane: SQLite only, and property tests
with fewer generated examples; ``python -m pytest`` (CI) runs everything with the
full counts. ``tests/conftest.py`` decides which lane runs before the test modules
are imported, so their decorators can ask.
"""

from __future__ import annotations

from hypothesis import settings

FAST_EXAMPLES_SHARE = 10  # the fast lane runs a tenth of each property test's examples

settings.register_profile("fast", max_examples=10)
_fast = False


def choose(markexpr: str, hypothesis_profile: str | None) -> None:
    """The fast lane is a run that leaves the slow tests out; it loads the ``fast``
    hypothesis profile unless one was named on the command line."""
    global _fast
    _fast = "not slow" in " ".join(markexpr.split())
    if _fast and hypothesis_profile is None:
        settings.load_profile("fast")


def examples(full: int) -> int:
    """``full`` generated examples in the whole suite, a tenth (at least 5) in the fast lane."""
    return max(5, full // FAST_EXAMPLES_SHARE) if _fast else full
