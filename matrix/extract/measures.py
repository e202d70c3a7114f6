"""Measures that name no 責任單位: the unit their text names as its subject, else the plan's default unit.

A village plan lists its measures as headings with a paragraph each — ``(一)切實做好貧困戶精準識別。
局駐XXX村工作組要嚴格按照…`` — and writes ``(責任單位:…)`` under some of them only. Such a heading
is a measure (a task) when it stands under a section of the plan's work (not its 指導思想, 目標 or
原則): its lead unit is the subject its text gives (``X要…``, ``X(以下簡稱…)要…``), else the plan's
default unit — given (``--default-unit``) or named by the plan's opening (由縣農業農村局牽頭…) — and
then the task is marked ``review:`` so that the office confirms it. Under a 保障 / 工作要求 section
(prose about discipline and coordination) a heading is a measure only when it names its subject and
a recurring obligation (每月…不少於1次), which becomes its deadline.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from duban.matrix.extract.structure import _Block
from duban.matrix.extract.vocabulary import _script_class
from duban.matrix.script import fold


def _either(*words: str) -> str:
    """An alternation matching each word in either script (longest first)."""
    return "|".join("".join(_script_class(c) for c in w) for w in sorted(words, key=len, reverse=True))


_UNIT_END = _either("工作組", "工作隊", "黨委", "黨組", "黨支部", "辦公室", "領導小組", "局", "委", "辦", "室", "組", "隊",
                    "中心", "站", "所", "單位", "部門", "政府", "委員會")
# X要 / X(以下簡稱工作組)要 at the start of a clause: the subject of the measure.
_NOT_IN_SUBJECT = "要與与和及的在對对把將将為为從从向"  # a verb or conjunction: not one unit's name
_SUBJECT = re.compile(rf"(?:^|(?<=[。；;，,]))\s*([^\s，,。；;、:：()（）“”\"{_NOT_IN_SUBJECT}]{{1,22}}?(?:{_UNIT_END}))"
                      r"\s*(?:[(（][^()（）]{0,20}[)）])?\s*(?:要|負責|负责|牽頭|牵头)")
_OPENING_UNIT = re.compile(rf"由\s*([^\s，,。；;、:：()（）]{{1,22}}?(?:{_UNIT_END}))\s*(?:牽頭|牵头|負責|负责|組織實施|组织实施)")
_FREQUENCY = re.compile(r"每\s*(月|季度|季|周|週|年|半年)[^。；;]{0,40}?不\s*少\s*[于於]\s*(\d{1,3}|[一二三四五六七八九十])\s*次")
# Sections of a plan that hold no measures, and sections of prose (保障, 要求) that hold few.
_NO_MEASURES = re.compile(r"指导思想|总体思路|总体要求|基本原则|工作目标|主要目标|目标任务|适用范围|工作原则")
_PROSE = re.compile(r"保障|工作要求|组织领导|组织实施|工作纪律|有关要求|其他事项|附则")


@dataclass(frozen=True, slots=True)
class ImpliedUnit:
    """The lead unit a measure without (責任單位:…) gets, and why (for the YAML comment and review:)."""

    unit: str
    why: str
    review: str = ""  # non-empty: the task is marked review: with this reason
    deadline: str = ""  # a recurring obligation its text names (每月不少於1次), when it has no 時間要求


def subject_of(text: str) -> str:
    """The unit a measure's text names as its subject (局駐XXX村工作組要…), or ""."""
    m = _SUBJECT.search(text)
    return m.group(1) if m else ""


def opening_unit(text: str) -> str:
    """The unit a plan's opening names as responsible for the whole plan (由縣農業農村局牽頭…), or ""."""
    m = _OPENING_UNIT.search(text)
    return m.group(1) if m else ""


def frequency_of(text: str) -> str:
    """每月走訪…不少于1次 → 每月不少於1次 (a recurring obligation the deadline language reads), or ""."""
    m = _FREQUENCY.search(fold(text))
    if not m:
        return ""
    period = {"季": "季度", "週": "周"}.get(m.group(1), m.group(1))
    return f"每{period}不少於{m.group(2)}次"


def implied_unit(block: _Block, text: str, default: str) -> ImpliedUnit | None:
    """The lead unit of a heading with no unit field, when it is a measure (see the module docstring)."""
    if block.heading is None or block.children or block.items or block.role:
        return None
    top = [a for a in block.ancestors() if a.heading is not None]
    if not top or any(a.role in ("stage", "current_work") for a in top):
        return None
    section = fold(top[0].title)
    if _NO_MEASURES.search(section):
        return None
    subject = subject_of(text)
    if _PROSE.search(section):
        deadline = frequency_of(text)
        if subject and deadline:
            return ImpliedUnit(subject, f"the subject of its text ({subject}要…)", deadline=deadline)
        return None
    if subject:
        return ImpliedUnit(subject, f"the subject of its text ({subject}要…)", deadline=frequency_of(text))
    if default:
        return ImpliedUnit(default, "the plan's default unit", deadline=frequency_of(text),
                           review=f"no 責任單位 named: the plan's default unit {default} is assumed; confirm it")
    return None
