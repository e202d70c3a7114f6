"""Reading a unit's progress report (a .docx or .txt it sends back) against its open milestones.

A unit answers "how far are you?" with a document: 「面向全社會招募160名精神扶貧志願者,分組包戶對應
全縣各鄉鎮首批篩選的113戶精神扶貧戶」. ``read_progress`` finds the numbers with a measure in it and ties
each to the milestone it most likely reports on, so that the unit (or the office) only confirms:

- **Numbers**: Arabic digits (full-width too, ``1,200``, ``1.5``), Chinese numerals (一百六十, 兩, 二〇),
  with 萬/億 (``1.2萬元`` is 12000 元, ``3萬余人`` 30000 人), followed by a measure word (村 戶 名 人 場
  次 場次 人次 元 萬元 公里 畝 個 項 …; ``25個貧困村`` is 25 村). ``余/多/近/約`` mark the number
  approximate (kept, and said so). Not quantities: a year or date (``2018年``, ``3月5日``), an ordinal
  (``第一批``), a percentage unless a milestone is measured in %, a bare ``一`` (``一項重大任務``,
  ``一次比一次``: an article, not a count), 百/千/萬 without a digit (``千家萬戶``).
- **Matching**: a milestone is a candidate when its measure fits the number's (the same word; or
  kindred words — 名/人, 場/次/場次 — at a lower weight; 萬元 against 元 is converted). Among the
  candidates, the words decide: Chinese two-character pieces (bigrams) shared between the number's
  clause (the sentence elsewhere counts half) and the milestone's task title, target and deadline text,
  each piece weighted by how few of the unit's milestones share it (so 精神扶貧, in every task of a
  精神扶貧 plan, decides nothing), generic report words (開展, 截至, 目前 …) excluded. A measure fit
  with no word in common is no match. Each milestone takes at most one number and each number one
  milestone, best score first (ties: the earlier sentence).
- **Unmatched**: every number with a measure that is not proposed is listed with the reason — no
  milestone with that measure, no words in common, or another number fits that milestone better.

Everything is compared in simplified script with full-width ASCII folded; what is shown (the sentence,
the number as written) is the document's own script, with pinyin glosses (``鄉(xiāng)``) removed.
Pure and time-free: no file, no database, no clock (``workflows.progress_document_service`` reads the
document and the unit's milestones and records what is confirmed).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from duban.matrix.extract.vocabulary import _INVISIBLE, _PINYIN, _WIDTH
from duban.matrix.script import to_simplified

__all__ = ["Found", "OpenMilestone", "Proposal", "Reading", "Unmatched", "clean", "find_quantities", "read_progress"]

_HAN = "\u3400-\u9fff"
_HAN_RE = re.compile(f"[{_HAN}]")

# Measure words, simplified, longest first when matched. 个 alone counts only before a noun below
# (25个贫困村 → 村) or when a milestone is measured in 个.
_MEASURES = (
    "平方公里", "平方米", "立方米", "万元", "亿元", "公里", "千米", "人次", "场次", "户次", "批次",
    "村", "户", "名", "人", "场", "次", "元", "亩", "项", "所", "家", "座", "处", "条", "篇", "首",
    "期", "台", "辆", "套", "间", "吨", "米", "支", "批", "件", "份", "本", "册", "张",
)  # fmt: skip
# Nouns a 个 counts (25个村, 65个贫困村, 3个乡镇): the number's measure is the noun.
_COUNTED_NOUNS = ("乡镇", "社区", "项目", "基地", "学校", "合作社", "村", "户", "镇", "点")
# Measures that count the same things, compared at a lower weight.
_KIN = (frozenset({"名", "人", "人次"}), frozenset({"场", "次", "场次", "期"}), frozenset({"户", "户次"}),
        frozenset({"公里", "千米"}), frozenset({"项", "件"}))
_SCALE = {"万元": ("元", Decimal(10_000)), "亿元": ("元", Decimal(100_000_000)), "千米": ("公里", Decimal(1))}
_KIN_WEIGHT = 0.8
# Report words shared by nearly any sentence and any task: never evidence of a match.
_STOP = frozenset({
    "开展", "截至", "至目", "目前", "进行", "工作", "全县", "全乡", "全区", "全市", "全镇", "各类", "组织", "完成",
    "实现", "累计", "共计", "我们", "一批", "今年", "年以", "以来", "有关", "相关", "落实", "推进", "全面", "深入",
})  # fmt: skip
_MIN_SCORE = 0.5  # at least one piece of the clause only this milestone has, or two it shares

_CN_DIGIT = {"〇": 0, "零": 0, "一": 1, "壹": 1, "二": 2, "贰": 2, "两": 2, "三": 3, "叁": 3, "四": 4, "肆": 4,
             "五": 5, "伍": 5, "六": 6, "陆": 6, "七": 7, "柒": 7, "八": 8, "捌": 8, "九": 9, "玖": 9}
_CN_UNIT = {"十": 10, "拾": 10, "百": 100, "佰": 100, "千": 1000, "仟": 1000}
_CN_BIG = {"万": 10_000, "亿": 100_000_000}
_CN_CHARS = "".join(_CN_DIGIT) + "".join(_CN_UNIT) + "".join(_CN_BIG)

_NUMBER = re.compile(
    rf"(?P<ar>(?<![\d.,A-Za-z])\d{{1,3}}(?:,\d{{3}})+(?:\.\d+)?|(?<![\d.,A-Za-z])\d+(?:\.\d+)?)(?P<big>[万亿](?!元))?"
    rf"|(?P<cn>[{_CN_CHARS}]+)"
)
_APPROX_AFTER = re.compile(r"余|多|来")
_APPROX_BEFORE = ("近", "约", "逾", "超过", "大约", "将近")
_PERCENT_BEFORE = "百分之"
_SENTENCE_END = "。！？!?；;\n"
_CLAUSE_END = _SENTENCE_END + "，,：:"
_SHOWN = 60  # characters of a sentence shown around its number


@dataclass(frozen=True, slots=True)
class OpenMilestone:
    """A milestone the unit may report on: the task's code, title and target, the milestone's position in
    the task (1-based, as ``matrix show`` lists them), its measure (``名``, ``户``, ``名志愿者`` as the
    deadline reader stores it), target quantity, the cumulative quantity already reported, and its label
    (the deadline text it came from)."""

    task: str
    milestone: int
    measure: str
    quantity: Decimal | None = None
    title: str = ""
    target: str = ""
    label: str = ""
    done: Decimal | None = None
    due: dt.date | None = None


@dataclass(frozen=True, slots=True)
class Found:
    """A number with a measure in the document: ``value`` in ``measure`` (simplified, 万 applied), as
    ``written`` (``2800余場``), in paragraph ``paragraph`` (from 1) and its ``sentence`` (gloss-free,
    the document's script)."""

    value: Decimal
    measure: str
    written: str
    paragraph: int
    start: int  # of the number in the paragraph (gloss-free)
    end: int  # after its measure
    sentence: str
    shown: str  # the sentence shortened around the number for display
    approximate: bool = False
    clause: str = field(default="", repr=False)


@dataclass(frozen=True, slots=True)
class Proposal:
    """A progress entry to confirm: ``quantity`` (in the milestone's measure, cumulative) on ``milestone``,
    read from ``found``; ``confidence`` 0–1, ``why`` in words (measure and shared words)."""

    milestone: OpenMilestone
    quantity: Decimal
    found: Found
    confidence: float
    why: str
    shared: tuple[str, ...] = ()

    @property
    def level(self) -> str:
        return "high" if self.confidence >= 0.66 else "medium" if self.confidence >= 0.33 else "low"


@dataclass(frozen=True, slots=True)
class Unmatched:
    """A number with a measure that no milestone takes, and why."""

    found: Found
    reason: str


@dataclass(frozen=True, slots=True)
class Reading:
    proposals: tuple[Proposal, ...]
    unmatched: tuple[Unmatched, ...]


# --------------------------------------------------------------------------------------------
# Text


def clean(text: str) -> str:
    """The text as read: pinyin glosses after characters removed (鄉(xiāng) → 鄉), invisible characters
    dropped. Script and punctuation stay the document's."""
    text = text.translate(_INVISIBLE)
    return _PINYIN.sub("", text) if ("(" in text or "（" in text) else text


def _normal(text: str) -> str:
    """Simplified script, full-width ASCII folded, character for character (same length as ``text``)."""
    width = text.translate(_WIDTH)
    simple = to_simplified(width)
    if len(simple) == len(width):
        return simple
    return "".join(s if len(s := to_simplified(c)) == 1 else c for c in width)


def _cn_value(token: str) -> int | None:
    """一百六十 → 160, 二〇一八 → 2018, 三万 → 30000; None when the token has no digit (百, 千, 万)."""
    if not any(c in _CN_DIGIT for c in token) and token not in ("十", "拾"):
        return None
    if not any(c in _CN_UNIT or c in _CN_BIG for c in token):
        return int("".join(str(_CN_DIGIT[c]) for c in token))
    yi = wan = section = digits = 0
    for c in token:
        if c in _CN_DIGIT:
            digits = _CN_DIGIT[c]
        elif c in _CN_UNIT:
            section += (digits or 1) * _CN_UNIT[c]
            digits = 0
        elif c == "万":
            wan = (section + digits or 1) * 10_000
            section = digits = 0
        else:  # 亿
            yi = (wan + section + digits or 1) * 100_000_000
            wan = section = digits = 0
    return yi + wan + section + digits


def _bounds(norm: str, start: int, end: int, stops: str) -> tuple[int, int]:
    left = max((norm.rfind(c, 0, start) for c in stops), default=-1) + 1
    rights = [i for c in stops if (i := norm.find(c, end)) != -1]
    return left, (min(rights) + 1 if rights else len(norm))


def _shorten(sentence: str, start: int, end: int, limit: int = _SHOWN) -> str:
    sentence_stripped = sentence.strip()
    if len(sentence_stripped) <= limit:
        return sentence_stripped
    lead = sentence.index(sentence_stripped[0]) if sentence_stripped else 0
    start, end = start - lead, end - lead
    before = max(0, min(start - (limit - (end - start)) // 2, len(sentence_stripped) - limit))
    piece = sentence_stripped[before:before + limit]
    return ("…" if before > 0 else "") + piece + ("…" if before + limit < len(sentence_stripped) else "")


def _measure_at(norm: str, pos: int, extra: Sequence[str]) -> tuple[str, int] | None:
    """The measure word starting at ``pos`` and where it ends; 个 + noun gives the noun."""
    if norm.startswith("个", pos):
        for noun_at in range(pos + 1, min(len(norm), pos + 5)):
            for noun in _COUNTED_NOUNS:
                if norm.startswith(noun, noun_at) and all(_HAN_RE.match(c) for c in norm[pos + 1:noun_at]):
                    return noun, noun_at + len(noun)
        return ("个", pos + 1) if "个" in extra else None
    for word in extra:
        if norm.startswith(word, pos):
            return word, pos + len(word)
    return None


def find_quantities(paragraphs: Iterable[str], extra_measures: Sequence[str] = ()) -> list[Found]:
    """Every number with a measure in the paragraphs (see the module docstring for what is not one).
    ``extra_measures``: further measure words (simplified) to recognise, e.g. the milestones' own; a
    percentage is read only when ``%`` is among them."""
    out: list[Found] = []
    extra = tuple(sorted({*_MEASURES, *(w for w in extra_measures if w and w != "%")}, key=len, reverse=True))
    extra += ("%",) if "%" in extra_measures else ()
    for number, paragraph in enumerate(paragraphs, start=1):
        text = clean(paragraph)
        norm = _normal(text)
        for m in _NUMBER.finditer(norm):
            found = _quantity(m, text, norm, number, extra)
            if found is not None:
                out.append(found)
    return out


def _quantity(m: re.Match[str], text: str, norm: str, paragraph: int, extra: tuple[str, ...]) -> Found | None:
    start, end = m.start(), m.end()
    before = norm[max(0, start - 3):start]
    if before.endswith("第"):  # 第一批, 第3场: an ordinal
        return None
    if m.group("ar") is not None:
        value = Decimal(m.group("ar").replace(",", ""))
        if m.group("big"):
            value *= _CN_BIG[m.group("big")]
    else:
        token = m.group("cn")
        if token in ("一", "壹"):  # 一项重大任务, 一次比一次: an article
            return None
        cn = _cn_value(token)
        if cn is None:
            return None
        value = Decimal(cn)
    if norm.startswith(("年", "月", "日", "号", "-", "/"), end) or (norm.startswith(".", end) and value >= 1900):
        return None  # a year or a date: 2018年, 2018-03, 3月5日
    approximate = any(before.endswith(w) for w in _APPROX_BEFORE)
    pos = end
    approx = _APPROX_AFTER.match(norm, pos)
    if approx:
        approximate, pos = True, approx.end()
    if norm[max(0, start - 3):start] == _PERCENT_BEFORE or norm.startswith("%", pos):
        if "%" not in extra:  # a percentage is a quantity only for a milestone measured in %
            return None
        measure, stop = "%", (pos + 1 if norm.startswith("%", pos) else pos)
        if norm[max(0, start - 3):start] == _PERCENT_BEFORE:
            start -= 3
    else:
        at = _measure_at(norm, pos, extra)
        if at is None:
            return None
        measure, stop = at
    if norm.startswith(("(次)", "（次）"), stop):
        stop += 3
    if measure in _SCALE and not m.group("big"):
        base, factor = _SCALE[measure]
        value, measure = value * factor, base
    left, right = _bounds(norm, start, stop, _SENTENCE_END)
    c_left, c_right = _bounds(norm, start, stop, _CLAUSE_END)
    sentence = text[left:right]
    return Found(value=value, measure=measure, written=text[start:stop], paragraph=paragraph, start=start, end=stop,
                 sentence=sentence.strip(), shown=_shorten(sentence, start - left, stop - left),
                 approximate=approximate, clause=norm[c_left:c_right])


# --------------------------------------------------------------------------------------------
# Matching


def _split_measure(measure: str) -> tuple[str, str]:
    """名志愿者 → (名, 志愿者); 个村 → (村, ""); the measure word and the noun the deadline text added."""
    norm = _normal(measure or "").strip()
    if norm.startswith("个") and len(norm) > 1:
        norm = norm[1:]
    for word in sorted(_MEASURES, key=len, reverse=True):
        if norm.startswith(word):
            return word, norm[len(word):]
    return norm, ""


def _fit(found: str, milestone: str) -> tuple[float, Decimal]:
    """How well a number's measure fits a milestone's: (weight, factor to the milestone's measure)."""
    if found == milestone:
        return 1.0, Decimal(1)
    if milestone in _SCALE and _SCALE[milestone][0] == found:  # 12000 元 against 万元
        return 1.0, 1 / _SCALE[milestone][1]
    if any(found in kin and milestone in kin for kin in _KIN):
        return _KIN_WEIGHT, Decimal(1)
    return 0.0, Decimal(1)


def _bigrams(text: str) -> set[str]:
    return {text[i:i + 2] for i in range(len(text) - 1)
            if _HAN_RE.match(text[i]) and _HAN_RE.match(text[i + 1])} - _STOP


def _runs(text: str, pieces: set[str]) -> tuple[str, ...]:
    """The stretches of ``text`` covered by shared pieces, for showing why (精神扶贫志愿者)."""
    covered = [False] * len(text)
    for i in range(len(text) - 1):
        if text[i:i + 2] in pieces:
            covered[i] = covered[i + 1] = True
    runs: list[str] = []
    current = ""
    for c, on in zip(text, covered):
        if on:
            current += c
        elif current:
            runs.append(current)
            current = ""
    if current:
        runs.append(current)
    return tuple(dict.fromkeys(runs))


def _decimal_shown(value: Decimal) -> str:
    return format(value.quantize(Decimal(1)) if value == value.to_integral_value() else value.normalize(), "f")


def read_progress(paragraphs: Sequence[str], milestones: Sequence[OpenMilestone]) -> Reading:
    """Proposals (one per milestone at most) and the unmatched numbers of a progress report."""
    split = [_split_measure(m.measure) for m in milestones]
    words = [_bigrams(_normal(f"{m.title} {m.target} {m.label} {noun}")) for m, (_, noun) in zip(milestones, split)]
    df: dict[str, int] = {}
    for w in words:
        for b in w:
            df[b] = df.get(b, 0) + 1
    found_all = find_quantities(paragraphs, extra_measures=[s for s, _ in split])
    pairs: list[tuple[float, int, int, Decimal, tuple[str, ...], float, str]] = []
    best_reason: dict[int, str] = {}
    for fi, found in enumerate(found_all):
        sentence = _normal(found.sentence)
        near, far = _bigrams(found.clause), _bigrams(sentence)
        fitting = False
        for mi, (m, (measure, _)) in enumerate(zip(milestones, split)):
            weight, factor = _fit(found.measure, measure)
            if weight == 0.0:
                continue
            fitting = True
            shared_near = near & words[mi]
            shared_far = (far - near) & words[mi]
            score = sum(1 / df[b] for b in shared_near) + 0.5 * sum(1 / df[b] for b in shared_far)
            if score < _MIN_SCORE:
                best_reason.setdefault(fi, f"measure {found.measure} fits {m.task} ({m.measure}) but the sentence "
                                           "shares no distinctive words with it")
                continue
            score *= weight
            confidence = min(1.0, score / 2.0)
            shown = _runs(found.clause, shared_near) or _runs(sentence, shared_far)
            fit = "=" if weight == 1.0 else "≈"
            why = f"measure {found.measure} {fit} {measure}; shared words: {'、'.join(_shown_runs(found, shown))}"
            pairs.append((score, fi, mi, found.value * factor, shown, confidence, why))
        if not fitting:
            best_reason[fi] = f"no open milestone is measured in {found.measure}"
    pairs.sort(key=lambda p: (-p[0], found_all[p[1]].paragraph, found_all[p[1]].start))
    taken_f: dict[int, int] = {}
    taken_m: dict[int, int] = {}
    proposals: list[Proposal] = []
    for _score, fi, mi, quantity, shown, confidence, why in pairs:
        if fi in taken_f:
            continue
        if mi in taken_m:
            winner = found_all[taken_m[mi]]
            best_reason.setdefault(fi, f"fits {milestones[mi].task} but 「{winner.written}」 fits it better")
            continue
        taken_f[fi], taken_m[mi] = mi, fi
        m = milestones[mi]
        if m.done is not None and quantity < m.done:
            why += f"; lower than the {_decimal_shown(m.done)} already reported (a correction)"
        elif m.done is not None and quantity == m.done:
            why += "; the same as already reported"
        if found_all[fi].approximate:
            why += "; the document gives it as approximate"
        proposals.append(Proposal(milestone=m, quantity=quantity, found=found_all[fi], confidence=round(confidence, 2),
                                  why=why, shared=shown))
    proposals.sort(key=lambda p: (p.found.paragraph, p.found.start))
    unmatched = tuple(Unmatched(f, best_reason.get(i, "no milestone fits")) for i, f in enumerate(found_all)
                      if i not in taken_f)
    return Reading(tuple(proposals), unmatched)


def _shown_runs(found: Found, runs: tuple[str, ...]) -> list[str]:
    """The shared words in the document's own script (runs are in the simplified form)."""
    sentence = found.sentence
    norm = _normal(sentence)
    out = []
    for r in runs:
        i = norm.find(r)
        out.append(sentence[i:i + len(r)] if i >= 0 else r)
    return out
