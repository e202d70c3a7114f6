"""Ongoing work (持續推進) reports by the 5th working day of the next month (issue 13), on real databases:
the sweep reminds and chases on that day, counted on the office's calendar (the package's years and the
imported ones) as status, progress reports and previews count it, and a plan whose cadence changes keeps
the instances already stored — one per period, their due dates as units were told them."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import sqlalchemy as sa

from duban.store import calendar_days
from duban.store.db import transaction
from duban.store.tables import NoticeRow, RecurrenceInstanceRow, RecurrenceRow, TaskRow
from duban.workflows.matrix_service import PlanOptions, import_file
from duban.workflows.progress_service import report_progress
from duban.workflows.status_service import status
from duban.workflows.sweep_service import sweep
from tests.support import POLICY, SHANGHAI, at


def morning(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(8, 30), SHANGHAI)


def _plan(tmp_path: Path, *, start: str, reporting: str | None = None) -> Path:
    (tmp_path / "u.yaml").write_text("units:\n  - {name: 縣生態環境局, emails: [st@example.org]}\n", encoding="utf-8")
    header = f"{{code: river, title: 河長制工作方案, base_year: {start[:4]}, start: {start}"
    header += f", reporting: '{reporting}'}}" if reporting else "}"
    path = tmp_path / "plan.yaml"
    path.write_text(f"plan: {header}\ndirectory: u.yaml\n"
                    "tasks:\n  - {code: '1', title: 河長制, lead_unit: 縣生態環境局, deadline: 長期堅持}\n", encoding="utf-8")
    return path


def _dues(engine) -> list[str]:
    with transaction(engine) as s:
        return [d.isoformat() for d in s.execute(sa.select(RecurrenceInstanceRow.due).order_by(RecurrenceInstanceRow.due)).scalars()]


def _notices(engine) -> list[tuple[str, str]]:
    with engine.connect() as c:
        return sorted((kind, due.isoformat()) for kind, due in c.execute(sa.select(NoticeRow.kind, NoticeRow.due)).all())


def test_the_sweep_reminds_and_chases_ongoing_work_on_the_fifth_working_day_after_the_national_day(
        engine, tmp_path: Path) -> None:
    import_file(engine, _plan(tmp_path, start="2026-09-01"), PlanOptions(), now=at(2026, 9, 1))
    # September's report: the 5th working day of October 2026 is the 13th (國慶 1–7 October off, the 10th
    # a make-up Saturday), not the 5th, a day of the holiday
    sweep(engine, now=morning(dt.date(2026, 9, 30)), policies=POLICY)
    assert _dues(engine) == ["2026-10-13", "2026-11-06"]  # and October's, within the sweep's horizon
    assert _notices(engine) == [("reminder", "2026-10-13")]  # five working days before
    sweep(engine, now=morning(dt.date(2026, 10, 12)), policies=POLICY)
    assert _notices(engine) == [("reminder", "2026-10-13"), ("reminder", "2026-10-13")]  # and the day before
    for day in (8, 9, 10, 13):  # within the holiday's aftermath nothing is overdue
        assert sweep(engine, now=morning(dt.date(2026, 10, day)), policies=POLICY).created["chase"] == 0
    assert sweep(engine, now=morning(dt.date(2026, 10, 14)), policies=POLICY).created["chase"] == 1
    assert ("chase", "2026-10-13") in _notices(engine)
    (river,) = [r for r in status(engine, now=morning(dt.date(2026, 10, 14)), policies=POLICY) if r["code"] == "1"]
    assert [(i["due"], i["ongoing"]) for i in river["items"]][:1] == [("2026-10-13", True)]
    assert "2026-10-05" not in _dues(engine)


def test_an_imported_calendar_year_counts_for_the_sweep_and_a_progress_report_alike(engine, tmp_path: Path) -> None:
    # 2027 is past chinese_calendar's years: the office imports the notice (here: 1–5 February off)
    with transaction(engine) as s:
        calendar_days.replace_year(s, 2027, {dt.date(2027, 2, d): (False, "春节") for d in range(1, 6)},
                                   source="test", now=at(2026, 12, 1), actor="test", event={"year": 2027})
    import_file(engine, _plan(tmp_path, start="2027-01-01"), PlanOptions(), now=at(2027, 1, 1))
    # a progress report in January makes January's period first (progress counts on the office's calendar)
    result = report_progress(engine, task="1", unit="縣生態環境局", note="巡河12次", now=at(2027, 1, 20))
    assert result["item"]["due"] == "2027-02-12"  # the 5th working day after the imported days off
    sweep(engine, now=morning(dt.date(2027, 2, 8)), policies=POLICY)  # the sweep counts the same days
    assert _dues(engine) == ["2027-02-12", "2027-03-05"]


def test_a_cadence_that_changes_keeps_the_stored_periods_and_adds_none_beside_them(engine, tmp_path: Path) -> None:
    """Stored instances keep their due date: units were told it, and a closed one is history. A period
    that already holds one gets no second instance at the new rule's date; later periods follow it."""
    import_file(engine, _plan(tmp_path, start="2026-01-01", reporting="每月5日前"), PlanOptions(), now=at(2026, 1, 1))
    sweep(engine, now=morning(dt.date(2026, 2, 9)), policies=POLICY)
    assert _dues(engine) == ["2026-02-05", "2026-03-05"]
    # the office drops the calendar day: the plan's default, the 5th working day, applies from now on
    import_file(engine, _plan(tmp_path, start="2026-01-01"), PlanOptions(), now=at(2026, 2, 10))
    with transaction(engine) as s:
        (rule,) = s.execute(sa.select(RecurrenceRow.rule).join(TaskRow).where(TaskRow.code == "1")).scalars()
    assert rule == "FREQ=MONTHLY;BYMONTHDAY=1;X-WORKDAY=5"  # the same recurrence row, its rule updated
    sweep(engine, now=morning(dt.date(2026, 3, 9)), policies=POLICY)
    # February's and March's stored dues stand (no 02-06 or 03-06 beside them); April's is its 5th working
    # day (清明 4–6 April off): the 1st, 2nd, 3rd, 7th and 8th
    assert _dues(engine) == ["2026-02-05", "2026-03-05", "2026-04-08"]
    status(engine, now=morning(dt.date(2026, 3, 9)), policies=POLICY)
    assert _dues(engine) == ["2026-02-05", "2026-03-05", "2026-04-08"]
