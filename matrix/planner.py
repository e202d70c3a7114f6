"""What supervision owes each open item today: its status light and the notices to plan.

Pure and time-free: ``today`` is a parameter, working days come from a ``WorkCalendar``. The sweep
(workflows) loads items, calls ``light`` and ``plan_notices``, and writes what they return.

Notices are identified by a key that depends only on the item, its effective due date and the
notice's place in its series, never on when the sweep runs, so planning is idempotent:

    reminder   reminder:<item>:<due>:d<t>    t working days before due (one per policy threshold)
    chase      chase:<item>:<due>:n<n>       n-th chase, at ``chase_offset(n)`` working days overdue
    escalation escalation:<item>:<due>:L<l>  level l, due at its after_working_days overdue

A chase series decays and ends (policy ``chase``): by default chases fall at 1, 4 and 7 working days
overdue, then weekly (12, 17, …), and none once the item has reached its ladder's last level (the
ladder frozen on the item): from then on it is in the weekly circulation and the office's list.
Supporting units are copied (抄送) on the series' first chase only, unless the policy says otherwise.
Co-lead units (共同牽頭) share the lead unit's part: every reminder and chase is addressed (主送) to the
lead unit and each co-lead, and a ladder level that names ``lead_unit`` or ``lead_unit_head`` names
theirs too.

Supervised from a day (``Item.supervised_from``, the import that created the item): a sweep on or
after that day counts an item that was already overdue then from that day — it gets one chase that
day (its letter still says the real due date and working days overdue), then the ladder and the rest
of the series as if it had fallen due that day (level 1 three working days later, …), never a burst
of catch-up escalations. A sweep dated before that day replays history: it acts as if the item had
been supervised from its start (the demo and replays import today and sweep past days). ``None``
(rows from before supervised-from days were recorded) is supervised from the start.

A period of a recurring obligation is a window of time: one that ended (fell due) before the day its
obligation is supervised from cannot be done any more and is not owed (``before_supervision``) — no
notice, no light, no score; the period running on that day is owed as usual. A sweep dated before
that day replays history and owes them.

Catch-up after downtime: of the reminders and chases whose day has come, only the latest is planned
(an earlier one that nobody sent is superseded by it); every escalation level reached is planned,
so a level is never skipped. An acknowledgement (簽收) stops the rest of its series (reminders, or
chases, of that item and due date) and never stops escalation.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from decimal import Decimal
from functools import lru_cache

from duban.matrix.calendar import WorkCalendar
from duban.matrix.policy import EscalationLevel, Policy
from duban.matrix.vocabulary import (
    LEVEL_COLOURS,
    LIGHT_ORDER,
    ItemKind,
    LadderRole,
    Light,
    LightReason,
    NoticeKind,
    RecipientRole,
)

# Members as module constants: an enum member's lookup costs ~0.2 µs, and these run per item.
_BEHIND_PACE = LightReason.BEHIND_PACE
_CHASE = NoticeKind.CHASE
_CLOSED = Light.CLOSED
_DUE_SOON = LightReason.DUE_SOON
_ESCALATION = NoticeKind.ESCALATION
_GREEN = Light.GREEN
_INSTANCE = ItemKind.INSTANCE
_MILESTONE = ItemKind.MILESTONE
_OFFICE = RecipientRole.OFFICE
_OFFICIAL = RecipientRole.OFFICIAL
_ON_TRACK = LightReason.ON_TRACK
_OVERDUE = LightReason.OVERDUE
_RED = Light.RED
_REMINDER = NoticeKind.REMINDER
_R_CLOSED = LightReason.CLOSED
_UNIT = RecipientRole.UNIT
_UNIT_HEAD = RecipientRole.UNIT_HEAD
_YELLOW = Light.YELLOW


@dataclass(frozen=True, slots=True)
class Item:
    """A supervised item: a milestone, or one period of a recurring obligation."""

    kind: ItemKind
    id: int
    due: dt.date  # effective: an approved extension replaces the plan's date
    start: dt.date | None = None
    quantity: Decimal | None = None
    measure: str | None = None
    done_quantity: Decimal | None = None
    done_percent: Decimal | None = None
    min_count: int | None = None
    done_count: int = 0
    min_amount: Decimal | None = None
    done_amount: Decimal | None = None
    closed: bool = False
    ladder: tuple[EscalationLevel, ...] | None = None  # frozen when it first went overdue
    supervised_from: dt.date | None = None  # the day supervision began (its import); None: from the start

    @property
    def ref(self) -> str:
        return ("m" if self.kind == _MILESTONE else "i") + str(self.id)


@dataclass(frozen=True, slots=True)
class TaskInfo:
    """What the planner needs of a task: whom its notices go to."""

    code: str
    lead_unit: str
    supporting_units: tuple[str, ...] = ()
    lead_officials: tuple[str, ...] = ()
    co_lead_units: tuple[str, ...] = ()  # 共同牽頭: addressed with the lead unit wherever it is

    @property
    def lead_units(self) -> tuple[str, ...]:
        """The lead unit and its co-lead units: whom a notice to "the lead unit" is addressed to."""
        return (self.lead_unit, *self.co_lead_units)


@dataclass(frozen=True, slots=True)
class SupervisedItem:
    """One supervised item where it belongs: the item, its task and plan, and the words a screen shows.

    The one shape the sweep plans for, ``status`` lights and a preview renders (``store.open_items``
    loads them); the planner itself needs only ``item`` and ``task``.
    """

    item: Item
    plan_id: int
    plan_code: str
    task_id: int
    task: TaskInfo
    title: str  # the task's title
    label: str = ""  # the deadline fragment the item came from (2015年底完成25個村), its beneficiary's name first
    ongoing: bool = False  # a period of ongoing work (持續推進): shown as 持續
    beneficiary: str | None = None  # the household or village a per-beneficiary series is owed to


@dataclass(frozen=True, slots=True)
class StatusLight:
    """An item's light at a day, and why."""

    colour: Light
    reason: LightReason
    working_days_overdue: int = 0
    working_days_left: int = 0
    expected: Decimal | None = None  # quantity (or percent) a linear pace expects by today


@dataclass(frozen=True, slots=True)
class PlannedNotice:
    key: str
    series: str
    kind: NoticeKind  # reminder | chase | escalation
    level: int
    item_kind: ItemKind
    item_id: int
    due: dt.date
    days: int
    planned_for: dt.date
    recipients: tuple[tuple[str, str], ...]  # (role, name): unit, unit_head, official, office, office_head, top_leader
    cc: tuple[tuple[str, str], ...] = ()


def worst(colours: list[Light] | list[str]) -> Light:
    """A task's light: the worst of its open items' (closed only if everything is closed)."""
    if not colours:
        return _CLOSED
    return max((Light(c) for c in colours), key=LIGHT_ORDER.index)


def before_supervision(kind: ItemKind, due: dt.date, supervised_from: dt.date | None, today: dt.date) -> bool:
    """Whether an item is a period of a recurring obligation that fell due before its supervision began,
    as ``today`` sees it (not a replay of an earlier day): such a period is not owed. A milestone is
    always owed (if overdue then, it is chased once that day, see ``origin``)."""
    return kind == _INSTANCE and supervised_from is not None and due < supervised_from <= today


def _progress_ratio(item: Item) -> tuple[Decimal, Decimal] | None:
    """(done, target) on the item's own scale, or None when it has no measurable target."""
    if item.quantity is not None and item.quantity > 0:
        return item.done_quantity or Decimal(0), item.quantity
    if item.done_percent is not None:
        return item.done_percent, Decimal(100)
    return None


def light(item: Item, today: dt.date, cal: WorkCalendar, policy: Policy) -> StatusLight:
    """The item's status at ``today``: closed, green, yellow (due soon or behind a linear pace), red."""
    if item.closed:
        return StatusLight(_CLOSED, _R_CLOSED)
    if today > item.due:
        return StatusLight(_RED, _OVERDUE, working_days_overdue=cal.working_days_between(item.due, today))
    left = cal.working_days_between(today, item.due)
    if left <= policy.due_soon_days:
        return StatusLight(_YELLOW, _DUE_SOON, working_days_left=left)
    ratio = _progress_ratio(item)
    if ratio is not None and item.start is not None and item.start <= today:
        done, target = ratio
        span = (item.due - item.start).days
        if span > 0:
            expected = (target * Decimal((today - item.start).days) / Decimal(span)).quantize(Decimal("0.01"))
            if done < expected - target * Decimal(policy.pace_tolerance_percent) / 100:
                return StatusLight(_YELLOW, _BEHIND_PACE, working_days_left=left, expected=expected)
            return StatusLight(_GREEN, _ON_TRACK, working_days_left=left, expected=expected)
    return StatusLight(_GREEN, _ON_TRACK, working_days_left=left)


@lru_cache(maxsize=65536)
def recipients_for(roles: tuple[str, ...], task: TaskInfo) -> tuple[tuple[str, str], ...]:
    """Who a ladder level's roles mean for this task, in order, without repeats (cached: pure)."""
    out: list[tuple[str, str]] = []
    for role in roles:
        if role == LadderRole.LEAD_UNIT:
            out.extend((_UNIT, u) for u in task.lead_units)
        elif role == LadderRole.SUPPORTING_UNITS:
            out.extend((_UNIT, u) for u in task.supporting_units)
        elif role == LadderRole.LEAD_UNIT_HEAD:
            out.extend((_UNIT_HEAD, u) for u in task.lead_units)
        elif role == LadderRole.LEAD_OFFICIALS:
            # A task with no lead official (金融扶貧 names none) escalates to the office instead.
            if task.lead_officials:
                out.extend((_OFFICIAL, o) for o in task.lead_officials)
            else:
                out.append((_OFFICE, ""))
        elif role in (LadderRole.OFFICE, LadderRole.OFFICE_HEAD, LadderRole.TOP_LEADER):
            out.append((RecipientRole(role), ""))
    return tuple(dict.fromkeys(out))  # in order, without repeats


def _base(item: Item) -> str:
    """What every notice key and series of the item and its due date share: ``m12:2015-12-31``."""
    return f"{item.ref}:{item.due.isoformat()}"


def _reminder(item: Item, base: str, task: TaskInfo, t: int, today: dt.date, cal: WorkCalendar,
              policy: Policy) -> PlannedNotice:
    """The reminder ``t`` working days before the item's due date, as of ``today`` (planned no earlier
    than the item's supervised-from day, unless ``today`` replays an earlier day)."""
    cc = tuple((_UNIT, u) for u in task.supporting_units) if policy.reminder_cc_supporting else ()
    planned_for = cal.add_working_days(item.due, -t) if t else item.due
    begun = item.supervised_from
    if begun is not None and begun <= today and planned_for < begun:
        planned_for = begun
    return PlannedNotice(
        key=f"reminder:{base}:d{t}", series=f"reminder:{base}", kind=_REMINDER, level=0, item_kind=item.kind,
        item_id=item.id, due=item.due, days=cal.working_days_between(today, item.due),
        planned_for=planned_for, recipients=tuple((_UNIT, u) for u in task.lead_units), cc=cc)


def chase_offset(n: int, policy: Policy) -> int:
    """Working days overdue at which the ``n``-th chase (n ≥ 1) falls: 1, then ``chase_repeats`` more
    every ``chase_every`` (1, 4, 7), then every ``chase_then_every`` (12, 17, …)."""
    r = policy.chase_repeats
    if n <= r + 1:
        return 1 + (n - 1) * policy.chase_every
    return 1 + r * policy.chase_every + (n - 1 - r) * policy.chase_then_every


def chase_number(counted: int, policy: Policy) -> int:
    """The latest chase whose day has come at ``counted`` (≥ 1) working days overdue."""
    r, k = policy.chase_repeats, policy.chase_every
    if counted <= 1 + r * k:
        return 1 + (counted - 1) // k
    return 1 + r + (counted - 1 - r * k) // policy.chase_then_every


def origin(item: Item, today: dt.date, cal: WorkCalendar) -> tuple[dt.date, bool]:
    """The day an overdue item's chase series and ladder count from, and whether that is its
    supervised-from day (it was already overdue when supervision began, and ``today`` is not a replay
    of an earlier day); otherwise its due date."""
    begun = item.supervised_from
    if begun is None or today < begun or begun <= item.due or cal.working_days_between(item.due, begun) < 1:
        return item.due, False
    return begun, True


def _chase(item: Item, base: str, task: TaskInfo, n: int, planned_for: dt.date, overdue: int,
           policy: Policy) -> PlannedNotice:
    """The ``n``-th chase of the item's series; ``overdue`` is its real working days overdue."""
    mode = policy.chase_cc_supporting
    copied = mode == "every" or (mode == "first" and n == 1)
    cc = tuple((_UNIT, u) for u in task.supporting_units) if copied else ()
    return PlannedNotice(
        key=f"chase:{base}:n{n}", series=f"chase:{base}", kind=_CHASE, level=0, item_kind=item.kind,
        item_id=item.id, due=item.due, days=overdue, planned_for=planned_for,
        recipients=tuple((_UNIT, u) for u in task.lead_units), cc=cc)


def _chase_day(start: dt.date, anchored: bool, n: int, cal: WorkCalendar, policy: Policy) -> dt.date:
    """The day the ``n``-th chase is planned for: counted from ``start``; an anchored series' first chase
    is on its supervised-from day itself."""
    return start if anchored and n == 1 else cal.add_working_days(start, chase_offset(n, policy))


def _escalation(item: Item, base: str, task: TaskInfo, level: EscalationLevel, overdue: int,
                cal: WorkCalendar, start: dt.date | None = None) -> PlannedNotice:
    """The escalation of ``level`` (its recipients for this task; the office when its roles name nobody),
    planned for ``level.after`` working days after ``start`` (the due date unless anchored)."""
    return PlannedNotice(
        key=f"escalation:{base}:L{level.level}", series=f"escalation:{base}:L{level.level}", kind=_ESCALATION,
        level=level.level, item_kind=item.kind, item_id=item.id, due=item.due, days=overdue,
        planned_for=cal.add_working_days(start or item.due, level.after),
        recipients=recipients_for(level.to, task) or ((_OFFICE, ""),), cc=recipients_for(level.cc, task))


def ladder_of(item: Item, policy: Policy) -> tuple[EscalationLevel, ...]:
    """The ladder in force for the item: the one frozen when it went overdue, else the policy's."""
    return item.ladder if item.ladder is not None else policy.ladder


def level_colour(level: int, ladder: tuple[EscalationLevel, ...] = ()) -> str:
    """An escalation level's colour as the ladder names it, else the default 藍/橙/紅 ("" beyond them)."""
    for step in ladder:
        if step.level == level and step.colour:
            return step.colour
    return LEVEL_COLOURS.get(level, "")


def plan_notices(item: Item, task: TaskInfo, today: dt.date, cal: WorkCalendar, policy: Policy,
                 acknowledged: frozenset[str] | set[str] = frozenset()) -> tuple[list[PlannedNotice], tuple[EscalationLevel, ...] | None]:
    """The notices this item owes by ``today``, and the ladder to freeze if it just went overdue.

    ``acknowledged`` holds the series (see module doc) that a recipient has acknowledged.
    """
    if item.closed or before_supervision(item.kind, item.due, item.supervised_from, today):
        return [], None
    due = item.due
    base = _base(item)
    if today <= due:
        if f"reminder:{base}" in acknowledged:
            return [], None
        # The most recent threshold whose day has come (a smaller t is later).
        reached = [t for t in policy.reminder_days if cal.add_working_days(due, -t) <= today]
        return ([_reminder(item, base, task, min(reached), today, cal, policy)] if reached else []), None
    return _overdue(item, base, task, today, cal, policy, acknowledged)


def _overdue(item: Item, base: str, task: TaskInfo, today: dt.date, cal: WorkCalendar, policy: Policy,
             acknowledged: frozenset[str] | set[str]) -> tuple[list[PlannedNotice], tuple[EscalationLevel, ...] | None]:
    """What an item past its due date owes: the latest chase of its series (while the series runs) and
    every escalation level reached, counted from its origin (see ``origin``)."""
    overdue = cal.working_days_between(item.due, today)
    ladder = ladder_of(item, policy)
    freeze = None if item.ladder is not None else policy.ladder
    start, anchored = origin(item, today, cal)
    counted = cal.working_days_between(start, today) if anchored else overdue
    out: list[PlannedNotice] = []
    chasing = not (policy.chase_stop_after_last_level and ladder and counted >= ladder[-1].after)
    if overdue >= 1 and chasing and f"chase:{base}" not in acknowledged:
        n = chase_number(max(counted, 1), policy)
        out.append(_chase(item, base, task, n, _chase_day(start, anchored, n, cal, policy), overdue, policy))
    for level in ladder:
        if counted >= level.after:
            out.append(_escalation(item, base, task, level, overdue, cal, start))
    return out, freeze


def preview_notice(kind: NoticeKind | str, item: Item, task: TaskInfo, today: dt.date, cal: WorkCalendar, policy: Policy,
                   *, level: int = 1) -> PlannedNotice:
    """The notice of ``kind`` (and escalation ``level``) the item gets, as ``plan_notices`` would write it,
    whether or not its day has come by ``today`` (``duban notices preview``). Its ``days`` are counted
    to ``today`` (0 when ``today`` is on the wrong side of the due date). Raises ``LookupError`` for an
    escalation level the item's ladder does not have.
    """
    if kind == _REMINDER:
        # The threshold reached by today (the latest), else the first one still to come.
        reached = [t for t in policy.reminder_days if cal.add_working_days(item.due, -t) <= today]
        t = min(reached) if reached else max(policy.reminder_days, default=0)
        notice = _reminder(item, _base(item), task, t, today, cal, policy)
        return replace(notice, days=max(notice.days, 0))
    overdue = max(cal.working_days_between(item.due, today), 0) if today > item.due else 0
    if kind == _CHASE:
        start, anchored = origin(item, today, cal)
        counted = cal.working_days_between(start, today) if anchored else overdue
        n = chase_number(max(counted, 1), policy)
        return _chase(item, _base(item), task, n, _chase_day(start, anchored, n, cal, policy), overdue, policy)
    if kind != _ESCALATION:
        raise ValueError(f"not a notice the sweep plans: {kind!r}")
    ladder = ladder_of(item, policy)
    step = next((s for s in ladder if s.level == level), None)
    if step is None:
        raise LookupError(f"no escalation level {level} (levels: {', '.join(str(s.level) for s in ladder) or 'none'})")
    return _escalation(item, _base(item), task, step, overdue, cal, origin(item, today, cal)[0])
