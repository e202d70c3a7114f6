"""Extracting a plan's responsibility matrix from the document it was written as, for review before import.

``extract(text, source=…, base_year=…, plan_code=…, part=…)`` reads a plan written in the genre of
Chinese government work plans (工作方案, 實施方案, 工作計劃) and returns an ``Extraction``: the plan
as the canonical YAML document (``plan``, written by ``to_yaml()`` with the source line of every
field), every line it could not place (``leftovers``, never dropped silently) and everything it
cleaned or assumed (``notes``). ``read_document(path)`` reads a .txt (UTF-8 or GBK) or .docx file.
Pure apart from ``read_document``: no database, no clock.

What it reads, in simplified or traditional script (also mixed), full- or half-width punctuation:

- numbering: 一、 (一) 1. (1) ① and 第一部分 / 第一階段, and dotted outlines (3.2.1); the code of a
  task is its numbering path (三、(二)1. → "3.2.1"; a dotted number is kept as written). The
  headings above a task are its ``section``; the heading's own text is its ``title``.
- field lines ``label:value`` (also inline after a heading, several on one line, and 【label】value):
  目標要求 / 目標任務 … → target, 牽頭領導 / 責任領導 / 分管領導 … → lead officials, 牽頭單位 /
  主責單位 … → lead unit, 配合單位 / 協辦單位 … → supporting units, 責任單位 → the first unit leads
  unless a 牽頭單位 is named, 時間要求 / 完成時限 … → deadline, 任務 / 事項 → title, 一票否決.
  A measure that ends with ``(責任單位:A、B)`` (any of these labels, several separated by ;) gets
  its units from that note; ``A(牽頭)`` in a unit list marks the lead.
- officials as 姓名(職務), 職務姓名 (常務副縣長張三), 職務 姓名, or names alone; several per task.
- work stages: children of a 工作步驟 / 實施步驟 / 時間安排 … section, or any heading ending in 階段,
  with their dates in the heading: (2015年7月17日前), ranges, two dates; current-work items: the
  numbered items of a 當前工作 / 近期工作 … section, each with the date its text names (if any).
- a 牽頭領導, 配合單位 or 時間要求 given once under a heading (or a date in the heading itself) holds
  for every task below it that names none; a numbered list right before a task's fields (1.… 2.…
  牽頭單位:…) is that task's text.
- the header: the title (also one broken over two lines, or inside 關於印發《…》的通知), the issuer,
  the document number, the issue date (above the body or as the signature at the end), and the
  addressees and covering sentence of a 印發 notice.
- tables: a .docx table (or tab-separated lines) whose header names the matrix columns
  (序號, 任務, 目標要求, 牽頭領導, 牽頭單位, 配合單位, 時間要求 …) is read row by row; Word's automatic
  list numbering is put back in front of the paragraph text. Line numbers of a .docx are those of
  the lines ``read_document`` returns (a paragraph, a table cell or a table row's field).

Noise that real documents carry is cleaned, and each cleaning is listed in ``notes``:
pinyin after characters (區(qū) → 區: only a parenthesised Latin run with a tone mark, so 區紀委
(監察局) is untouched); page numbers inside lines (戰 3 斗力: a 1–3 digit number with space after it
inside Chinese text, not followed by a measure word unless it continues the page sequence) and on
lines of their own (- 3 -, 第3頁); fields broken across lines (a line that does not end a sentence
continues on the next; a broken official's title is joined with 、 when the first half is a complete
title: 區委副書記 / 區長 → 區委副書記、區長). Characters broken by a bad encoding (程序?qū)ω毨暨M行)
cannot be repaired reliably: they stay in the text and their line is a leftover.

A document holding several documents (``第一篇 … 第五篇`` headings, as the seed file does) is split
at those headings: ``part=N`` picks one; by default the part with the most tasks is extracted and
every other part is one leftover naming its ``--part``. The base year is ``base_year``, else the
year in the title, else the year of the issue date, else the earliest year any deadline names.
A task without any deadline gets the end of the base year, said in ``notes`` and in a YAML comment.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

from duban.matrix.directory import split_outside_parentheses
from duban.matrix.errors import DeadlineError, SourceError, shorten
from duban.matrix.limits import DEFAULT_LIMITS, InputLimits
from duban.matrix.model import DEFAULT_TIMEZONE, DeadlineContext
from duban.matrix.script import fold, to_simplified, to_traditional

__all__ = ["Extraction", "Leftover", "Note", "extract", "read_document"]

# --------------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True, slots=True)
class Leftover:
    """A line (or part of one) the extractor could not place; ``line`` is 1-based in the text."""

    line: int | None
    text: str
    reason: str
    kind: str = "text"  # text | heading | field | deadline | official | encoding | part | header

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "text": self.text, "reason": self.reason, "kind": self.kind}


@dataclass(frozen=True, slots=True)
class Note:
    """Something cleaned or assumed while extracting (not a leftover: nothing was lost)."""

    line: int | None
    text: str
    kind: str  # pinyin | page_number | joined | deadline_default | official | unit | veto | code | title

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "text": self.text, "kind": self.kind}


@dataclass(frozen=True, slots=True)
class Part:
    """One document of a file that holds several (a 第N篇 heading starts each)."""

    number: int
    title: str
    first_line: int
    last_line: int
    tasks: int


@dataclass(slots=True)
class Extraction:
    """The extracted plan (the canonical YAML document as a dict), what was left over, what was assumed."""

    plan: dict[str, Any]
    leftovers: list[Leftover] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    part: int | None = None
    parts: list[Part] = field(default_factory=list)
    # For the YAML comments: per task / stage, field → "line 12" or "lines 12–13; page number 3 removed".
    field_comments: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    header_comments: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when every line was placed (the CLI exits 0), False when something was left over."""
        return not self.leftovers

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.plan,
            "leftovers": [x.as_dict() for x in self.leftovers],
            "notes": [x.as_dict() for x in self.notes],
            "part": self.part,
            "parts": [{"number": p.number, "title": p.title, "first_line": p.first_line,
                       "last_line": p.last_line, "tasks": p.tasks} for p in self.parts],
        }

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), ensure_ascii=False, indent=2) + "\n"

    def to_yaml(self, *, directory: str | None = None) -> str:
        """The canonical plan YAML, each field followed by ``# line N``; leftovers listed at the end."""
        return _write_yaml(self, directory)


# --------------------------------------------------------------------------------------------
# Character classes and vocabulary

_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_HAN_RE = re.compile(f"[{_HAN}]")
_TONES = "āáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜüńňǹḿ"
# 區(qū) → 區: only a parenthesised Latin run with a tone mark, right after a character.
_PINYIN = re.compile(
    rf"(?<=[{_HAN}])[(（](?=[a-zA-Z{_TONES}]*[{_TONES}])[a-zA-Z{_TONES}]{{1,8}}[)）]"
)
# Full-width ASCII → ASCII, ideographic space → space: same length, so indices stay valid.
_WIDTH = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)} | {0x3000: 0x20, 0xA0: 0x20, 0x09: 0x20}
_INVISIBLE: dict[int, str | None] = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"), None)
# Control characters no plan text holds (and YAML does not allow): dropped, so that what extract
# writes passes validate. A vertical tab or a line/paragraph separator stands for a space.
_INVISIBLE.update(dict.fromkeys((c for c in range(0x20) if chr(c) not in "\t\n\r\f"), None))
_INVISIBLE.update(dict.fromkeys([*range(0x7F, 0xA0), *range(0xD800, 0xE000), 0xFFFE, 0xFFFF], None))
_INVISIBLE.update({0x0B: " ", 0x2028: " ", 0x2029: " "})

_CN_DIGITS = "〇零一二三四五六七八九十百两兩"
_TERMINAL = "。！？!?；;…"

# A page number inside a line: 戰 3 斗力, 要精準、1 清晰. Not when a measure word follows (25 個村,
# 3 人) unless it continues the document's page sequence (委員會、4 村莊 after page 3).
_PAGE_IN_LINE = re.compile(rf"(?:(?<=[{_HAN}])[ ]+|(?<=[、,;:。]) *)(\d{{1,3}})[ ]+(?=[{_HAN}])")
_MEASURE_WORDS = set(
    "個个戶户人村畝亩元萬万名項项條条次場场年月日號号天周週千百億亿米噸吨頭头支所家座間间套台臺輛辆"
    "批期件份歲岁分倍類类種种處处棟栋級级公里平方小時时多余餘以之位輪轮門门本冊册張张篇部"
)
_PAGE_LINE = re.compile(r"^[-—–_·~\s]*(?:第\s*)?(\d{1,3})\s*(?:[頁页])?(?:\s*[/共]\s*\d{1,3}\s*[頁页]?)?[-—–_·~\s]*$")
_PART = re.compile(r"^\s*第\s*([一二三四五六七八九十\d]+)\s*篇\s*[:：、.．]?\s*(.*)$")

# Headings, matched on the width-folded text. (kind, rank, pattern)
_HEADINGS: tuple[tuple[str, int, re.Pattern[str]], ...] = (
    ("chapter", -1, re.compile(r"^第\s*([一二三四五六七八九十百\d]+)\s*(?:部分|章|節|节)\s*[:、.,]?\s*")),
    ("cn", 0, re.compile(r"^([一二三四五六七八九十百〇零]{1,4})\s*[、.,]\s*")),
    ("step", 1, re.compile(r"^第\s*([一二三四五六七八九十\d]+)\s*(?:階段|阶段|步)\s*[:、.,]?\s*")),
    ("paren_cn", 1, re.compile(r"^\(\s*([一二三四五六七八九十]{1,3})\s*\)\s*[、.,]?\s*")),
    ("dotted", 2, re.compile(rf"^(\d{{1,2}}(?:\.\d{{1,2}}){{2,3}}(?=[{_HAN}])|\d{{1,2}}(?:\.\d{{1,2}}){{1,3}}(?=\s|、|\.\D))[\s、.]*(?=[^\d\s])")),
    ("num", 2, re.compile(r"^(\d{1,2})\s*[.、,)]\s*(?!\d+(?:\.\d+)?(?![\d]*\s*[年月日號号]))")),
    ("paren_num", 3, re.compile(r"^\(\s*(\d{1,2})\s*\)\s*[、.,]?\s*")),
    ("circled", 4, re.compile(r"^([①②③④⑤⑥⑦⑧⑨⑩⑪⑫⑬⑭⑮⑯⑰⑱⑲⑳])\s*")),
)
_CIRCLED = "①②③④⑤⑥⑦⑧⑨⑩⑪⑫⑬⑭⑮⑯⑰⑱⑲⑳"

# Field labels, written once in traditional script; each character also matches its simplified
# form (see _script_class), so 牵头领导, 牽頭領導 and mixtures such as 牵頭领導 all match.
_LABELS: dict[str, tuple[str, ...]] = {
    "target": (
        "目標要求", "目標任務", "任務目標", "工作目標", "具體目標", "目標", "工作內容", "主要內容", "具體內容",
        "任務內容", "任務要求", "工作要求", "建設內容", "實施內容", "工作標準", "完成標準", "具體要求",
        "工作措施", "具體措施", "主要措施", "推進措施",
    ),
    "title": ("任務名稱", "事項名稱", "項目名稱", "工作事項", "任務事項", "事項", "任務", "工作任務",
              "重點任務", "具體任務", "主要任務", "項目"),
    "lead_officials": tuple(
        f"{who}{level}領導"
        for who in ("牽頭", "責任", "分管", "包抓", "包保", "聯繫", "聯系", "掛帥", "負責", "主管", "督辦", "掛鉤", "主抓")
        for level in ("", "區", "縣", "市", "鎮", "鄉", "州", "旗", "區級", "縣級", "市級", "鎮級", "鄉級", "校", "院")
    ) + ("責任人", "負責人", "牽頭負責人", "責任領導人"),
    "lead_unit": (
        "牽頭單位", "主責單位", "主辦單位", "牽頭部門", "主責部門", "主辦部門", "負責單位", "負責部門", "承辦單位",
        "牽頭科室", "主管部門", "主抓單位", "牽頭責任單位", "牽頭責任部門", "責任牽頭單位", "主體責任單位",
    ),
    "responsible": ("責任單位", "責任部門", "實施單位", "落實單位", "責任主體", "責任科室", "承擔單位", "責任股室"),
    "supporting_units": (
        "配合單位", "協辦單位", "參與單位", "配合部門", "協辦部門", "協助單位", "協同單位", "參加單位", "配合科室",
        "參與部門", "協作單位", "協同部門", "協助部門", "配合責任單位",
    ),
    "deadline": (
        "時間要求", "完成時限", "完成時間", "時限要求", "時間節點", "時間安排", "時限", "完成期限", "辦結時限",
        "截止時間", "進度要求", "時間進度", "推進時限", "完成時間節點", "時間", "進度安排", "完成時限要求",
    ),
    "veto": ("一票否決",),
    "note": ("備註", "備注", "說明"),
}
# Short, generic labels are only read at the start of a line (never inline inside prose).
_LINE_START_ONLY = {"目標", "時間", "時限", "事項", "任務", "項目", "說明", "工作任務", "主要任務", "重點任務",
                    "具體任務", "工作要求", "具體要求", "工作措施", "具體措施", "主要措施", "推進措施", "負責人", "責任人"}
# Labels that name a title when the value is short and a description when it is long.
_AMBIGUOUS_TITLE = {"工作任務", "重點任務", "具體任務", "主要任務", "任務", "項目"}
# An unknown label at the start of a line (聯繫電話:…) is a leftover when it ends like a field label.
_UNKNOWN_LABEL = re.compile(
    rf"^\s*[【\[]?([{_HAN}]{{2,8}}?(?:要求|領導|领导|單位|单位|部門|部门|時限|时限|時間|时间|目標|目标|任務|任务|內容|内容"
    rf"|措施|責任人|责任人|負責人|负责人|標準|标准|方式|節點|节点|成果|形式|依據|依据|指標|指标|分值|考核|備註|备注|電話|电话|聯繫人|联系人))"
    r"\s*(?:[:：]|[】\]])"
)

_TITLE_SUFFIXES = (
    "書記", "长", "長", "主任", "常委", "委員", "主席", "政委", "經理", "经理", "主管", "巡視員", "巡视员", "調研員",
    "调研员", "督學", "督学", "助理", "參事", "参事", "顧問", "顾问", "書記員", "干部", "幹部", "黨組成員", "党组成员",
    "负责人", "負責人", "召集人", "秘書", "秘书", "總監", "总监", "專員", "专员", "指揮", "指挥", "书记",
)
_UNIT_SUFFIXES = (
    "辦", "办", "委", "局", "部", "府", "處", "处", "會", "会", "所", "院", "站", "室", "司", "行", "隊", "队", "組",
    "组", "中心", "公司", "社", "館", "馆", "校", "廳", "厅", "支行", "分行", "分局", "黨委", "党委", "工委", "街道",
)
_UNIT_STARTS = set("區区縣县市鎮镇鄉乡各街省州局村")

_DOC_TYPES = re.compile(
    r"(方案|計劃|计划|規劃|规划|意見|意见|通知|辦法|办法|細則|细则|要點|要点|清單|清单|分解表|任務表|任务表|安排|決定|决定"
    r"|報告|报告|總結|总结|責任書|责任书|工作表|台賬|台账|一覽表|一览表)$"
)
_ORG_SUFFIX = re.compile(
    r"(政府|辦公室|办公室|委員會|委员会|領導小組|领导小组|黨委|党委|黨支部|党支部|支部|黨組|党组|局|廳|厅|委|辦|办|院|學院|学院"
    r"|大學|大学|中心|公司|處|处|部|會|会|所|站|街道|鄉|乡|鎮|镇|村)$"
)
_DATE_LINE = re.compile(
    r"^[(（]?\s*(?:(\d{4})|([〇零一二三四五六七八九]{4}))\s*年\s*[\d一二三四五六七八九十]{1,3}\s*月"
    r"\s*[\d一二三四五六七八九十]{1,3}\s*[日号號]\s*[)）]?$"
)
_DOC_NUMBER = re.compile(r"[〔\[【(（]\s*\d{4}\s*[〕\]】)）]\s*\d+\s*[號号]")
_YEAR_4 = re.compile(r"(?<!\d)(\d{4})\s*年")
_YEAR_CN = re.compile(r"([〇零一二三四五六七八九]{4})年")
_ADDRESSEES = re.compile(rf"^[{_HAN}、,，()]{{4,80}}:$")


def _is_addressees(norm: str) -> bool:
    """各鄉鎮人民政府，縣政府各部門： — the bodies a notice is sent to, each an organisation."""
    if not _ADDRESSEES.match(norm):
        return False
    names = [p for p in re.split(r"[、,，]", norm[:-1]) if p]
    return all(_ORG_SUFFIX.search(p) or p.endswith(_ADDRESSEE_GROUPS) for p in names)


# How notices address whole groups of bodies: 區政府各部門, 縣級有關部門, 各相關單位, 直屬機構.
_ADDRESSEE_GROUPS = tuple(f"{q}{what}" for q in ("各", "有關", "有关", "相關", "相关")
                          for what in ("部門", "部门", "單位", "单位")) + ("直屬機構", "直属机构")


_ATTACHMENT = re.compile(r"^附\s*件\s*[\d一二三四五六七八九十]*\s*[:：]?$")
_COVER_LETTER = re.compile(r"^(?:現將|现将|今將|今将).{0,80}(?:印發|印发|轉發|转发)給?给?你們?们?")
_ISSUED_TITLE = re.compile(r"印發\s*《(.+?)》|印发\s*《(.+?)》|《(.+?)》的通知")

_STEPS_SECTION = re.compile(
    r"步骤|工作安排|时间安排|进度安排|实施阶段|阶段安排|推进安排|时间节点|推进计划|进度计划|实施进度|工作进度|实施计划安排"
)
_CURRENT_SECTION = re.compile(r"当前工作|近期工作|当前重点|近期重点|下步工作|下一步工作|近期安排|当前任务|近期任务|下步打算|下一步打算|近期主要工作")
_STAGE_TITLE = re.compile(r"(阶段|階段)$")

# A date phrase inside free text (for current-work items): 7月17日, 于7月20日前, 2015年底前,
# 2015年7月—8月, 3月1日至3月15日. Verified with the deadline language before it is used.
_D = r"(?:\d{1,2}|[一二三四五六七八九十]{1,3})"
_Y = r"(?:\d{4}|[〇零一二三四五六七八九]{4})\s*年"
_ONE_DATE = rf"(?:(?:{_Y})?{_D}\s*月(?:{_D}\s*[日號号]|上旬|中旬|下旬|初|底|末)?|{_Y}(?:底|末|年底)?|(?:{_Y})?(?:上半年|下半年|年底|年末|第[一二三四]季度))"
_DATE_PHRASE = re.compile(
    rf"(?:于|於|在|截至|截止|到)?({_ONE_DATE}(?:\s*(?:至|到|—{{1,2}}|-|~|–)\s*{_ONE_DATE})?(?:之前|以前|底前|前)?)"
)

_TRUE_WORDS = {"是", "√", "✓", "yes", "y", "true", "1", "實行", "实行"}


def _script_class(ch: str) -> str:
    """A regex for one character in either script: 頭 → [頭头]."""
    if not _HAN_RE.match(ch):
        return re.escape(ch)
    forms = {ch}
    for f in (to_simplified(ch), to_traditional(ch)):
        if len(f) == 1:
            forms.add(f)
    extra = {"於": "于", "于": "於", "系": "係繫", "繫": "系係", "係": "系繫", "注": "註", "註": "注"}.get(ch, "")
    forms.update(extra)
    return "[" + "".join(sorted(forms)) + "]" if len(forms) > 1 else ch


@dataclass(frozen=True, slots=True)
class _Vocabulary:
    line_label: re.Pattern[str]
    inline_label: re.Pattern[str]
    kind_of: dict[str, tuple[str, str]]  # fold(label) → (kind, canonical label)


@lru_cache(maxsize=1)
def _vocabulary() -> _Vocabulary:
    """Label patterns, built once (OpenCC is loaded on first use, not at import)."""
    kind_of: dict[str, tuple[str, str]] = {}
    everything: list[str] = []
    inline: list[str] = []
    for kind, labels in _LABELS.items():
        for label in labels:
            kind_of.setdefault(fold(label), (kind, label))
            everything.append(label)
            if label not in _LINE_START_ONLY:
                inline.append(label)

    def alternation(labels: list[str]) -> str:
        labels = sorted(set(labels), key=len, reverse=True)
        return "|".join("".join(_script_class(c) for c in label) for label in labels)

    qualifier = r"(?:\s*\([^()]{1,8}\))?"  # 牽頭單位(部門):
    line_label = re.compile(
        rf"^\s*(?:[●■◆▲★☆◇○•·\-—*>]\s*)?(?:\[|【)?\s*({alternation(everything)}){qualifier}\s*(?::|[】\]]\s*:?)\s*"
    )
    inline_label = re.compile(
        rf"(?:^|(?<=[\s;。,、()]))\s*(?:\[|【)?({alternation(inline)}){qualifier}\s*(?::|[】\]]\s*:?)\s*"
    )
    return _Vocabulary(line_label=line_label, inline_label=inline_label, kind_of=kind_of)


def _label_kind(label: str) -> tuple[str, str]:
    return _vocabulary().kind_of.get(fold(label), ("target", label))


@lru_cache(maxsize=1)
def _common_chars() -> frozenset[str]:
    """The 3,755 most common characters (GB2312 level 1) in both scripts: what mojibake rarely is."""
    level1 = bytearray()
    for hi in range(0xB0, 0xD8):
        for lo in range(0xA1, 0xFF):
            level1 += bytes((hi, lo))
    text = level1.decode("gb2312", errors="ignore")
    return frozenset(text) | frozenset(to_traditional(text))


# --------------------------------------------------------------------------------------------
# Reading documents


def read_document(path: str | Path, limits: InputLimits = DEFAULT_LIMITS) -> tuple[str, list[str]]:
    """The text of a plan document and its lines: .txt (UTF-8 or GBK) or .docx (python-docx).

    Only a regular file within ``limits`` is read (its size, a .docx's unpacked size and table
    spans, the number of lines); a damaged .docx is refused naming the file, never with a traceback.

    A .docx file gives one line per paragraph (soft line breaks split it), in document order with
    its tables: a table whose header names the matrix columns becomes one task per row (a heading
    line and field lines); other tables give one line per cell. Word's automatic list numbering
    (一、 (一) 1.) is written in front of the paragraph's text, because the text alone lacks it.
    """
    path = Path(path)
    if path.suffix.lower() == ".docx":
        lines = _docx_lines(path, limits)
        if not any(s.strip() for s in lines):
            raise SourceError(str(path), "the document has no text")
    elif path.suffix.lower() == ".doc":
        raise SourceError(str(path), "old Word .doc files cannot be read; save the document as .docx or .txt")
    else:
        from duban.matrix.sources import read_text

        text = read_text(path, limits)
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        lines = text.split("\n")
    if len(lines) > limits.rows:
        raise limits.refuse(str(path), "rows", f"a document of {len(lines):,} lines")
    for no, line in enumerate(lines, 1):
        if len(line) > limits.cell_chars:  # no value of the plan it gives may be longer (validate refuses it)
            raise limits.refuse(f"{path}:{no}", "cell_chars", f"a line of {len(line):,} characters", line)
    return "\n".join(lines), lines


# A table cell spanning columns (w:gridSpan) is repeated once per column it spans when read.
_GRID_SPAN = re.compile(rb'<(?:[\w.-]+:)?grid(?:Span|Before|After)\b[^>]*?\bval="\s*(\d{1,32})\s*"')


def _docx_lines(path: Path, limits: InputLimits) -> list[str]:
    try:
        import docx  # python-docx: only the .docx path pays for it
    except ImportError:  # pragma: no cover - python-docx is a dependency of extraction
        raise SourceError(str(path), "reading .docx needs python-docx (pip install python-docx)") from None
    import io

    from duban.matrix.sources import check_archive, read_input

    where = str(path)
    data = read_input(path, limits)
    with check_archive(data, where=where, kind=".docx document", limits=limits) as archive:
        for member in archive.infolist():
            if member.filename.lower().endswith(".xml"):
                try:
                    xml = archive.read(member)
                except Exception as e:  # noqa: BLE001 - a damaged member (zlib.error, bad CRC …)
                    raise SourceError(where, f"not a readable .docx document ({member.filename}: "
                                      f"{type(e).__name__})") from None
                span = max((int(m.group(1)) for m in _GRID_SPAN.finditer(xml)), default=0)
                if span > limits.columns:
                    raise limits.refuse(where, "columns", f"a table cell spanning {span:,} columns")
    try:
        return _docx_document_lines(docx.Document(io.BytesIO(data)), limits, where)
    except SourceError:
        raise
    except Exception as e:  # noqa: BLE001 - python-docx on a damaged file: OSError, KeyError, XML errors …
        detail = f"{type(e).__name__}: {shorten(e)}" if str(e) else type(e).__name__
        raise SourceError(where, f"not a readable .docx document ({detail})") from None


_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


def _docx_document_lines(document: Any, limits: InputLimits = DEFAULT_LIMITS, where: str = "") -> list[str]:
    """The document's lines, reading its body's XML once: each paragraph's text and numbering, each
    table's cells (a cell spanning columns once, a vertically merged cell as its first cell's text).

    Linear in the size of the document: styles are resolved once per style id (not python-docx's
    paragraph.style, which scans styles.xml for every paragraph), vertical merges are followed with
    one map per row (not cell by cell up the table). More paragraphs and table cells than the rows
    limit are refused as soon as they are counted."""
    numbering = _WordNumbering(document)
    lines: list[str] = []
    counted = 0  # paragraphs and table cells read so far

    def count(n: int) -> None:
        nonlocal counted
        counted += n
        if counted > limits.rows:
            raise limits.refuse(where, "rows", f"a document of more than {limits.rows:,} paragraphs and table cells")

    body = document.element.body
    for child in body.iterchildren(f"{_W}p", f"{_W}tbl"):
        count(1)
        if child.tag == f"{_W}p":
            text = numbering.prefix(child) + _paragraph_text(child)
            lines.extend(text.split("\n"))
        else:
            rows = []
            above: dict[int, tuple[Any, str]] = {}  # grid offset → the cell a vertical merge continues
            for tr in child.iterchildren(f"{_W}tr"):
                here: dict[int, tuple[Any, str]] = {}
                cells: list[str] = []
                previous = None
                offset = _int_val(tr.find(f"{_W}trPr/{_W}gridBefore"), 0)
                tcs = list(tr.iterchildren(f"{_W}tc"))
                count(len(tcs))
                if len(tcs) > limits.columns:
                    raise limits.refuse(where, "columns", f"a table row of {len(tcs):,} cells")
                for tc in tcs:
                    merge = tc.find(f"{_W}tcPr/{_W}vMerge")
                    root = None
                    if merge is not None and merge.get(f"{_W}val", "continue") == "continue":
                        root = above.get(offset)
                    if root is None:
                        root = (tc, "\n".join(_paragraph_text(p) for p in tc.iterchildren(f"{_W}p")).strip())
                    here[offset] = root
                    offset += max(1, _int_val(tc.find(f"{_W}tcPr/{_W}gridSpan"), 1))
                    if root[0] is previous:  # the same cell again (python-docx's row.cells repeats it)
                        continue
                    previous = root[0]
                    cells.append(root[1])
                rows.append(cells)
                above = here
            lines.extend(_table_lines(rows))
    return lines


def _paragraph_text(p: Any) -> str:
    """A paragraph's text as python-docx reads it (runs and hyperlinks; tabs, breaks …)."""
    from docx.oxml.text.paragraph import CT_P

    if isinstance(p, CT_P):
        return p.text
    return ""


def _int_val(element: Any, default: int) -> int:
    """The w:val of a small count (gridSpan, gridBefore), ``default`` when absent or not a number."""
    if element is None:
        return default
    value = (element.get(f"{_W}val") or "").strip()
    return int(value) if value.isascii() and value.isdigit() and len(value) < 10 else default


class _WordNumbering:
    """Word's automatic numbering (numbering.xml), rendered as text: 一、 (一) 1. …"""

    _FORMATS = {"chineseCounting", "chineseCountingThousand", "ideographTraditional", "taiwaneseCounting",
                "japaneseCounting", "chineseLegalSimplified"}

    def __init__(self, document: Any) -> None:
        self.levels: dict[str, dict[int, tuple[str, str, int]]] = {}
        self.counters: dict[str, list[int]] = {}
        try:
            part = document.part.numbering_part
        except (KeyError, NotImplementedError, AttributeError):
            return
        ns = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
        abstract: dict[str, dict[int, tuple[str, str, int]]] = {}
        root = part.element
        for an in root.iter(f"{ns}abstractNum"):
            levels = {}
            for lvl in an.iter(f"{ns}lvl"):
                ilvl = int(lvl.get(f"{ns}ilvl", "0"))
                fmt = lvl.find(f"{ns}numFmt")
                text = lvl.find(f"{ns}lvlText")
                start = lvl.find(f"{ns}start")
                levels[ilvl] = (
                    fmt.get(f"{ns}val") if fmt is not None else "decimal",
                    text.get(f"{ns}val") if text is not None else "",
                    int(start.get(f"{ns}val")) if start is not None else 1,
                )
            abstract[an.get(f"{ns}abstractNumId")] = levels
        for num in root.iter(f"{ns}num"):
            ref = num.find(f"{ns}abstractNumId")
            if ref is not None and ref.get(f"{ns}val") in abstract:
                self.levels[num.get(f"{ns}numId")] = abstract[ref.get(f"{ns}val")]
        self._styles(document)

    def _styles(self, document: Any) -> None:
        """Paragraph styles by id, read once (python-docx's paragraph.style scans them per paragraph)."""
        self.style_by_id: dict[str, Any] = {}
        self.default_style: Any = None
        self.chains: dict[str | None, tuple[str | None, int | None]] = {}
        try:
            root = document.part.styles.element  # python-docx adds default styles when there are none
        except (KeyError, NotImplementedError, AttributeError):
            return
        for style in root.iterchildren(f"{_W}style"):
            style_id = style.get(f"{_W}styleId")
            if style_id is not None:
                self.style_by_id.setdefault(style_id, style)
            if (style.get(f"{_W}type") or "paragraph") == "paragraph" and \
                    (style.get(f"{_W}default") or "").lower() in ("1", "true", "on"):
                self.default_style = style  # the spec takes the last default

    def _style_numbering(self, style_id: str | None) -> tuple[str | None, int | None]:
        """(numId, ilvl) a paragraph style gives, following its basedOn chain as python-docx does."""
        if style_id in self.chains:
            return self.chains[style_id]
        style = self.style_by_id.get(style_id) if style_id is not None else None
        if style is None or (style.get(f"{_W}type") or "paragraph") != "paragraph":
            style = self.default_style
        elements = []
        while style is not None and len(elements) < 7:  # the style chain (List Number → Normal)
            elements.append(style)
            based_on = style.find(f"{_W}basedOn")
            style = self.style_by_id.get(based_on.get(f"{_W}val")) if based_on is not None else None
        found = self._numbering_of(elements, None, None)
        self.chains[style_id] = found
        return found

    @staticmethod
    def _numbering_of(elements: list[Any], num_id: str | None, ilvl: int | None) -> tuple[str | None, int | None]:
        ns = _W
        for element in elements:
            if num_id is not None and ilvl is not None:
                break
            ppr = element.find(f"{ns}pPr")
            numpr = ppr.find(f"{ns}numPr") if ppr is not None else None
            if numpr is None:
                continue
            num_id_el = numpr.find(f"{ns}numId")
            ilvl_el = numpr.find(f"{ns}ilvl")
            if num_id is None and num_id_el is not None:
                num_id = num_id_el.get(f"{ns}val")
            if ilvl is None and ilvl_el is not None:
                ilvl = int(ilvl_el.get(f"{ns}val"))
        return num_id, ilvl

    def prefix(self, p: Any) -> str:
        """The number Word shows in front of a paragraph (``w:p``: its own numbering or its style's), or ""."""
        if not self.levels:
            return ""
        num_id, ilvl = self._numbering_of([p], None, None)
        if num_id is None or ilvl is None:
            style_el = p.find(f"{_W}pPr/{_W}pStyle")
            style_num_id, style_ilvl = self._style_numbering(style_el.get(f"{_W}val") if style_el is not None else None)
            num_id = num_id if num_id is not None else style_num_id
            ilvl = ilvl if ilvl is not None else style_ilvl
        if num_id is None or num_id == "0":
            return ""
        ilvl = ilvl or 0
        levels = self.levels.get(num_id or "")
        if not levels or ilvl not in levels:
            return ""
        counters = self.counters.setdefault(num_id, [0] * 9)
        fmt, text, start = levels[ilvl]
        counters[ilvl] = counters[ilvl] + 1 if counters[ilvl] else start
        for deeper in range(ilvl + 1, 9):
            counters[deeper] = 0
        if fmt in ("bullet", "none"):
            return ""

        def render(match: re.Match[str]) -> str:
            level = int(match.group(1)) - 1
            f, _t, s = levels.get(level, ("decimal", "", 1))
            value = counters[level] or s
            if f in self._FORMATS:
                return _to_chinese_numeral(value)
            if f == "decimalEnclosedCircle" or f == "decimalEnclosedCircleChinese":
                return _CIRCLED[value - 1] if 0 < value <= 20 else str(value)
            if f == "upperLetter":
                return chr(ord("A") + (value - 1) % 26)
            if f == "lowerLetter":
                return chr(ord("a") + (value - 1) % 26)
            return str(value)

        return re.sub(r"%(\d)", render, text)


def _to_chinese_numeral(n: int) -> str:
    digits = "〇一二三四五六七八九"
    if n < 10:
        return digits[n]
    if n < 20:
        return "十" + (digits[n % 10] if n % 10 else "")
    if n < 100:
        return digits[n // 10] + "十" + (digits[n % 10] if n % 10 else "")
    return str(n)


# Matrix columns a table may have (simplified or traditional; matched after fold()).
_COLUMN_LABELS: dict[str, tuple[str, ...]] = {
    "code": ("序號", "編號", "序", "code", "no", "no."),
    "title": ("任務", "任務名稱", "工作任務", "重點任務", "事項", "工作事項", "具體事項", "項目", "title", "task"),
    "target": ("目標要求", "目標任務", "工作目標", "工作內容", "具體內容", "主要內容", "工作措施", "具體措施", "target"),
    "lead_officials": ("牽頭領導", "責任領導", "分管領導", "包抓領導", "牽頭縣領導", "牽頭區領導", "責任縣領導", "責任區領導"),
    "lead_unit": ("牽頭單位", "主責單位", "牽頭部門", "主責部門"),
    "responsible": ("責任單位", "責任部門"),
    "supporting_units": ("配合單位", "協辦單位", "配合部門", "協辦部門", "參與單位"),
    "deadline": ("時間要求", "完成時限", "完成時間", "時限", "時限要求", "時間節點"),
}
# The label each column is written back as (read again by the text parser).
_COLUMN_AS_LABEL = {"target": "目標要求", "lead_officials": "牽頭領導", "lead_unit": "牽頭單位",
                    "responsible": "責任單位", "supporting_units": "配合單位", "deadline": "時間要求"}


@lru_cache(maxsize=1)
def _column_index() -> dict[str, str]:
    return {fold(label).lower(): kind for kind, labels in _COLUMN_LABELS.items() for label in labels}


def _table_lines(rows: list[list[str]]) -> list[str]:
    """A table as lines (see _table_rows)."""
    converted = _table_rows(rows)
    if converted is None:
        return [line for cells in rows for c in cells for line in c.split("\n")]
    return [line for _row, line in converted]


def _table_rows(rows: list[list[str]]) -> list[tuple[int, str]] | None:
    """A matrix table (a header row naming ≥ 3 known columns, one of them a unit column) as lines.

    Each row becomes a heading line built from its 序號 and 任務 cells (1.交通建設, 三、…, 3.2.1 …)
    and one field line per other cell (牽頭單位:區交委); a row with one distinct text (a merged
    section row such as (二)項目安排精準) stays one line. Returns (row index, line) pairs, or None
    when the table is not a matrix (no such header in its first rows).
    """
    index = _column_index()
    header: dict[int, str] | None = None
    out: list[tuple[int, str]] = []
    for r, cells in enumerate(rows):
        if header is None:
            mapped = {i: index.get(fold(c).lower()) for i, c in enumerate(cells) if c}
            if sum(1 for k in mapped.values() if k) >= 3 and any(k in ("lead_unit", "responsible") for k in mapped.values()):
                header = {i: k for i, k in mapped.items() if k}
                continue
            if r >= 5:
                return None
            out.extend((r, line) for c in cells for line in c.split("\n"))
            continue
        values = {header[i]: c for i, c in enumerate(cells) if i in header and c}
        distinct = {c for c in cells if c}
        if not distinct:
            continue
        if len(distinct) == 1 and not any(k in values for k in ("lead_unit", "responsible", "deadline", "lead_officials")):
            out.append((r, distinct.pop().replace("\n", "")))  # a section row spanning the table
            continue
        code = values.pop("code", "").strip().rstrip("、.．")
        title = values.pop("title", "").replace("\n", "")
        if re.fullmatch(r"\d{1,2}", code):
            out.append((r, f"{code}.{title}"))
        elif re.fullmatch(r"\d{1,2}(?:\.\d{1,2}){1,3}", code):
            out.append((r, f"{code} {title}"))
        elif re.fullmatch(r"[一二三四五六七八九十]{1,3}", code):
            out.append((r, f"{code}、{title}"))
        elif re.fullmatch(r"[(（][一二三四五六七八九十\d]{1,3}[)）]", code):
            out.append((r, f"{code}{title}"))
        else:
            out.append((r, f"任務名稱:{code}{title}"))
        for kind in ("target", "lead_officials", "lead_unit", "responsible", "supporting_units", "deadline"):
            if kind in values:
                joiner = "" if kind == "target" else "、"
                value = joiner.join(part.strip() for part in values[kind].split("\n") if part.strip())
                out.append((r, f"{_COLUMN_AS_LABEL[kind]}:{value}"))
    return out if header is not None else None


def _physical_lines(text: str) -> list[tuple[int, str]]:
    """The lines of a text with their numbers; runs of tab-separated matrix rows become field lines."""
    raw = text.split("\n")
    if "\t" not in text:
        return list(enumerate(raw, start=1))
    out: list[tuple[int, str]] = []
    i = 0
    while i < len(raw):
        if raw[i].count("\t") >= 2:
            j = i
            while j < len(raw) and raw[j].count("\t") >= 1:
                j += 1
            converted = _table_rows([[c.strip() for c in raw[k].split("\t")] for k in range(i, j)])
            if converted is not None:
                out.extend((i + 1 + r, line) for r, line in converted)
                i = j
                continue
        out.append((i + 1, raw[i]))
        i += 1
    return out


# --------------------------------------------------------------------------------------------
# Lines and their cleaning


@dataclass(slots=True)
class _Line:
    no: int  # 1-based line of the text
    raw: str  # cleaned, original script and punctuation ("" for a blank line)
    norm: str  # raw with full-width ASCII folded (same length), for matching


@dataclass(slots=True)
class _Cleaner:
    leftovers: list[Leftover]
    pinyin_lines: int = 0
    pinyin_count: int = 0
    page: int = 0  # the last page number removed inside a line (they come in order)
    page_notes: dict[int, list[str]] = field(default_factory=dict)

    def line(self, no: int, text: str) -> _Line:
        text = text.translate(_INVISIBLE).replace("\t", " ").replace("\f", " ").strip()
        if not text:
            return _Line(no, "", "")
        if "(" in text or "（" in text:
            cleaned, n = _PINYIN.subn("", text)
            if n:
                self.pinyin_lines += 1
                self.pinyin_count += n
                text = cleaned
        norm = text.translate(_WIDTH)
        if " " in norm:
            text, norm = self._page_numbers(no, text, norm)
        if "?" in norm or "\ufffd" in norm or "Ã" in norm or "â" in norm:
            self._mojibake(no, text, norm)
        return _Line(no, text, norm)

    def _page_numbers(self, no: int, text: str, norm: str) -> tuple[str, str]:
        cuts: list[tuple[int, int]] = []
        for m in _PAGE_IN_LINE.finditer(norm):
            number = int(m.group(1))
            follows = norm[m.end()] if m.end() < len(norm) else ""
            before = norm[max(0, m.start() - 1) : m.start()]
            in_sequence = self.page > 0 and number == self.page + 1
            if before == "第" or (follows in _MEASURE_WORDS and not in_sequence):
                continue
            cuts.append((m.start(), m.end()))
            self.page = number
            context = text[max(0, m.start() - 3) : m.end() + 3]
            self.page_notes.setdefault(no, []).append(f"page number {number} removed ({context})")
        for start, end in reversed(cuts):
            text, norm = text[:start] + text[end:], norm[:start] + norm[end:]
        return text, norm

    def _mojibake(self, no: int, text: str, norm: str) -> None:
        for start, end in _mojibake_spans(norm):
            self.leftovers.append(Leftover(
                no, text[max(0, start - 4) : end + 4],
                f"broken encoding: {text[start:end]!r} is not text (characters were lost when the document was "
                "converted); retype this passage from the original",
                "encoding",
            ))


def _suspicious(ch: str) -> bool:
    if ch in "?\ufffd;_^`~|\\":
        return True
    if ch.isascii():
        return ch.isalpha()
    if _HAN_RE.match(ch):
        return ch not in _common_chars()
    # Latin with diacritics, Greek, Cyrillic, box drawing … inside Chinese text
    return "\u00c0" <= ch <= "\u04ff" or "\u2500" <= ch <= "\u25ff"


def _mojibake_spans(norm: str) -> list[tuple[int, int]]:
    """Runs that look like bytes decoded with the wrong encoding: ?;顒佑行蜷_展, ?qū)ω毨暨M, Ã¥Â…"""
    spans: list[tuple[int, int]] = []
    i = 0
    n = len(norm)
    while i < n:
        ch = norm[i]
        anchor = False
        if ch == "\ufffd":
            anchor = True
        elif ch == "?":
            near_han = (i > 0 and _HAN_RE.match(norm[i - 1])) or (i + 1 < n and _HAN_RE.match(norm[i + 1]))
            anchor = bool(near_han) and any(_suspicious(c) for c in norm[i + 1 : i + 3])
        elif ch in "Ãâå" and i + 1 < n and "\u0080" <= norm[i + 1] <= "\u00ff":
            anchor = True
        if not anchor:
            i += 1
            continue
        end = i + 1
        j = i + 1
        while j < n and j - end <= 2:  # a gap of up to two ordinary characters inside the run
            if _suspicious(norm[j]):
                end = j + 1
            j += 1
        spans.append((i, end))
        i = end
    return spans


# --------------------------------------------------------------------------------------------
# Text pieces that may continue on the next line


@dataclass(slots=True)
class _Text:
    """A field value, a heading's body or a paragraph, possibly spread over several lines.

    Adding a line costs the line's length, not the text's: the parser asks of the text so far only
    its end and whether a parenthesis is open, which are kept as it grows (a field continued over
    50,000 lines was quadratic)."""

    join: str  # text | units | officials | deadline
    parts: list[str] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    opener: bool = False  # "目標要求:" with the value on the following lines (a list)
    open_parens: int = 0  # ( and （ minus ) and ） so far
    tail: str = ""  # the text's last _TAIL characters
    _joined: str | None = None
    _lines_seen: set[int] = field(default_factory=set)

    @property
    def text(self) -> str:
        if self._joined is None:
            self._joined = "".join(self.parts)
        return self._joined

    def add(self, piece: str, line: int) -> None:
        piece = piece.strip()
        if line not in self._lines_seen:
            self._lines_seen.add(line)
            self.lines.append(line)
        if not piece:
            return
        if self.parts:
            piece = _joiner(self.tail, piece, self.join, open_parens=self.open_parens) + piece
        self.parts.append(piece)
        self._joined = None
        self.open_parens += piece.count("(") + piece.count("（") - piece.count(")") - piece.count("）")
        self.tail = (self.tail + piece)[-_TAIL:] if len(piece) < _TAIL else piece[-_TAIL:]

    @property
    def terminated(self) -> bool:
        t = self.tail
        if not t:
            return not self.opener
        if self.open_parens > 0:
            return False
        return t[-1] in _TERMINAL or (t[-1] in "”」』\"" and len(t) > 1 and t[-2] in _TERMINAL)

    def accepts(self, norm: str) -> bool:
        """May a line (not a heading, not a field) whose text is ``norm`` continue this text?"""
        if self.opener:
            return True
        if self.terminated:
            return False
        if self.join == "text":
            return True
        if self.open_parens > 0 or self.tail[-1:] in "、,，(（-—至到":
            return True
        body = norm.rstrip("。.;")
        return len(body) <= 80 and "。" not in body


# What _Text keeps of its end: longer than any title or unit suffix _joiner looks for.
_TAIL = 64


def _unbalanced(t: str) -> bool:
    return t.count("(") + t.count("（") > t.count(")") + t.count("）")


def _last_segment(text: str) -> str:
    cut = max(text.rfind(c) for c in "、,，(（;；")
    return text[cut + 1 :]


def _joiner(before: str, after: str, join: str, *, open_parens: int | None = None) -> str:
    """What goes between a broken line and its continuation: usually nothing (Chinese has no spaces).

    ``before`` may be only the end of the text so far (its last _TAIL characters), with
    ``open_parens`` then saying whether a parenthesis is open in the whole of it."""
    a, b = before[-1], after[0]
    unbalanced = _unbalanced(before) if open_parens is None else open_parens > 0
    if a.isascii() and a.isalpha() and b.isascii() and b.isalpha():
        return " "
    if a in "、,，;；(（" or b in "、,，;；)）":
        return ""
    if join == "officials":
        # 區委副書記 / 區長 → 區委副書記、區長; 區委常委、區 / 人民政府… → 區委常委、區人民政府…
        if unbalanced and _last_segment(before).endswith(_TITLE_SUFFIXES):
            return "、"
        if before.rstrip().endswith((")", "）")):
            return "、"
    elif join == "units":
        if _last_segment(before).endswith(_UNIT_SUFFIXES) and b in _UNIT_STARTS:
            return "、"
    elif join == "deadline":
        if a in "年月日底末前旬" and (b.isdigit() or b in _CN_DIGITS):
            return "、"
    return ""


# --------------------------------------------------------------------------------------------
# Document structure


@dataclass(slots=True)
class _Heading:
    kind: str
    rank: int
    number: str  # as written: 三, 2, 3.2.1
    marker: str  # 三、 / (二) as written (original punctuation)
    rest: str  # the text after the marker (original), responsibility note removed
    rest_norm: str


@dataclass(slots=True)
class _Field:
    kind: str
    label: str
    text: _Text
    line: int


@dataclass(slots=True)
class _Block:
    heading: _Heading | None
    line: int
    parent: "_Block | None"
    children: list["_Block"] = field(default_factory=list)
    title: str = ""
    title_from_body: bool = False
    body: _Text | None = None
    fields: dict[str, _Field] = field(default_factory=dict)
    prose: list[tuple[_Text, bool]] = field(default_factory=list)  # (paragraph, came after a field)
    role: str = ""  # task | stage | current_work | section | ""
    synthetic: int = 0  # a 任務名稱: line starts a block numbered within its parent
    items: list["_Block"] = field(default_factory=list)  # a numbered list read as part of this block's text

    @property
    def rank(self) -> int:
        return self.heading.rank if self.heading else -2

    def ancestors(self) -> list["_Block"]:
        out = []
        b = self.parent
        while b is not None and (b.heading is not None or b.synthetic):
            out.append(b)
            b = b.parent
        return out[::-1]


_TASK_FIELDS = {"lead_officials", "lead_unit", "responsible", "supporting_units", "deadline"}
_SHARED_FIELDS = {"lead_officials", "supporting_units", "deadline"}  # a section may give these for its tasks
_UNIT_FIELDS = {"lead_officials", "lead_unit", "responsible", "supporting_units"}


def _match_heading(norm: str) -> tuple[str, int, str, int] | None:
    """(kind, rank, number, end of the marker) when a line starts with a heading number."""
    first = norm[:1]
    if not (first.isdigit() or first in "(第" or first in _CN_DIGITS or first in _CIRCLED):
        return None
    for kind, rank, pattern in _HEADINGS:
        m = pattern.match(norm)
        if m:
            if kind == "cn" and not re.fullmatch(r"[一二三四五六七八九十]{1,3}", m.group(1)):
                continue
            return kind, rank, m.group(1), m.end()
    return None


def _cn_number(s: str) -> int:
    digits = {"〇": 0, "零": 0, "一": 1, "二": 2, "两": 2, "兩": 2, "三": 3, "四": 4, "五": 5, "六": 6,
              "七": 7, "八": 8, "九": 9}
    if s.isdigit():
        return int(s)
    total, current = 0, 0
    for ch in s:
        if ch in digits:
            current = digits[ch]
        elif ch == "十":
            total += (current or 1) * 10
            current = 0
        elif ch == "百":
            total += (current or 1) * 100
            current = 0
    return total + current


def _heading_number(h: _Heading) -> str:
    if h.kind == "dotted":
        return h.number
    if h.kind == "circled":
        return str(_CIRCLED.index(h.number) + 1)
    return str(_cn_number(h.number))


def _split_title(rest: str, rest_norm: str) -> tuple[str, str]:
    """A heading's text → (title, body): 抓黨建引領。一是… → (抓黨建引領, 一是…); a long sentence → ("", it)."""
    stripped = rest.rstrip()
    period = rest_norm.find("。")
    colon = rest_norm.find(":")
    if 0 < colon <= 20 and (period == -1 or colon < period) and colon < len(rest_norm.rstrip()) - 1:
        return rest[:colon].strip(), rest[colon + 1 :].strip()
    if period == -1 or period >= len(stripped) - 1:
        if len(stripped) > 60 and re.search("[,，;；]", stripped):
            return "", stripped
        return stripped.rstrip("。.;；,，: "), ""
    if period <= 40:
        return rest[:period].strip(), rest[period + 1 :].strip()
    return "", stripped


def _short_title(text: str) -> str:
    """A title for a task or item whose heading is a long sentence: its first sentence or clause."""
    text = text.strip()
    for seps in ("。;；!?！？", ",，"):
        cut = min([i for i in (text.find(s) for s in seps) if i > 0] or [len(text)])
        if cut <= 40:
            return text[:cut].strip()
    return text[:40]


_DATED_TAIL = re.compile(r"[(（]([^()（）]{2,40})[)）]\s*[。.;；]?$")


def _dated_tail(title: str, context: DeadlineContext | None) -> tuple[str, str]:
    """動員部署階段(2015年7月17日前) → (動員部署階段, 2015年7月17日前) when the parentheses hold a date."""
    m = _DATED_TAIL.search(title)
    if not m or not re.search(r"\d|[一二三四五六七八九十]月|年底|季度|半年", m.group(1)):
        return title, ""
    inner = m.group(1).strip()
    inner = re.sub(r"^(?:時間|时间|完成時限|完成时限|時限|时限)\s*[:：]\s*", "", inner)
    if context is not None and not _parses(inner, context):
        return title, ""
    return title[: m.start()].rstrip(), inner


def _parses(text: str, context: DeadlineContext) -> bool:
    from duban.matrix import deadlines

    try:
        deadlines.parse(text, context=context)
        return True
    except DeadlineError:
        return False


# --------------------------------------------------------------------------------------------
# Fields inside lines


@dataclass(slots=True)
class _Fields:
    """What a line (or the text after a heading number) holds besides its leading text."""

    lead: str  # the text before the first field (original)
    lead_norm: str
    fields: list[tuple[str, str, str]]  # (kind, label, value)
    trailer: bool  # the fields came from a closing (責任單位:…) note
    inner_notes: list[str]  # (責任單位:…) notes in the middle of the text, left in it


def _closing_note(norm: str) -> tuple[int, int] | None:
    """The span of a closing (責任單位:…) note: from its ( to its ), when the text ends with it."""
    end = len(norm.rstrip().rstrip("。.;；,， "))
    if end == 0 or norm[end - 1] != ")":
        return None
    depth = 0
    for i in range(end - 1, -1, -1):
        c = norm[i]
        if c == ")":
            depth += 1
        elif c == "(":
            depth -= 1
            if depth == 0:
                return (i, end) if _vocabulary().line_label.match(norm[i + 1 : end - 1]) else None
    return None


def _labelled(raw: str, norm: str, matches: list[re.Match[str]]) -> list[tuple[str, str, str]]:
    out = []
    for k, m in enumerate(matches):
        end = matches[k + 1].start() if k + 1 < len(matches) else len(raw)
        value = raw[m.end() : end].strip()
        if k + 1 < len(matches):  # the separator before the next label is not part of this value
            value = value.rstrip(";；,，。 ")
        kind, label = _label_kind(m.group(1))
        out.append((kind, label, value))
    return out


def _fields_in(raw: str, norm: str, *, at_start: bool) -> _Fields:
    """Split text into its leading text and its fields: label:value at the start, inline, in a closing note."""
    vocab = _vocabulary()
    trailer_fields: list[tuple[str, str, str]] = []
    note = _closing_note(norm)
    if note:
        a, b = note
        inner_raw, inner_norm = raw[a + 1 : b - 1], norm[a + 1 : b - 1]
        first = vocab.line_label.match(inner_norm)
        inner = [first] if first else []
        inner += [m for m in vocab.inline_label.finditer(inner_norm, first.end() if first else 0)]
        trailer_fields = _labelled(inner_raw, inner_norm, inner)
        raw, norm = raw[:a].rstrip() + raw[b:].strip(), norm[:a].rstrip() + norm[b:].strip()
    matches: list[re.Match[str]] = []
    inner_notes: list[str] = []
    pos = 0
    m = vocab.line_label.match(norm) if at_start else None
    if m:
        matches.append(m)
        pos = m.end()
    for m2 in vocab.inline_label.finditer(norm, pos):
        if m2.start() < pos:
            continue
        if _unbalanced(norm[pos : m2.start()]):
            # A (責任單位:…) note inside the text, not at its end: left in the text, reported.
            close = norm.find(")", m2.end())
            open_ = norm.rfind("(", 0, m2.start() + 1)
            inner_notes.append(raw[open_ : close + 1] if close != -1 else raw[open_:])
            pos = close + 1 if close != -1 else len(norm)
            continue
        matches.append(m2)
        pos = m2.end()
    lead_end = matches[0].start() if matches else len(raw)
    fields = _labelled(raw, norm, matches) + trailer_fields
    return _Fields(raw[:lead_end].strip(), norm[:lead_end].strip(), fields, bool(trailer_fields), inner_notes)


# --------------------------------------------------------------------------------------------
# The parser of one document


class _Parser:
    def __init__(self, lines: list[_Line], leftovers: list[Leftover]) -> None:
        self.lines = lines
        self.leftovers = leftovers
        self.page_lines: list[_Line] = []
        self.root = _Block(heading=None, line=0, parent=None)
        self.header: dict[str, Any] = {}
        self.signature: set[int] = set()
        self.covering: list[_Line] = []  # the addressees and the covering sentence of a 印發 notice
        self.header_leftovers: list[_Line] = []  # short lines above the body that are none of the above
        self.notes: list[Note] = []

    # -- header ---------------------------------------------------------------------------------

    def header_zone(self) -> int:
        """Read the title, issuer, document number and issue date above the body; returns where the body starts."""
        lines = self.lines
        k = 0
        head: list[_Line] = []
        while k < len(lines):
            ln = lines[k]
            if not ln.raw:
                k += 1
                continue
            if _match_heading(ln.norm) or _vocabulary().line_label.match(ln.norm):
                break
            if _is_addressees(ln.norm) or _COVER_LETTER.search(ln.norm):
                self.covering.append(ln)  # 各鄉鎮人民政府，縣政府各部門： / 現將《…》印發給你們
                k += 1
                continue
            if len(ln.norm) > 60 or ln.norm.rstrip()[-1:] in "。;；:":
                break
            head.append(ln)
            k += 1
        titles: list[tuple[str, int]] = []  # lines ending in 方案 / 計劃 / 通知 …
        others: list[_Line] = []
        i = 0
        while i < len(head):
            ln = head[i]
            text = ln.raw.strip()
            issued = _ISSUED_TITLE.search(ln.raw)
            if _DATE_LINE.match(ln.norm.replace(" ", "")) and "issued" not in self.header:
                self.header["issued"] = (_date_of(ln.norm), ln.no)
            elif _DOC_NUMBER.search(ln.norm) or _ATTACHMENT.match(ln.norm):
                self.notes.append(Note(ln.no, f"read as the document number or attachment mark: {text}", "header"))
            elif issued:
                titles.append((next(g for g in issued.groups() if g), ln.no))
            elif _DOC_TYPES.search(text):
                titles.append((text, ln.no))
            elif i + 1 < len(head) and _DOC_TYPES.search(head[i + 1].raw.strip()) \
                    and len(head[i + 1].raw.strip()) <= 10 and " " not in text:
                titles.append((text + head[i + 1].raw.strip(), ln.no))  # a title broken over two lines
                i += 1
            elif _ORG_SUFFIX.search(text) and "issuer" not in self.header:
                self.header["issuer"] = (text, ln.no)
            else:
                others.append(ln)
            i += 1
        if titles:
            self.header["title"] = titles[-1]  # the one nearest the body (a compilation repeats it above)
            for text, no in titles[:-1]:
                self.notes.append(Note(no, f"another title line, not used: {text}", "header"))
        elif others:
            self.header["title"] = (others[0].raw.strip(), others[0].no)
            others = others[1:]
        self.header_leftovers = others
        # A signature at the end: the issuing body, then the date.
        tail = [ln for ln in lines[k:] if ln.raw][-2:]
        if len(tail) == 2 and _DATE_LINE.match(tail[1].norm.replace(" ", "")) and len(tail[0].norm) <= 30 \
                and _ORG_SUFFIX.search(tail[0].raw.strip()):
            self.header.setdefault("issued", (_date_of(tail[1].norm), tail[1].no))
            self.header.setdefault("issuer", (tail[0].raw.strip(), tail[0].no))
            self.signature = {tail[0].no, tail[1].no}
        return k

    # -- body -----------------------------------------------------------------------------------

    def parse(self) -> None:
        start = self.header_zone()
        current = self.root
        open_text: _Text | None = None
        vocab = _vocabulary()
        for ln in self.lines[start:]:
            if not ln.raw:  # a blank line ends a paragraph (not a list a field opened)
                if open_text is not None and not (open_text.opener and not open_text.text):
                    open_text = None
                continue
            if ln.no in self.signature:
                continue
            if _PAGE_LINE.match(ln.norm):
                self.page_lines.append(ln)
                continue
            heading = _match_heading(ln.norm)
            if heading is not None and open_text is not None and open_text.opener and heading[1] > current.rank \
                    and current.heading is not None:
                open_text.add(ln.raw, ln.no)  # a numbered list inside a field: 目標要求: / 1.… / 2.…
                continue
            if heading is not None:
                current, open_text = self._heading(heading, ln, current)
                continue
            if vocab.line_label.match(ln.norm):
                current, open_text = self._field_line(current, ln)
                continue
            unknown = _UNKNOWN_LABEL.match(ln.norm)
            if unknown is not None and current is not self.root:
                self.leftovers.append(Leftover(ln.no, ln.raw, f"{unknown.group(1)!r} is not a field the matrix has", "field"))
                open_text = None
                continue
            current, open_text = self._prose_line(current, ln, open_text)

    def _list_owner(self, current: _Block, ln: _Line) -> _Block:
        """(一)道路建設 / 1.硬化道路10公里。/ 2.修建橋梁2座。/ 牽頭單位:… — a numbered list followed by a field
        belongs to the heading above the list: the items become part of that heading's text."""
        parent = current.parent
        if current.heading is None or current.fields or parent is None or parent is self.root \
                or parent.heading is None or parent.fields:
            return current
        items = parent.children
        if len(items) < 2 or any(c.fields or c.children or c.prose or c.synthetic or c.heading is None for c in items):
            return current
        end = max(parent.body.lines) if parent.body is not None else parent.line
        for item in items:  # consecutive lines (a blank line between them at most)
            if item.line > end + 2:
                return current
            end = max(item.body.lines) if item.body is not None else item.line
        if ln.no > end + 2:
            return current
        parent.items, parent.children = items, []
        self.notes.append(Note(parent.line, f"items {items[0].heading.marker}…{items[-1].heading.marker} (lines "
                               f"{items[0].line}–{end}) read as the text of {parent.heading.marker}, whose fields follow "
                               "them", "joined"))
        return parent

    def _heading(self, found: tuple[str, int, str, int], ln: _Line, current: _Block) -> tuple[_Block, _Text | None]:
        kind, rank, number, marker_end = found
        parent = current
        while parent is not self.root and (parent.rank >= rank or parent.synthetic):
            parent = parent.parent  # type: ignore[assignment]
        parts = _fields_in(ln.raw[marker_end:].strip(), ln.norm[marker_end:].strip(), at_start=False)
        heading = _Heading(kind, rank, number, ln.raw[:marker_end].strip(), parts.lead, parts.lead_norm)
        block = _Block(heading=heading, line=ln.no, parent=parent)
        parent.children.append(block)
        self._inner_notes(ln, parts)
        title, body = _split_title(parts.lead, parts.lead_norm)
        block.title = title
        open_text: _Text | None = None
        if body or not title:
            block.body = _Text("text")
            block.body.add(body, ln.no)
            block.title_from_body = not title
            open_text = block.body
        for kind_, label, value in parts.fields:
            open_text = self._add_field(block, kind_, label, value, ln.no)
        if parts.trailer:
            open_text = None
        return block, open_text

    def _inner_notes(self, ln: _Line, parts: _Fields) -> None:
        for note in parts.inner_notes:
            self.leftovers.append(Leftover(ln.no, note, "a responsibility note inside the text, not at its end: "
                                           "split the measure into tasks by hand", "field"))

    def _field_line(self, current: _Block, ln: _Line) -> tuple[_Block, _Text | None]:
        current = self._list_owner(current, ln)
        parts = _fields_in(ln.raw, ln.norm, at_start=True)
        self._inner_notes(ln, parts)
        open_text: _Text | None = None
        for kind, label, value in parts.fields:
            if kind == "title":
                if label in _AMBIGUOUS_TITLE and (len(value) > 30 or "。" in value.rstrip("。")):
                    kind = "target"
                else:
                    current = self._synthetic_block(current, ln)
                    current.title = value.rstrip("。.;；")
                    open_text = None
                    continue
            if current is self.root:
                self.leftovers.append(Leftover(ln.no, ln.raw, "a field outside any numbered task", "field"))
                return current, None
            open_text = self._add_field(current, kind, label, value, ln.no)
        if parts.trailer:
            open_text = None
        return current, open_text

    def _synthetic_block(self, current: _Block, ln: _Line) -> _Block:
        parent = current
        while parent.synthetic:
            parent = parent.parent  # type: ignore[assignment]
        n = sum(1 for c in parent.children if c.synthetic) + 1
        block = _Block(heading=None, line=ln.no, parent=parent, synthetic=n)
        parent.children.append(block)
        return block

    def _add_field(self, block: _Block, kind: str, label: str, value: str, line: int) -> _Text | None:
        if kind in block.fields:
            f = block.fields[kind]
            if kind in ("supporting_units", "responsible", "note"):
                f.text.add(("、" if f.text.text and value else "") + value, line)
                return f.text
            self.leftovers.append(Leftover(line, f"{label}:{value}", f"a second {label} in one task (the first is on "
                                           f"line {f.line}): split it into tasks by hand", "field"))
            return None
        join = {"lead_officials": "officials", "lead_unit": "units", "responsible": "units",
                "supporting_units": "units", "deadline": "deadline"}.get(kind, "text")
        text = _Text(join)
        text.add(value, line)
        text.opener = not value
        block.fields[kind] = _Field(kind, label, text, line)
        return text

    def _prose_line(self, current: _Block, ln: _Line, open_text: _Text | None) -> tuple[_Block, _Text | None]:
        parts = _fields_in(ln.raw, ln.norm, at_start=False)
        self._inner_notes(ln, parts)
        if parts.fields and not parts.lead:  # a line that is only a (責任單位:…) note
            current = self._list_owner(current, ln)
        if parts.lead:
            if open_text is not None and open_text.accepts(parts.lead_norm):
                open_text.add(parts.lead, ln.no)
            else:
                para = _Text("text")
                para.add(parts.lead, ln.no)
                current.prose.append((para, bool(current.fields)))
                open_text = para
        if parts.fields:
            if current is self.root:
                self.leftovers.append(Leftover(ln.no, ln.raw, "a field outside any numbered task", "field"))
                return current, None
            for kind, label, value in parts.fields:
                open_text = self._add_field(current, kind, label, value, ln.no)
            if parts.trailer:
                open_text = None
        return current, open_text


def _date_of(norm: str) -> dt.date | None:
    m = re.search(r"(\d{4}|[〇零一二三四五六七八九]{4})\s*年\s*([\d一二三四五六七八九十]{1,3})\s*月\s*([\d一二三四五六七八九十]{1,3})", norm)
    if not m:
        return None
    year = m.group(1)
    if not year.isdigit():
        year = "".join(str("〇一二三四五六七八九".index(c)) if c in "〇一二三四五六七八九" else "0" for c in year)
    try:
        return dt.date(int(year), _cn_number(m.group(2)), _cn_number(m.group(3)))
    except ValueError:
        return None


# --------------------------------------------------------------------------------------------
# From blocks to tasks and stages


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


class _Builder:
    def __init__(self, parser: _Parser, notes: list[Note], leftovers: list[Leftover], page_notes: dict[int, list[str]]) -> None:
        self.p = parser
        self.notes = notes
        self.leftovers = leftovers
        self.page_notes = page_notes
        self.tasks: list[_Item] = []
        self.stages: list[_Item] = []
        self.codes: dict[str, int] = {}
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

        mark_sections(self.p.root)

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
        data: dict[str, Any] = {}
        comments: dict[str, str] = {}
        code = self.code(block)
        data["code"] = code
        comments["code"] = f"line {block.line}"
        data["section"] = [self.label(b) for b in block.ancestors()]
        fields = block.fields
        title, dated = _dated_tail(block.title, self.context) if block.title else ("", "")
        if not dated and "deadline" not in fields and title:
            found, span = self.date_in(title)
            if found and span and span[0] == 0 and title[span[1]:].strip(",，、 "):
                # 1.7月20日前召開全區動員大會 (責任單位:區委辦): the date opens the measure itself
                title, dated = title[span[1]:].lstrip(",，、 "), found
                self.notes.append(Note(block.line, f"task {code}: deadline {found} read from the start of its heading",
                                       "deadline"))
        if "title" in fields:
            title = fields["title"].text.text.rstrip("。.;；")
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
        lead, supporting, (lead_lines, support_lines) = self.units(block, code)
        data["lead_unit"] = lead
        data["supporting_units"] = supporting
        if lead_lines:
            comments["lead_unit"] = self.comment(lead_lines)
        if support_lines:
            comments["supporting_units"] = self.comment(support_lines)
        if not lead:
            self.leftovers.append(Leftover(block.line, self.label(block), f"task {code} names no lead unit "
                                           "(牽頭單位 / 責任單位): add one", "field"))
        if "deadline" in fields:
            f = fields["deadline"]
            deadline = f.text.text.strip().rstrip("。.;；,，")
            deadline_line: int | None = f.line
            comments["deadline"] = self.comment(f.text.lines)
        elif dated:
            deadline, deadline_line = dated, block.line
            comments["deadline"] = f"line {block.line}, in the heading"
        elif self.section_deadline(block):
            deadline, deadline_line = self.section_deadline(block)  # type: ignore[misc]
            comments["deadline"] = f"line {deadline_line}, given for the whole section"
        else:
            deadline = f"{self.base_year}年底" if self.base_year else ""
            deadline_line = None
            comments["deadline"] = "no 時間要求 in the text: the end of the plan year, assumed"
            self.notes.append(Note(block.line, f"task {code} has no 時間要求; the deadline {deadline or '(none)'} is assumed",
                                   "deadline_default"))
        data["deadline"] = deadline
        veto = False
        if "veto" in fields:
            veto = fields["veto"].text.text.strip().rstrip("。").lower() in _TRUE_WORDS
            comments["veto"] = self.comment(fields["veto"].text.lines)
        elif re.search("一票否[決决]", target):
            veto = True
            comments["veto"] = "its target says 一票否決"
            self.notes.append(Note(block.line, f"task {code}: its target says 一票否決, so veto is set", "veto"))
        if veto:
            data["veto"] = True
        if "note" in fields:
            data["note"] = fields["note"].text.text
            comments["note"] = self.comment(fields["note"].text.lines)
        data["source_line"] = block.line
        self.tasks.append(_Item(data, comments, deadline_line))

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
            self.leftovers.append(Leftover(f.line, bad, f"task {code}: cannot read this official (write 姓名(職務))", "official"))
        for t in title_only:
            self.notes.append(Note(f.line, f"task {code}: an official named by title only: {t}", "official"))
        return officials, f.text.lines

    def unit_list(self, f: _Field, code: str) -> tuple[list[str], list[str]]:
        names, marked = _parse_units(f.text.text)
        if re.search(r"等(相關|相关|有關|有关)?(單位|单位|部門|部门)?\s*[。.;；]?\s*$", f.text.text):
            self.notes.append(Note(f.line, f"task {code}: {f.label} ends with 等 (and others): only the units "
                                   "named are listed", "unit"))
        return names, marked

    def units(self, block: _Block, code: str) -> tuple[str, list[str], tuple[list[int], list[int]]]:
        fields = block.fields
        lead = ""
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
                supporting += names[1:]
                if len(names) > 1 and not m:
                    self.notes.append(Note(f.line, f"task {code}: several lead units ({'、'.join(names)}); the first "
                                           "leads, the others are listed as supporting", "unit"))
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
        if "supporting_units" in fields or shared is not None:
            f = fields.get("supporting_units") or shared
            assert f is not None
            names, m = self.unit_list(f, code)
            marked += m
            supporting += names
            support_lines += f.text.lines
        if marked:
            chosen = marked[0]
            if fold(chosen) != fold(lead):
                if lead:
                    supporting.insert(0, lead)
                lead = chosen
            self.notes.append(Note(block.line, f"task {code}: {chosen} is marked (牽頭), so it leads", "unit"))
        seen = {fold(lead)} if lead else set()
        unique = []
        for name in supporting:
            if fold(name) not in seen:
                seen.add(fold(name))
                unique.append(name)
        return lead, unique, (lead_lines, support_lines)

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


# --------------------------------------------------------------------------------------------
# Officials and units


_NAME = re.compile(rf"^(?:[{_HAN}]{{2,4}}|[{_HAN}]{{1,6}}[·•][{_HAN}]{{1,6}})$")


def _split_top(text: str, seps: str) -> list[str]:
    """Split at separators outside parentheses: 區紀委(監察局)、區財政局 → two items."""
    return [p.strip() for p in split_outside_parentheses(text, seps) if p.strip()]


def _is_title(text: str) -> bool:
    return text.endswith(_TITLE_SUFFIXES)


def _is_name(text: str) -> bool:
    return bool(_NAME.match(text)) and not _is_title(text) and not text.startswith(("各", "全", "相關", "相关", "有關", "有关"))


def _parse_officials(value: str, *, full_width: bool = False) -> tuple[list[str], list[str], list[str]]:
    """'楊宏偉(區委書記)、徐江(區委副書記、區長)' → ['楊宏偉(區委書記)', '徐江(區委副書記、區長)'].

    Also title before the name (縣委常委、常務副縣長張三; 副縣長 王五; 區委副書記、區長徐江), name before
    the titles (徐江 區委副書記、區長: the titles after the name are all his), titles broken across
    lines (區委副書記\n區長陳明), and names alone. Returns (officials as 姓名(職務), pieces that could
    not be read, officials named by their title only).
    """
    value = value.strip().rstrip("。.;；,，")
    if not value or value in {"無", "无", "/", "-", "—", "暫無", "暂无"}:
        return [], [], []
    lp, rp = ("（", "）") if full_width or "（" in value or "，" in value else ("(", ")")
    people: list[tuple[str, list[str]]] = []
    bad: list[str] = []
    title_only: list[str] = []
    pending: list[str] = []  # titles waiting for the name after them: 縣委常委、常務副縣長張三
    name_first = False  # the last official was written 姓名 職務: a bare title next is one more of his

    def add(name: str, titles: list[str], *, then_titles: bool = False) -> None:
        nonlocal pending, name_first
        people.append((name, [t for t in titles if t]))
        pending, name_first = [], then_titles

    segments = list(_split_top(value, "、,，;；"))
    while segments:
        seg = re.sub(r"\s*同志$", "", segments.pop(0))
        if "(" in seg or "（" in seg:
            m = re.match(r"^([^()（）]+?)\s*[(（](.*)[)）]$", seg, re.S)
            if m and _is_name(m.group(1).strip()):
                add(m.group(1).strip(), pending + [re.sub(r"\s*\n\s*", "、", m.group(2).strip())])
                continue
            bad.append(seg)
            continue
        if "\n" in seg:
            # A line break after a whole title separates two titles (區委副書記 / 區長陳明); anywhere
            # else it is only where the line ran out.
            head, _nl, rest = seg.partition("\n")
            head, rest = head.strip(), rest.strip()
            if _is_title(head.replace(" ", "")) and rest:
                segments[:0] = [head, rest]
                continue
            seg = head + rest
        if " " in seg.strip():
            a, _sp, b = seg.strip().rpartition(" ")
            a, b = a.strip(), b.strip()
            if _is_name(b) and _is_title(a.replace(" ", "")):
                add(b, pending + [a.replace(" ", "")])
                continue
            if _is_name(a) and _is_title(b):
                add(a, pending + [b], then_titles=True)
                continue
            seg = seg.replace(" ", "")
        seg = seg.strip()
        split = next(((seg[:k], seg[k:]) for k in range(len(seg) - 2, 1, -1)  # the longest title leaving a name
                      if _is_title(seg[:k]) and _is_name(seg[k:])), None)
        if _is_name(seg) and split is None:
            add(seg, pending)
        elif _is_title(seg):
            if name_first and people:
                people[-1][1].append(seg)  # 徐江 區委副書記、區長
            else:
                pending.append(seg)
        elif split is not None:  # 區長徐江, 常務副縣長張三
            add(split[1], pending + [split[0]])
        else:
            bad.append(seg)
    out = [f"{name}{lp}{'、'.join(titles)}{rp}" if titles else name for name, titles in people]
    if pending:
        title = "、".join(pending)
        out.append(title)
        title_only.append(title)
    return out, bad, title_only


def _parse_units(value: str) -> tuple[list[str], list[str]]:
    """'區農委、區財政局(牽頭)等' → (['區農委', '區財政局'], ['區財政局']): names, and those marked as lead.

    A closing 等 / 等相關單位 ("and others") names no unit and is dropped (the caller notes it)."""
    value = value.strip().rstrip("。.;；,，")
    if not value or value in {"無", "无", "/", "-", "—"}:
        return [], []
    names: list[str] = []
    marked: list[str] = []
    for item in _split_top(value, "、,，;；/"):
        item = item.strip().strip("“”\"")
        if " " in item and "(" not in item and "（" not in item and all(len(p) >= 2 for p in item.split()):
            candidates = item.split()  # 區農委 區財政局: units separated by spaces (tables, lists)
        else:
            candidates = [item.replace(" ", "")]
        for name in candidates:
            lead = False
            m = re.search(r"[(（](牽頭|牵头|主責|主责|負總責|负总责|牽頭單位|牵头单位)[)）]$", name)
            if m:
                name, lead = name[: m.start()].strip(), True
            name = re.sub(r"等(相關|相关|有關|有关)?(單位|单位|部門|部门)?$", "", name).strip()
            if not name:
                continue
            names.append(name)
            if lead:
                marked.append(name)
    return names, marked


# --------------------------------------------------------------------------------------------
# Extraction


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


def extract(
    text: str,
    *,
    source: str = "",
    base_year: int | None = None,
    plan_code: str | None = None,
    part: int | None = None,
    limits: InputLimits = DEFAULT_LIMITS,
) -> Extraction:
    """Extract the matrix from a plan's text; see the module docstring for what is understood.

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
    numbered = parts[0][0] != 0 or len(parts) > 1
    results = []
    for number, title, lines in parts:
        p_notes: list[Note] = []
        p_left: list[Leftover] = []
        body = lines[1:] if numbered and lines[0].raw and _PART.match(lines[0].norm) else lines
        parser = _Parser(body, p_left)
        parser.parse()
        _check_field_sizes(parser.root, where, limits)
        builder = _Builder(parser, p_notes, p_left, cleaner.page_notes)
        builder.assign_roles()
        results.append((number, title, lines, parser, builder, p_notes, p_left))

    def first_last(lines: list[_Line]) -> tuple[int, int]:
        nonblank = [ln.no for ln in lines if ln.raw]
        return nonblank[0], nonblank[-1]

    part_list = [Part(r[0], r[1], *first_last(r[2]), r[4].task_count()) for r in results] if numbered else []
    if part is not None:
        chosen = [r for r in results if r[0] == part] if numbered else (results if part == 1 else [])
        if not chosen:
            have = "、".join(str(r[0]) for r in results) if numbered else "1 (no 第N篇 headings)"
            raise SourceError(where, f"there is no part {part}; the document has part {have}")
        pick = chosen[0]
    else:
        pick = max(results, key=lambda r: r[4].task_count()) if numbered else results[0]
    number, title, lines, parser, builder, notes, leftovers = pick
    first, last = first_last(lines)
    for r in results:
        if r is not pick:
            a, b = first_last(r[2])
            leftovers.append(Leftover(a, r[2][0].raw if r[2][0].raw else "", f"part {r[0]} 「{r[1]}」 (lines {a}–{b}, "
                                      f"{r[4].task_count()} tasks) is not extracted: choose it with --part {r[0]}", "part"))
    leftovers.extend(x for x in encoding if x.line is not None and first <= x.line <= last)

    header = parser.header
    year, year_why = _base_year(base_year, header, parser)
    context: DeadlineContext | None = None
    start = None
    if year is not None:
        issued = header.get("issued", (None, None))[0]
        start = issued if issued is not None and issued.year == year else dt.date(year, 1, 1)
        context = DeadlineContext(base_year=year, plan_start=start, plan_end=dt.date(year, 12, 31))
    else:
        leftovers.append(Leftover(None, "", "no base year: neither the title, the issue date nor any deadline names "
                                  "a year; give --base-year", "header"))
    builder.build(context, year)

    # Every deadline must be read by the deadline language; the latest due date ends the plan.
    due: list[dt.date] = []
    if context is not None:
        from duban.matrix import deadlines

        for item in [*builder.tasks, *builder.stages]:
            text_ = item.data.get("deadline") or ""
            if not text_:
                continue
            try:
                parsed = deadlines.parse(text_, context=context)
            except DeadlineError as e:
                what = f"stage {item.data['code']}" if "kind" in item.data else f"task {item.data['code']}"
                leftovers.append(Leftover(item.deadline_line, text_, f"{what}: the deadline is not understood ({e.reason}); "
                                          "rewrite it, e.g. 2016年底 or 每月不少於1次", "deadline"))
                continue
            due += [m.due for m in parsed.milestones]

    if cleaner.pinyin_count:
        notes.append(Note(None, f"{cleaner.pinyin_count} pinyin annotations removed on {cleaner.pinyin_lines} lines "
                                "(區(qū) → 區)", "pinyin"))
    for ln, texts in cleaner.page_notes.items():
        if first <= ln <= last:
            notes.extend(Note(ln, t, "page_number") for t in texts)

    code = plan_code or _plan_code(source, number if len(results) > 1 else None, year)
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
    if source or numbered:
        plan_header["source"] = (source or "text") + (f", part {number}" if numbered else "")

    plan = {"plan": plan_header, "tasks": [t.data for t in builder.tasks], "stages": [s.data for s in builder.stages]}
    leftovers.sort(key=lambda x: (x.line is None, x.line or 0))
    notes.sort(key=lambda x: (x.line is not None, x.line or 0))
    return Extraction(
        plan=plan, leftovers=leftovers, notes=notes, part=number if numbered else None, parts=part_list,
        field_comments={"tasks": [t.comments for t in builder.tasks], "stages": [s.comments for s in builder.stages]},
        header_comments=header_comments,
    )


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


# --------------------------------------------------------------------------------------------
# YAML output


_YAML_PRINTABLE = re.compile("[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]|[\x85\u2028\u2029\ufeff]")
_PLAIN_WORD = re.compile(r"^(?!(?:y|n|yes|no|on|off|true|false|null)$)[A-Za-z][A-Za-z_]*$", re.I)
_PLAIN = re.compile(rf"^[{_HAN}“‘《(（][^\s:#,\[\]{{}}'\"&*!|>%@`]*$")


def _q(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    s = str(value)
    if s and (_PLAIN.match(s) or _PLAIN_WORD.match(s)) and not s.endswith(("?", "-")):
        return s
    s = s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    s = _YAML_PRINTABLE.sub(lambda m: f"\\u{ord(m.group()):04x}" if ord(m.group()) <= 0xFFFF else f"\\U{ord(m.group()):08x}", s)
    return f'"{s}"'


def _flow(values: list[Any]) -> str:
    return "[" + ", ".join(_q(v) for v in values) + "]"


def _comment(text: str) -> str:
    text = text.replace("\n", " ")
    return f"  # {text}" if text else ""


def _write_yaml(ex: Extraction, directory: str | None) -> str:
    out: list[str] = []
    plan = ex.plan
    header = plan["plan"]
    src = header.get("source", "")
    out.append(f"# Extracted by `duban matrix extract`{' from ' + src if src else ''} — review it, then "
               "`duban matrix validate` and `duban matrix import`.")
    if ex.leftovers:
        out.append(f"# {len(ex.leftovers)} line(s) could not be placed: they are listed at the end of this file.")
    else:
        out.append("# Every line of the document was placed.")
    for note in ex.notes:
        where = f"line {note.line}: " if note.line else ""
        out.append(f"# note: {where}{note.text}".replace("\n", " "))
    out.append("plan:")
    for key in ("code", "title", "issuer", "base_year", "start", "end", "timezone", "source"):
        if key in header and header[key] is not None:
            value = header[key]
            shown = value if key in ("base_year", "start", "end", "timezone") else _q(value)
            if key == "code":
                shown = json.dumps(str(value), ensure_ascii=False)
            out.append(f"  {key}: {shown}{_comment(ex.header_comments.get(key, ''))}")
    if directory:
        out.append(f"directory: {_q(directory)}")
    out.append("tasks:" if plan["tasks"] else "tasks: []")
    comments = ex.field_comments.get("tasks", [])
    for i, task in enumerate(plan["tasks"]):
        c = comments[i] if i < len(comments) else {}
        out.append("")
        first = True
        for key, value in task.items():
            prefix = "  - " if first else "    "
            first = False
            if key == "code":
                shown = json.dumps(value, ensure_ascii=False)
            elif isinstance(value, list):
                shown = _flow(value)
            else:
                shown = _q(value)
            out.append(f"{prefix}{key}: {shown}{_comment(c.get(key, ''))}")
    out.append("stages:" if plan["stages"] else "stages: []")
    comments = ex.field_comments.get("stages", [])
    for i, stage in enumerate(plan["stages"]):
        c = comments[i] if i < len(comments) else {}
        first = True
        for key, value in stage.items():
            prefix = "  - " if first else "    "
            first = False
            shown = _flow(value) if isinstance(value, list) else _q(value)
            out.append(f"{prefix}{key}: {shown}{_comment(c.get(key, ''))}")
    if ex.leftovers:
        out.append("")
        out.append("# Left over — not placed in the matrix; review each line of the document:")
        for lo in ex.leftovers:
            where = f"line {lo.line}" if lo.line else "document"
            text = f" — {lo.text}" if lo.text else ""
            out.append(f"#   {where}: {lo.reason}{text}".replace("\n", " "))
    return "\n".join(out) + "\n"
