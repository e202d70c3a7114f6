"""A year's public holidays and make-up working days (放假 / 調休上班), read from a table or the notice.

The State Council publishes each year's arrangement as 國務院辦公廳關於YYYY年部分節假日安排的通知;
the ``chinese_calendar`` package carries it for 2004–2026 only. An office loads later years itself
(``duban calendar import``) from one of three files, all read into one ``HolidayTable``:

- YAML: ``year: 2027``, ``holidays: [{name: 春節, from: 2027-02-05, to: 2027-02-11}]`` (or ``date:``
  for a one-day holiday) and ``workdays: [{date: 2027-02-14, name: 春節調休}]``;
- CSV: a header ``date,kind,name`` and one row per day, ``kind`` ``off``/``放假`` or ``work``/``上班``;
- the notice's own text (either script, full- or half-width punctuation), its items such as
  ``二、春節：2月5日（週五）至11日（週四）放假調休，共7天。2月14日（週日）、2月20日（週六）上班。``

``check_table`` then finds what is wrong (all of it, as ``Problem``s naming file, line, field and
text) and what is only odd (a make-up day that is a weekday anyway: a warning). Pure: no clock, no SQL.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from dataclasses import dataclass, field
from typing import Any

from duban.matrix.errors import Problem, SourceError, ValidationFailed
from duban.matrix.script import fold_width, to_simplified

__all__ = ["Holiday", "HolidayTable", "MakeupDay", "check_table", "parse_csv", "parse_notice",
           "parse_yaml_data", "table_yaml"]

_WEEKDAYS = "一二三四五六日"
_OFF_KINDS = {"off", "holiday", "放假", "休", "休息"}
_WORK_KINDS = {"work", "workday", "上班", "班", "调休上班"}
_CSV_HEADER = {"日期": "date", "类型": "kind", "类别": "kind", "名称": "name", "节日": "name"}  # a sheet's Chinese header


@dataclass(frozen=True, slots=True)
class Holiday:
    """Days off (放假), ``start``–``end`` inclusive, under one name (春節)."""

    name: str
    start: dt.date
    end: dt.date
    line: int | None = None
    stated_days: int | None = None  # 共N天 / 放假N天, as the notice says; checked against the dates

    def dates(self) -> list[dt.date]:
        return [self.start + dt.timedelta(days=i) for i in range((self.end - self.start).days + 1)]


@dataclass(frozen=True, slots=True)
class MakeupDay:
    """A make-up working day (調休上班), usually a Saturday or Sunday."""

    day: dt.date
    name: str
    line: int | None = None


@dataclass(frozen=True, slots=True)
class HolidayTable:
    """One year's arrangement as read from ``file``: ``source`` is the notice's title when known."""

    year: int
    holidays: tuple[Holiday, ...]
    workdays: tuple[MakeupDay, ...]
    file: str = ""
    source: str = ""
    row_kind: str = "line"
    notes: tuple[str, ...] = field(default=())  # sentences of a notice that were not read (review them)

    def days(self) -> dict[dt.date, tuple[bool, str]]:
        """Every listed day → (is a working day, name): holidays off, make-up days working."""
        out = {d: (False, h.name) for h in self.holidays for d in h.dates()}
        out.update({w.day: (True, w.name) for w in self.workdays})
        return out


def _problem(table_or_file: HolidayTable | str, line: int | None, fld: str, text: object, message: str,
             row_kind: str = "line") -> Problem:
    if isinstance(table_or_file, HolidayTable):
        return Problem(table_or_file.file, line, fld, str(text), message, row_kind=table_or_file.row_kind)
    return Problem(table_or_file, line, fld, str(text), message, row_kind=row_kind)


# -- checks ---------------------------------------------------------------------------------------


def check_table(table: HolidayTable) -> list[Problem]:
    """Raise ``ValidationFailed`` with every problem of ``table``; return its warnings.

    Problems: no holiday, a range that ends before it starts, a date far from the table's year, holidays
    that overlap, a day listed twice, a make-up day inside a holiday, a notice's 共N天 that its dates
    contradict. Warning: a make-up day that is a Monday–Friday (a working day anyway)."""
    problems: list[Problem] = []
    warnings: list[Problem] = []
    if not table.holidays:
        problems.append(_problem(table, None, "holidays", "", "no holiday (放假) in the file"))
    seen: dict[dt.date, str] = {}
    for h in sorted(table.holidays, key=lambda h: h.start):
        problems.extend(_check_holiday(table, h, seen))
    for w in table.workdays:
        problems.extend(_check_day(table, w.day, w.line, "workdays"))
        if w.day in seen:
            problems.append(_problem(table, w.line, "workdays", w.day, f"this day is already listed ({seen[w.day]})"))
            continue
        seen[w.day] = f"{w.name} 上班"
        if w.day.weekday() < 5:
            warnings.append(_problem(table, w.line, "workdays", w.day,
                                     f"a make-up working day on a {w.day:%A}: a working day anyway"))
    if problems:
        raise ValidationFailed(problems)
    return warnings


def _check_holiday(table: HolidayTable, h: Holiday, seen: dict[dt.date, str]) -> list[Problem]:
    out = _check_day(table, h.start, h.line, "holidays") + _check_day(table, h.end, h.line, "holidays")
    if out:
        return out
    if h.end < h.start:
        return [_problem(table, h.line, "holidays", f"{h.start} – {h.end}", "the holiday ends before it starts")]
    if (h.end - h.start).days > 31:
        return [_problem(table, h.line, "holidays", f"{h.start} – {h.end}", "a holiday over 31 days long")]
    if h.stated_days is not None and h.stated_days != len(h.dates()):
        out.append(_problem(table, h.line, "holidays", f"{h.name} {h.start} – {h.end}",
                            f"the notice says {h.stated_days} days, the dates give {len(h.dates())}"))
    if not h.name.strip():
        out.append(_problem(table, h.line, "name", "", "a holiday without a name"))
    for d in h.dates():
        if d in seen:
            out.append(_problem(table, h.line, "holidays", f"{h.name} {h.start} – {h.end}",
                                f"overlaps {seen[d]} on {d}"))
            break
    seen.update({d: f"{h.name} {h.start} – {h.end}" for d in h.dates()})
    return out


def _check_day(table: HolidayTable, day: dt.date, line: int | None, fld: str) -> list[Problem]:
    """A day must fall in the table's year or within a month of it (元旦 may start on Dec 31)."""
    first, last = dt.date(table.year, 1, 1), dt.date(table.year, 12, 31)
    if first - dt.timedelta(days=31) <= day <= last + dt.timedelta(days=31):
        return []
    return [_problem(table, line, fld, day, f"not in {table.year} (the file's year)")]


# -- YAML and CSV ---------------------------------------------------------------------------------


def _date(value: object, where: str, line: int | None, fld: str, problems: list[Problem],
          row_kind: str = "line") -> dt.date | None:
    text = str(value if value is not None else "").strip()
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            return dt.date.fromisoformat(text)
    except ValueError:
        pass
    problems.append(_problem(where, line, fld, text, "not a date: use YYYY-MM-DD", row_kind))
    return None


def _year(data: dict[str, Any], where: str, problems: list[Problem]) -> int:
    raw = str(data.get("year", "")).strip()
    if re.fullmatch(r"\d{4}", raw):
        return int(raw)
    line = getattr(data, "lines", {}).get("year", getattr(data, "line", None))
    problems.append(_problem(where, line, "year", raw, "the year (year: 2027) is missing or not a year"))
    return 0


def parse_yaml_data(data: object, *, file: str) -> HolidayTable:
    """The table of a YAML file read by ``matrix.sources.load_yaml`` (mappings carry their lines)."""
    if not isinstance(data, dict):
        raise SourceError(file, "expected a mapping with year, holidays and workdays")
    problems: list[Problem] = []
    unknown = sorted(set(data) - {"year", "source", "holidays", "workdays"})
    for key in unknown:
        problems.append(_problem(file, getattr(data, "lines", {}).get(key), key, key, "unknown key: use year, source, holidays, workdays"))
    year = _year(data, file, problems)
    holidays = [h for entry in _entries(data, "holidays", file, problems)
                if (h := _yaml_holiday(entry, file, problems)) is not None]
    workdays = [w for entry in _entries(data, "workdays", file, problems)
                if (w := _yaml_workday(entry, file, problems)) is not None]
    if problems:
        raise ValidationFailed(problems)
    return HolidayTable(year, tuple(holidays), tuple(workdays), file=file, source=str(data.get("source") or ""))


def _entries(data: dict[str, Any], key: str, file: str, problems: list[Problem]) -> list[dict[str, Any]]:
    items = data.get(key) or []
    line = getattr(data, "lines", {}).get(key)
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        problems.append(_problem(file, line, key, "", f"{key} must be a list of mappings"))
        return []
    return items


def _line(entry: dict[str, Any], key: str) -> int | None:
    return getattr(entry, "lines", {}).get(key, getattr(entry, "line", None))


def _yaml_holiday(entry: dict[str, Any], file: str, problems: list[Problem]) -> Holiday | None:
    name = str(entry.get("name") or "").strip()
    if not name:
        problems.append(_problem(file, _line(entry, "name"), "name", "", "a holiday needs a name (name: 春節)"))
    if "date" in entry and "from" not in entry:
        start = end = _date(entry["date"], file, _line(entry, "date"), "date", problems)
    else:
        start = _date(entry.get("from"), file, _line(entry, "from"), "from", problems)
        end = _date(entry.get("to", entry.get("from")), file, _line(entry, "to"), "to", problems)
    if start is None or end is None or not name:
        return None
    return Holiday(name, start, end, line=getattr(entry, "line", None))


def _yaml_workday(entry: dict[str, Any], file: str, problems: list[Problem]) -> MakeupDay | None:
    day = _date(entry.get("date"), file, _line(entry, "date"), "date", problems)
    name = str(entry.get("name") or "").strip() or "調休"
    return None if day is None else MakeupDay(day, name, line=getattr(entry, "line", None))


def parse_csv(text: str, *, file: str) -> HolidayTable:
    """A CSV of ``date,kind,name`` rows (one per day); consecutive days off of one name make one holiday."""
    rows = list(csv.reader(io.StringIO(text)))
    header = [_CSV_HEADER.get(to_simplified(c.strip().lower()), c.strip().lower()) for c in (rows[0] if rows else [])]
    if header[:3] != ["date", "kind", "name"]:
        raise SourceError(f"{file} row 1", f"the header must be date,kind,name (日期,类型,名称), "
                                           f"not {','.join(header)[:80]!r}")
    problems: list[Problem] = []
    off: list[tuple[dt.date, str, int]] = []
    work: list[MakeupDay] = []
    for number, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue
        cells = [*row, "", "", ""][:3]
        day = _date(cells[0], file, number, "date", problems, "row")
        kind, name = to_simplified(cells[1].strip().lower()), cells[2].strip()
        if kind not in _OFF_KINDS | _WORK_KINDS:
            problems.append(_problem(file, number, "kind", cells[1], "use off (放假) or work (上班)", "row"))
        elif not name:
            problems.append(_problem(file, number, "name", "", "a name is needed (春節, 春節調休)", "row"))
        elif day is not None and kind in _OFF_KINDS:
            off.append((day, name, number))
        elif day is not None:
            work.append(MakeupDay(day, name, line=number))
    years = sorted({d.year for d, _, _ in off} | {w.day.year for w in work})
    if problems:
        raise ValidationFailed(problems)
    if not years:
        raise SourceError(file, "no rows after the header")
    year = max(years, key=lambda y: sum(d.year == y for d, _, _ in off))
    return HolidayTable(year, tuple(_ranges(off)), tuple(work), file=file, row_kind="row")


def _ranges(days: list[tuple[dt.date, str, int]]) -> list[Holiday]:
    out: list[Holiday] = []
    for day, name, number in sorted(days):
        last = out[-1] if out else None
        if last is not None and last.name == name and day == last.end + dt.timedelta(days=1):
            out[-1] = Holiday(name, last.start, day, line=last.line)
        else:
            out.append(Holiday(name, day, day, line=number))
    return out


# -- the notice's text ------------------------------------------------------------------------------

_ITEM = re.compile(r"^\s*[一二三四五六七八九十]+、\s*(?P<name>[^:]{1,30}?)\s*:\s*(?P<body>.*)$")
_TITLE_YEAR = re.compile(r"关于(\d{4})年(?:部分)?节假日安排|现将(\d{4})年")
_DATE = re.compile(r"(?:(?P<y>\d{4})年)?(?:(?P<m>\d{1,2})月)?(?P<d>\d{1,2})日(?:\((?P<note>[^)]*)\))?")
_STATED = re.compile(r"共(\d+)天|放假(\d+)天")
_WEEKDAY = re.compile(r"(?:周|星期|礼拜)([一二三四五六日天])")


def parse_notice(text: str, *, file: str) -> HolidayTable:
    """The arrangement in a notice's text: each item ``一、元旦：…`` gives a holiday and its make-up days.

    Dates without a year are in the notice's year (from its title, 關於2027年部分節假日安排, or its
    first sentence, 現將2027年…); an end day without a month is in the start's month. A weekday in
    brackets (週五, 星期五) must be the date's. Sentences that neither give days off nor end in 上班
    (the encouragement to take paid leave around 除夕) are kept in ``notes`` for the reviewer."""
    # Spaces carry no meaning in Chinese text; a copy from a PDF has them inside dates (2 月 5 日).
    lines = [re.sub(r"\s+", "", fold_width(line)) for line in text.splitlines()]
    simplified = [to_simplified(line) for line in lines]
    year = next((int(m.group(1) or m.group(2)) for s in simplified if (m := _TITLE_YEAR.search(s))), None)
    if year is None:
        raise SourceError(file, "cannot find the notice's year: expected a title such as "
                                "國務院辦公廳關於2027年部分節假日安排的通知")
    hant = any(s != line for s, line in zip(simplified, lines, strict=True))
    problems: list[Problem] = []
    holidays: list[Holiday] = []
    workdays: list[MakeupDay] = []
    notes: list[str] = []
    for number, name, body in _items(lines):
        simple = to_simplified(body)
        _read_item(file, number, year, name, (simple, body), hant, holidays, workdays, notes, problems)
    if problems:
        raise ValidationFailed(problems)
    title = next((line.strip() for line in lines if "节假日安排" in to_simplified(line)), "")
    source = title if len(title) <= 60 else ""
    return HolidayTable(year, tuple(holidays), tuple(workdays), file=file, source=source, notes=tuple(notes))


def _items(lines: list[str]) -> list[tuple[int, str, str]]:
    """(line, name, text) of each item ``二、春節：…``: its text runs on over the lines that follow (a copy
    from a PDF breaks lines anywhere, even inside a date) up to the next item or an empty line."""
    items: list[tuple[int, str, str]] = []
    current: list[str] | None = None
    for number, line in enumerate(lines, start=1):
        item = _ITEM.match(line)
        if item is not None:
            items.append((number, item.group("name"), ""))
            current = [item.group("body")]
        elif not line:
            current = None
        elif current is not None:
            current.append(line)
        if current is not None and items:
            items[-1] = (items[-1][0], items[-1][1], "".join(current))
    return items


def _read_item(file: str, number: int, year: int, name: str, body: tuple[str, str], hant: bool,
               holidays: list[Holiday], workdays: list[MakeupDay], notes: list[str], problems: list[Problem]) -> None:
    """One item's sentences (``body``: simplified, and as written): ``…放假…`` gives the holiday, ``…上班``
    its make-up days; others that name a date are noted as not read, in the notice's own script."""
    makeup = f"{name}{'調休' if hant else '调休'}"
    sentences = [s.strip() for s in re.split(r"[。;]", body[0])]
    written = [s.strip() for s in re.split(r"[。;]", body[1])]
    for sentence, as_written in zip(sentences, written if len(written) == len(sentences) else sentences, strict=True):
        if not sentence:
            continue
        if "放假" in sentence:
            holiday = _holiday_sentence(file, number, year, name, sentence, problems)
            if holiday is not None:
                holidays.append(holiday)
        elif sentence.endswith("上班"):
            days = _dates(file, number, year, sentence, problems)
            workdays.extend(MakeupDay(d, makeup, line=number) for d in days)
        elif _DATE.search(sentence):
            notes.append(f"{file}:{number}: not read: {as_written}")


def _holiday_sentence(file: str, number: int, year: int, name: str, sentence: str,
                      problems: list[Problem]) -> Holiday | None:
    head = sentence.split("放假", 1)[0]
    days = _dates(file, number, year, head, problems)
    stated = _STATED.search(sentence)
    count = int(stated.group(1) or stated.group(2)) if stated else None
    if not days:
        problems.append(_problem(file, number, name, sentence, "no date before 放假"))
        return None
    if len(days) > 2 or (len(days) == 2 and "至" not in head):
        problems.append(_problem(file, number, name, sentence, "expected one date or a range 「…至…」 before 放假"))
        return None
    return Holiday(name, days[0], days[-1], line=number, stated_days=count)


def _dates(file: str, number: int, year: int, text: str, problems: list[Problem]) -> list[dt.date]:
    """The dates of a sentence, a missing year or month taken from the date before (or the notice's year)."""
    out: list[dt.date] = []
    y, m = year, None
    for match in _DATE.finditer(text):
        y = int(match.group("y")) if match.group("y") else y
        m = int(match.group("m")) if match.group("m") else m
        try:
            if m is None:
                raise ValueError("no month")
            day = dt.date(y, m, int(match.group("d")))
        except ValueError:
            problems.append(_problem(file, number, "date", match.group(0), "not a date"))
            continue
        weekday = _WEEKDAY.search(match.group("note") or "")
        if weekday and _WEEKDAYS.index(weekday.group(1).replace("天", "日")) != day.weekday():
            problems.append(_problem(file, number, "date", match.group(0),
                                     f"{day} is a 周{_WEEKDAYS[day.weekday()]}, not 周{weekday.group(1)}"))
        out.append(day)
    return out


# -- writing a table for review -----------------------------------------------------------------------


def _quoted(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)  # a JSON string is a YAML string


def table_yaml(table: HolidayTable) -> str:
    """The table as the YAML ``duban calendar import`` reads: what ``calendar extract`` writes for review."""
    q = _quoted
    lines = [f"# read from {table.file}; check it against the notice, then: duban calendar import THIS-FILE",
             f"year: {table.year}"]
    if table.source:
        lines.append(f"source: {q(table.source)}")
    lines.append("holidays:")
    lines += [f"  - {{name: {q(h.name)}, from: {h.start}, to: {h.end}}}" for h in table.holidays]
    lines.append("workdays:" + ("" if table.workdays else " []"))
    lines += [f"  - {{date: {w.day}, name: {q(w.name)}}}" for w in table.workdays]
    lines += [f"# {note}" for note in table.notes]
    return "\n".join(lines) + "\n"
