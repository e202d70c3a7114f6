"""Letters over the district plan: every message's headers as a strict reader takes them, and the per-unit
letter and criticism counts (``workflows.letter_stats_service``) against the mail actually written."""

from __future__ import annotations

import datetime as dt
import email.parser
import email.policy
import re
from collections import Counter
from pathlib import Path

import pytest

from duban.config.settings import Settings
from duban.matrix.calendar import WorkCalendar
from duban.store.db import open_database
from duban.workflows.delivery_service import deliver
from duban.workflows.letter_stats_service import letter_stats, longest_run, working_weeks
from duban.workflows.matrix_service import PlanOptions, import_file
from duban.workflows.sweep_service import sweep
from tests.support import PLANS, POLICY, SHANGHAI, at

D = dt.date
ENCODED_WORD = re.compile(r"=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=")
STRICT = email.policy.strict.clone(utf8=True)


def settings_for(tmp_path: Path, **kw) -> Settings:
    return Settings(database_url="sqlite://", outbox_dir=tmp_path / "outbox", config_dir=tmp_path / "cfg",
                    mail_from="區扶貧開發領導小組辦公室督查督辦系統 <duban@example.org>", messages_per_minute=0, **kw)


def strict_message(raw: bytes):
    """The message read by ``email.policy.strict``, every physical header line ≤ 78 characters and every
    encoded word ≤ 75 (RFC 5322 / RFC 2047)."""
    head = raw.split(b"\r\n\r\n", 1)[0].decode("utf-8")
    for line in head.split("\r\n"):
        assert len(line) <= 78, line
        for word in ENCODED_WORD.findall(line):
            assert len(word) <= 75, word
    msg = email.parser.BytesParser(policy=STRICT).parsebytes(raw)
    for name, value in msg.items():
        assert not getattr(value, "defects", ()), (name, value.defects)
    return msg


def district(tmp_path: Path):
    engine = open_database(f"sqlite:///{tmp_path / 'duban.db'}")
    import_file(engine, PLANS / "district-2015.yaml", PlanOptions(), now=at(2015, 7, 1))
    return engine


@pytest.mark.parametrize("language", ["zh-Hans", "zh-Hant"])
@pytest.mark.parametrize("mode", ["digest", "per_notice"])
def test_every_message_of_the_district_plan_passes_a_strict_reader(tmp_path: Path, mode: str, language: str) -> None:
    """Swept on 2016-12-30 every task of the district plan has a notice (overdue 2015 items with all their
    levels, reminders of the year-end ones): every message built from them — long task titles, long unit
    and office names, officials with their titles, a Chinese sender — reads back strictly."""
    engine = district(tmp_path)
    try:
        sweep(engine, now=dt.datetime(2016, 12, 30, 8, 30, tzinfo=SHANGHAI), policies=POLICY)
        deliver(engine, now=dt.datetime(2016, 12, 30, 9, tzinfo=SHANGHAI),
                settings=settings_for(tmp_path, delivery_mode=mode, language=language))
    finally:
        engine.dispose()
    files = sorted((tmp_path / "outbox").glob("*.eml"))
    assert len(files) > 20
    subjects = [str(strict_message(p.read_bytes())["Subject"]) for p in files]
    if mode == "per_notice":
        assert max(len(s) for s in subjects) > 20  # the task titles are in the subjects, encoded and folded


def test_letter_stats_count_the_mail_written_and_the_criticism_runs(tmp_path: Path) -> None:
    """Letters per unit are the messages addressed To or Cc its addresses (here read back from the .eml
    files as the oracle); the supporting-only flag, the longest run of weekly criticisms and whether a
    level-3 escalation about the unit's task went out before the run passed 8 weeks."""
    engine = district(tmp_path)
    try:
        for day in (D(2015, 12, 4), D(2015, 12, 11)):
            sweep(engine, now=dt.datetime.combine(day, dt.time(8, 30), SHANGHAI), policies=POLICY)
            deliver(engine, now=dt.datetime.combine(day, dt.time(9), SHANGHAI),
                    settings=settings_for(tmp_path, delivery_mode="per_notice"))
        fridays = [D(2015, 10, 2) + dt.timedelta(weeks=k) for k in range(10)]
        criticisms = {day: ["區扶貧辦"] for day in fridays[:9]} | {fridays[9]: ["區委組織部", "區扶貧辦"]}
        criticisms[D(2015, 9, 18)] = ["區委組織部"]
        stats = letter_stats(engine, criticisms=criticisms, calendar=WorkCalendar())
    finally:
        engine.dispose()
    by_address: Counter = Counter()
    for path in (tmp_path / "outbox").glob("*.eml"):
        msg = email.parser.BytesParser(policy=STRICT).parsebytes(path.read_bytes())
        for address in {a.addr_spec for field in ("To", "Cc") if msg[field] for a in msg[field].addresses}:
            by_address[address] += 1
    units = {u.unit: u for u in stats.units}
    fupin = units["區扶貧辦"]
    assert fupin.letters == by_address["fupin@example.org"] + by_address["head.fupin@example.org"] > 0
    assert not fupin.supporting_only and units["街道辦事處"].supporting_only
    assert units["街道辦事處"].letters == by_address["jiedao@example.org"] > 0
    assert fupin.criticised == 10 and fupin.streak == 10 and fupin.streak_from == D(2015, 10, 2)
    # 3.1's level-3 escalation went out on 2015-12-04 (a catching-up sweep): after the 9th week (11-27).
    assert fupin.level3_sent == D(2015, 12, 4) and fupin.level3_in_time is False
    assert units["區委組織部"].streak == 1 and units["區委組織部"].level3_in_time is None
    assert stats.working_weeks == 2 and fupin.per_week == fupin.letters / 2
    line = stats.totals_line()
    assert line.startswith(f"letters: {sum(u.letters for u in stats.units if not u.office)} to ")
    assert "longest run 10 weeks (區扶貧辦)" in line and "without a level-3 escalation first: 區扶貧辦" in line


def test_runs_and_working_weeks() -> None:
    assert longest_run([]) == (0, None)
    assert longest_run([D(2016, 1, 1), D(2016, 1, 8), D(2016, 1, 22), D(2016, 1, 29), D(2016, 2, 5)]) == (3, D(2016, 1, 22))
    # Calendar weeks with a working day: 2016-02-08…12 is the Spring Festival holiday, but Sunday 02-14 is a
    # make-up working day, so that week counts; the weekend alone has none.
    assert working_weeks(D(2016, 2, 1), D(2016, 2, 19), WorkCalendar()) == 3
    assert working_weeks(D(2016, 2, 13), D(2016, 2, 13), WorkCalendar()) == 0
    assert working_weeks(D(2016, 2, 20), D(2016, 2, 21), WorkCalendar()) == 0
