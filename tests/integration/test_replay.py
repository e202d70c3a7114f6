"""Replay of the district plan from 2015-07-01 to 2016-12-31 with scripted progress.

The sweep runs every working day at 08:30; units report and close at 17:00 as scripted: most close
on time, 區交委 reports quantities as it goes, 區水務局 is late with its first milestone, 區環保局 gets an
extension, and 區金融辦 never reports. The outbox is compared, notice by notice and week by week,
with an oracle written here from the rules alone (day by day, on ``chinese_calendar`` directly, not
on duban's calendar or planner), and a few weeks are checked by hand.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict

import chinese_calendar
import pytest
import sqlalchemy as sa

from duban.store.db import transaction
from duban.store.tables import MilestoneRow, NoticeRow, TaskRow
from duban.workflows.extension_service import decide_extension, request_extension
from duban.workflows.matrix_service import PlanOptions, import_file
from duban.workflows.progress_service import close_item, report_progress
from duban.workflows.sweep_service import sweep
from tests.support import PLANS, POLICY, SHANGHAI, at

START, END = dt.date(2015, 7, 1), dt.date(2016, 12, 31)
D = dt.date

# (day, action, task, milestone number, argument)
SCRIPT = [
    (D(2015, 7, 8), "close", "3.1", 1, None),                     # on time, before due 07-10
    (D(2015, 10, 15), "report", "3.2.1", 1, "10"),                # 區交委: 10 of 25 村
    (D(2015, 12, 18), "report", "3.2.1", 1, "25"),                # target reached: closes itself
    (D(2016, 12, 20), "report", "3.2.1", 2, "40"),
    (D(2016, 1, 20), "report", "3.2.2", 1, "25"),                 # 區水務局: 13 working days late
    (D(2015, 12, 15), "extend", "3.2.5", 1, D(2016, 1, 29)),      # 區環保局 asks for more time …
    (D(2015, 12, 16), "approve", "3.2.5", 1, None),               # … and gets it
    (D(2016, 1, 28), "close", "3.2.5", 1, None),
]
LATE_OR_SPECIAL = {"3.1", "3.2.1", "3.2.2", "3.2.5", "3.2.7"}  # 3.2.7 (區金融辦) never reports


def _is_working(day: dt.date) -> bool:
    return chinese_calendar.is_workday(day)


def _working_days_after(due: dt.date, day: dt.date) -> int:
    n, d = 0, due
    while d < day:
        d += dt.timedelta(days=1)
        n += _is_working(d)
    return n


def _working_days_before(due: dt.date, t: int) -> dt.date:
    d = due
    while t:
        d -= dt.timedelta(days=1)
        t -= _is_working(d)
    return d


def _chase_days(last_level: int) -> set[int]:
    """The working days overdue a chase falls on: the first, then every ``every_working_days`` for
    ``repeats`` chases, then every ``then_every_working_days``, until the ladder's last level."""
    p = POLICY.default()
    days, late, n = set(), 1, 1
    while late < last_level:
        days.add(late)
        late += p.chase_every if n <= p.chase_repeats else p.chase_then_every
        n += 1
    return days


def oracle(milestones: dict[int, dict]) -> list[tuple[str, str, dt.date]]:
    """Every notice the rules owe, each on the working day it is due: (kind+level, milestone ref, day)."""
    ladder = [(lv.level, lv.after) for lv in POLICY.default().ladder]
    chase_days = _chase_days(ladder[-1][1])
    out = []
    day = START
    while day <= END:
        if _is_working(day):
            for mid, m in milestones.items():
                if m["closed_on"] is not None and m["closed_on"] < day:
                    continue  # closed at 17:00 on an earlier day
                due = m["due_on"](day)
                if day <= due:
                    for t in POLICY.default().reminder_days:
                        if _working_days_before(due, t) == day:
                            out.append((f"reminder d{t}", f"m{mid}:{due}", day))
                else:
                    late = _working_days_after(due, day)
                    if late in chase_days:
                        out.append(("chase", f"m{mid}:{due}", day))
                    for level, after in ladder:
                        if late == after:
                            out.append((f"escalation L{level}", f"m{mid}:{due}", day))
        day += dt.timedelta(days=1)
    return out


def week(day: dt.date) -> str:
    y, w, _ = day.isocalendar()
    return f"{y}-W{w:02d}"


@pytest.fixture(scope="module")
def replay(tmp_path_factory):
    from duban.store.db import open_database

    url = f"sqlite:///{tmp_path_factory.mktemp('replay') / 'duban.db'}"
    engine = open_database(url)
    loaded, _ = import_file(engine, PLANS / "district-2015.yaml", PlanOptions(), now=at(2015, 7, 1, 8))
    with transaction(engine) as s:
        rows = s.execute(sa.select(MilestoneRow.id, MilestoneRow.seq, MilestoneRow.due, TaskRow.code)
                         .join(TaskRow).order_by(TaskRow.position, MilestoneRow.seq)).all()
    lead = {t.code: t.lead_unit for t in loaded.plan.tasks}
    script = list(SCRIPT)
    # Everyone else closes each milestone three days before it is due.
    for _mid, seq, due, code in rows:
        if code not in LATE_OR_SPECIAL:
            script.append((due - dt.timedelta(days=3), "close", code, seq + 1, None))
    script.append((D(2016, 12, 28), "close", "3.2.2", 2, None))
    script.append((D(2016, 12, 28), "close", "3.2.5", 2, None))
    by_day = defaultdict(list)
    for entry in script:
        by_day[entry[0]].append(entry)
    extension_ids: dict[tuple[str, int], int] = {}
    day = START
    while day <= END:
        if _is_working(day):
            sweep(engine, now=dt.datetime.combine(day, dt.time(8, 30), SHANGHAI), policies=POLICY)
        evening = dt.datetime.combine(day, dt.time(17, 0), SHANGHAI)
        for _, action, code, number, arg in by_day.get(day, []):
            if action == "close":
                close_item(engine, task=code, unit=lead[code], now=evening, evidence="已完成,附驗收材料", milestone=number)
            elif action == "report":
                report_progress(engine, task=code, unit=lead[code], now=evening, done=arg, milestone=number, note="按月報送")
            elif action == "extend":
                ext = request_extension(engine, task=code, unit=lead[code], new_due=arg, reason="雨季施工受阻",
                                        now=evening, milestone=number)
                extension_ids[(code, number)] = ext["id"]
            elif action == "approve":
                decide_extension(engine, extension_id=extension_ids[(code, number)], approve=True, now=evening,
                                 decided_by="辦公室")
        day += dt.timedelta(days=1)
    # The closing day of each milestone, as the script made it (for the oracle).
    closed_on: dict[int, dt.date | None] = {}
    with transaction(engine) as s:
        for mid, closed_at in s.execute(sa.select(MilestoneRow.id, MilestoneRow.closed_at)).all():
            closed_on[mid] = closed_at.astimezone(SHANGHAI).date() if closed_at else None
        notices = s.execute(sa.select(NoticeRow.kind, NoticeRow.level, NoticeRow.key, NoticeRow.planned_for,
                                      NoticeRow.created_at, NoticeRow.milestone_id)).all()
    milestones = {}
    for mid, seq, due, code in rows:
        if (code, seq + 1) == ("3.2.5", 1):
            new_due = D(2016, 1, 29)
            milestones[mid] = {"closed_on": closed_on[mid], "code": code,
                               "due_on": lambda day, d=due, n=new_due: n if day > D(2015, 12, 16) else d}
        else:
            milestones[mid] = {"closed_on": closed_on[mid], "code": code, "due_on": lambda day, d=due: d}
    codes = {mid: m["code"] for mid, m in milestones.items()}
    yield {"notices": notices, "oracle": oracle(milestones), "codes": codes, "closed_on": closed_on}
    engine.dispose()


def _label(kind: str, level: int, key: str) -> str:
    if kind == "reminder":
        return f"reminder {key.rsplit(':', 1)[1]}"
    return f"escalation L{level}" if kind == "escalation" else "chase"


def test_every_notice_equals_the_oracle(replay) -> None:
    got = sorted((_label(k, lv, key), key.split(":", 1)[1].rsplit(":", 1)[0], created.astimezone(SHANGHAI).date())
                 for k, lv, key, planned, created, mid in replay["notices"])
    assert got == sorted(replay["oracle"])
    # Each notice was written by the sweep of the very day it was due (no catch-up was needed).
    assert all(planned == created.astimezone(SHANGHAI).date() for _, _, _, planned, created, _ in replay["notices"])


def test_notices_per_week_match(replay) -> None:
    got = Counter((week(created.astimezone(SHANGHAI).date()), _label(k, lv, key))
                  for k, lv, key, _, created, _ in replay["notices"])
    expected = Counter((week(day), label) for label, _, day in replay["oracle"])
    assert got == expected


def _by_task(replay, code: str) -> list[tuple[str, str]]:
    return sorted((created.astimezone(SHANGHAI).date().isoformat(), _label(k, lv, key))
                  for k, lv, key, _, created, mid in replay["notices"] if replay["codes"][mid] == code)


def test_hand_checked_weeks(replay) -> None:
    # 3.1 closed on 07-08, before its due date 07-10: only the 5-day reminder went out (07-03).
    assert _by_task(replay, "3.1") == [("2015-07-03", "reminder d5")]
    # 3.2.2's first milestone (due 2015-12-31) was reported done on 2016-01-20 at 17:00: chased on the
    # 1st, 4th, 7th and (weekly from then) 12th working day overdue, level 1 on the 3rd, level 2 on the 10th.
    late = [n for n in _by_task(replay, "3.2.2") if n[0] > "2016-01-01" and n[0] < "2016-02-01"]
    assert late == [("2016-01-04", "chase"), ("2016-01-06", "escalation L1"), ("2016-01-07", "chase"),
                    ("2016-01-12", "chase"), ("2016-01-15", "escalation L2"), ("2016-01-19", "chase")]
    # 3.2.7 (區金融辦) never reports: its first milestone climbs the whole ladder (level 3 on the 20th
    # working day after 2015-12-31, 元旦 off: 2016-01-29); it is chased on the 1st, 4th, 7th, 12th and 17th
    # working day overdue and, once level 3 is reached, no more (it is in the weekly circulation then).
    # The second, due on the replay's last day, gets its two reminders.
    never = _by_task(replay, "3.2.7")
    assert [n for n in never if n[1].startswith("escalation")] == [
        ("2016-01-06", "escalation L1"), ("2016-01-15", "escalation L2"), ("2016-01-29", "escalation L3")]
    assert ("2016-12-26", "reminder d5") in never and ("2016-12-30", "reminder d1") in never  # 12-31 is a Saturday
    assert [day for day, label in never if label == "chase"] == [
        "2016-01-04", "2016-01-07", "2016-01-12", "2016-01-19", "2016-01-26"]
    # 3.2.5's extension to 2016-01-29 replaced the year-end reminders of the old date with new ones.
    ext = _by_task(replay, "3.2.5")
    assert ("2015-12-24", "reminder d5") not in ext and ("2016-01-22", "reminder d5") in ext
    assert not any(label == "chase" for _, label in ext)


def test_weeks_of_the_replay(replay) -> None:
    per_week = Counter(week(created.astimezone(SHANGHAI).date()) for *_, created, _ in replay["notices"])
    # The week of National Day 2015 sends nothing (nothing is due, and no working day passes).
    assert per_week.get("2015-W40", 0) == 0
    # The busiest weeks are those of the year-end reminders (most milestones are due on 12-31).
    assert [w for w, _ in per_week.most_common(2)] == ["2016-W52", "2015-W52"]
    assert sum(per_week.values()) == len(replay["oracle"])
