"""How many kill -9 trials run, how many at once, with which seed; and the results the summary prints.

A plain module: tests/reliability/test_kill9.py and conftest.py (its summary table) share these.
"""

from __future__ import annotations

import os

from tests.reliability.harness import MODES, Tally

BACKENDS = ("sqlite", "postgres")
PER_MODE_DEFAULT = 10
RESULTS: list[Tally] = []


def trials_for(index: int) -> int:
    """Trials for the index-th of the len(MODES) × len(BACKENDS) modes."""
    total = os.environ.get("DUBAN_TRIALS")
    if not total:
        return PER_MODE_DEFAULT
    count = len(MODES) * len(BACKENDS)
    n = int(total)
    return n // count + (1 if index < n % count else 0)


def workers() -> int:
    """Trials run at once (DUBAN_TRIAL_WORKERS; default: one per CPU, at most 4)."""
    return int(os.environ.get("DUBAN_TRIAL_WORKERS") or min(4, os.cpu_count() or 1))


def seed() -> str:
    return os.environ.get("DUBAN_TRIALS_SEED", "1")
