"""Hypothesis profiles of the billing oracle.

The default is fast enough for CI. A long exploration::

    python -m pytest tests/oracle -k sqlite --hypothesis-profile=soak --hypothesis-show-statistics

(the profile must be named on a command line that collects ``tests/oracle`` directly,
so that this file is loaded before hypothesis reads the option). ``soak`` runs 2,000
generated sequences of up to 50 steps; ``oracle-long`` 300 of them.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings

COMMON = {
    "deadline": None,
    "suppress_health_check": [
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
    ],
    "stateful_step_count": 30,
    "print_blob": True,
}
settings.register_profile("oracle", max_examples=25, **COMMON)
settings.register_profile("oracle-long", max_examples=300, **{**COMMON, "stateful_step_count": 50})
settings.register_profile("soak", max_examples=2000, **{**COMMON, "stateful_step_count": 50})


@pytest.fixture
def oracle_settings() -> settings:
    """The settings of the profile chosen with ``--hypothesis-profile``; without one
    (hypothesis' ``default`` or ``ci``), the fast ``oracle`` profile; in the fast lane
    (``-m "not slow"``), fewer of its sequences."""
    name = settings.get_current_profile_name()
    if name == "fast":  # the fast lane (tests/lanes.py): 5 sequences
        return settings(settings.get_profile("oracle"), max_examples=5)
    return settings.get_profile("oracle" if name in ("default", "ci") else name)
