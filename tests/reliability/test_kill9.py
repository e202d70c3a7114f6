"""kill -9 at a random moment of sweep, deliver (SMTP and .eml), import and the first init, on SQLite and
PostgreSQL: nothing lost, nothing duplicated beyond the one in-flight resend, no half-written or broken
database. See tests/reliability/harness.py for what each count means; DUBAN_TRIALS=200 runs 200 trials."""

from __future__ import annotations

import random
import time

import pytest

from tests.reliability.harness import MODES, Campaign, Tally
from tests.reliability.trials import BACKENDS, RESULTS, seed, trials_for, workers
from tests.support import PG_SKIP

pytestmark = [pytest.mark.reliability, pytest.mark.slow]

CASES = [(mode, backend) for mode in MODES for backend in BACKENDS]


@pytest.mark.parametrize(("mode_name", "backend_name"), [
    pytest.param(m, b, id=f"{m}-{b}", marks=[pytest.mark.postgres] if b == "postgres" else []) for m, b in CASES])
def test_kill9_loses_nothing_duplicates_nothing_breaks_nothing(mode_name: str, backend_name: str, backends,
                                                               request: pytest.FixtureRequest) -> None:
    if backend_name == "postgres" and PG_SKIP:
        pytest.skip(PG_SKIP)
    mode = MODES[mode_name]
    n = trials_for(CASES.index((mode_name, backend_name)))
    if n == 0:
        pytest.skip("DUBAN_TRIALS leaves no trial for this mode")
    port, sink = request.getfixturevalue("mail_sink") if mode.smtp else (None, None)
    backend = backends(backend_name)
    tally = Tally(f"{mode_name} · {backend_name}")
    RESULTS.append(tally)
    started = time.monotonic()
    try:
        campaign = Campaign(mode, backend, sink_port=port, sink=sink,
                            rng=random.Random(f"{seed()}:{backend_name}:{mode_name}"))
        reference, done = campaign.run(n, workers=workers())
        tally.add(done)
        tally.window = f"{reference.startup:.2f}–{reference.runtime:.2f}"
        assert sum(sum(c.values()) for c in reference.snapshot.values()) > 0, "the reference run wrote nothing"
        if mode.smtp or mode.eml:
            assert reference.received and max(reference.received.values()) == 1, reference.received
    finally:
        tally.seconds = time.monotonic() - started
    assert tally.trials == n
    assert (tally.missing, tally.duplicated, tally.broken) == (0, 0, 0), "\n".join(tally.failures)
    if campaign.sweep_leases:  # a killed sweep is marked interrupted by the next one once its lease ran out
        assert tally.left_running == 0
