"""The columns of every sheet and table duban reads, and the one way their header row is found.

A layout is a ``Vocabulary``: its ``Column``s (the field each fills and the header words offices write
for it, simplified or traditional, and English), which of them a header must name, and how many rows
may stand above it (a title row or two). ``find_header`` reads rows until one names enough columns and
returns a ``HeaderMatch``: which column fills which field, the labels as written, and the columns it did
not understand, with their letters. Task sheets, directory sheets, progress sheets and the matrix
tables inside documents all go through it: adding a header word or a layout is one edit here.

Header words are matched after ``fold()`` (NFKC, simplified script, no spaces) and lower-casing, so
牽頭單位, 牵头单位 and ``Lead_Unit`` are one word; both scripts are still written out so the table reads
as the sheets do. The first word of each column is how duban writes that header itself.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from duban.matrix.errors import SourceError
from duban.matrix.script import fold

__all__ = [
    "Column", "DIRECTORY_SHEET", "DOCUMENT_TABLE", "HeaderMatch", "PROGRESS_SHEET", "RESPONSIBLE_UNITS", "TASK_SHEET",
    "UnknownColumn", "Vocabulary", "column_index", "column_letter", "find_header",
]


_LABEL_NOTE = re.compile(r"\(.*?\)|\[.*?\]|[【〔].*?[】〕]|[*※★]")  # after fold(): brackets are ASCII


@dataclass(frozen=True, slots=True)
class Column:
    """One column of a layout: the field it fills and the header words that name it (first: as written)."""

    field: str
    headers: tuple[str, ...]

    @property
    def written(self) -> str:
        """The header duban writes for this column (an exported sheet, a table read back as text)."""
        return self.headers[0]


@dataclass(frozen=True)
class Vocabulary:
    """A sheet or table layout: its columns and what makes a row its header.

    A row is the header when it names at least ``min_known`` known columns, every field of
    ``required`` and (when given) one of ``one_of``; up to ``scan_rows`` rows are looked at.
    ``expected`` is what a refusal names when no row is the header.
    """

    kind: str
    columns: tuple[Column, ...]
    required: tuple[str, ...] = ()
    one_of: tuple[str, ...] = ()
    min_known: int = 2
    scan_rows: int = 10
    expected: str = ""

    @cached_property
    def index(self) -> dict[str, str]:
        """Folded, lower-cased header word → field (also how Chinese YAML keys are read, for tasks)."""
        return {fold(word).lower(): c.field for c in self.columns for word in c.headers}

    def field_of(self, label: Any) -> str | None:
        """The field a header cell names, or None when it is not one of this layout's words. A note in
        brackets and a required-field mark are not part of the word: 完成時限（截止日期）, *牽頭單位."""
        key = fold(str(label)).lower()
        found = self.index.get(key)
        if found is None and len(key) <= 40 and _LABEL_NOTE.search(key):
            found = self.index.get(_LABEL_NOTE.sub("", key))
        return found

    def written(self, fields: Iterable[str]) -> tuple[str, ...]:
        """The headers duban writes for ``fields``, in that order."""
        by_field = {c.field: c.written for c in self.columns}
        return tuple(by_field[f] for f in fields)

    def is_header(self, fields: list[str | None]) -> bool:
        """True when a row whose cells name ``fields`` (None: not understood) is this layout's header."""
        known = [f for f in fields if f]
        return (len(known) >= self.min_known and all(r in known for r in self.required)
                and (not self.one_of or any(f in self.one_of for f in known)))

    def no_header(self, where: str, scan_rows: int | None = None) -> SourceError:
        """The refusal for a sheet in which no row within the scanned ones is the header."""
        return SourceError(where, f"no header row found in the first {scan_rows or self.scan_rows} rows; "
                                  f"expected columns such as {self.expected}")


@dataclass(frozen=True, slots=True)
class UnknownColumn:
    """A header cell no column of the layout matches: its letter (A, B, … AA) and its text."""

    letter: str
    label: str


@dataclass(slots=True)
class HeaderMatch:
    """The header row found: its number, which column fills which field, and what it did not understand."""

    row: int
    fields: dict[int, str]  # column index (0-based) → field, known columns only
    labels: dict[int, str]  # column index → the header as written (stripped), every non-empty cell
    unknown: list[UnknownColumn] = field(default_factory=list)
    above: list[tuple[int, list[Any]]] = field(default_factory=list)  # the rows above it, as read

    @property
    def unknown_labels(self) -> list[str]:
        return [u.label for u in self.unknown]

    def values(self, row: list[Any]) -> dict[str, Any]:
        """A data row's values by field: text stripped, empty cells left out; a field named by two
        columns takes the later one's value, except lists of units (配合單位 and 責任單位 beside a
        牽頭單位), which are joined."""
        out: dict[str, Any] = {}
        for i, name in self.fields.items():
            value = row[i] if i < len(row) else None
            if isinstance(value, str):
                value = value.strip() or None
            if value is not None:
                if name in _JOINED and isinstance(out.get(name), str) and isinstance(value, str):
                    value = f"{out[name]}、{value}"
                out[name] = value
        return out


_JOINED = frozenset({"supporting_units"})


def column_index(letter: str) -> int:
    """The 0-based column index of a spreadsheet letter: A → 0, AA → 26."""
    n = 0
    for ch in letter:
        n = n * 26 + ord(ch) - ord("A") + 1
    return n - 1


def column_letter(index: int) -> str:
    """The spreadsheet letter of a 0-based column index: 0 → A, 25 → Z, 26 → AA."""
    letters = ""
    n = index + 1
    while n:
        n, rest = divmod(n - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


def find_header(rows: Iterator[tuple[int, list[Any]]], vocabulary: Vocabulary,
                scan_rows: int | None = None) -> HeaderMatch | None:
    """Read ``rows`` (row number, cell values) up to and including the header row of ``vocabulary``.

    The iterator is left at the first row below the header, so the caller reads the data rows from
    it. None when no row is the header: the rows ran out, or a row numbered ``scan_rows`` (default:
    the layout's) or later was not it.
    """
    scan = scan_rows or vocabulary.scan_rows
    above: list[tuple[int, list[Any]]] = []
    for number, values in rows:
        mapped = {i: vocabulary.field_of(v) for i, v in enumerate(values) if v not in (None, "")}
        if vocabulary.is_header(list(mapped.values())):
            return HeaderMatch(
                row=number,
                fields={i: f for i, f in mapped.items() if f},
                labels={i: str(values[i]).strip() for i in mapped},
                unknown=[UnknownColumn(column_letter(i), str(values[i])) for i, f in mapped.items() if not f],
                above=above,
            )
        above.append((number, values))
        if number >= scan:
            return None
    return None


# --------------------------------------------------------------------------------------------
# The layouts

# A task sheet (責任分解表): one row per task, section rows between. Also the Chinese keys of a YAML plan.
TASK_SHEET = Vocabulary(
    kind="task sheet",
    columns=(
        Column("code", ("序號", "序号", "編號", "编号", "序", "code", "no", "no.", "id")),
        Column("title", ("任務", "任务", "任務名稱", "任务名称", "工作任務", "工作任务", "重點任務", "重点任务",
                         "主要任務", "主要任务", "具體任務", "具体任务", "事項", "事项", "title", "task")),
        Column("target", ("目標要求", "目标要求", "目標任務", "目标任务", "具體措施", "具体措施", "工作措施",
                          "任務內容", "任务内容", "工作內容", "工作内容", "主要內容", "主要内容", "具體內容", "具体内容",
                          "target")),
        Column("lead_officials", ("牽頭領導", "牵头领导", "責任領導", "责任领导", "分管領導", "分管领导", "包保領導",
                                  "包保领导", "牽頭縣領導", "牵头县领导", "牽頭區領導", "牵头区领导", "責任縣領導",
                                  "责任县领导", "責任區領導", "责任区领导", "包抓領導", "包抓领导", "包聯領導", "包联领导",
                                  "責任人", "责任人", "lead_officials", "lead officials")),
        # 責任單位 leads when the sheet has no other lead column; beside 牽頭單位 or 主責單位 it names the
        # supporting units (load_task_sheet decides, RESPONSIBLE_UNITS); in a YAML plan it is the lead unit.
        Column("lead_unit", ("牽頭單位", "牵头单位", "主責單位", "主责单位", "責任單位", "责任单位", "牽頭部門", "牵头部门",
                             "主責部門", "主责部门", "責任部門", "责任部门",
                             "責任主體", "责任主体", "lead_unit", "lead unit")),
        Column("co_lead_units", ("共同牽頭單位", "共同牵头单位", "co_lead_units", "co-lead units")),
        Column("supporting_units", ("配合單位", "配合单位", "協辦單位", "协办单位", "參與單位", "参与单位",
                                    "配合部門", "配合部门", "協辦部門", "协办部门",
                                    "supporting_units", "supporting units")),
        Column("deadline", ("時間要求", "时间要求", "完成時限", "完成时限", "完成時間", "完成时间", "時間節點", "时间节点",
                            "時限要求", "时限要求", "時限", "时限", "時間安排", "时间安排", "進度安排", "进度安排",
                            "deadline")),
        Column("section", ("所屬部分", "所属部分", "類別", "类别", "section")),
        Column("veto", ("一票否決", "一票否决", "veto")),
        Column("note", ("備註", "备注", "note")),
        # What an office keeps for the returns beside each task: read as known, never stored (progress
        # comes back through progress sheets); load_task_sheet drops the column.
        Column("returns", ("完成情況", "完成情况", "進展情況", "进展情况", "工作進展", "工作进展", "落實情況", "落实情况")),
        Column("beneficiaries", ("幫扶對象", "帮扶对象", "受益對象", "受益对象", "beneficiaries")),
    ),
    required=("lead_unit",),
    expected="牵头单位/牽頭單位",
)

# The header words of TASK_SHEET's lead_unit that name the supporting units when another column leads
# (as written in traditional script; compared after fold()).
RESPONSIBLE_UNITS = ("責任單位", "責任部門", "責任主體")

# A unit directory sheet: one row per unit.
DIRECTORY_SHEET = Vocabulary(
    kind="directory sheet",
    columns=(
        Column("name", ("單位", "单位", "單位名稱", "单位名称", "unit", "name")),
        Column("aliases", ("別名", "别名", "簡稱", "简称", "aliases")),
        Column("kind", ("類型", "类型", "kind")),
        Column("head", ("負責人", "负责人", "head")),
        Column("head_title", ("職務", "职务", "head_title")),
        Column("head_email", ("負責人郵箱", "负责人邮箱", "head_email")),
        Column("emails", ("郵箱", "邮箱", "emails", "email")),
        Column("member_of", ("所屬", "所属", "上級", "上级", "member_of", "member of")),
    ),
    required=("name",),
    expected="单位/單位",
)

# The progress sheet units send back: one row per report (and/or closing) of a task's item.
PROGRESS_SHEET = Vocabulary(
    kind="progress sheet",
    columns=(
        Column("task", ("編號", "编号", "序號", "序号", "任務編號", "任务编号", "code", "task", "no", "no.")),
        Column("unit", ("單位", "单位", "報送單位", "报送单位", "責任單位", "责任单位", "unit")),
        Column("milestone", ("節點", "节点", "milestone")),
        Column("period", ("週期", "周期", "period")),
        Column("done", ("完成數量", "完成数量", "完成", "done")),
        Column("percent", ("百分比", "完成比例", "完成百分比", "percent", "%")),
        Column("count", ("次數", "次数", "count")),
        Column("amount", ("金額", "金额", "amount")),
        Column("note", ("進展情況", "进展情况", "說明", "说明", "備註", "备注", "note")),
        Column("reported_by", ("報送人", "报送人", "reported_by", "reported by")),
        Column("reported_on", ("報送日期", "报送日期", "reported_on", "reported on", "date")),
        Column("close", ("辦結", "办结", "close", "closed")),
        Column("evidence", ("佐證", "佐证", "佐證材料", "佐证材料", "evidence")),
        Column("beneficiary", ("幫扶對象", "帮扶对象", "受益對象", "受益对象", "戶名", "户名", "beneficiary")),
    ),
    required=("task", "unit"),
    expected="編號/code and 單位/unit",
)

# A matrix table inside a plan document (.docx table, tab-separated lines): read back as the text
# parser's field lines, each written with its column's first header word. 責任單位 is its own field
# here (the first unit leads unless a 牽頭單位 is named), as in the document's text.
DOCUMENT_TABLE = Vocabulary(
    kind="document table",
    columns=(
        Column("code", ("序號", "編號", "序", "code", "no", "no.")),
        Column("title", ("任務", "任務名稱", "工作任務", "重點任務", "事項", "工作事項", "具體事項", "項目", "title", "task")),
        Column("target", ("目標要求", "目標任務", "工作目標", "工作內容", "具體內容", "主要內容", "工作措施", "具體措施",
                          "target")),
        Column("lead_officials", ("牽頭領導", "責任領導", "分管領導", "包抓領導", "牽頭縣領導", "牽頭區領導", "責任縣領導",
                                  "責任區領導")),
        Column("lead_unit", ("牽頭單位", "主責單位", "牽頭部門", "主責部門")),
        Column("responsible", ("責任單位", "責任部門")),
        Column("supporting_units", ("配合單位", "協辦單位", "配合部門", "協辦部門", "參與單位")),
        Column("deadline", ("時間要求", "完成時限", "完成時間", "時限", "時限要求", "時間節點")),
    ),
    one_of=("lead_unit", "responsible"),
    min_known=3,
    scan_rows=6,  # a document's table has its header at the top: a caption row or two at most
)
