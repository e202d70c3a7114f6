"""Loading and validating a plan file (YAML, CSV or XLSX) into a ``Plan``, reporting every problem at once.

``load_plan(path, ...)`` reads the file, resolves every unit against the directory (across scripts
and aliases), reads every deadline with the deadline language, and either returns a ``LoadedPlan``
or raises ``ValidationFailed`` listing *all* problems, each with file, line/row, field, the offending
text and a hint. A missing or wrong base year is one of them: the tasks are still checked, deadlines
that name their year are read, and those that would need the base year are reported as needing it
(never read in a guessed year). Nothing here touches a database or a clock.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from duban.matrix import deadlines
from duban.matrix.columns import TASK_SHEET
from duban.matrix.directory import (
    UnitCell,
    UnitDirectory,
    did_you_mean,
    guess_kind,
    load_directory,
    one_email,
    split_list,
    split_units,
)
from duban.matrix.errors import DeadlineError, MatrixError, Problem, SourceError, ValidationFailed, shorten
from duban.matrix.limits import DEFAULT_LIMITS, InputLimits
from duban.matrix.model import (
    DEFAULT_TIMEZONE,
    Deadline,
    Milestone,
    Official,
    Plan,
    Recurrence,
    Reporting,
    SourceRef,
    Stage,
    Task,
    Unit,
)
from duban.matrix.officials import read_officials
from duban.matrix.plan_dates import plan_date_warnings
from duban.matrix.plan_facts import PLAN_FACTS_SHEET
from duban.matrix.reporting import DEFAULT_REPORTING, ReportingError, read_reporting
from duban.matrix.script import fold, unit_key
from duban.matrix.sheet_layout import text_of
from duban.matrix.sheets import load_task_sheet
from duban.matrix.sources import Located, Record, Source, load_yaml, yaml_record, yaml_records

PLAN_KEYS = {"plan", "directory", "officials", "tasks", "stages"}
HEADER_FIELDS = {"code", "title", "issuer", "base_year", "start", "end", "timezone", "source", "default_unit", "reporting", "beneficiaries"}
TASK_FIELDS = {
    "code", "title", "section", "target", "lead_officials", "lead_unit", "co_lead_units", "supporting_units",
    "deadline", "veto", "source_line", "note", "beneficiaries",
    "review",  # written by `matrix extract` where it guessed or could not read: the office confirms, then deletes it
}
STAGE_FIELDS = {"code", "kind", "title", "deadline", "text", "units", "source_line"}

_OFFICIAL = re.compile(r"^\s*([^()（）]+?)\s*(?:[(（](.*)[)）])?\s*$", re.S)
_DIGITS = re.compile(r"[0-9]{1,12}")  # ASCII digits only (int() would take ４２ and 1_000 too)
MAX_LINE_NUMBER = 2**31 - 1  # what an INTEGER column holds on every supported database
# 2026年…, and the year of a date written with dots, dashes or slashes (2026.6, 2026-06-30, 2026/6/30).
_YEAR_IN_TEXT = re.compile(r"(\d{4})\s*年|(?<![\d.])((?:19|20|21)\d{2})(?=[-./]\d{1,2}(?!\d))")
# The base year of a plan whose own is missing or wrong. Such a plan is never returned (its base
# year is a problem, so validation fails); deadlines are then read with parse_without_base_year.
_NO_BASE_YEAR = 0
# A deadline owed to each of the plan's beneficiaries (每戶不少於五百元, 每村每月不少於1次).
_PER_BENEFICIARY = re.compile(r"每(?:户|村|家|人|名)")
MAX_BENEFICIARY = 100  # characters of a household's or village's name
_DEADLINE_EXAMPLES = "write e.g. 2016年底, 2015年7月17日前, 2015年底完成25個村、2016年底完成40個村, 每月不少於1次"


@dataclass(frozen=True, slots=True)
class SkippedTask:
    """A task record that could not be read (``load_plan(..., skip_invalid=True)``): what identifies it
    (its code and title as far as they were read, its line or row) and every problem it has."""

    code: str
    title: str
    target: str
    line: int | None
    problems: tuple[Problem, ...]


@dataclass(slots=True)
class LoadedPlan:
    plan: Plan
    directory: UnitDirectory
    new_units: list[Unit] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    skipped: list[SkippedTask] = field(default_factory=list)  # with skip_invalid: the tasks left out


def parse_official(text: str) -> Official | None:
    """林光(區人民政府副區長) → Official(林光, 區人民政府副區長); full-width parentheses too."""
    return _parse_official(text) if len(text) <= _CACHED_TEXT else _parse_official.__wrapped__(text)


def _split(value: Any) -> list[str]:
    """split_list, read once per distinct text (a sheet repeats its units and officials row after row)."""
    if isinstance(value, str) and len(value) <= _CACHED_TEXT:
        return list(_split_text(value))
    return split_list(value)


_CACHED_TEXT = 1_000  # texts up to this long are remembered (a few thousand distinct ones at most)


@lru_cache(maxsize=8192)
def _split_text(text: str) -> tuple[str, ...]:
    return tuple(split_list(text))


def _unit_cell(value: Any) -> UnitCell:
    """split_units, read once per distinct text (a sheet repeats its unit cells row after row)."""
    if isinstance(value, str) and len(value) <= _CACHED_TEXT:
        return _unit_cell_text(value)
    return split_units(value)


@lru_cache(maxsize=8192)
def _unit_cell_text(text: str) -> UnitCell:
    return split_units(text)


@lru_cache(maxsize=8192)
def _parse_official(text: str) -> Official | None:  # Official is frozen: one object may be shared
    text = re.sub(r"\s*\n\s*", "、", text.strip())  # a title broken across lines: 區委副書記\n區長
    m = _OFFICIAL.match(text)
    if not m or text.count("(") + text.count("（") != text.count(")") + text.count("）"):
        return None
    name, title = m.group(1).strip(), (m.group(2) or "").strip()
    if not name or any(c in name for c in "、,，;；:："):
        return None
    return Official(name=name, title=title)


def _as_text(value: Any) -> str:
    """A cell's text: 3.0 is code "3"; a date cell (a deadline typed as a date) is 2019年9月30日, that day."""
    return text_of(value)


def _as_date(value: Any) -> dt.date | None:
    if value in (None, ""):
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value).strip())


class _Builder:
    """Collects problems while turning located records into model objects."""

    def __init__(self, src: Source, directory: UnitDirectory, allow_new_units: bool) -> None:
        self.src = src
        self.base_year_known = True  # False once the header's base year turned out missing or wrong
        self.directory = directory
        self.allow_new_units = allow_new_units
        self.problems: list[Problem] = []
        self.plan_beneficiaries: tuple[str, ...] = ()  # the header's beneficiaries: (plan-wide)
        self.new_units: dict[str, Unit] = {}
        self._deadlines: dict[tuple[Any, ...], Deadline | DeadlineError] = {}
        self._near: dict[str, list[str]] = {}
        self.groups_elsewhere: dict[str, str] = {}  # another plan's group by spelling key → that plan's code
        self.default_unit = ""  # the header's default_unit: the lead unit of a task that names none
        self.defaulted: list[str] = []  # codes of the tasks it leads
        self.warnings: list[str] = []  # tasks marked review: that read well, beneficiaries no recurrence uses
        self.sheet = ""  # the worksheet of the task being read, when the file's tasks come from several
        self.columns: dict[str, str] = {}  # its sheet's columns as shown (Record.columns), for its problems

    def problem(self, line: int | None, field_name: str, text: Any, message: str, hint: str = "") -> None:
        self.problems.append(Problem(self.src.path, line, field_name, _as_text(text), message, hint, self.src.kind,
                                     sheet=self.sheet, column=self.columns.get(field_name, "")))

    def unknown_fields(self, rec: Record, allowed: set[str], what: str) -> None:
        for key in rec.cells:
            if key not in allowed:
                self.problem(rec.line_of(key), key, rec.get(key), f"unknown field of {what}", "fields are " + ", ".join(sorted(allowed)))

    def email(self, value: Any, rec: Record, field_name: str) -> str:
        """One official's address, checked (syntax only); "" and a problem when it is not one."""
        problems: list[Problem] = []
        address = one_email(value, path=self.src.path, field_name=field_name, line=rec.line_of(field_name),
                            kind=self.src.kind, problems=problems)
        self.problems.extend(dataclasses.replace(p, sheet=self.sheet, column=self.columns.get(p.field, ""))
                             if self.sheet or self.columns else p for p in problems)
        return address

    def unit(self, name: str, rec: Record, field_name: str) -> str:
        """The directory's name for a unit; unknown units are problems unless new units are allowed."""
        found = self.directory.resolve(name)
        if found is not None:
            return found.name
        key = unit_key(name)
        if key in self.new_units:
            return self.new_units[key].name
        near = self.near_misses(name)
        if self.allow_new_units and not near:
            self.new_units[key] = Unit(name=name, kind=guess_kind(name))
            return name
        message = "unknown unit, not in the unit directory"
        hint = "add it to the unit directory (or an alias of a listed unit), or import with --allow-new-units"
        if key in self.groups_elsewhere:
            hint = (f"{name} is a group of plan {self.groups_elsewhere[key]}, and a group belongs to the plan whose "
                    "directory defines it (its address may differ here): list it in this plan's unit directory")
        if near:
            if self.allow_new_units:  # never silently a second unit beside the one probably meant
                message = f"not added as a new unit: a near miss of {'、'.join(near[:3])}"
            hint = (did_you_mean(near) + f" Write that name, or add {name} to the unit directory if it is "
                    "another unit (as an alias if it is the same one)")
        self.problem(rec.line_of(field_name), field_name, name, message, hint)
        return name

    def near_misses(self, name: str) -> list[str]:
        """Names of known units that ``name`` nearly spells, read once per name (a sheet repeats an
        unknown unit row after row). Two new units of one plan may be near each other: 縣委督查室 and
        縣政府督查室 are two offices, and neither is known to be the one meant."""
        key = unit_key(name)
        if key not in self._near:
            self._near[key] = [u.name for u in self.directory.near_misses(name)]
        return self._near[key]

    def deadline(self, text: str, rec: Record, field_name: str, ctx_plan: Plan) -> Deadline | None:
        # Read once per distinct text: a 20,000-row sheet repeats a few deadlines. The place goes only
        # into the Problem (from the error's reason), so the context carries none and the parser's
        # memo (keyed on text and context) holds.
        key = (text, self.base_year_known, ctx_plan.base_year, ctx_plan.start, ctx_plan.end, ctx_plan.reporting)
        found = self._deadlines.get(key)
        if found is None:
            try:
                if self.base_year_known:
                    found = deadlines.parse(text, context=ctx_plan.deadline_context())
                else:
                    found = deadlines.parse_without_base_year(text, plan_start=ctx_plan.start, plan_end=ctx_plan.end,
                                                              reporting=ctx_plan.reporting)
            except DeadlineError as e:
                found = e
            self._deadlines[key] = found
        if isinstance(found, deadlines.NeedsBaseYear):
            self.problem(rec.line_of(field_name), field_name, text, found.reason,
                         self.base_year_hint() + ", or write the year in the deadline (2016年7月20日前)")
            return None
        if isinstance(found, DeadlineError):
            self.problem(rec.line_of(field_name), field_name, text, f"cannot read the deadline: {found.reason}", _DEADLINE_EXAMPLES)
            return None
        return found

    def base_year_hint(self) -> str:
        if self.src.kind == "line":
            return "give the plan a base year (base_year: 2015 in its header, or --base-year)"
        return "give the plan a base year with --base-year (a sheet has no header block)"


def _header(src: Source, b: _Builder, *, plan_code: str | None, base_year: int | None,
            title: str | None, start: dt.date | None) -> Plan:
    """The plan without its tasks. A missing or wrong base year is a problem, not the end: the plan
    comes back with ``_NO_BASE_YEAR`` and ``b.base_year_known`` False so the tasks are still checked."""
    h = src.header
    if src.kind == "line":
        b.unknown_fields(h, HEADER_FIELDS, "the plan header")
    elif "plan_facts" in src.extra:  # a workbook's 方案信息 sheet: the YAML header's keys
        b.unknown_fields(src.extra["plan_facts"], HEADER_FIELDS, f"the plan header (sheet {PLAN_FACTS_SHEET})")
    code = plan_code or _as_text(h.get("code")) or Path(src.path).stem
    plan_title = title or _as_text(h.get("title"))
    if not plan_title:
        plan_title = Path(src.path).stem
    year = _base_year(src, b, base_year)
    if year is None:
        b.base_year_known = False
        year = _NO_BASE_YEAR
    dates: dict[str, dt.date | None] = {}
    for name, override in (("start", start), ("end", None)):
        try:
            dates[name] = override or _as_date(h.get(name))
        except ValueError:
            b.problem(h.line_of(name), name, h.get(name), "not a date", "write YYYY-MM-DD")
            dates[name] = None
    if dates["start"] and dates["end"] and dates["end"] < dates["start"]:
        b.problem(h.line_of("end"), "end", dates["end"], f"the plan ends before it starts ({dates['start']})",
                  "end is the plan's last day, on or after start; check both dates")
    tz = _as_text(h.get("timezone")) or DEFAULT_TIMEZONE
    b.default_unit = _as_text(h.get("default_unit"))
    return Plan(code=code, title=plan_title, base_year=year, issuer=_as_text(h.get("issuer")),
                start=dates["start"], end=dates["end"], timezone=tz, source=_as_text(h.get("source")) or src.path,
                reporting=_reporting(h, b), default_unit=b.default_unit)


def _reporting(h: Record, b: _Builder) -> Reporting:
    """The header's ``reporting:`` cadence (default monthly, due the 5th working day): what ongoing work reports on."""
    try:
        return read_reporting(h.get("reporting"))
    except ReportingError as e:
        b.problem(h.line_of("reporting"), "reporting", h.get("reporting"), str(e),
                  "e.g. reporting: monthly, reporting: {every: quarterly, due: 10} or {every: monthly, due: 5th working day}")
        return DEFAULT_REPORTING


def _base_year(src: Source, b: _Builder, override: int | None) -> int | None:
    """The plan's base year: given, else the earliest year any deadline names; None (a problem) if neither."""
    h = src.header
    year: Any = override if override is not None else h.get("base_year")
    if year in (None, ""):
        # Sheets carry no header: take the earliest year any deadline names (never today's year).
        years = [int(m.group(1) or m.group(2)) for rec in src.tasks
                 for m in _YEAR_IN_TEXT.finditer(fold(_as_text(rec.get("deadline"))))]
        if not years:
            b.problem(h.line, "base_year", "", "the plan has no base year and no deadline names a year",
                      b.base_year_hint() + "; deadlines without a year are read in that year")
            return None
        return min(years)
    try:
        number = int(year)
        if not 1900 <= number <= 2200:
            raise ValueError
    except (TypeError, ValueError, OverflowError):  # OverflowError: base_year: .inf
        b.problem(h.line_of("base_year"), "base_year", year, "not a year", "write the year as digits, e.g. 2015")
        return None
    return number


def _officials(rec: Record, b: _Builder, known: dict[str, Official]) -> tuple[Official, ...]:
    out: list[Official] = []
    raw = rec.get("lead_officials")
    items: list[Any] = raw if isinstance(raw, list) else [raw] if raw not in (None, "") else []
    for item in items:
        if isinstance(item, dict):
            built = Official(name=_as_text(item.get("name")), title=_as_text(item.get("title")),
                             email=b.email(item.get("email"), rec, "lead_officials"))
            if not built.name:
                b.problem(rec.line_of("lead_officials"), "lead_officials", item, "an official needs a name",
                          "write {name: 林光, title: 區人民政府副區長}, or 林光(區人民政府副區長)")
                continue
            found = [built]
        else:
            found = _officials_in(_as_text(item), rec, b)
        for off in found:
            ref = known.get(unit_key(off.name))
            if ref is not None and not off.email:
                off = Official(name=off.name, title=off.title or ref.title, email=ref.email)
            out.append(off)
    return tuple(out)


def _officials_in(text: str, rec: Record, b: _Builder) -> list[Official]:
    """The officials one text names (a cell, or one item of a YAML list): every form ``read_officials``
    knows, several split by line breaks, 、 ， or ；. A title named alone (分管副縣長) stands as written."""
    read = read_officials(text, cell=True)
    if read.bad:
        whole = parse_official(text)  # one official the reader does not know by shape (a long or Latin name)
        if whole is not None:
            return [whole]
        piece = read.bad[0]
        b.problem(rec.line_of("lead_officials"), "lead_officials", text,
                  "cannot read the official" + (f" {shorten(piece)!r}" if piece != text.strip() else ""),
                  "write 姓名(職務) such as 張志強(區人民政府副區長), or 副區長 張志強; several separated by 、 or one a line")
        return []
    return read.officials + [Official(name=t) for t in read.title_only]


def _line_number(value: Any) -> int | None:
    """A line number the database's INTEGER column holds exactly (1 … 2³¹−1), or None: not 3.5, not
    true, not 99999999999999999999999 (which passed validate, then overflowed the column at import)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and _DIGITS.fullmatch(value.strip()):
        number = int(value.strip())
    else:
        return None
    return number if 1 <= number <= MAX_LINE_NUMBER else None


def _task(rec: Record, b: _Builder, plan: Plan, known_officials: dict[str, Official]) -> Task | None:
    if b.src.kind == "line":
        b.unknown_fields(rec, TASK_FIELDS, "a task")
    problems_before = len(b.problems)
    code = _as_text(rec.get("code"))
    if not code:
        b.problem(rec.line, "code", "", "a task needs a code", "number tasks as in the plan, e.g. 3.2.1")
    title = _as_text(rec.get("title"))
    target = _as_text(rec.get("target"))
    if not title and not target:
        b.problem(rec.line, "title", "", "a task needs a title or a target",
                  "give the task a title (任務) or a target (目標要求), as the plan words it")
    if not title:
        title = target[:40]
    lead_unit, co_leads, supporting = _task_units(rec, b, code)
    deadline_text = _as_text(rec.get("deadline"))
    milestones: tuple[Milestone, ...] = ()
    recurrences: tuple[Recurrence, ...] = ()
    if not deadline_text:
        b.problem(rec.line_of("deadline"), "deadline", "", "missing deadline (時間要求): the task cannot be supervised",
                  "write e.g. 2016年底 or 每月不少於1次")
    else:
        parsed = b.deadline(deadline_text, rec, "deadline", plan)
        if parsed is not None:
            milestones = parsed.milestones
            recurrences = _per_beneficiary(parsed.recurrences, deadline_text, beneficiaries(rec, b), b, rec)
    veto_raw = rec.get("veto")
    veto = veto_raw is True or _as_text(veto_raw).lower() in ("true", "yes", "1", "是", "y", "√")
    section = _section(rec.get("section"))
    source = _task_source(rec, b, plan)
    review = _as_text(rec.get("review"))
    if review and len(b.problems) == problems_before:  # readable: the office confirms it and deletes the marker
        b.warnings.append(f"{b.src.path}:{rec.line_of('review')}: task {code} is marked for review ({review}): "
                          "confirm it, then delete its review: line")
    return Task(
        code=code, title=title, lead_unit=lead_unit, target=target, section=section,
        lead_officials=_officials(rec, b, known_officials), supporting_units=tuple(supporting), co_lead_units=tuple(co_leads),
        deadline_text=deadline_text, milestones=milestones, recurrences=recurrences, veto=veto, source=source,
        note=_as_text(rec.get("note")),
    )


def beneficiaries(rec: Record, b: _Builder) -> tuple[str, ...]:
    """The households or villages a record (a task, or the plan header) lists under ``beneficiaries:``."""
    raw = rec.get("beneficiaries")
    names: list[str] = []
    for item in raw if isinstance(raw, list) else _split(raw):
        name = _as_text(item)
        if not name or isinstance(item, (dict, list)) or len(name) > MAX_BENEFICIARY:
            b.problem(rec.line_of("beneficiaries"), "beneficiaries", item, "not a household's or village's name",
                      f"list names of up to {MAX_BENEFICIARY} characters, e.g. beneficiaries: [貧困戶之一, 貧困戶之二]")
        elif unit_key(name) in {unit_key(n) for n in names}:
            b.problem(rec.line_of("beneficiaries"), "beneficiaries", name, "listed twice", "list each beneficiary once")
        else:
            names.append(name)
    return tuple(names)


def _per_beneficiary(recurrences: tuple[Recurrence, ...], text: str, own: tuple[str, ...], b: _Builder,
                     rec: Record) -> tuple[Recurrence, ...]:
    """One series per beneficiary: every recurrence of a task that lists its beneficiaries; with the plan's
    list, those of a deadline owed to each (每戶…, 每村…). Others are owed once, as before."""
    names = own or (b.plan_beneficiaries if _PER_BENEFICIARY.search(fold(text)) else ())
    if own and not recurrences:
        b.warnings.append(f"{b.src.path}:{rec.line_of('beneficiaries')}: task {_as_text(rec.get('code'))} lists "
                          "beneficiaries, but its deadline has no recurring obligation to owe each of them; they are not used")
    return tuple(replace(r, beneficiary=name) for name in names for r in recurrences) if names else recurrences


def _task_units(rec: Record, b: _Builder, code: str) -> tuple[str, list[str], list[str]]:
    """The task's lead unit (the plan's default_unit when it names none), its co-lead units and its
    supporting units, each resolved and named once (a lead is never also a supporting unit).

    A lead cell naming several units: one marked 牽頭 leads (縣水利局（牽頭）、縣公安局; 縣水利局牽頭，縣公安局配合)
    and the others support; else the first leads and the others are co-leads (共同牽頭: 縣農業農村局；
    縣應急管理局, one a line, a YAML list) — except in a sheet's 責任單位 column leading for want of a 牽頭
    column, where the others support (列第一位的為牽頭單位，其他為配合單位)."""
    raw = rec.get("lead_unit")
    if not _as_text(raw) and b.default_unit:
        raw = b.default_unit
        b.defaulted.append(code)
    cell = _unit_cell(raw)
    if not cell.names:
        b.problem(rec.line_of("lead_unit"), "lead_unit", "", "missing lead unit (牽頭單位)", "every task has exactly one lead unit")
    marked = cell.leads or cell.names[:1]
    others = [n for n in cell.names if n not in marked]
    support_others = bool(cell.leads) or rec.lead_first
    leads = [b.unit(name, rec, "lead_unit") for name in marked]
    leads += [] if support_others else [b.unit(name, rec, "lead_unit") for name in others]
    lead_unit = leads[0] if leads else ""
    leads += [b.unit(name, rec, "co_lead_units") for name in _unit_cell(rec.get("co_lead_units")).names]
    co_leads = [u for u in dict.fromkeys(leads) if u != lead_unit]
    named = ([(n, "lead_unit") for n in others] if support_others else [])
    named += [(n, "supporting_units") for n in _unit_cell(rec.get("supporting_units")).names]
    supporting: list[str] = []
    for name, field_name in named:
        canonical = b.unit(name, rec, field_name)
        if canonical != lead_unit and canonical not in co_leads and canonical not in supporting:
            supporting.append(canonical)
    return lead_unit, co_leads, supporting


def _section(section_raw: Any) -> tuple[str, ...]:
    """The headings above a task: a YAML list, or one sheet cell."""
    if isinstance(section_raw, list):
        return tuple(_as_text(s) for s in section_raw)
    if section_raw:
        # Sheets write the section path in one cell, levels joined by " / " (as duban exports it).
        return tuple(part.strip() for part in _as_text(section_raw).split(" / ") if part.strip())
    return ()


def _task_source(rec: Record, b: _Builder, plan: Plan) -> SourceRef:
    """Where the task comes from: its line in the plan's source text (source_line, written by extract),
    else its line or row in this file."""
    line = rec.line
    if b.src.kind == "line" and rec.get("source_line") is not None:
        number = _line_number(rec.get("source_line"))
        if number is not None:
            source = SourceRef(file=plan.source, line=number, kind="line")
        else:
            b.problem(rec.line_of("source_line"), "source_line", rec.get("source_line"), "not a line number",
                      "source_line is the task's line in the plan's source text, a whole number from 1 to "
                      f"{MAX_LINE_NUMBER:,} such as 42")
            source = SourceRef(file=b.src.path, line=line, kind=b.src.kind)
    else:
        source = SourceRef(file=b.src.path, line=line, kind=b.src.kind, sheet=rec.sheet or "")
    return source


def _stage(rec: Record, b: _Builder, plan: Plan) -> Stage | None:
    b.unknown_fields(rec, STAGE_FIELDS, "a stage")
    code = _as_text(rec.get("code"))
    if not code:
        b.problem(rec.line, "code", "", "a stage needs a code", "e.g. S1")
    kind = _as_text(rec.get("kind")) or "stage"
    if kind not in ("stage", "current_work"):
        b.problem(rec.line_of("kind"), "kind", kind, "unknown stage kind", "stage or current_work")
    deadline_text = _as_text(rec.get("deadline"))
    milestones: tuple[Milestone, ...] = ()
    if deadline_text:
        parsed = b.deadline(deadline_text, rec, "deadline", plan)
        if parsed is not None:
            milestones = parsed.milestones
    units = tuple(b.unit(u, rec, "units") for u in split_list(rec.get("units")))
    return Stage(code=code, title=_as_text(rec.get("title")), kind=kind, text=_as_text(rec.get("text")),
                 deadline_text=deadline_text, milestones=milestones, units=units,
                 source=SourceRef(file=b.src.path, line=rec.line, kind=b.src.kind))


def read_source(path: Path, *, sheet: str | None = None, limits: InputLimits = DEFAULT_LIMITS) -> tuple[Source, str | None]:
    """Read a plan file of any supported format; returns the source and its directory reference."""
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv", ".xlsx", ".xlsm"):
        return load_task_sheet(path, sheet=sheet, limits=limits), None
    if suffix not in (".yaml", ".yml"):
        raise SourceError(str(path), "an old Excel .xls workbook: save it as .xlsx (Excel: File → Save As)" if suffix == ".xls"
                          else f"unknown plan format {suffix!r}; use .yaml, .csv or .xlsx")
    warnings: list[str] = []
    return yaml_plan_source(load_yaml(path, warnings=warnings, limits=limits), path, warnings)


def yaml_plan_source(data: Any, path: Path, warnings: list[str] | None = None) -> tuple[Source, str | None]:
    """A plan read as YAML (``load_yaml``/``yaml_text``: mappings with their lines) as a source and its
    directory reference; ``path`` names it in errors."""
    warnings = [] if warnings is None else warnings
    if not isinstance(data, Located):  # load_yaml reads every mapping as one
        raise SourceError(str(path), "a plan must be a mapping with 'plan' and 'tasks'")
    unknown = set(data) - PLAN_KEYS
    if unknown:
        key = sorted(unknown)[0]
        raise SourceError(f"{path}:{data.lines[key]}", f"unknown top-level key {shorten(key)!r}; a plan has " + ", ".join(sorted(PLAN_KEYS)))
    if "tasks" not in data:
        raise SourceError(str(path), "the plan has no 'tasks' list")
    header = yaml_record(data.get("plan") or {}, path=str(path), what="plan")
    if header.line is None:
        header.line = 1
    src = Source(path=str(path), kind="line", header=header, warnings=warnings)
    src.tasks = yaml_records(data.get("tasks"), path=str(path), what="tasks", line=data.lines.get("tasks"),
                             labels=TASK_SHEET.index)
    src.stages = yaml_records(data.get("stages"), path=str(path), what="stages", line=data.lines.get("stages"))
    src.officials = yaml_records(data.get("officials"), path=str(path), what="officials", line=data.lines.get("officials"))
    if not src.tasks:
        raise SourceError(str(path), "the plan has no tasks")
    directory_ref = data.get("directory")
    if directory_ref is not None and not isinstance(directory_ref, str):
        raise SourceError(f"{path}:{data.lines['directory']}", "directory: is the path of one unit directory file "
                          "(relative to the plan file), e.g. directory: units.yaml")
    return src, (directory_ref or None)


def load_plan(
    path: str | Path,
    *,
    directory: UnitDirectory | str | Path | None = None,
    known_units: UnitDirectory | None = None,
    plan_groups: Mapping[str, UnitDirectory] | None = None,
    allow_new_units: bool = False,
    plan_code: str | None = None,
    base_year: int | None = None,
    title: str | None = None,
    start: dt.date | None = None,
    sheet: str | None = None,
    limits: InputLimits = DEFAULT_LIMITS,
    skip_invalid: bool = False,
) -> LoadedPlan:
    """Read and validate a plan. Raises ``ValidationFailed`` with every problem, or ``SourceError``.

    With ``skip_invalid``, a task with problems is left out and returned in ``LoadedPlan.skipped`` with
    its problems; the plan is refused all the same (``ValidationFailed``) when a problem is not a task's
    (the header, its base year, officials, stages) or no task is readable. A refusal's
    ``readable_tasks`` says how many tasks ``skip_invalid`` would import (None: it would import none).

    ``directory`` is a unit directory (object or file); when omitted, the directory the plan file
    names is used: relative to the plan file unless absolute, and only a regular file within the
    file limit (never a device such as /dev/zero). ``known_units`` (e.g. the units already in the
    database) are accepted too; ``plan_groups`` are the groups each stored plan's directory defined, by
    plan code: the plan's own are known, another plan's are not (a group belongs to its plan). Every
    file read is checked against ``limits``.
    """
    path = Path(path)
    src, directory_ref = read_source(path, sheet=sheet, limits=limits)
    if directory is None and directory_ref:
        directory = path.parent / directory_ref  # an absolute reference stays itself
    if isinstance(directory, (str, Path)):
        directory = load_directory(directory, limits=limits)
    b = _Builder(src, UnitDirectory(), allow_new_units)
    plan = _header(src, b, plan_code=plan_code, base_year=base_year, title=title, start=start)
    b.directory = resolved = _known(directory, plan.code, known_units, plan_groups or {})
    b.groups_elsewhere = {unit_key(s): code for code, d in (plan_groups or {}).items() if code != plan.code
                          for u in d.units for s in (u.name, *u.aliases)}
    b.plan_beneficiaries = beneficiaries(src.header, b)
    warnings: list[str] = list(src.warnings) + (list(directory.warnings) if directory is not None else [])
    officials = _plan_officials(src, b, resolved)
    read = _tasks(src, b, plan, officials)
    stages = _stages(src, b, plan)
    tasks, skipped = _readable(read, b.problems, skip_invalid, warnings)
    new_units = list(b.new_units.values())
    if skipped:  # units only a skipped task named are not added
        used = {name for t in tasks for name in t.units} | {name for s in stages for name in s.units}
        new_units = [u for u in new_units if u.name in used]
    if b.defaulted:
        warnings.append(f"{src.path}: {len(b.defaulted)} task(s) name no lead unit and are led by the plan's "
                        f"default_unit {b.default_unit}: {'、'.join(b.defaulted)}")
    warnings.extend(b.warnings)
    warnings.extend(_ongoing_after_the_end(tasks))
    used_officials = {unit_key(o.name): o for t in tasks for o in t.lead_officials}
    plan_officials = tuple({**officials, **used_officials}.values())
    full = Plan(
        code=plan.code, title=plan.title, base_year=plan.base_year, issuer=plan.issuer, start=plan.start,
        end=plan.end, timezone=plan.timezone, source=plan.source, tasks=tuple(tasks), stages=tuple(stages),
        officials=plan_officials, reporting=plan.reporting, default_unit=plan.default_unit,
    )
    warnings.extend(plan_date_warnings(full, _date_places(src, read, stages, start_given=start is not None)))
    return LoadedPlan(plan=full, directory=resolved, new_units=new_units, warnings=warnings, skipped=skipped)


def _ongoing_after_the_end(tasks: list[Task]) -> list[str]:
    """Ongoing work that starts after the plan ends (…，2027年持續推進 in a plan that ends in 2026) is never
    supervised: said, with the task's place, rather than silently nothing."""
    return [f"{t.source}: task {t.code}: the ongoing work {shorten(r.label)!r} starts {r.start} after the plan ends "
            f"({r.until}), so no progress report is ever due; extend the plan's end: if it should be supervised"
            for t in tasks for r in t.recurrences
            if r.ongoing and r.start is not None and r.until is not None and r.start > r.until]


def _date_places(src: Source, read: list[tuple[Task, Record, list[Problem]]], stages: list[Stage], *,
                 start_given: bool) -> dict[str, str]:
    """Where each of a plan's dates is written (``plan_date_warnings`` says it with the warning)."""
    def at(line: int | None, sheet: str | None = None) -> str:
        return str(SourceRef(file=src.path, line=line, kind=src.kind, sheet=sheet or ""))

    places = {"plan": src.path, "start": "--start" if start_given else at(src.header.line_of("start")),
              "end": at(src.header.line_of("end"))}
    places.update({s.code: str(s.source) for s in stages})
    places.update({t.code: at(rec.line_of("deadline"), rec.sheet) for t, rec, _mine in read})
    return places


def _readable(read: list[tuple[Task, Record, list[Problem]]], problems: list[Problem], skip_invalid: bool,
              warnings: list[str]) -> tuple[list[Task], list[SkippedTask]]:
    """The tasks to import and those skipped; raises ``ValidationFailed`` (every problem) unless there are
    none, or ``skip_invalid`` and every problem is a task's and some task is readable."""
    if not problems:
        return [t for t, _rec, _p in read], []
    readable = [t for t, _rec, mine in read if not mine]
    task_problems = sum(len(mine) for _t, _rec, mine in read)
    attributable = task_problems == len(problems)
    if not (skip_invalid and attributable and readable):
        raise ValidationFailed(problems, warnings=warnings, readable_tasks=len(readable) if attributable else None,
                               tasks=len(read))
    skipped = [SkippedTask(code=t.code, title=t.title, target=t.target, line=rec.line, problems=tuple(mine)) for t, rec, mine in read if mine]
    return readable, skipped


def _known(directory: UnitDirectory | None, code: str, known_units: UnitDirectory | None,
           plan_groups: Mapping[str, UnitDirectory]) -> UnitDirectory:
    """The units a plan's names resolve against: its own directory, then its own groups as stored
    (a group belongs to the plan whose directory defines it), then the shared units the database knows."""
    resolved = directory or UnitDirectory()
    if code in plan_groups:
        resolved = resolved.merged_with(plan_groups[code])
    if known_units is not None:
        resolved = resolved.merged_with(known_units)
    return resolved


def _plan_officials(src: Source, b: _Builder, resolved: UnitDirectory) -> dict[str, Official]:
    """The officials the directory and the plan's own ``officials:`` list name, by name key."""
    officials: dict[str, Official] = {unit_key(o.name): o for o in resolved.officials}
    for rec in src.officials:
        b.unknown_fields(rec, {"name", "title", "email"}, "an official")
        off = Official(name=_as_text(rec.get("name")), title=_as_text(rec.get("title")), email=b.email(rec.get("email"), rec, "email"))
        if not off.name:
            b.problem(rec.line, "name", "", "an official needs a name", "write e.g. {name: 林光, title: 區人民政府副區長}")
            continue
        officials[unit_key(off.name)] = off
    return officials


def _tasks(src: Source, b: _Builder, plan: Plan, officials: dict[str, Official]) -> list[tuple[Task, Record, list[Problem]]]:
    """Every task read, with its record and its own problems (a code used twice is the second one's)."""
    tasks: list[tuple[Task, Record, list[Problem]]] = []
    seen: dict[str, str] = {}
    for rec in src.tasks:
        before = len(b.problems)
        b.sheet, b.columns = rec.sheet or "", rec.columns or {}
        task = _task(rec, b, plan, officials)
        if task is None:
            continue
        if task.code:
            if task.code in seen:
                b.problem(rec.line_of("code"), "code", task.code, f"duplicate task code, first used at {seen[task.code]}",
                          "task codes must be unique within a plan")
            else:
                seen[task.code] = (f"[{rec.sheet}] " if rec.sheet else "") + f"{src.kind} {rec.line_of('code')}"
        tasks.append((task, rec, b.problems[before:]))
    b.sheet, b.columns = "", {}
    return tasks


def _stages(src: Source, b: _Builder, plan: Plan) -> list[Stage]:
    """Every stage read, a code used twice being a problem."""
    stages: list[Stage] = []
    stage_codes: dict[str, int | None] = {}
    for rec in src.stages:
        stage = _stage(rec, b, plan)
        if stage is not None:
            if stage.code in stage_codes:
                b.problem(rec.line_of("code"), "code", stage.code,
                          f"duplicate stage code, first used at {src.kind} {stage_codes[stage.code]}",
                          "stage codes must be unique within a plan, e.g. S1, S2 … and W1, W2 … for current work")
            elif stage.code:
                stage_codes[stage.code] = rec.line_of("code")
            stages.append(stage)
    return stages


__all__ = ["LoadedPlan", "SkippedTask", "load_plan", "parse_official", "read_source", "MatrixError"]
