"""`duban calendar import / extract / show` as an office runs them, and the working days every command counts
with an imported year (2027: past the official package's 2004–2026)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from tests.e2e.test_cli import run
from tests.support import FIXTURES

CAL = FIXTURES / "calendar"


def _db(url: str) -> str:
    return url.removeprefix("sqlite:///")


def _stored(url: str) -> list[tuple[str, int, str]]:
    if not Path(_db(url)).exists():  # the command refused before it opened the database
        return []
    with sqlite3.connect(_db(url)) as conn:
        return conn.execute("SELECT day, working, name FROM calendar_day ORDER BY day").fetchall()


def _items(rows: list[dict]) -> dict[str, tuple[str, int, int]]:
    """Task code → (reason, working days left, working days overdue) of its one milestone."""
    return {r["code"]: (r["items"][0]["reason"], r["items"][0]["working_days_left"], r["items"][0]["working_days_overdue"])
            for r in rows}


def test_import_a_yaml_year_then_show_lists_it(tmp_path: Path, sqlite_url: str) -> None:
    before = json.loads(run(["calendar", "show", "2027", "--json"], cwd=tmp_path, db_url=sqlite_url).stdout)
    assert before["source"] == "weekdays" and before["holidays"] == [] and before["working_days"] == 261

    out = run(["calendar", "import", str(CAL / "2027.yaml")], cwd=tmp_path, db_url=sqlite_url).stdout
    assert "stored 2027: 7 holidays (27 days off), 6 make-up working days" in out
    assert "春节" in out and "2027-02-05 – 2027-02-11" in out

    shown = json.loads(run(["calendar", "show", "2027", "--json"], cwd=tmp_path, db_url=sqlite_url).stdout)
    assert shown["source"] == "imported" and shown["imported_from"] == "国务院办公厅关于2027年部分节假日安排的通知"
    assert shown["holidays"][1] == {"name": "春节", "from": "2027-02-05", "to": "2027-02-11", "days": 7}
    assert [w["date"] for w in shown["workdays"][:2]] == ["2027-02-14", "2027-02-20"]
    # February: 20 weekdays, 5 of them off for 春節, 2 make-up days (Sun 14th, Sat 20th) → 17.
    assert shown["months"][1] == {"month": 2, "working_days": 17} and shown["working_days"] == 250
    table = run(["calendar", "show", "2027"], cwd=tmp_path, db_url=sqlite_url).stdout
    assert "imported from" in table and "2月 17" in table and "春节调休" in table

    package = json.loads(run(["calendar", "show", "2026", "--json"], cwd=tmp_path, db_url=sqlite_url).stdout)
    assert package["source"] == "package" and {"name": "春节", "from": "2026-02-15", "to": "2026-02-23", "days": 9} in package["holidays"]

    with sqlite3.connect(_db(sqlite_url)) as conn:
        (kind, data), = conn.execute("SELECT kind, data FROM event WHERE kind = 'calendar.imported'").fetchall()
    assert json.loads(data)["year"] == 2027 and json.loads(data)["holidays"] == 7
    again = run(["calendar", "import", str(CAL / "2027.yaml")], cwd=tmp_path, db_url=sqlite_url).stdout
    assert "nothing changed" in again


def test_a_2027_plan_counts_working_days_around_spring_festival(tmp_path: Path, sqlite_url: str) -> None:
    """Task 1 is due Thursday 2027-02-04, the day before 春節's holiday; task 2 on 春節 (Saturday 02-06).
    Before the import duban counts Monday–Friday and says so; after it, the holiday is skipped and the
    make-up Sunday 02-14 and Saturday 02-20 count, and the note is gone."""
    run(["matrix", "import", str(CAL / "plan-2027.yaml"), "--as-of", "2027-01-04"], cwd=tmp_path, db_url=sqlite_url)

    def status(day: str) -> tuple[dict, str]:
        proc = run(["status", "--as-of", day, "--json"], cwd=tmp_path, db_url=sqlite_url)
        return _items(json.loads(proc.stdout)), proc.stderr

    guessed, note = status("2027-02-12")
    assert guessed == {"1": ("overdue", 0, 6), "2": ("overdue", 0, 5)} and "no official holiday calendar for 2027" in note
    swept = json.loads(run(["sweep", "--as-of", "2027-02-12", "--json"], cwd=tmp_path, db_url=sqlite_url).stdout)
    assert swept["calendar_fallback_years"] == [2027]

    run(["calendar", "import", str(CAL / "2027.yaml")], cwd=tmp_path, db_url=sqlite_url)
    before, note = status("2027-02-03")
    assert before == {"1": ("due_soon", 1, 0), "2": ("due_soon", 1, 0)} and "holiday calendar" not in note  # 02-05 is off
    during, _ = status("2027-02-12")
    assert during == {"1": ("overdue", 0, 1), "2": ("overdue", 0, 1)}  # 02-05 and 02-08…11 are off
    saturday, _ = status("2027-02-20")
    assert saturday == {"1": ("overdue", 0, 8), "2": ("overdue", 0, 8)}  # 12, Sun 14, 15–19, Sat 20
    swept = json.loads(run(["sweep", "--as-of", "2027-02-20", "--json"], cwd=tmp_path, db_url=sqlite_url).stdout)
    assert swept["calendar_fallback_years"] == []
    table = run(["status", "--as-of", "2027-02-20"], cwd=tmp_path, db_url=sqlite_url).stdout
    assert "overdue 8 wd" in table and "holiday calendar" not in table


def test_the_notice_text_in_either_script_is_read_for_review(tmp_path: Path, sqlite_url: str) -> None:
    hans, hant = CAL / "notice-2027-hans.txt", CAL / "notice-2027-hant.txt"
    shown = run(["calendar", "import", str(hans)], cwd=tmp_path, db_url=sqlite_url, check=False)
    assert shown.returncode == 1 and "not stored" in shown.stdout and "--yes" in shown.stdout
    assert "2027-02-05 – 2027-02-11" in shown.stdout and "2027-02-20 (Sat)" in shown.stdout
    as_json = run(["calendar", "import", str(hant), "--json"], cwd=tmp_path, db_url=sqlite_url, check=False)
    review = json.loads(as_json.stdout)
    assert as_json.returncode == 1 and review["ok"] is False and review["stored"] is False and "--yes" in review["error"]
    assert review["holidays"][1] == {"name": "春節", "from": "2027-02-05", "to": "2027-02-11", "days": 7}
    assert _stored(sqlite_url) == []

    yaml_file = tmp_path / "2027.yaml"
    proc = run(["calendar", "extract", str(hant), "-o", str(yaml_file)], cwd=tmp_path, db_url=sqlite_url)
    assert "7 holidays, 6 make-up working days" in proc.stderr
    text = yaml_file.read_text(encoding="utf-8")
    assert '{name: "春節", from: 2027-02-05, to: 2027-02-11}' in text and '{date: 2027-10-09, name: "國慶節調休"}' in text
    assert "not read: 鼓勵各單位安排職工在除夕(2月5日)前後錯峰休息" in text  # for the reviewer, as a comment

    stored = json.loads(run(["calendar", "import", str(hans), "--yes", "--json"], cwd=tmp_path, db_url=sqlite_url).stdout)
    assert stored["stored"] and stored["source"] == "国务院办公厅关于2027年部分节假日安排的通知"
    days = _stored(sqlite_url)
    expected = json.loads(run(["calendar", "import", str(yaml_file), "--dry-run", "--json"], cwd=tmp_path,
                              db_url=sqlite_url, check=False).stdout)
    # The traditional notice gives the same days, under its own names: a replace would rename 30 days, add none.
    assert expected["diff"]["added"] == [] and expected["diff"]["removed"] == [] and len(expected["diff"]["changed"]) == 30
    assert len(days) == 27 + 6 and ("2027-02-20", 1, "春节调休") in days and ("2027-06-09", 0, "端午节") in days
    assert _stored(sqlite_url) == days  # the dry run stored nothing


def test_a_stored_year_is_replaced_only_with_replace_and_the_diff_is_shown(tmp_path: Path, sqlite_url: str) -> None:
    run(["calendar", "import", str(CAL / "2027.yaml")], cwd=tmp_path, db_url=sqlite_url)
    before = _stored(sqlite_url)
    moved = tmp_path / "2027-moved.csv"
    rows = ["date,kind,name", *(f"2027-02-{d:02d},off,春节" for d in range(6, 13)), "2027-02-21,work,春节调休"]
    moved.write_text("\n".join(["日期,類型,名稱", *rows[1:]]) + "\n", encoding="utf-8")  # a sheet's Chinese header
    refused = run(["calendar", "import", str(moved)], cwd=tmp_path, db_url=sqlite_url, check=False)
    assert refused.returncode == 2 and "already stored" in refused.stderr and "--replace" in refused.stderr
    assert "+ 2027-02-12  off 春节" in refused.stderr and "- 2027-02-05  off 春节" in refused.stderr
    assert _stored(sqlite_url) == before
    replaced = run(["calendar", "import", str(moved), "--replace"], cwd=tmp_path, db_url=sqlite_url).stdout
    assert "replaced 2027: 1 holidays (7 days off), 1 make-up working days" in replaced
    assert _stored(sqlite_url)[0] == ("2027-02-06", 0, "春节") and len(_stored(sqlite_url)) == 8


def _refused(tmp_path: Path, url: str, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    proc = run(["calendar", "import", str(path), "--yes"], cwd=tmp_path, db_url=url, check=False)
    assert proc.returncode in (1, 2) and "Traceback" not in proc.stderr, proc.stderr
    assert _stored(url) == []
    return proc.stderr


def test_bad_files_give_clear_errors_and_store_nothing(tmp_path: Path, sqlite_url: str) -> None:
    bad_date = _refused(tmp_path, sqlite_url, "a.yaml", "year: 2027\nholidays:\n  - {name: 春节, from: 2027-02-30, to: 2027-03-02}\n")
    assert "a.yaml:3" in bad_date and "from" in bad_date and "2027-02-30" in bad_date and "YYYY-MM-DD" in bad_date
    overlap = _refused(tmp_path, sqlite_url, "b.yaml", "year: 2027\nholidays:\n  - {name: 春节, from: 2027-02-05, to: 2027-02-11}\n"
                       "  - {name: 元宵, from: 2027-02-10, to: 2027-02-12}\nworkdays:\n  - {date: 2027-02-07, name: 调休}\n")
    assert "b.yaml:4" in overlap and "overlaps 春节 2027-02-05 – 2027-02-11" in overlap
    assert "b.yaml:6" in overlap and "already listed" in overlap
    kind = _refused(tmp_path, sqlite_url, "c.csv", "date,kind,name\n2027-02-05,off,春节\n2027-02-14,holiday?,春节调休\n")
    assert "c.csv row 3" in kind and "kind" in kind and "holiday?" in kind and "off (放假) or work (上班)" in kind
    weekday = _refused(tmp_path, sqlite_url, "d.txt", "国务院办公厅关于2027年部分节假日安排的通知\n"
                       "二、春节：2月5日（周六）至11日（周四）放假调休，共7天。\n")
    assert "d.txt:2" in weekday and "2027-02-05 is a 周五, not 周六" in weekday
    count = _refused(tmp_path, sqlite_url, "e.txt", "国务院办公厅关于2027年部分节假日安排的通知\n"
                     "二、春节：2月5日至11日放假调休，共8天。\n")
    assert "e.txt:2" in count and "the notice says 8 days, the dates give 7" in count
    no_year = _refused(tmp_path, sqlite_url, "f.txt", "一、元旦：1月1日至3日放假，共3天。\n")
    assert "f.txt" in no_year and "cannot find the notice's year" in no_year
    far = _refused(tmp_path, sqlite_url, "g.yaml", "year: 2027\nholidays:\n  - {name: 春节, date: 2028-06-01}\n")
    assert "g.yaml:3" in far and "not in 2027" in far


def test_a_make_up_day_on_a_weekday_is_a_warning(tmp_path: Path, sqlite_url: str) -> None:
    path = tmp_path / "w.yaml"
    path.write_text("year: 2027\nholidays:\n  - {name: 春节, from: 2027-02-05, to: 2027-02-11}\n"
                    "workdays:\n  - {date: 2027-02-15, name: 春节调休}\n", encoding="utf-8")
    out = run(["calendar", "import", str(path)], cwd=tmp_path, db_url=sqlite_url).stdout
    assert "warning" in out and "w.yaml:5" in out and "a working day anyway" in out and "stored 2027" in out


def test_a_running_process_counts_with_a_year_imported_meanwhile(tmp_path: Path, db_url: str) -> None:
    """`duban run` keeps one App: its calendar is built again when the stored days change (checked per use),
    on SQLite and PostgreSQL."""
    import datetime as dt

    from duban.workflows.bootstrap import bootstrap

    app = bootstrap(open_engine=True, database_url=db_url)
    try:
        spring = dt.date(2027, 2, 8)
        first = app.calendar
        assert first.is_working_day(spring) and app.calendar is first  # kept while nothing changes
        run(["calendar", "import", str(CAL / "2027.yaml")], cwd=tmp_path, db_url=db_url)
        assert not app.calendar.is_working_day(spring) and app.calendar.source(2027) == "imported"
        shown = json.loads(run(["calendar", "show", "2027", "--json"], cwd=tmp_path, db_url=db_url).stdout)
        assert shown["months"][1]["working_days"] == 17 and shown["imported_at"]
    finally:
        app.close()
