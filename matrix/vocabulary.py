"""duban's words, once: notice kinds, status lights, roles, escalation colours, and the notice-kind registry.

Every value is a ``StrEnum`` whose values are the strings the store, the templates and the config
files have always held ("reminder", "red", "lead_unit_head" …), so a member compares equal to the
stored string and nothing stored changes. Code names members (``NoticeKind.CHASE``); rows and
templates keep their strings.

``parse_day`` reads a day as a person types it (``--as-of``, a flow's ``as_of``): ``YYYY-MM-DD``, or
``YYYYMMDD`` as that date, never a Unix timestamp.

``NOTICE_KIND_SPECS`` says, for each kind of notice duban writes, which templates it needs (per
language folder), which subject macro titles it, its labels in each language, which kind supersedes
an unsent one, and whether a recipient is expected to acknowledge (簽收) it. ``tests/unit/
test_vocabulary.py`` walks ``notifications/templates/<lang>/`` and fails when a kind lacks a template
or a label, so adding a kind here without its templates (or the reverse) is caught.

Pure: no I/O, no clock.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from enum import StrEnum


class NoticeKind(StrEnum):
    """What a message is. The first three are per-item notices the sweep plans (stored in
    ``notice.kind``); a digest gathers one recipient's notices; criticism and praise are the weekly
    report's circulations (通報批評, 通報表揚); the last two are per-item notices too (``notice.kind``),
    written by the office's review of a unit's closing request (workflows.closing_service), each one
    letter of its own (never in a digest); ``part_refused`` likewise tells a supporting unit that its part
    (配合单位报送) was not accepted (workflows.progress_acceptance)."""

    REMINDER = "reminder"  # 提醒: before the due date
    CHASE = "chase"  # 催辦: after it, repeated
    ESCALATION = "escalation"  # 督辦: up the ladder, by level
    DIGEST = "digest"  # one recipient's notices in one mail
    CRITICISM = "criticism"  # 通報批評
    PRAISE = "praise"  # 通報表揚
    CLOSING_RETURNED = "closing_returned"  # 辦結申請退回: the office returned a unit's closing request
    CLOSING_CLOSED = "closing_closed"  # 辦結確認: the office closed the item a unit asked to close
    PART_REFUSED = "part_refused"  # 配合單位報送未予採納: the lead, a co-lead or the office refused a part


class Family(StrEnum):
    """How a kind is rendered: one item's notice, a digest of notices, or a circulation about a unit."""

    NOTICE = "notice"
    DIGEST = "digest"
    CIRCULATION = "circulation"
    CLOSING = "closing"  # the office's answer to one unit's closing request (辦結申請)
    PART = "part"  # the answer to a supporting unit's part (配合單位報送) that was refused


class Light(StrEnum):
    """An item's or a task's status light."""

    CLOSED = "closed"
    GREEN = "green"
    YELLOW = "yellow"
    RED = "red"


LIGHT_ORDER: tuple[Light, ...] = (Light.CLOSED, Light.GREEN, Light.YELLOW, Light.RED)  # worst last


class LightReason(StrEnum):
    """Why an item has its light."""

    CLOSED = "closed"
    ON_TRACK = "on_track"
    DUE_SOON = "due_soon"
    BEHIND_PACE = "behind_pace"
    OVERDUE = "overdue"


class ItemKind(StrEnum):
    """A supervised item: a dated milestone (節點) or one period of a recurring obligation."""

    MILESTONE = "milestone"
    INSTANCE = "instance"


class Role(StrEnum):
    """A unit's part in a task, as scoring counts it. Scoring answers to the lead unit alone; a co-lead unit
    (共同牽頭), addressed with it on every notice, is counted with its supporting facts."""

    LEAD = "lead"
    SUPPORTING = "supporting"


class LadderRole(StrEnum):
    """Whom a policy's reminder, chase or escalation level names (config/policy.yaml ``to``/``cc``)."""

    LEAD_UNIT = "lead_unit"
    SUPPORTING_UNITS = "supporting_units"
    LEAD_UNIT_HEAD = "lead_unit_head"
    LEAD_OFFICIALS = "lead_officials"
    OFFICE = "office"
    OFFICE_HEAD = "office_head"
    TOP_LEADER = "top_leader"


class RecipientRole(StrEnum):
    """One 主送/抄送 entry of a stored notice: ``{"role": …, "name": …}`` (name "" for office roles)."""

    UNIT = "unit"
    UNIT_HEAD = "unit_head"
    OFFICIAL = "official"
    OFFICE = "office"
    OFFICE_HEAD = "office_head"
    TOP_LEADER = "top_leader"


class LevelColour(StrEnum):
    """An escalation level's colour as the plans and the policy write it (藍/橙/紅 督辦)."""

    BLUE = "藍"
    ORANGE = "橙"
    RED = "紅"

    @property
    def key(self) -> str:
        """The colour's language-free name: blue | orange | red."""
        return self.name.lower()


# The default colour of each escalation level; a policy's ladder may name its own per level.
LEVEL_COLOURS: dict[int, LevelColour] = {1: LevelColour.BLUE, 2: LevelColour.ORANGE, 3: LevelColour.RED}

# How far ahead periods of recurring obligations exist and are shown, one value for the sweep (which
# creates them), ``status`` and the weekly report (which show them). 40 days, the larger of the two
# values duban had (the sweep created 31 days ahead, status and the report showed 40): a monthly
# obligation's next period exists about ten days before its month begins, so what status and the
# report show is what the sweep holds and can remind, and no screen depends on an earlier sweep
# having created more.
INSTANCE_HORIZON = dt.timedelta(days=40)


# --------------------------------------------------------------------------------------------
# The notice-kind registry


@dataclass(frozen=True, slots=True)
class KindSpec:
    """What one notice kind needs and means.

    ``templates``: the files each language folder (``notifications/templates/<lang>/``) must hold;
    ``subject``: the macro of ``_subjects.j2`` that titles it; ``labels``: its name per language
    (zh-Hans and en; zh-Hant is converted from zh-Hans); ``superseded_by``: a newer unsent notice of
    one of these kinds in the same series replaces an unsent one (delivery marks the older one
    superseded); ``needs_ack``: a recipient is expected to acknowledge (簽收) it — the default of
    scoring's ``acknowledgements.kinds``; ``ack_stops_series``: an acknowledgement stops the rest of
    its series (escalation never stops).
    """

    kind: NoticeKind
    family: Family
    subject: str
    labels: dict[str, str]
    superseded_by: tuple[NoticeKind, ...] = ()
    needs_ack: bool = False
    ack_stops_series: bool = False

    @property
    def templates(self) -> tuple[str, ...]:
        return (f"{self.kind}.txt.j2", f"{self.kind}.html.j2")


LABEL_LANGUAGES = ("zh-Hans", "en")
TEMPLATE_LANGUAGES = ("zh-Hans", "en")  # the package's folders: zh-Hant renders the zh-Hans templates

# In order: the notices the sweep plans mildest first (a digest groups them gravest first), then the rest.
NOTICE_KIND_SPECS: dict[NoticeKind, KindSpec] = {spec.kind: spec for spec in (
    KindSpec(NoticeKind.REMINDER, Family.NOTICE, "notice", {"zh-Hans": "提醒函", "en": "reminder"},
             superseded_by=(NoticeKind.REMINDER,), ack_stops_series=True),
    KindSpec(NoticeKind.CHASE, Family.NOTICE, "notice", {"zh-Hans": "催办通知", "en": "chase"},
             superseded_by=(NoticeKind.CHASE,), needs_ack=True, ack_stops_series=True),
    KindSpec(NoticeKind.ESCALATION, Family.NOTICE, "notice", {"zh-Hans": "督办通知", "en": "escalation"},
             needs_ack=True),
    KindSpec(NoticeKind.DIGEST, Family.DIGEST, "digest", {"zh-Hans": "督办事项汇总", "en": "digest"}),
    KindSpec(NoticeKind.CRITICISM, Family.CIRCULATION, "circulation", {"zh-Hans": "通报批评", "en": "criticism"}),
    KindSpec(NoticeKind.PRAISE, Family.CIRCULATION, "circulation", {"zh-Hans": "通报表扬", "en": "commendation"}),
    KindSpec(NoticeKind.CLOSING_RETURNED, Family.CLOSING, "closing",
             {"zh-Hans": "办结申请退回通知", "en": "closing request returned"}),
    KindSpec(NoticeKind.CLOSING_CLOSED, Family.CLOSING, "closing", {"zh-Hans": "办结确认通知", "en": "closing confirmed"}),
    KindSpec(NoticeKind.PART_REFUSED, Family.PART, "part", {"zh-Hans": "配合单位报送未予采纳通知", "en": "part refused"}),
)}


def kinds_of(family: Family) -> tuple[NoticeKind, ...]:
    """The kinds of one family, in the registry's order."""
    return tuple(k for k, spec in NOTICE_KIND_SPECS.items() if spec.family is family)


NOTICE_KINDS: tuple[NoticeKind, ...] = kinds_of(Family.NOTICE)  # what the sweep plans, one item each
CIRCULATION_KINDS: tuple[NoticeKind, ...] = kinds_of(Family.CIRCULATION)
CLOSING_KINDS: tuple[NoticeKind, ...] = kinds_of(Family.CLOSING)  # stored notices, each a letter of its own
PART_KINDS: tuple[NoticeKind, ...] = kinds_of(Family.PART)  # stored notices too, each a letter of its own
# The event a written notice leaves (a closing or part notice's is the decision, which names the notice).
NOTICE_EVENTS: dict[str, str] = {k.value: f"notice.{k}" for k in NOTICE_KINDS + CLOSING_KINDS + PART_KINDS}
SUPERSEDABLE_KINDS: tuple[NoticeKind, ...] = tuple(k for k, s in NOTICE_KIND_SPECS.items() if s.superseded_by)
ACK_KINDS: tuple[NoticeKind, ...] = tuple(k for k, s in NOTICE_KIND_SPECS.items() if s.needs_ack)


def registry_gaps(specs: dict[NoticeKind, KindSpec], templates: dict[str, set[str]],
                  subjects: dict[str, set[str]]) -> list[str]:
    """What the registry ``specs`` lacks against the template folders, one sentence each (empty: none).

    ``templates`` maps a language folder to the file names in it, ``subjects`` a language folder to the
    macro names its ``_subjects.j2`` defines. Checked: every kind has both labels, its templates and
    its subject macro in every language folder.
    """
    gaps: list[str] = []
    for kind, spec in specs.items():
        for lang in LABEL_LANGUAGES:
            if not spec.labels.get(lang, "").strip():
                gaps.append(f"{kind}: no {lang} label")
        for lang in TEMPLATE_LANGUAGES:
            present = templates.get(lang, set())
            gaps.extend(f"{kind}: no template {lang}/{name}" for name in spec.templates if name not in present)
            if spec.subject not in subjects.get(lang, set()):
                gaps.append(f"{kind}: no subject macro {spec.subject!r} in {lang}/_subjects.j2")
    return gaps


# --------------------------------------------------------------------------------------------
# Days as typed

DAY_FORMAT = "YYYY-MM-DD"
_ISO_DAY = re.compile(r"(\d{4})-(\d{2})-(\d{2})", re.ASCII)
_BASIC_DAY = re.compile(r"(\d{4})(\d{2})(\d{2})", re.ASCII)


def parse_day(text: str) -> dt.date:
    """A day as a person types it: ``YYYY-MM-DD``, or ``YYYYMMDD`` read as that date (``20190715`` is
    2019-07-15, never a Unix timestamp). Anything else — ``2019-7-5``, ``15/07/2019``, ``1563148800``,
    ``2019-02-30``, nothing — raises ``ValueError``: ``"2019-7-5" is not a date; use YYYY-MM-DD``."""
    from duban.matrix.errors import shorten

    found = _ISO_DAY.fullmatch(text.strip()) or _BASIC_DAY.fullmatch(text.strip())
    try:
        if found is None:
            raise ValueError(text)
        year, month, day = (int(part) for part in found.groups())
        return dt.date(year, month, day)
    except ValueError:
        raise ValueError(f'"{shorten(text, 40)}" is not a date; use {DAY_FORMAT}') from None


#: How status, `matrix show` and reports mark a period of ongoing work (持續推進, 長期堅持 …), per language.
ONGOING_MARK = {"zh-Hans": "持续", "zh-Hant": "持續", "en": "ongoing"}


_CN_DIGIT = {c: i for i, c in enumerate("〇一二三四五六七八九")} | {"零": 0, "两": 2, "兩": 2}


def cn_number(word: str) -> int | None:
    """一 → 1, 十二 → 12, 二十 → 20, 一百零五 → 105, 3 → 3: the number of a heading or a date part,
    or None when ``word`` is not one (headings and plan documents number with these)."""
    if word.isdigit():
        return int(word)
    total, digit = 0, 0
    for ch in word:
        if ch == "百":
            total += (digit or 1) * 100
            digit = 0
        elif ch == "十":
            total += (digit or 1) * 10
            digit = 0
        elif ch in _CN_DIGIT:
            digit = _CN_DIGIT[ch]
        else:
            return None
    return total + digit or None
