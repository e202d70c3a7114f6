"""A sweep run twice at the same moment writes nothing the second time, whatever days came before."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from duban.store.db import open_database
from duban.workflows.sweep_service import sweep
from tests.support import POLICY, SHANGHAI, dump

# The seeded database holds the district plan (2015-07 … 2016-12) and the village plan (2018).
days = st.dates(min_value=dt.date(2015, 6, 1), max_value=dt.date(2019, 3, 31))
moments = st.builds(
    lambda day, minutes: dt.datetime.combine(day, dt.time(), SHANGHAI) + dt.timedelta(minutes=minutes),
    days, st.integers(min_value=0, max_value=24 * 60 - 1),
)


@settings(max_examples=12)
@given(earlier=st.lists(moments, max_size=3), now=moments, plan=st.sampled_from([None, "district-2015", "village-2018"]))
def test_a_second_sweep_at_the_same_moment_writes_nothing(
    earlier: list[dt.datetime], now: dt.datetime, plan: str | None, scratch, seeded_db: Path
) -> None:
    db, url = scratch.database(seeded_db)
    engine = open_database(url)
    try:
        for moment in sorted(m for m in earlier if m < now):  # the days swept before, in order
            sweep(engine, now=moment, policies=POLICY, plan=plan)
        sweep(engine, now=now, policies=POLICY, plan=plan)
        before = dump(db, skip=("sweep",))
        again = sweep(engine, now=now, policies=POLICY, plan=plan)
    finally:
        engine.dispose()
    assert sum(again.created.values()) == 0, again.created
    assert dump(db, skip=("sweep",)) == before  # the sweep's own record aside, not a row written
