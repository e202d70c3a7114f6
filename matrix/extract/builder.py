"""From blocks to tasks and stages: shared fields, work stages, current-work items, officials and units placed."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from duban.matrix.extract.cleaning import _joiner, _Text
from duban.matrix.extract.measures import ImpliedUnit, implied_unit, opening_unit
from duban.matrix.extract.parser import _Parser
from duban.matrix.extract.people import _parse_officials, _parse_units
from duban.matrix.extract.results import Leftover, Note
from duban.matrix.extract.structure import (
    _SHARED_FIELDS,
    _TASK_FIELDS,
    _UNIT_FIELDS,
    _Block,
    _dated_tail,
    _Field,
    _heading_number,
    _parses,
    _short_title,
)
from duban.matrix.extract.vocabulary import (
    _CURRENT_SECTION,
    _DATE_PHRASE,
    _STAGE_TITLE,
    _STEPS_SECTION,
    _TRUE_WORDS,
    _WIDTH,
)
from duban.matrix.limits import InputLimits
from duban.matrix.model import DeadlineContext
from duban.matrix.script import fold


@dataclass(slots=True)
class _Item:
    """A task or stage being built, with the lines and notes of its fields (for the YAML comments)."""

    data: dict[str, Any]
    comments: dict[str, str]
    deadline_line: int | None = None


def _lines_text(lines: Iterable[int]) -> str:
    ls = sorted(set(x for x in lines if x))
    if not ls:
        return ""
    if len(ls) == 1:
        return f"line {ls[0]}"
    if ls[-1] - ls[0] == len(ls) - 1:
        return f"lines {ls[0]}–{ls[-1]}"
    return "lines " + ", ".join(map(str, ls))


def _join_texts(pieces: list[str]) -> str:
    out: list[str] = []
    last = ""
    for piece in pieces:
        if not piece:
            continue
        if out:
            out.append(_joiner(last, piece, "text"))  # a "text" join looks at the last character only
        out.append(piece)
        last = piece
    return "".join(out)


def _check_field_sizes(root: _Block, where: str, limits: InputLimits) -> None:
    """Refuse a field longer than a cell before reading it (units, officials and deadlines are read
    character by character; validate would refuse the value anyway)."""
    for block in _iter_blocks(root):
        for f in block.fields.values():
            if len(f.text.text) > limits.cell_chars:
                raise limits.refuse(f"{where}:{f.line}", "cell_chars",
                                    f"a {f.label} of {len(f.text.text):,} characters", f.text.text)


def _iter_blocks(block: _Block) -> Iterable[_Block]:
    for child in block.children:
        yield child
        yield from _iter_blocks(child)


def mark_review(data: dict[str, Any], reason: str) -> None:
    """Mark an extracted task for the office's review (``review:`` in the YAML, before its source_line):
    what could not be read or was assumed, and why. Several reasons are joined with ；."""
    reasons = [r for r in (data.get("review", ""), reason) if r]
    line = data.pop("source_line", None)
    data["review"] = "；".join(reasons)
    if line is not None:
        data["source_line"] = line


class _Builder:
    def __init__(self, parser: _Parser, notes: list[Note], leftovers: list[Leftover], page_notes: dict[int, list[str]]) -> None:
        self.p = parser
        self.notes = notes
        self.leftovers = leftovers
        self.page_notes = page_notes
        self.tasks: list[_Item] = []
        self.stages: list[_Item] = []
        self.codes: dict[str, int] = {}
        self.reviews: list[str] = []  # why the task being built is marked review: (cleared once it is built)
        self.default_unit = ""  # --default-unit, else the unit the plan's opening names (assign_roles)
        self.default_line: int | None = None
        self.implied: dict[int, ImpliedUnit] = {}  # id(block) → the lead unit of a measure naming none
        self.context: DeadlineContext | None = None
        self.base_year: int | None = None
        # officials rebuilt as 姓名(職務) use the document's own punctuation: full width or ASCII
        wide = sum(ln.raw.count(c) for ln in parser.lines for c in "（：，")
        narrow = sum(ln.raw.count(c) for ln in parser.lines for c in "(:,")
        self.full_width = wide > narrow

    def comment(self, lines: Iterable[int], extra: str = "") -> str:
        lines = sorted(set(x for x in lines if x))
        parts = [_lines_text(lines)]
        if len(lines) > 1:
            parts.append("joined")
        for ln in lines:
            parts.extend(self.page_notes.get(ln, ()))
        if extra:
            parts.append(extra)
        return "; ".join(p for p in parts if p)

    # -- roles ----------------------------------------------------------------------------------

    def assign_roles(self) -> None:
        def is_section(block: _Block, pattern: re.Pattern[str]) -> bool:
            return block.heading is not None and block.heading.rank <= 1 and bool(pattern.search(fold(block.title)))

        def walk(block: _Block, steps: bool, current: bool) -> None:
            for child in block.children:
                names_units = bool(_UNIT_FIELDS & child.fields.keys())
                if names_units or (child.fields.keys() & _TASK_FIELDS and not (steps or current)):
                    child.role = "task"
                elif steps and child.heading is not None:
                    child.role = "stage"
                elif current and child.heading is not None:
                    child.role = "current_work"
                elif child.heading is not None and not child.fields:
                    title, dated = _dated_tail(child.title, None)
                    if not dated:
                        title, dated = _dated_tail(child.heading.rest.rstrip("。.;； "), None)
                    if dated and (_STAGE_TITLE.search(title) or child.heading.kind == "step"):
                        child.role = "stage"
                if child.role in ("stage", "current_work"):
                    tasks_only(child)
                    continue
                now = is_section(child, _CURRENT_SECTION)
                walk(child, not now and is_section(child, _STEPS_SECTION), now)

        def tasks_only(block: _Block) -> None:
            for child in block.children:
                if _UNIT_FIELDS & child.fields.keys():
                    child.role = "task"
                tasks_only(child)

        walk(self.p.root, False, False)
        for block in _iter_blocks(self.p.root):
            # 牽頭領導 / 時間要求 / 配合單位 given once for the tasks under a heading: shared, not a task
            if block.role == "task" and not block.fields.keys() & {"lead_unit", "responsible"} \
                    and any(d.role == "task" for d in _iter_blocks(block)):
                block.role = "section"

        def mark_sections(block: _Block) -> bool:
            placed = False
            for child in block.children:
                below = mark_sections(child)
                placed = placed or below or child.role in ("task", "stage", "current_work")
            if placed and not block.role and block is not self.p.root:
                block.role = "section"
            return placed

        self.mark_measures()
        mark_sections(self.p.root)

    def mark_measures(self) -> None:
        """Headings that name no unit but are measures: led by their subject or the default unit (measures.py)."""
        if not self.default_unit:
            for para, _after in self.p.root.prose:
                found = opening_unit(para.text)
                if found:
                    self.default_unit, self.default_line = found, para.lines[0] if para.lines else None
                    break
        for block in _iter_blocks(self.p.root):
            if block.role or _UNIT_FIELDS & block.fields.keys() or block.heading is None:
                continue
            text = "".join([block.heading.rest, *(p.text for p, _a in block.prose)])
            implied = implied_unit(block, text, self.default_unit)
            if implied is not None:
                block.role = "task"
                self.implied[id(block)] = implied

    def task_count(self) -> int:
        return sum(1 for b in _iter_blocks(self.p.root) if b.role == "task")

    # -- building -------------------------------------------------------------------------------

    def build(self, context: DeadlineContext | None, base_year: int | None) -> None:
        self.context = context
        self.base_year = base_year
        self.notes.extend(self.p.notes)
        for ln in self.p.header_leftovers:
            self.leftovers.append(Leftover(ln.no, ln.raw, "a line above the plan that is not its title, issuer, "
                                           "number or date", "header"))
        for ln in self.p.covering:
            self.notes.append(Note(ln.no, f"read as the covering notice: {ln.raw}", "header"))
        for ln in self.p.page_lines:
            self.notes.append(Note(ln.no, f"page number line removed: {ln.raw}", "page_number"))
        self.unplaced_text(self.p.root, "text before the first heading, not a task")

        def walk(block: _Block, inside: bool) -> None:
            for child in block.children:
                if child.role == "task":
                    self.task(child)
                elif child.role in ("stage", "current_work"):
                    self.stage(child)
                    walk(child, True)
                    continue
                elif inside:
                    pass  # text of a stage's sub-items is in the stage's text
                elif child.role == "section":
                    self.unplaced_text(child, f"text under {self.label(child)!r} that is not in a task")
                else:
                    self.unplaced_block(child)
                walk(child, inside)

        walk(self.p.root, False)

    def label(self, block: _Block) -> str:
        if block.heading is None:
            return block.title
        return block.heading.marker + block.title

    def code(self, block: _Block) -> str:
        parts: list[str] = []
        for b in [*block.ancestors(), block]:
            if b.synthetic:
                parts.append(str(b.synthetic))
            elif b.heading is not None:
                if b.heading.kind == "dotted":
                    parts = [b.heading.number]
                else:
                    parts.append(_heading_number(b.heading))
        code = ".".join(parts) or "1"
        if code in self.codes:
            self.codes[code] += 1
            new = f"{code}-{self.codes[code]}"
            self.notes.append(Note(block.line, f"the code {code} is used twice; this task is {new}", "code"))
            code = new
        else:
            self.codes[code] = 1
        return code

    def unplaced_text(self, block: _Block, reason: str) -> None:
        if block.body is not None and block.role == "section":
            self.leftover_text(block.body, reason)
        for para, _after in block.prose:
            self.leftover_text(para, reason)
        for kind, f in block.fields.items():
            if kind not in _SHARED_FIELDS:
                self.leftover_text(f.text, f"{f.label} of the section {self.label(block)!r}, not of one task", "field")

    def inherited(self, block: _Block, kind: str) -> _Field | None:
        """A field given once for every task under a heading (牽頭領導 over several tasks)."""
        for ancestor in reversed(block.ancestors()):
            if ancestor.role == "section" and kind in ancestor.fields:
                return ancestor.fields[kind]
        return None

    def leftover_text(self, t: _Text, reason: str, kind: str = "text") -> None:
        if not t.text.strip():
            return
        # One leftover per line, so that the reviewer can go to each; the first shows the paragraph.
        first = t.lines[0] if t.lines else None
        shown = t.text if len(t.text) <= 60 else t.text[:59] + "…"
        for i, ln in enumerate(t.lines):
            self.leftovers.append(Leftover(ln, shown if i == 0 else f"(continued from line {first})", reason, kind))

    def unplaced_block(self, block: _Block) -> None:
        label = self.label(block)
        reason = "a heading with no task under it (no 牽頭單位 / 責任單位 / 配合單位 / 牽頭領導)"
        shown = block.heading.marker + block.heading.rest if block.heading is not None else label
        self.leftovers.append(Leftover(block.line, shown if len(shown) <= 60 else shown[:59] + "…", reason, "heading"))
        if block.body is not None:
            for ln in block.body.lines:
                if ln != block.line:
                    self.leftovers.append(Leftover(ln, f"(continued from line {block.line})", reason, "heading"))
        for f in block.fields.values():
            self.leftover_text(f.text, f"{f.label} of {label!r}, which is not a task (it names no unit)", "field")
        for para, _after in block.prose:
            self.leftover_text(para, f"text under {label!r}, which is not a task")

    def task(self, block: _Block) -> None:
        code = self.code(block)
        data: dict[str, Any] = {"code": code, "section": [*(self.label(b) for b in block.ancestors()), *block.categories]}
        comments: dict[str, str] = {"code": f"line {block.line}"}
        title, dated = self.task_title(block, code)
        title, target, target_lines = self.task_target(block, code, title)
        if not title:
            title = _short_title(target)
            if title:
                self.notes.append(Note(block.line, f"task {code}: title taken from its text: {title}", "title"))
        data["title"] = title
        data["target"] = target
        if target_lines:
            comments["target"] = self.comment(target_lines)
        officials, officials_lines = self.officials(block, code)
        data["lead_officials"] = officials
        if officials_lines:
            comments["lead_officials"] = self.comment(officials_lines)
        lead, co_leads, supporting, (lead_lines, support_lines) = self.units(block, code)
        implied = self.implied.get(id(block))
        if not lead and implied is not None:
            lead = implied.unit
            comments["lead_unit"] = implied.why
            self.notes.append(Note(block.line, f"task {code} names no 責任單位: {lead} leads it, {implied.why}", "unit"))
            if implied.review:
                self.reviews.append(implied.review)
        data["lead_unit"] = lead
        if co_leads:
            data["co_lead_units"] = co_leads
        data["supporting_units"] = supporting
        if lead_lines:
            comments["lead_unit"] = self.comment(lead_lines)
        if support_lines:
            comments["supporting_units"] = self.comment(support_lines)
        if not lead:
            self.leftovers.append(Leftover(block.line, self.label(block), f"task {code} names no lead unit "
                                           "(牽頭單位 / 責任單位): add one", "field"))
        data["deadline"], deadline_line = self.task_deadline(block, code, dated, comments)
        if self.task_veto(block, code, target, comments):
            data["veto"] = True
        if "note" in block.fields:
            data["note"] = block.fields["note"].text.text
            comments["note"] = self.comment(block.fields["note"].text.lines)
        for reason in self.reviews:
            mark_review(data, reason)
        self.reviews = []
        data["source_line"] = block.line
        self.tasks.append(_Item(data, comments, deadline_line))

    def task_title(self, block: _Block, code: str) -> tuple[str, str]:
        """A task's title and the deadline its heading names, if any: (2015年底前), or a date opening it."""
        title, dated = _dated_tail(block.title, self.context) if block.title else ("", "")
        if not dated and "deadline" not in block.fields and title:
            found, span = self.date_in(title)
            if found and span and span[0] == 0 and title[span[1]:].strip(",，、 "):
                # 1.7月20日前召開全區動員大會 (責任單位:區委辦): the date opens the measure itself
                title, dated = title[span[1]:].lstrip(",，、 "), found
                self.notes.append(Note(block.line, f"task {code}: deadline {found} read from the start of its heading",
                                       "deadline"))
        if "title" in block.fields:
            title = block.fields["title"].text.text.rstrip("。.;；")
        return title, dated

    def task_target(self, block: _Block, code: str, title: str) -> tuple[str, str, list[int]]:
        """(title, target, its lines): the 目標要求, else the task's text and numbered items; text under no
        field is a leftover. A short line right after the heading continues the title."""
        fields = block.fields
        body = [block.body] if block.body is not None and block.body.text else []
        before = [p for p, after in block.prose if not after]
        after = [p for p, after in block.prose if after]
        if before and "target" in fields and not body and block.heading is not None and not _dated_tail(title, None)[1]:
            first = before[0]
            if len(first.lines) == 1 and first.lines[0] == block.line + 1 and len(first.text) <= 12 \
                    and not re.search(r"[。,，;；:：、!?！？]", first.text):
                title += first.text  # (二)項目安排精準,脫貧項目到村 / 到戶
                before = before[1:]
                self.notes.append(Note(block.line, f"task heading continued on line {block.line + 1}: {title}", "joined"))
        item_lines: list[int] = []
        item_text = _join_texts([item.heading.marker + self.block_text(item, with_title=True, lines=item_lines)
                                 for item in block.items if item.heading is not None])
        if "target" in fields:
            target = _join_texts([fields["target"].text.text, item_text])
            target_lines = fields["target"].text.lines + item_lines
            for p in body + before + after:
                self.leftover_text(p, f"text in task {code} that is under none of its fields (it has a 目標要求)")
        else:
            target = _join_texts([p.text for p in body + before] + [item_text])
            target_lines = [x for p in body + before for x in p.lines] + item_lines
            for p in after:
                self.leftover_text(p, f"text in task {code} after its fields, under none of them")
        return title, target, target_lines

    def task_deadline(self, block: _Block, code: str, dated: str, comments: dict[str, str]) -> tuple[str, int | None]:
        """(deadline, its line): its 時間要求, the date in its heading, its section's, else the plan year's end."""
        if "deadline" in block.fields:
            f = block.fields["deadline"]
            comments["deadline"] = self.comment(f.text.lines)
            return f.text.text.strip().rstrip("。.;；,，"), f.line
        if dated:
            comments["deadline"] = f"line {block.line}, in the heading"
            return dated, block.line
        shared = self.section_deadline(block)
        if shared:
            comments["deadline"] = f"line {shared[1]}, given for the whole section"
            return shared
        implied = self.implied.get(id(block))
        if implied is not None and implied.deadline:
            comments["deadline"] = "the recurring obligation its text names"
            return implied.deadline, block.line
        deadline = f"{self.base_year}年底" if self.base_year else ""
        comments["deadline"] = "no 時間要求 in the text: the end of the plan year, assumed"
        self.notes.append(Note(block.line, f"task {code} has no 時間要求; the deadline {deadline or '(none)'} is assumed",
                               "deadline_default"))
        return deadline, None

    def task_veto(self, block: _Block, code: str, target: str, comments: dict[str, str]) -> bool:
        """一票否決: its own field (是/實行 …), or its target saying so."""
        if "veto" in block.fields:
            comments["veto"] = self.comment(block.fields["veto"].text.lines)
            return block.fields["veto"].text.text.strip().rstrip("。").lower() in _TRUE_WORDS
        if re.search("一票否[決决]", target):
            comments["veto"] = "its target says 一票否決"
            self.notes.append(Note(block.line, f"task {code}: its target says 一票否決, so veto is set", "veto"))
            return True
        return False

    def section_deadline(self, block: _Block) -> tuple[str, int] | None:
        """(二)基礎設施建設(2019年底前完成) or a 時間要求 under it: the deadline of its tasks that name none."""
        for ancestor in reversed(block.ancestors()):
            if ancestor.role != "section":
                continue
            if "deadline" in ancestor.fields:
                f = ancestor.fields["deadline"]
                return f.text.text.strip().rstrip("。.;；,，"), f.line
            _title, dated = _dated_tail(ancestor.title, self.context)
            if dated:
                return dated, ancestor.line
        return None

    def officials(self, block: _Block, code: str) -> tuple[list[str], list[int]]:
        f = block.fields.get("lead_officials") or self.inherited(block, "lead_officials")
        if f is None:
            return [], []
        officials, problems, title_only = _parse_officials(f.text.text, full_width=self.full_width)
        for bad in problems:
            self.leftovers.append(Leftover(f.line, bad, f"task {code}: cannot read this official (write 姓名(職務)); "
                                           "the task is kept, marked review:", "official"))
        if problems:
            self.reviews.append(f"{f.label}「{'、'.join(problems)}」cannot be read: write 姓名(職務)")
        for t in title_only:
            self.notes.append(Note(f.line, f"task {code}: an official named by title only: {t}", "official"))
        return officials, f.text.lines

    def unit_list(self, f: _Field, code: str) -> tuple[list[str], list[str]]:
        names, marked = _parse_units(f.text.text)
        if re.search(r"等(相關|相关|有關|有关)?(單位|单位|部門|部门)?\s*[。.;；]?\s*$", f.text.text):
            self.notes.append(Note(f.line, f"task {code}: {f.label} ends with 等 (and others): only the units "
                                   "named are listed", "unit"))
        return names, marked

    def units(self, block: _Block, code: str) -> tuple[str, list[str], list[str], tuple[list[int], list[int]]]:
        """The task's lead unit, co-lead units (the further units its 牽頭單位 names, 共同牽頭), supporting units,
        and the lines they come from."""
        fields = block.fields
        lead = ""
        co_leads: list[str] = []
        supporting: list[str] = []
        lead_lines: list[int] = []
        support_lines: list[int] = []
        marked: list[str] = []
        if "lead_unit" in fields:
            f = fields["lead_unit"]
            names, m = self.unit_list(f, code)
            marked += m
            if names:
                lead = names[0]
                if len(names) > 1 and not m:
                    co_leads += names[1:]
                    self.notes.append(Note(f.line, f"task {code}: several lead units ({'、'.join(names)}); the first "
                                           "leads, the others are co-leads (co_lead_units, 共同牽頭)", "unit"))
                else:
                    supporting += names[1:]
            lead_lines = f.text.lines
        if "responsible" in fields:
            f = fields["responsible"]
            names, m = self.unit_list(f, code)
            marked += m
            if not lead and names:
                lead, names = names[0], names[1:]
                lead_lines = f.text.lines
            supporting += names
            if names:
                support_lines += f.text.lines
        shared = self.inherited(block, "supporting_units") if "supporting_units" not in fields else None
        given = fields.get("supporting_units") or shared
        if given is not None:
            names, m = self.unit_list(given, code)
            marked += m
            supporting += names
            support_lines += given.text.lines
        if marked:
            chosen = marked[0]
            if fold(chosen) != fold(lead):
                if lead:
                    supporting.insert(0, lead)
                lead = chosen
            self.notes.append(Note(block.line, f"task {code}: {chosen} is marked (牽頭), so it leads", "unit"))
        seen = {fold(lead)} if lead else set()
        unique: dict[str, list[str]] = {"co": [], "supporting": []}
        for role, names in (("co", co_leads), ("supporting", supporting)):
            for name in names:
                if fold(name) not in seen:
                    seen.add(fold(name))
                    unique[role].append(name)
        return lead, unique["co"], unique["supporting"], (lead_lines, support_lines)

    def block_text(self, block: _Block, *, with_title: bool, lines: list[int]) -> str:
        """A stage's or item's text: its heading (for items), body, paragraphs and sub-items."""
        pieces: list[str] = []
        if with_title and block.heading is not None:
            pieces.append(block.heading.rest)
            lines.append(block.line)
            if block.body is not None and len(block.body.parts) > 1:
                pieces.append("".join(block.body.parts[1:]))
                lines += block.body.lines
        elif block.body is not None:
            pieces.append(block.body.text)
            lines += block.body.lines
        for para, _after in block.prose:
            pieces.append(para.text)
            lines += para.lines
        for kind, f in block.fields.items():
            lines += f.text.lines
            if kind != "deadline" and f.text.text:  # 目標要求 of a stage: part of its text, not lost
                pieces.append(f"{f.label}:{f.text.text}")
        for child in block.children:
            if child.role == "task":
                continue
            sub = self.block_text(child, with_title=True, lines=lines)
            pieces.append((child.heading.marker if child.heading else "") + sub)
        return _join_texts(pieces)

    def stage(self, block: _Block) -> None:
        kind = block.role
        data: dict[str, Any] = {}
        comments: dict[str, str] = {}
        n = sum(1 for s in self.stages if s.data["kind"] == kind) + 1
        data["code"] = f"{'S' if kind == 'stage' else 'W'}{n}"
        data["kind"] = kind
        lines: list[int] = [block.line]
        deadline_line: int | None = None
        if kind == "stage":
            title, deadline, deadline_line, text = self.stage_date(block, lines)
        else:
            text = self.block_text(block, with_title=True, lines=lines)
            deadline, span = self.date_in(text)
            rest = text
            if span:
                rest = (text[: span[0]] + text[span[1] :]).lstrip(",，、 ")
            title = _short_title(rest)
            deadline_line = block.line if deadline else None
        data["title"] = title
        data["deadline"] = deadline
        data["text"] = text
        data["units"] = []
        data["source_line"] = block.line
        comments["title"] = f"line {block.line}"
        comments["deadline"] = f"line {deadline_line}" if deadline else "no date in the text"
        comments["text"] = self.comment(lines)
        comments["units"] = "the units doing this step: fill in when reviewing"
        self.stages.append(_Item(data, comments, deadline_line))

    def stage_date(self, block: _Block, lines: list[int]) -> tuple[str, str, int | None, str]:
        """A stage's title, deadline, the deadline's line and its text, wherever the heading puts the date.

        動員部署階段(2015年7月17日前) · 第一階段：宣傳發動（3月1日—3月15日） · 動員部署階段：2019年3月1日至
        3月10日 · a 時間: field · else the first date its text names (3月15日前，完成摸底).
        """
        ctx = self.context
        title, dated = _dated_tail(block.title, ctx)
        text = self.block_text(block, with_title=False, lines=lines)
        body_first = block.body.parts[0] if block.body is not None and block.body.parts else ""
        if not dated and block.heading is not None and ctx is not None:
            rest = block.heading.rest.rstrip().rstrip("。.;；")
            head, found = _dated_tail(rest, ctx)
            if found and "。" not in head:
                title, dated = head.rstrip(":：,， "), found  # 第一階段：宣傳發動（3月1日—3月15日）
                text = text[len(body_first) :].lstrip()
            elif body_first and _parses(body_first.rstrip("。.;；"), ctx):
                dated = body_first.rstrip("。.;；")  # 動員部署階段：2019年3月1日至3月10日
                text = text[len(body_first) :].lstrip()
        if "deadline" in block.fields:
            f = block.fields["deadline"]
            return title or _short_title(text), f.text.text.strip().rstrip("。.;；"), f.line, text
        if dated:
            return title or _short_title(text), dated, block.line, text
        found, span = self.date_in(title)
        if found and span:  # 1.3月15日前，完成摸底
            rest = (title[: span[0]] + title[span[1] :]).lstrip(",，、 ")
            return _short_title(rest) or _short_title(text), found, block.line, text
        found, span = self.date_in(text)
        if found:
            return title or _short_title(text), found, block.line, text
        return title or _short_title(text), "", None, text

    def date_in(self, text: str) -> tuple[str, tuple[int, int] | None]:
        """The first date in a text that the deadline language reads: 于7月20日前 → 7月20日前."""
        if self.context is None:
            return "", None
        norm = text.translate(_WIDTH)
        for m in _DATE_PHRASE.finditer(norm):
            phrase = text[m.start(1) : m.end(1)].strip()
            if phrase and _parses(phrase, self.context):
                return phrase, (m.start(), m.end())
        return "", None
