"""Shared test configuration: the Hypothesis profiles.

- ``ci`` (the default): fast enough for every commit on two cores;
- ``thorough``: a longer campaign, ``pytest --hypothesis-profile=thorough`` (or
  ``VAULTBENCH_PROFILE=thorough``).

Every profile derandomizes nothing by itself: Hypothesis prints the seed and the shortest
failing program of a failure, and ``--hypothesis-seed=N`` replays it.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    max_examples=60,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.register_profile(
    "thorough",
    max_examples=2000,
    stateful_step_count=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.load_profile(os.environ.get("VAULTBENCH_PROFILE", "ci"))
