"""The working-day calendar an office keeps: import a year's holidays, show a year, build the calendar.

``chinese_calendar`` carries the State Council's arrangements for 2004–2026. For later years the office
imports each year's notice (國務院辦公廳關於YYYY年部分節假日安排的通知) as a YAML or CSV table or as
the notice's own text (``matrix.holiday_notice``); the days are stored (``store.calendar_days``) and
every sweep, status, report and delivery counts working days with them (``work_calendar``). A year the
office imported wins over the package, also for a year the package covers.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from duban.matrix.calendar import WorkCalendar, package_days
from duban.matrix.errors import Problem, Refused
from duban.matrix.holiday_notice import HolidayTable, check_table, parse_csv, parse_notice, parse_yaml_data, table_yaml
from duban.matrix.sources import load_yaml, read_text
from duban.store import calendar_days
from duban.store.db import begin_immediate, transaction

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

NOTICE_SUFFIXES = (".txt", ".text", ".md")


def is_notice(path: Path) -> bool:
    """A notice's text (reviewed before it is stored) rather than a table (YAML, CSV)."""
    return path.suffix.lower() not in (".yaml", ".yml", ".csv")


def read_holidays(path: Path) -> tuple[HolidayTable, list[Problem]]:
    """The table in ``path`` (YAML, CSV, or a notice's text) and its warnings; ``ValidationFailed`` with
    every problem, ``SourceError`` for a file that cannot be read."""
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        table = parse_yaml_data(load_yaml(path), file=str(path))
    elif suffix == ".csv":
        table = parse_csv(read_text(path), file=str(path))
    else:
        table = parse_notice(read_text(path), file=str(path))
    return table, check_table(table)


def extract_holidays(path: Path) -> tuple[HolidayTable, list[Problem], str]:
    """A notice's text read into the table and the YAML of it, for review before ``calendar import``."""
    table, warnings = read_holidays(path)
    return table, warnings, table_yaml(table)


@dataclass
class ImportResult:
    """What ``import_holidays`` did (or, not ``stored``, would do)."""

    year: int
    file: str
    source: str
    holidays: list[dict[str, Any]]
    workdays: list[dict[str, Any]]
    warnings: list[str]
    notes: list[str]
    diff: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # added / removed / changed days
    replaced: bool = False  # the year was stored before
    unchanged: bool = False  # … with exactly these days: nothing to do
    stored: bool = False
    package_year: bool = False  # chinese_calendar covers the year too: the imported table now wins

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("year", "file", "source", "holidays", "workdays", "warnings", "notes",
                                              "diff", "replaced", "unchanged", "stored", "package_year")}


def _listing(table: HolidayTable) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    holidays = [{"name": h.name, "from": h.start.isoformat(), "to": h.end.isoformat(), "days": len(h.dates())}
                for h in sorted(table.holidays, key=lambda h: h.start)]
    workdays = [{"date": w.day.isoformat(), "name": w.name, "weekday": w.day.strftime("%a")}
                for w in sorted(table.workdays, key=lambda w: w.day)]
    return holidays, workdays


def _diff(old: dict[dt.date, tuple[bool, str]], new: dict[dt.date, tuple[bool, str]]) -> dict[str, list[dict[str, Any]]]:
    def row(day: dt.date, value: tuple[bool, str]) -> dict[str, Any]:
        return {"date": day.isoformat(), "kind": "work" if value[0] else "off", "name": value[1]}

    return {"added": [row(d, new[d]) for d in sorted(set(new) - set(old))],
            "removed": [row(d, old[d]) for d in sorted(set(old) - set(new))],
            "changed": [{**row(d, new[d]), "was": row(d, old[d])} for d in sorted(set(old) & set(new)) if old[d] != new[d]]}


def review_holidays(path: Path) -> tuple[HolidayTable, ImportResult]:
    """What ``path`` holds, as ``import_holidays`` would store it (nothing is stored or compared)."""
    table, warnings = read_holidays(path)
    holidays, workdays = _listing(table)
    result = ImportResult(year=table.year, file=str(path), source=table.source or path.name, holidays=holidays,
                          workdays=workdays, warnings=[str(w) for w in warnings], notes=list(table.notes),
                          package_year=package_days(table.year) is not None)
    return table, result


def import_holidays(engine: Engine, path: Path, *, now: dt.datetime, replace: bool = False, dry_run: bool = False,
                    actor: str = "cli") -> ImportResult:
    """Read ``path`` and store its year's days in one transaction, with a ``calendar.imported`` event.

    A year already stored is replaced only with ``replace`` (otherwise ``YearStored``, a ``Refused`` whose
    ``result.diff`` says what would change); the same days again change nothing; a day another notice
    year holds is refused. ``dry_run`` reads, checks and compares, and stores nothing."""
    table, result = review_holidays(path)
    holidays, workdays = result.holidays, result.workdays
    days = table.days()
    with transaction(engine) as session:
        begin_immediate(session)
        old = {d.day: (d.working, d.name) for d in calendar_days.stored_days(session, table.year)}
        result.diff, result.replaced, result.unchanged = _diff(old, days), bool(old), old == days
        taken = calendar_days.taken_by_other_years(session, table.year, sorted(days))
        if taken:
            day, other = next(iter(sorted(taken.items())))
            raise Refused(f"{path}: {day} is already stored with the {other} calendar; a day belongs to one year's notice")
        if old and not replace and not result.unchanged:
            raise YearStored(result)
        if dry_run or result.unchanged:
            return result
        event = {"year": table.year, "file": str(path), "source": result.source, "holidays": len(holidays),
                 "workdays": len(workdays), "replaced": result.replaced,
                 "changes": {k: len(v) for k, v in result.diff.items()}}
        calendar_days.replace_year(session, table.year, days, source=result.source, now=now, actor=actor, event=event)
        result.stored = True
    return result


class YearStored(Refused):
    """The year is stored already and ``--replace`` was not given; ``result.diff`` says what would change."""

    def __init__(self, result: ImportResult) -> None:
        self.result = result
        n = {k: len(v) for k, v in result.diff.items()}
        super().__init__(f"{result.file}: the {result.year} calendar is already stored; this file would add "
                         f"{n['added']}, remove {n['removed']} and change {n['changed']} days: "
                         "use --replace to replace it")


# -- the calendar every computation uses ----------------------------------------------------------


def calendar_stamp(engine: Engine) -> tuple[int | None, ...]:
    """Changes whenever a year is imported or replaced (one aggregate query)."""
    return calendar_days.stamp(engine)


def work_calendar(engine: Engine) -> WorkCalendar:
    """The official calendar with the office's imported years (they win over the package)."""
    stored = calendar_days.stored_days(engine)
    return WorkCalendar({d.day: d.working for d in stored}, imported_years={d.year for d in stored})


def show_year(engine: Engine, year: int, calendar: WorkCalendar | None = None) -> dict[str, Any]:
    """A year's days off and make-up working days, where they come from, and working days per month."""
    cal = calendar or work_calendar(engine)
    source = cal.source(year)
    detail: dict[str, Any] = {}
    if source == "imported":
        stored = calendar_days.stored_days(engine, year)
        days = {d.day: (d.working, d.name) for d in stored}
        detail = {"imported_from": stored[0].source, "imported_at": max(d.imported_at for d in stored).isoformat()}
    else:
        days = package_days(year) or {}
    holidays = _ranges({d: v[1] for d, v in days.items() if not v[0]})
    workdays = [{"date": d.isoformat(), "name": v[1], "weekday": d.strftime("%a")} for d, v in sorted(days.items()) if v[0]]
    months = [{"month": m, "working_days": _working_days_in(cal, year, m)} for m in range(1, 13)]
    return {"year": year, "source": source, **detail, "holidays": holidays, "workdays": workdays, "months": months,
            "working_days": sum(m["working_days"] for m in months)}


def _working_days_in(cal: WorkCalendar, year: int, month: int) -> int:
    first = dt.date(year, month, 1)
    after = dt.date(year + (month == 12), month % 12 + 1, 1)
    return cal.working_days_between(first - dt.timedelta(days=1), after - dt.timedelta(days=1))


def _ranges(off: dict[dt.date, str]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for day in sorted(off):
        last = out[-1] if out else None
        if last and last["name"] == off[day] and dt.date.fromisoformat(last["to"]) + dt.timedelta(days=1) == day:
            last["to"], last["days"] = day.isoformat(), last["days"] + 1
        else:
            out.append({"name": off[day], "from": day.isoformat(), "to": day.isoformat(), "days": 1})
    return out
