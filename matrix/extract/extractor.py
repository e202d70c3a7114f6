"""``extract``: a document's text → an ``Extraction`` (parts, base year, plan code, tasks and stages)."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from duban.matrix.errors import DeadlineError, SourceError
from duban.matrix.extract.builder import _Builder, _check_field_sizes, _iter_blocks, mark_review
from duban.matrix.extract.cleaning import _Cleaner, _Line
from duban.matrix.extract.parser import _Parser
from duban.matrix.extract.reading import _physical_lines
from duban.matrix.extract.results import Extraction, Leftover, Note, Part
from duban.matrix.extract.structure import _cn_number, _dated_tail
from duban.matrix.extract.vocabulary import _PART, _WIDTH, _YEAR_4, _YEAR_CN
from duban.matrix.limits import DEFAULT_LIMITS, InputLimits
from duban.matrix.model import DEFAULT_TIMEZONE, DeadlineContext
from duban.matrix.plan_dates import stray_year


def _split_parts(lines: list[_Line]) -> list[tuple[int, str, list[_Line]]]:
    """Split at 第N篇 headings (a file holding several documents); one part numbered 0 if there are none."""
    parts: list[tuple[int, str, list[_Line]]] = []
    current: list[_Line] = []
    number, title = 0, ""
    for ln in lines:
        m = _PART.match(ln.norm) if ln.raw else None
        if m and len(ln.norm) <= 40:
            if any(x.raw for x in current):
                parts.append((number, title, current))
            number, title, current = _cn_number(m.group(1)), ln.raw[m.start(2) :].strip(), [ln]
            continue
        current.append(ln)
    if any(x.raw for x in current):
        parts.append((number, title, current))
    return parts


@dataclass(slots=True)
class _PartRead:
    """One part of the document (the whole document when it has no 第N篇 headings), parsed."""

    number: int
    title: str
    lines: list[_Line]
    parser: _Parser
    builder: _Builder
    notes: list[Note]
    leftovers: list[Leftover]

    def span(self) -> tuple[int, int]:
        """Its first and last non-blank line."""
        nonblank = [ln.no for ln in self.lines if ln.raw]
        return nonblank[0], nonblank[-1]


def extract(
    text: str,
    *,
    source: str = "",
    base_year: int | None = None,
    plan_code: str | None = None,
    part: int | None = None,
    limits: InputLimits = DEFAULT_LIMITS,
    default_unit: str | None = None,
) -> Extraction:
    """Extract the matrix from a plan's text; see the package docstring for what is understood.

    Raises ``SourceError`` only when the text is empty, ``part`` names a part that is not there or
    a field's value (a field continued over several lines) is longer than a cell (``limits``), which
    validate would refuse; everything else that cannot be placed becomes a ``Leftover``.
    """
    where = source or "<text>"
    if not text or not text.strip():
        raise SourceError(where, "the document is empty")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    encoding: list[Leftover] = []
    cleaner = _Cleaner(encoding)
    cleaned = [cleaner.line(no, raw) for no, raw in _physical_lines(text)]
    parts = _split_parts(cleaned)
    if not parts:  # only a matrix table's header, without rows
        raise SourceError(where, "the document has nothing to extract: a table header without rows")
    numbered = parts[0][0] != 0 or len(parts) > 1
    results = [_read_part(number, title, lines, numbered, cleaner, where, limits, default_unit or "")
               for number, title, lines in parts]
    part_list = [Part(r.number, r.title, *r.span(), r.builder.task_count()) for r in results] if numbered else []
    pick = _pick_part(results, part, numbered, where)
    parser, builder, notes, leftovers = pick.parser, pick.builder, pick.notes, pick.leftovers
    first, last = pick.span()
    for r in results:
        if r is not pick:
            a, b = r.span()
            leftovers.append(Leftover(a, r.lines[0].raw if r.lines[0].raw else "", f"part {r.number} 「{r.title}」 (lines "
                                      f"{a}–{b}, {r.builder.task_count()} tasks) is not extracted: choose it with "
                                      f"--part {r.number}", "part"))
    leftovers.extend(x for x in encoding if x.line is not None and first <= x.line <= last)

    header = parser.header
    year, year_why = _base_year(base_year, header, parser)
    notes.extend(_stray_issue_date(header, pick.lines, year_why))
    start, context = _plan_context(year, header, leftovers)
    builder.build(context, year)
    due = _read_deadlines(builder, context, leftovers)

    notes.extend(_cleaning_notes(cleaner, first, last))

    code = plan_code or _plan_code(source, pick.number if len(results) > 1 else None, year)
    plan_header, header_comments = _plan_header(code, header, year, year_why, start, due)
    if builder.default_unit:
        plan_header["default_unit"] = builder.default_unit
        header_comments["default_unit"] = (f"line {builder.default_line}: the plan's opening names it"
                                           if builder.default_line else "--default-unit")
    if source or numbered:
        plan_header["source"] = (source or "text") + (f", part {pick.number}" if numbered else "")
    plan = {"plan": plan_header, "tasks": [t.data for t in builder.tasks], "stages": [s.data for s in builder.stages]}
    leftovers.sort(key=lambda x: (x.line is None, x.line or 0))
    notes.sort(key=lambda x: (x.line is not None, x.line or 0))
    return Extraction(
        plan=plan, leftovers=leftovers, notes=notes, part=pick.number if numbered else None, parts=part_list,
        field_comments={"tasks": [t.comments for t in builder.tasks], "stages": [s.comments for s in builder.stages]},
        header_comments=header_comments,
    )


def _stray_issue_date(header: dict[str, Any], lines: list[_Line], year_why: str) -> list[Note]:
    """A warning (kind ``date``) when the document's date is years from every other year its text names:
    2100年7月14日 over a plan whose text speaks of 2011 (``matrix.plan_dates.stray_year``)."""
    issued, at = header.get("issued", (None, None))
    if issued is None:
        return []
    others = [int(m.group(1)) for ln in lines if ln.no != at for m in _YEAR_4.finditer(ln.norm)]
    near = stray_year(issued.year, [y for y in others if 1900 <= y <= 2200])
    if near is None:
        return []
    used = "; the base year and start were taken from it" if year_why.startswith("the issue date") else ""
    return [Note(at, f"the document's date {issued.year}年{issued.month}月{issued.day}日 is {abs(issued.year - near)} "
                     f"years from every other year the text names (nearest: {near}): check it (a slip such as "
                     f"2100 for 2011?){used}", "date")]


def _cleaning_notes(cleaner: _Cleaner, first: int, last: int) -> list[Note]:
    """What the cleaner removed: pinyin (counted), page numbers (on lines ``first``–``last``, one each)."""
    notes: list[Note] = []
    if cleaner.pinyin_count:
        notes.append(Note(None, f"{cleaner.pinyin_count} pinyin annotations removed on {cleaner.pinyin_lines} lines "
                                "(區(qū) → 區)", "pinyin"))
    for ln, texts in cleaner.page_notes.items():
        if first <= ln <= last:
            notes.extend(Note(ln, t, "page_number") for t in texts)
    return notes


def _plan_context(year: int | None, header: dict[str, Any],
                  leftovers: list[Leftover]) -> tuple[dt.date | None, DeadlineContext | None]:
    """The plan's start (its issue date when in the base year, else 1 January) and the context its deadlines
    are read in; without a base year, neither (a leftover says so)."""
    if year is None:
        leftovers.append(Leftover(None, "", "no base year: neither the title, the issue date nor any deadline names "
                                  "a year; give --base-year", "header"))
        return None, None
    issued = header.get("issued", (None, None))[0]
    start = issued if issued is not None and issued.year == year else dt.date(year, 1, 1)
    return start, DeadlineContext(base_year=year, plan_start=start, plan_end=dt.date(year, 12, 31))


def _read_part(number: int, title: str, lines: list[_Line], numbered: bool, cleaner: _Cleaner, where: str,
               limits: InputLimits, default_unit: str = "") -> _PartRead:
    """One part parsed into blocks and its blocks given their roles (its tasks and stages are built later,
    for the part extracted only)."""
    notes: list[Note] = []
    leftovers: list[Leftover] = []
    body = lines[1:] if numbered and lines[0].raw and _PART.match(lines[0].norm) else lines
    parser = _Parser(body, leftovers)
    parser.parse()
    _check_field_sizes(parser.root, where, limits)
    builder = _Builder(parser, notes, leftovers, cleaner.page_notes)
    builder.default_unit = default_unit  # else the unit the plan's opening names (assign_roles)
    builder.assign_roles()
    return _PartRead(number, title, lines, parser, builder, notes, leftovers)


def _pick_part(results: list[_PartRead], part: int | None, numbered: bool, where: str) -> _PartRead:
    """The part asked for (``part``), else the one with the most tasks."""
    if part is None:
        return max(results, key=lambda r: r.builder.task_count()) if numbered else results[0]
    chosen = [r for r in results if r.number == part] if numbered else (results if part == 1 else [])
    if not chosen:
        have = "、".join(str(r.number) for r in results) if numbered else "1 (no 第N篇 headings)"
        raise SourceError(where, f"there is no part {part}; the document has part {have}")
    return chosen[0]


def _read_deadlines(builder: _Builder, context: DeadlineContext | None, leftovers: list[Leftover]) -> list[dt.date]:
    """Every deadline must be read by the deadline language (else it is a leftover); returns the due dates
    named, the latest of which ends the plan."""
    due: list[dt.date] = []
    if context is None:
        return due
    from duban.matrix import deadlines

    for item in [*builder.tasks, *builder.stages]:
        text = item.data.get("deadline") or ""
        if not text:
            continue
        try:
            parsed = deadlines.parse(text, context=context)
        except DeadlineError as e:
            stage = "kind" in item.data
            what = f"stage {item.data['code']}" if stage else f"task {item.data['code']}"
            marked = "" if stage else "; the task is kept, marked review:"
            leftovers.append(Leftover(item.deadline_line, text, f"{what}: the deadline is not understood ({e.reason}); "
                                      f"rewrite it, e.g. 2016年底 or 每月不少於1次{marked}", "deadline"))
            if not stage:
                mark_review(item.data, f"時間要求「{text}」cannot be read: {e.reason}; write the date, e.g. 2016年底 "
                            "or 每月不少於1次")
            continue
        due += [m.due for m in parsed.milestones]
    return due


def _plan_header(code: str, header: dict[str, Any], year: int | None, year_why: str, start: dt.date | None,
                 due: list[dt.date]) -> tuple[dict[str, Any], dict[str, str]]:
    """The YAML's ``plan:`` mapping (without its source) and the comment on each of its fields."""
    plan_header: dict[str, Any] = {"code": code, "title": header["title"][0] if "title" in header else code}
    header_comments: dict[str, str] = {}
    if "title" in header:
        header_comments["title"] = f"line {header['title'][1]}"
    else:
        header_comments["title"] = "no title found: the plan code"
    if "issuer" in header:
        plan_header["issuer"] = header["issuer"][0]
        header_comments["issuer"] = f"line {header['issuer'][1]}"
    if year is not None and start is not None:
        plan_header["base_year"] = year
        header_comments["base_year"] = f"from {year_why}"
        plan_header["start"] = start.isoformat()
        header_comments["start"] = ("the issue date" if "issued" in header and start == header["issued"][0]
                                    else "1 January of the base year (assumed)")
        end = max([dt.date(year, 12, 31), *due])
        plan_header["end"] = end.isoformat()
        header_comments["end"] = "the latest due date named (at least the end of the base year)"
    plan_header["timezone"] = DEFAULT_TIMEZONE
    return plan_header, header_comments


def _year_in(text: str) -> int | None:
    norm = text.translate(_WIDTH)
    m = _YEAR_4.search(norm)
    if m and 1950 <= int(m.group(1)) <= 2100:
        return int(m.group(1))
    m = _YEAR_CN.search(norm)
    if m:
        return int("".join(str("〇一二三四五六七八九".index(c)) if c in "〇一二三四五六七八九" else "0" for c in m.group(1)))
    m = re.match(r"^(\d{4})(?!\d)", norm)
    if m and 1950 <= int(m.group(1)) <= 2100:
        return int(m.group(1))  # 2018XXX鎮…工作計劃: a year at the start of a title, without 年
    return None


def _base_year(given: int | None, header: dict[str, Any], parser: _Parser) -> tuple[int | None, str]:
    if given is not None:
        return given, "--base-year"
    if "title" in header:
        y = _year_in(header["title"][0])
        if y:
            return y, f"the title (line {header['title'][1]})"
    if "issued" in header and header["issued"][0] is not None:
        return header["issued"][0].year, f"the issue date (line {header['issued'][1]})"
    years: list[tuple[int, int]] = []
    for block in _iter_blocks(parser.root):
        f = block.fields.get("deadline")
        texts = [(f.text.text, f.line)] if f else []
        if block.heading is not None:
            _title, dated = _dated_tail(block.title, None)
            if dated:
                texts.append((dated, block.line))
        for t, line in texts:
            years += [(int(m.group(1)), line) for m in _YEAR_4.finditer(t.translate(_WIDTH))]
    years = [y for y in years if 1950 <= y[0] <= 2100]
    if years:
        y, line = min(years)
        return y, f"the earliest year a deadline names (line {line})"
    return None, ""


def _plan_code(source: str, part: int | None, year: int | None) -> str:
    stem = Path(source).stem if source else ""
    stem = re.sub(r"[\s/\\:]+", "-", stem).strip("-")
    if not stem:
        stem = f"plan-{year}" if year else "plan"
    return f"{stem}-part{part}" if part is not None else stem
