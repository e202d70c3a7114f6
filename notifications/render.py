"""Notices and circulations as official documents (公文): Jinja2 templates → subject, plain text and HTML.

Everything a template may show about one notice is a frozen ``NoticeView`` (built from the store by
``notifications.views``); the recipient is a ``RecipientView`` and the sending office's header a
``Letterhead``. ``Renderer`` turns them into ``Rendered(subject, text, html)``:

- Templates live in ``templates/<lang>/<name>.<html|txt>.j2`` (``reminder``, ``chase``,
  ``escalation``, ``digest``, ``criticism``, ``praise``, and the closing request's ``closing_returned``
  (退回通知) and ``closing_closed`` (辦結確認), whose ``NoticeView.closing`` holds the request and decision, and
  a supporting unit's refused part's ``part_refused`` (未予採納, ``NoticeView.part``), with ``_subjects.j2`` (subject lines) and
  ``_macros.j2`` (sentences shared by text and HTML; HTML templates import it as
  ``html:_macros.j2`` so that it escapes there) beside them, and the language-free HTML layout
  (``_layout.html.j2``, ``_css.html.j2``: inline CSS only, mail clients strip ``<style>``) in
  ``templates/common``. An office's own templates in ``override_dir/<lang>/`` win over the package's.
- Chinese templates are written once, in simplified script. The rendered zh-Hans output is passed
  through ``to_simplified`` and zh-Hant through ``to_traditional``, so unit names and texts stored in
  either script come out in the chosen one. Person names marked with the ``person`` filter are kept
  as the directory writes them in zh-Hant (OpenCC would turn 夏于峰 into 夏於峯).
- StrictUndefined everywhere; autoescape on for ``*.html.j2`` and off for ``*.txt.j2``. A template
  error becomes a ``ConfigError`` naming the template file and line.
- Subjects are one line: any run of whitespace, CR or LF collapses to one space. A per-notice subject
  names only the task (no dates, no counters), so mail clients thread a task's notices together.
- A digest gathers one recipient's notices. Each item's 办理要求 is what the letter of that kind and
  level asks of the recipient's part in that notice (``NoticeView.capacity``: lead unit, leader,
  office or supporting unit, read from the notice's 主送/抄送 entry with the recipient's address), in
  the letters' own sentences (the ``_macros.j2`` macros both use). A recipient given in the
  directory's display form ("林光(區人民政府副區長)", "區扶貧辦 主任") is read back into name and title,
  so that the digest addresses it as the letters do (林光同志, 區扶貧辦主任).
- Deterministic: the same inputs give the same bytes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from duban.matrix.errors import ConfigError
from duban.matrix.scoring import Circulation, Line
from duban.matrix.script import fold, to_simplified, to_traditional
from duban.matrix.vocabulary import (
    CIRCULATION_KINDS,
    CLOSING_KINDS,
    LEVEL_COLOURS,
    NOTICE_KIND_SPECS,
    NOTICE_KINDS,
    PART_KINDS,
    LevelColour,
    NoticeKind,
    RecipientRole,
)
from duban.matrix.wording import chinese_date, chinese_number, english_date  # noqa: F401 - re-exported

LANGUAGES = ("zh-Hans", "zh-Hant", "en")
TEMPLATES = Path(__file__).parent / "templates"

# Escalation colours (as plans write them, in either script) by their language-free names, and the
# colour names each language shows.
_COLOUR_KEYS = {**{c.value: c.key for c in LevelColour}, "蓝": "blue", "红": "red"}
_COLOUR_NAMES = {
    "zh": {"blue": "蓝", "orange": "橙", "red": "红"},
    "en": {"blue": "Blue", "orange": "Orange", "red": "Red"},
}
_COLOUR_HEX = {"blue": "#1f5fbf", "orange": "#e07b00", "red": "#c00000", "": "#7f7f7f"}

# A person's name wrapped in these private-use characters is not script-converted in zh-Hant.
_KEEP, _END = "\ue000", "\ue001"
_KEPT = re.compile(f"{_KEEP}(.*?){_END}", re.S)
_SUBJECT_SPACE = re.compile(r"[\s\x00-\x1f\x7f]+")
_LINE_BREAKS = re.compile(r"[\r\n\v\f\x85\u2028\u2029]+")
# Control characters other than tab and the line breaks above (ESC of a terminal escape, NUL, BEL, DEL, C1)
_CONTROLS = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f]")
# A digest's groups, the gravest first: the registry lists the notice kinds mildest first (reminder, chase,
# escalation), so a kind added there is grouped in a digest without a list here to update.
_KIND_ORDER = {kind: n for n, kind in enumerate(reversed(NOTICE_KINDS))}
_PERSON_TITLE = re.compile(r"([^()（）]+?)\s*[(（](.+)[)）]", re.S)  # 林光(區人民政府副區長)


@dataclass(frozen=True)
class RecipientView:
    """Who a rendering is for. For ``unit_head`` / ``office_head`` ``name`` is the unit, ``title`` the
    head's title and ``person`` the head's own name when the directory gives one; for ``official`` /
    ``top_leader`` ``name`` is the person. An empty ``title`` means ``name`` is already the display form
    (e.g. "區扶貧辦 主任"); ``Renderer.digest`` reads such a form back into its parts."""

    name: str
    title: str = ""
    email: str = ""
    role: str = "unit"  # unit | unit_head | official | office | office_head | top_leader
    person: str = ""  # a unit head's own name (李衛東), addressed as 李衛東同志


@dataclass(frozen=True)
class ClosingFacts:
    """What a closing notice (退回通知, 辦結確認) says of the unit's closing request (辦結申請) and the
    office's decision, as the notice stored them when the office decided."""

    request_id: int
    unit: str  # the unit that asked (the lead or a co-lead unit)
    requested_on: date
    requested_by: str
    note: str  # what the unit wrote (辦結情況)
    files: tuple[str, ...]  # its evidence files, by the names they were sent with
    decided_on: date
    decided_by: str
    decision: str  # the office's reason for returning it, or its note on closing ("" none)


@dataclass(frozen=True)
class PartFacts:
    """What a part notice (配合單位報送未予採納) says of a supporting unit's part (配合單位報送) and its refusal,
    as the notice stored them when the lead unit, a co-lead unit or the office refused it."""

    report_id: int
    unit: str  # the supporting unit that sent it
    reported_on: date
    reported_by: str
    done: str  # what it reported, as written (3村, 30%, 2次 …; "" a note only)
    note: str
    files: tuple[str, ...]  # its evidence files, by the names they were sent with
    decided_on: date
    decided_by: str  # the unit that refused it (the lead or a co-lead), or "" the office
    reason: str


@dataclass(frozen=True)
class NoticeView:
    """All a template may show about one notice (reminder, chase or escalation)."""

    notice_id: int
    key: str
    kind: str  # "reminder" | "chase" | "escalation"
    level: int
    colour: str  # escalation colour 藍/橙/紅 ("" otherwise)
    plan_code: str
    plan_title: str
    issuer: str
    task_code: str
    task_title: str
    target: str
    lead_unit: str
    supporting_units: tuple[str, ...]
    lead_officials: tuple[str, ...]  # "林光(區人民政府副區長)"
    label: str  # the deadline fragment, e.g. "2015年底完成25個村"
    due: date
    days: int  # working days before due (reminder) or overdue (chase/escalation)
    quantity: Decimal | None
    measure: str | None
    done_quantity: Decimal | None
    min_count: int | None
    done_count: int | None
    min_amount: Decimal | None
    done_amount: Decimal | None
    amount_unit: str | None
    required_by: date  # by when the recipient must act or report
    planned_for: date  # the date of the notice
    is_cc: bool = False  # this recipient gets it as 抄送
    to: tuple[RecipientView, ...] = ()  # the notice's 主送 recipients (for the 主送 line)
    cc: tuple[RecipientView, ...] = ()  # its 抄送 recipients (for the 抄送 line)
    # What this copy's recipient is in the notice, hence what it is asked to do (a digest item's 办理要求):
    # lead (the lead unit or its head: does the work, reports) | leader (a lead official or the top
    # leader: sees that it is done) | office (the supervising office: follows it up) | support (a
    # supporting unit: cooperates). "" = whom the letter of this kind and level is addressed to.
    capacity: str = ""
    due_working: bool = True  # the due date is a working day (a letter names the weekday of one that is not)
    ongoing: bool = False  # a period of ongoing work (持續推進): its due date is the period's progress report's
    co_lead_units: tuple[str, ...] = ()  # 共同牽頭: addressed with the lead unit, answer for the task with it
    closing: ClosingFacts | None = None  # a closing notice's request and decision (None for the sweep's kinds)
    part: PartFacts | None = None  # a part notice's report and refusal (None for every other kind)
    # This copy's recipient unit's signed link to answer online ({DUBAN_PUBLIC_URL}/u/…, workflows.link_service);
    # "" without DUBAN_PUBLIC_URL or for a recipient who is no unit: the letter then has no such line.
    link: str = ""

    @property
    def days_to_due(self) -> int:
        """Calendar days from the notice's date to its due date: 0 due today, 1 due tomorrow, < 0 past."""
        return (self.due - self.planned_for).days


@dataclass(frozen=True)
class Letterhead:
    issuer: str
    date: date
    number: str = ""  # 文號, e.g. 督辦〔2015〕12號


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


@dataclass(frozen=True)
class MarkdownNotice:
    """A notice or digest as a group robot shows it: a one-line title (the chat list's preview, plain
    text) and the Markdown text, every value in it escaped."""

    title: str
    text: str


# --------------------------------------------------------------------------------------------
# Filters


def quantity(value: Any) -> str:
    """25, 12.5, 0.25: a quantity without trailing zeros or exponent ("" for None)."""
    if value is None:
        return ""
    try:
        d = value if isinstance(value, Decimal) else Decimal(str(value))
    except InvalidOperation:
        return str(value)
    if d == d.to_integral_value():
        return str(int(d))
    return format(d.normalize(), "f")


def colour_key(view_or_level: Any) -> str:
    """blue | orange | red | "" from a NoticeView (its colour, else its level) or a level."""
    if isinstance(view_or_level, NoticeView):
        key = _COLOUR_KEYS.get(view_or_level.colour.strip())
        if key:
            return key
        level = view_or_level.level if view_or_level.kind == NoticeKind.ESCALATION else 0
    else:
        level = int(view_or_level or 0)
    return _COLOUR_KEYS.get(LEVEL_COLOURS.get(level, ""), "")


_WEEKDAYS = {
    "zh": ("周一", "周二", "周三", "周四", "周五", "周六", "周日"),
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
}


def digest_kind(views: list[NoticeView]) -> str:
    """What a digest is, by its gravest notice: escalation (督办), chase (催办) or, all reminders, reminder (提醒)."""
    kinds = {v.kind for v in views}
    return next((k for k in (NoticeKind.ESCALATION, NoticeKind.CHASE) if k in kinds), NoticeKind.REMINDER).value


def person(value: str) -> str:
    """Mark the name in "林光(區人民政府副區長)" so that zh-Hant output keeps it as written."""
    if not value:
        return value
    cut = min((i for i in (value.find("("), value.find("（")) if i > 0), default=len(value))
    name = value[:cut].replace(_KEEP, "").replace(_END, "")
    return f"{_KEEP}{name}{_END}{value[cut:]}" if name else value[cut:]


def _control_picture(match: re.Match[str]) -> str:
    code = ord(match.group(0))
    return chr(0x2400 + code) if code < 0x20 else "\u2421" if code == 0x7F else "\ufffd"


def visible_controls(text: str) -> str:
    """Control characters shown as their pictures (ESC as ␛, NUL as ␀, DEL as ␡; a C1 control as �): text a
    unit wrote (``\\x1b[31m`` in a note) reads as written, and cannot colour or move a terminal that shows a
    letter's text part. Tab and line breaks are left to the caller."""
    return _CONTROLS.sub(_control_picture, text)


def _finalize(value: Any) -> Any:
    """Values are inline fragments: a CR or LF inside one (a title, a unit name) never breaks a line, and
    another control character is shown as its picture (``visible_controls``)."""
    if isinstance(value, str) and not isinstance(value, Markup) and not value.isprintable():  # printable: as it is
        return visible_controls(_LINE_BREAKS.sub(" ", value))
    return value


_escaped_names = jinja2.select_autoescape(enabled_extensions=("html.j2", "htm.j2", "html", "htm"),
                                          disabled_extensions=("txt.j2", "txt"), default_for_string=True, default=False)


def _autoescape(name: str | None) -> bool:
    """On for *.html.j2 (and anything imported as "html:NAME"), off for *.txt.j2 and other names."""
    return bool(name and name.startswith("html:")) or _escaped_names(name)


def one_line(text: str) -> str:
    """A subject: every run of whitespace or control characters (CR, LF, tab …) becomes one space."""
    return _SUBJECT_SPACE.sub(" ", text).strip()


def _addressed(recipient: RecipientView, views: list[NoticeView]) -> RecipientView:
    """A recipient given by its display form (a delivery's: "林光(區人民政府副區長)", "區扶貧辦 主任",
    "區委組織部 部長 李衛東", see ``notifications.recipients``) read back into name, title and person, so
    that a digest addresses it as the letters do (林光同志, 區扶貧辦主任, 李衛東同志)."""
    if recipient.title:
        return recipient
    text = recipient.name.strip()
    if recipient.role in (RecipientRole.OFFICIAL, RecipientRole.TOP_LEADER):
        m = _PERSON_TITLE.fullmatch(text)
        return replace(recipient, name=m.group(1).strip(), title=m.group(2).strip()) if m else recipient
    if recipient.role not in (RecipientRole.UNIT_HEAD, RecipientRole.OFFICE_HEAD):
        return recipient
    words = text.split()  # unit, title, person: joined by single spaces
    if len(words) < 2:
        return recipient  # "區扶貧辦負責人": a unit not in the directory, as written
    # The unit is the first word, or more when the notices name a unit with a space in it.
    units = {fold(e.name) for v in views for e in (*v.to, *v.cc) if e.role == recipient.role}
    cut = next((i for i in range(len(words) - 1, 1, -1) if fold("".join(words[:i])) in units), 1)
    return replace(recipient, name=" ".join(words[:cut]), title=words[cut], person=" ".join(words[cut + 1:]))


def _capacity(v: NoticeView, recipient: RecipientView) -> str:
    """What the digest's recipient is in notice ``v``: its role there (the 主送 or 抄送 entry with its
    address; one address may be a lead official in one notice and a unit head in the next), else the
    digest's role, and for a unit whether it is the lead unit or a supporting one."""
    address = recipient.email.strip().lower()
    entry = next((e for e in (v.cc if v.is_cc else v.to) if address and e.email.strip().lower() == address), None)
    role = entry.role if entry is not None else recipient.role
    if role in (RecipientRole.OFFICIAL, RecipientRole.TOP_LEADER):
        return "leader"
    if role in (RecipientRole.OFFICE, RecipientRole.OFFICE_HEAD):
        return "office"
    if role == RecipientRole.UNIT_HEAD:
        return "lead"  # the planner addresses only the heads of the lead (and co-lead) units
    name = fold(entry.name if entry is not None and entry.name else recipient.name)
    if name == fold(v.lead_unit) or name in {fold(u) for u in v.co_lead_units}:
        return "lead"
    if name in {fold(u) for u in v.supporting_units}:
        return "support"
    # A member of a group unit (under its own name, not the group's): as 主送 it is asked what the lead unit is.
    return "support" if v.is_cc else "lead"


def _sort_key(v: NoticeView) -> tuple:
    code = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in v.task_code.split("."))
    return (_KIND_ORDER.get(v.kind, 3), -v.level, v.due, code, v.notice_id)


# --------------------------------------------------------------------------------------------


class _EscapingAlias(jinja2.BaseLoader):
    """"html:NAME" is NAME's source compiled under the name "html:NAME", hence with autoescape on.

    (jinja2.PrefixLoader would not do: it compiles under the inner name, so the mode would not change.)
    """

    def __init__(self, files: jinja2.BaseLoader) -> None:
        self.files = files

    def get_source(self, environment: jinja2.Environment, template: str):
        if not template.startswith("html:"):
            raise jinja2.TemplateNotFound(template)
        return self.files.get_source(environment, template.removeprefix("html:"))


class Renderer:
    """Renders notices, digests and circulations in one language, with an office's templates first."""

    def __init__(self, *, language: str = "zh-Hans", override_dir: Path | None = None) -> None:
        if language not in LANGUAGES:
            raise ConfigError(f"unknown language {language!r}: use {', '.join(LANGUAGES)}")
        self.language = language
        self.override_dir = Path(override_dir) if override_dir is not None else None
        family = "en" if language == "en" else "zh"
        package_dir = "en" if family == "en" else "zh-Hans"
        search: list[Path] = []
        if self.override_dir is not None:
            search.append(self.override_dir / language)
            if language == "zh-Hant":
                search.append(self.override_dir / "zh-Hans")  # Chinese templates are written once
        search.append(TEMPLATES / package_dir)
        if self.override_dir is not None:
            search.append(self.override_dir / "common")
        search.append(TEMPLATES / "common")
        files = jinja2.ChoiceLoader([jinja2.FileSystemLoader(str(p), encoding="utf-8") for p in search])
        self.env = jinja2.Environment(
            # "html:_macros.j2" is _macros.j2 compiled with autoescape on: a macro escapes by the mode of
            # the template that defines it, so HTML templates import the shared sentences that way.
            loader=jinja2.ChoiceLoader([_EscapingAlias(files), files]),
            autoescape=_autoescape,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
            finalize=_finalize,
        )
        self.env.filters.update(
            date=english_date if family == "en" else chinese_date,
            cn_date=chinese_date,
            qty=quantity,
            cn_number=chinese_number,
            colour_key=colour_key,
            colour=lambda v: _COLOUR_NAMES[family].get(colour_key(v), ""),
            colour_hex=lambda v: _COLOUR_HEX[colour_key(v)],
            person=person,
            weekday=lambda d: _WEEKDAYS[family][d.weekday()],
        )
        self.env.globals.update(lang=language)
        self._lines: Any = None

    # -- public API ---------------------------------------------------------------------------

    def notice(self, view: NoticeView, recipient: RecipientView, *, letterhead: Letterhead) -> Rendered:
        """One notice (提醒函, 催辦通知, 督辦通知; or a closing request's 退回通知 / 辦結確認, whose view carries
        ``closing``) for one recipient (主送, or 抄送 when ``view.is_cc``)."""
        if view.kind not in NOTICE_KINDS + CLOSING_KINDS + PART_KINDS:
            raise ConfigError(f"unknown notice kind {view.kind!r}: use "
                              f"{', '.join(NOTICE_KINDS + CLOSING_KINDS + PART_KINDS)}")
        if view.kind in CLOSING_KINDS and view.closing is None:
            raise ConfigError(f"notice {view.key}: a {view.kind} notice without its closing request's facts")
        if view.kind in PART_KINDS and view.part is None:
            raise ConfigError(f"notice {view.key}: a {view.kind} notice without its part's facts")
        context = {"v": view, "recipient": recipient, "letterhead": letterhead}
        subject = self._subject(NOTICE_KIND_SPECS[NoticeKind(view.kind)].subject, view)
        return self._render(view.kind, subject, context)

    def digest(self, views: list[NoticeView], recipient: RecipientView, *, letterhead: Letterhead) -> Rendered:
        """One mail with all of a recipient's notices: escalations (highest level first), chases, reminders."""
        for v in views:
            if v.kind not in NOTICE_KINDS:
                raise ConfigError(f"unknown notice kind {v.kind!r} in a digest")
        recipient = _addressed(recipient, views)
        items = sorted((replace(v, capacity=v.capacity or _capacity(v, recipient)) for v in views), key=_sort_key)
        groups = [(kind, group) for kind in sorted(_KIND_ORDER, key=_KIND_ORDER.get)
                  if (group := [v for v in items if v.kind == kind])]
        counts = {kind: sum(v.kind == kind for v in items) for kind in NOTICE_KINDS}
        plan_titles = list(dict.fromkeys(v.plan_title for v in items))
        # 截至: the latest day its notices were planned for (a replay's day, not the day it is built).
        as_of = max((v.planned_for for v in items), default=letterhead.date)
        kind = digest_kind(items)
        context = {"items": items, "groups": groups, "counts": counts, "plan_titles": plan_titles,
                   "recipient": recipient, "letterhead": letterhead, "as_of": as_of, "digest_kind": kind}
        spec = NOTICE_KIND_SPECS[NoticeKind.DIGEST]
        subject = self._subject(spec.subject, recipient, len(items), letterhead, kind, as_of)
        return self._render(spec.kind, subject, context)

    def markdown_notice(self, view: NoticeView, recipient: RecipientView, *, letterhead: Letterhead,
                        link: str | None = None) -> MarkdownNotice:
        """One notice as Markdown for a group robot (``<kind>.md.j2``, sharing ``_notice.md.j2``). ``link``
        (the unit's signed page for the plan, when issued) is shown only when given. A closing request's answer (退回通知, 辦結確認) or a part's (未予採納) is
        its plain-text letter, every line escaped, under its subject."""
        if view.kind in CLOSING_KINDS + PART_KINDS:
            letter = self.notice(view, recipient, letterhead=letterhead)
            lines = [md_text(line) for line in letter.text.splitlines() if line.strip()]
            text = "\n\n".join([f"#### {md_text(letter.subject)}", *lines])
            if link:
                text += f"\n\n[{'Open the unit page' if self.language == 'en' else '点击办理'}]({_md_link(link)})"
            return MarkdownNotice(letter.subject, text + "\n")
        if view.kind not in NOTICE_KINDS:
            raise ConfigError(f"unknown notice kind {view.kind!r}: use {', '.join(NOTICE_KINDS)}")
        title = self._subject(NOTICE_KIND_SPECS[NoticeKind(view.kind)].subject, view)
        md_view = _md_view(view)  # (its own ``link``, the delivery planner's, when no other is given)
        context = {"v": md_view, "recipient": _md_recipient(recipient), "letterhead": _md_letterhead(letterhead),
                   "link": _md_link(link) or md_view.link, "subject": title}
        return MarkdownNotice(title, self._markdown(f"{view.kind}.md.j2", context))

    def markdown_digest(self, views: list[NoticeView], recipient: RecipientView, *, letterhead: Letterhead,
                        link: str | None = None) -> MarkdownNotice:
        """A recipient's notices as one Markdown message for a group robot (``digest.md.j2``), grouped and
        ordered as the mail digest; each item with its notice number."""
        for v in views:
            if v.kind not in NOTICE_KINDS:
                raise ConfigError(f"unknown notice kind {v.kind!r} in a digest")
        recipient = _addressed(recipient, views)
        items = sorted((replace(v, capacity=v.capacity or _capacity(v, recipient)) for v in views), key=_sort_key)
        as_of = max((v.planned_for for v in items), default=letterhead.date)
        kind = digest_kind(items)
        title = self._subject(NOTICE_KIND_SPECS[NoticeKind.DIGEST].subject, recipient, len(items), letterhead, kind, as_of)
        items = [_md_view(v) for v in items]  # escaped after the recipient's part in each was read
        groups = [(k, group) for k in sorted(_KIND_ORDER, key=_KIND_ORDER.get) if (group := [v for v in items if v.kind == k])]
        context = {"items": items, "groups": groups, "counts": {k: sum(v.kind == k for v in items) for k in NOTICE_KINDS},
                   "plan_titles": list(dict.fromkeys(v.plan_title for v in items)), "recipient": _md_recipient(recipient),
                   "letterhead": _md_letterhead(letterhead), "as_of": as_of, "digest_kind": kind, "link": _md_link(link),
                   "subject": title,
                   # each plan's link once (the items' own, set by the delivery planner), unless ``link`` is given
                   "links": [] if link else list(dict.fromkeys((v.plan_title, v.link) for v in items if v.link))}
        return MarkdownNotice(title, self._markdown("digest.md.j2", context))

    def circulation(self, kind: str, unit: str, facts: list[str], *, letterhead: Letterhead, rectify_by: date,
                    period: str) -> Rendered:
        """A circulation notice about one unit: ``criticism`` (通報批評) or ``praise`` (通報表揚)."""
        if kind not in CIRCULATION_KINDS:
            raise ConfigError(f"unknown circulation kind {kind!r}: use {', '.join(CIRCULATION_KINDS)}")
        context = {"kind": kind, "unit": unit, "facts": list(facts), "letterhead": letterhead,
                   "rectify_by": rectify_by, "period": period}
        subject = self._subject(NOTICE_KIND_SPECS[NoticeKind(kind)].subject, kind, unit, period)
        return self._render(kind, subject, context)

    # -- for documents built outside this class (the weekly report) ----------------------------

    def in_script(self, text: str) -> str:
        """Text in the renderer's script (zh-Hant converts; person names stay as written)."""
        return self._script(text)

    def page(self, name: str, context: dict[str, Any]) -> str:
        """One template of the renderer's folders, rendered and put in the renderer's script."""
        return self._script(self._render_one(name, context))

    def macros(self, name: str = "_macros.j2") -> Any:
        """A template's macros (the notices' own sentences), to be called from Python."""
        return self._template(name).module

    def subject(self, macro: str, *args: Any) -> str:
        """A subject line from ``_subjects.j2`` (``notice``, ``digest``, ``circulation``)."""
        return self._subject(macro, *args)

    def fact(self, line: Line, points: bool = True) -> str:
        """A scoring line in the renderer's language (``_lines.j2``, see ``notifications.lines``): with
        ``points`` as a unit's breakdown says it, without as a circulation states the fact. Chinese comes
        in the data's (traditional) script, as a fact is kept; a document converts it with its text."""
        if self._lines is None:
            from duban.notifications.lines import LineWords

            module = self._template("_lines.j2").module
            self._lines = LineWords(module.phrases, self.env.filters["date"], "en" if self.language == "en" else "zh")
        return str(self._lines.line(line, points))

    def facts(self, circulation: Circulation) -> list[str]:
        """A criticism's or praise's facts, as the circulation states them."""
        return [self.fact(line, points=False) for line in circulation.facts]

    # -- internals ----------------------------------------------------------------------------

    def _subject(self, macro: str, *args: Any) -> str:
        module = self._template("_subjects.j2").module
        try:
            text = str(getattr(module, macro)(*args))
        except jinja2.TemplateError as e:
            raise self._error("_subjects.j2", e) from e
        return one_line(self._script(text))

    def _render(self, name: str, subject: str, context: dict[str, Any]) -> Rendered:
        context = {**context, "subject": subject}
        text = self._render_one(f"{name}.txt.j2", context)
        html = self._render_one(f"{name}.html.j2", context)
        return Rendered(subject=subject, text=_unix_lines(self._script(text)), html=self._script(html))

    def _markdown(self, name: str, context: dict[str, Any]) -> str:
        """A Markdown template rendered, in the renderer's script, with LF line ends and no run of blank lines."""
        text = _unix_lines(self._script(self._render_one(name, context)))
        return _BLANK_RUNS.sub("\n\n", text).strip() + "\n"

    def _render_one(self, name: str, context: dict[str, Any]) -> str:
        template = self._template(name)
        try:
            return template.render(context)
        except jinja2.TemplateError as e:
            raise self._error(name, e) from e

    def _template(self, name: str) -> jinja2.Template:
        try:
            return self.env.get_template(name)
        except jinja2.TemplateNotFound as e:
            raise ConfigError(f"no template {name!r} for language {self.language} "
                              f"(looked in {self.override_dir or '-'} and {TEMPLATES})") from e
        except jinja2.TemplateError as e:
            raise self._error(name, e) from e

    def _error(self, name: str, e: jinja2.TemplateError) -> ConfigError:
        where = name
        if isinstance(e, jinja2.TemplateSyntaxError):
            where = f"{e.filename or name}:{e.lineno}"
        else:
            tb = e.__traceback__
            while tb is not None:  # the innermost template frame (Jinja rewrites tracebacks to template lines)
                if tb.tb_frame.f_code.co_filename.endswith(".j2"):
                    where = f"{tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}"
                tb = tb.tb_next
        return ConfigError(f"template {where}: {e.__class__.__name__}: {e.message or e}")

    def _script(self, text: str) -> str:
        """The rendered text in the chosen script, with Chinese punctuation; person names kept as
        written in zh-Hant."""
        if self.language == "zh-Hans":
            return chinese_punctuation(_convert(to_simplified, text.replace(_KEEP, "").replace(_END, "")))
        if self.language == "zh-Hant":
            out, pos = [], 0
            for m in _KEPT.finditer(text):
                out.append(_convert(to_traditional, text[pos:m.start()]))
                out.append(m.group(1))
                pos = m.end()
            out.append(_convert(to_traditional, text[pos:]))
            return chinese_punctuation("".join(out).replace(_KEEP, "").replace(_END, ""))
        return text.replace(_KEEP, "").replace(_END, "")


_HAN_CHARS = "\u3400-\u9fff"
_HALF_PARENS = re.compile(rf"\(([^()<>\n]*[{_HAN_CHARS}][^()<>\n]*)\)")
_HALF_MARKS = re.compile(rf"(?<=[{_HAN_CHARS}）”》])\s*([,;:!?])\s*(?=[{_HAN_CHARS}（“《\d])")
_FULL_MARKS = {",": "，", ";": "；", ":": "：", "!": "！", "?": "？"}


def chinese_punctuation(text: str) -> str:
    """Half-width punctuation that plans carry in Chinese text, as an official document writes it:
    ``精準,決戰`` → ``精準，決戰``, ``林光(區人民政府副區長)`` → ``林光（區人民政府副區長）``. Only between
    Chinese characters (and parentheses holding some): times (08:30), numbers (1,000), addresses,
    markup and CSS are left alone."""
    text = _HALF_PARENS.sub(r"（\1）", text)
    return _HALF_MARKS.sub(lambda m: _FULL_MARKS[m.group(1)], text)


def _convert(convert, text: str) -> str:
    # The uncached function: whole documents would only fill the name cache of matrix.script.
    return getattr(convert, "__wrapped__", convert)(text) if text else text


# --------------------------------------------------------------------------------------------
# Markdown for group robots: the values escaped before rendering, so the template's Markdown is the only Markdown

_BLANK_RUNS = re.compile(r"\n{3,}")
_MD_VIEW_TEXTS = ("plan_code", "plan_title", "issuer", "task_code", "task_title", "target", "lead_unit", "label",
                  "measure", "amount_unit")
_MD_VIEW_TUPLES = ("supporting_units", "lead_officials", "co_lead_units")


def md_text(value: str) -> str:
    """A value as Markdown shows it literally (``notifications.report.render.md_escape``: Markdown's marks
    get a backslash, < > & become entities, whitespace one space): ``*[x](javascript:…)`` stays text."""
    from duban.notifications.report.render import md_escape

    return str(md_escape(value))


def _md_recipient(r: RecipientView) -> RecipientView:
    return replace(r, name=md_text(r.name), title=md_text(r.title), person=md_text(r.person), email="")


def _md_view(v: NoticeView) -> NoticeView:
    changes: dict[str, Any] = {f: md_text(getattr(v, f)) for f in _MD_VIEW_TEXTS if getattr(v, f) is not None}
    changes.update({f: tuple(md_text(x) for x in getattr(v, f)) for f in _MD_VIEW_TUPLES})
    changes["link"] = _md_link(v.link)
    changes["to"] = tuple(_md_recipient(r) for r in v.to)
    changes["cc"] = tuple(_md_recipient(r) for r in v.cc)
    return replace(v, **changes)


def _md_letterhead(letterhead: Letterhead) -> Letterhead:
    return replace(letterhead, issuer=md_text(letterhead.issuer), number=md_text(letterhead.number))


def _md_link(link: str | None) -> str:
    """A link as a Markdown link's target: http(s) only, and nothing in it that could end the target."""
    if not link:
        return ""
    if not link.startswith(("https://", "http://")):
        raise ConfigError(f"a notice's link must be an http(s) URL, not {link[:40]!r}")
    from urllib.parse import quote

    return quote(link, safe=":/?&=#%+,;@~.-_!*'$")


def _unix_lines(text: str) -> str:
    """Plain text with LF line ends only (a CR in the data never makes a bare CR in a mail body)."""
    return text.replace("\r\n", "\n").replace("\r", "\n")
