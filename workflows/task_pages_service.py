"""What the console's 任務 (task list, task page) and 單位 (unit page) show.

The list reads every task's light from ``status_service.status`` (the ``duban status`` lights) and
filters, sorts and pages in memory: the statements run are the same whatever the page size. The task
and unit pages read each of their lists (reports, notices, deliveries, extensions, letters) with one
set-based query each, never a query per row. Every entry point takes ``plans``, the codes the user may
see (``user_service.visible_plans``): a plan outside them is ``NotFound``, as is a task that does not
exist (the page answers 404).

Lights as the overview counts them (``console_service``): a task whose open items are all ongoing work
(持續推進) and whose light is green is ``ongoing``; the others keep their light.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from duban.matrix.errors import NotFound
from duban.matrix.scoring.board import task_order
from duban.store import repository as repo
from duban.store.db import transaction
from duban.store.tables import (
    DeliveryRow,
    EventRow,
    ExtensionRow,
    MessageRow,
    MilestoneRow,
    NoticeRow,
    PlanRow,
    ProgressReportRow,
    RecurrenceInstanceRow,
    TaskRow,
    TaskUnitRow,
    UnitRow,
)

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine
    from sqlalchemy.orm import Session

    from duban.matrix.calendar import WorkCalendar
    from duban.matrix.policy import PolicySet
    from duban.matrix.scoring import ScoringConfig

LIGHTS = ("red", "yellow", "green", "closed", "ongoing")
LIGHT_ORDER = {"red": 0, "yellow": 1, "green": 2, "ongoing": 3, "closed": 4}
KINDS = {"milestone": "milestone", "recurrence": "instance"}
SORTS = ("code", "due", "light", "lead")
OVERDUE = {"1-5": (1, 5), "6-20": (6, 20), "21+": (21, None)}  # the overview's buckets (working days)
PER_PAGE = 50
MAX_PER_PAGE = 200


class BadQuery(ValueError):
    """A filter the list cannot use: one line naming the parameter and its value."""


@dataclass(frozen=True)
class TaskQuery:
    """The task list's filters, sort and page, as the page's query string gives them."""

    plan: str | None = None
    unit: str | None = None
    light: str | None = None
    kind: str | None = None
    due_from: dt.date | None = None
    due_to: dt.date | None = None
    due: str | None = None  # "week": an open item due this week (Monday to Sunday)
    overdue: str | None = None  # "1-5" | "6-20" | "21+": an open item overdue that many working days
    sort: str = "code"
    desc: bool = False
    page: int = 1
    per_page: int = PER_PAGE

    def params(self, **changes: Any) -> dict[str, str]:
        """The query string of this list (with ``changes``): what page and sort links keep."""
        q = replace(self, **changes)
        out = {"plan": q.plan, "unit": q.unit, "light": q.light, "kind": q.kind,
               "from": q.due_from.isoformat() if q.due_from else None, "to": q.due_to.isoformat() if q.due_to else None,
               "due": q.due, "overdue": q.overdue, "sort": q.sort if q.sort != "code" else None,
               "desc": "1" if q.desc else None, "page": str(q.page) if q.page != 1 else None,
               "per": str(q.per_page) if q.per_page != PER_PAGE else None}
        return {k: v for k, v in out.items() if v}


def parse_query(args: Mapping[str, str]) -> TaskQuery:
    """A ``TaskQuery`` from the page's query string; a bad value is ``BadQuery`` naming it."""
    def text(name: str) -> str | None:
        value = (args.get(name) or "").strip()
        return value or None

    def choice(name: str, allowed: Any) -> str | None:
        value = text(name)
        if value is not None and value not in allowed:
            raise BadQuery(f"{name}={value!r}: one of {', '.join(allowed)}")
        return value

    def day(name: str) -> dt.date | None:
        value = text(name)
        try:
            return dt.date.fromisoformat(value) if value else None
        except ValueError:
            raise BadQuery(f"{name}={value!r}: a date is written YYYY-MM-DD") from None

    def number(name: str, default: int, low: int, high: int) -> int:
        value = text(name)
        if value is None:
            return default
        if not value.isdigit() or not low <= int(value) <= high:
            raise BadQuery(f"{name}={value!r}: a whole number from {low} to {high}")
        return int(value)

    overdue = text("overdue")
    if overdue is not None and overdue + "+" in OVERDUE:  # the overview's 21+ arrives as "21 " (+ is a space)
        args = {**args, "overdue": overdue + "+"}
    return TaskQuery(plan=text("plan"), unit=text("unit"), light=choice("light", LIGHTS), kind=choice("kind", tuple(KINDS)),
                     due_from=day("from"), due_to=day("to"), due=choice("due", ("week",)),
                     overdue=choice("overdue", tuple(OVERDUE)), sort=choice("sort", SORTS) or "code",
                     desc=text("desc") in ("1", "true", "yes"), page=number("page", 1, 1, 10**6),
                     per_page=number("per", PER_PAGE, 1, MAX_PER_PAGE))


def shown_light(task: Mapping[str, Any]) -> str:
    """A status row's light as the overview counts it: ongoing work on track is ``ongoing``."""
    open_items = [i for i in task["items"] if i["light"] != "closed"]
    ongoing = bool(open_items) and all(i["ongoing"] for i in open_items)
    return "ongoing" if ongoing and task["light"] == "green" else str(task["light"])


def _when(value: dt.datetime | None, tz: dt.tzinfo) -> str | None:
    """A stored moment (UTC; naive as SQLite keeps it) as the office's local time, to the minute."""
    if value is None:
        return None
    aware = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    return aware.astimezone(tz).strftime("%Y-%m-%d %H:%M")


def _visible(plan: str | None, plans: list[str]) -> None:
    if plan is not None and plan not in plans:
        raise NotFound(f"no plan {plan!r}")


# --------------------------------------------------------------------------------------------
# Lights, kept while nothing changes


_KEPT: OrderedDict[tuple[Any, ...], tuple[Any, Any, list[dict[str, Any]], list[_Summary]]] = OrderedDict()
_KEEP = 8  # (plan, unit) lists kept per process
_GUARD = threading.Lock()
_COMPUTING: dict[tuple[Any, ...], threading.Lock] = {}


@dataclass(frozen=True, slots=True)
class _Summary:
    """A task's list row, worked out once per kept status: what the list filters and sorts on."""

    row: dict[str, Any]  # plan, code, title, lead_unit, co_lead_units, light, next_due, overdue_days, items
    order: tuple[Any, ...]  # plan, then code (3.2.10 after 3.2.9)
    open_items: list[dict[str, Any]]
    kinds: frozenset[str]


def _summary(task: Mapping[str, Any]) -> _Summary:
    open_items = [i for i in task["items"] if i["light"] != "closed"]
    row = {"plan": task["plan"], "code": task["code"], "title": task["title"], "lead_unit": task["lead_unit"],
           "co_lead_units": task["co_lead_units"], "light": shown_light(task),
           "next_due": min((i["due"] for i in open_items), default=None),
           "overdue_days": max((i["working_days_overdue"] for i in open_items), default=0), "items": len(task["items"])}
    return _Summary(row, (task["plan"], task_order(task["code"])), open_items, frozenset(i["kind"] for i in task["items"]))


def _newest_change(session: Session) -> int | None:
    """The newest event of a plan: every import, progress report, closing, extension decision, hold and sweep
    writes one (a login or a user change writes none with a plan, and changes no light)."""
    return session.execute(sa.select(sa.func.max(EventRow.id)).where(EventRow.plan_id.is_not(None))).scalar()


def forget_lights() -> None:
    """Drop the kept lights (tests that count statements start from nothing kept)."""
    with _GUARD:
        _KEPT.clear()
        _BOARDS.clear()


def _kept(engine: Engine, *, now: dt.datetime, policies: PolicySet, calendar: WorkCalendar, plan: str | None,
          unit: str | None) -> tuple[list[dict[str, Any]], list[_Summary]]:
    from duban.matrix.script import unit_key
    from duban.workflows.status_service import status

    with transaction(engine) as session:
        newest = _newest_change(session)
    key = (id(engine), plan, unit_key(unit) if unit else None, now.date(), newest)
    with _GUARD:
        computing = _COMPUTING.setdefault(key, threading.Lock())
    with computing:
        with _GUARD:
            kept = _KEPT.get(key)
        if kept is not None and kept[0] is policies and kept[1] is calendar:
            return kept[2], kept[3]
        try:
            rows = status(engine, now=now, policies=policies, plan=plan, unit=unit, calendar=calendar)
            summaries = sorted((_summary(task) for task in rows), key=lambda x: x.order)
        finally:
            with _GUARD:
                _COMPUTING.pop(key, None)
        with _GUARD:
            _KEPT[key] = (policies, calendar, rows, summaries)  # the objects kept alive: their ids are not reused
            _KEPT.move_to_end(key)
            while len(_KEPT) > _KEEP:
                _KEPT.popitem(last=False)
    return rows, summaries


def lights(engine: Engine, *, now: dt.datetime, policies: PolicySet, calendar: WorkCalendar, plan: str | None,
           unit: str | None) -> list[dict[str, Any]]:
    """``status_service.status`` of ``plan`` (and ``unit``), kept in this process until something changes: the
    day, the newest event of a plan (``_newest_change``: not a login), or the
    policies or calendar the app holds (a changed file gives a new object). One cheap query when kept; a
    page of a 20,000-task plan does not recompute every light per request. Concurrent requests for the
    same list wait for one computation. The rows are shared: callers must not change them."""
    return _kept(engine, now=now, policies=policies, calendar=calendar, plan=plan, unit=unit)[0]


# --------------------------------------------------------------------------------------------
# The task list


def _week(today: dt.date) -> tuple[dt.date, dt.date]:
    start = today - dt.timedelta(days=today.weekday())
    return start, start + dt.timedelta(days=6)


def _item_filter(q: TaskQuery, today: dt.date) -> Any:
    """A test of an open item for the dates and overdue days asked (None: none asked)."""
    low, high = q.due_from, q.due_to
    if q.due == "week":
        week = _week(today)
        low, high = max(low or week[0], week[0]), min(high or week[1], week[1])
    if low is None and high is None and q.overdue is None:
        return None
    lo, hi = low.isoformat() if low else "", high.isoformat() if high else "9999"
    least, most = OVERDUE[q.overdue] if q.overdue else (0, None)

    def test(i: Mapping[str, Any]) -> bool:
        days = i["working_days_overdue"]
        return lo <= i["due"] <= hi and days >= least and (most is None or days <= most)
    return test


def _selected(summaries: list[_Summary], q: TaskQuery, plans: set[str], today: dt.date) -> list[tuple[_Summary, int]]:
    """The tasks the filters select, with how many of their open items they select. ``kind`` selects tasks with
    items of that kind (closed ones too); the dates and overdue days, tasks with an open item in range."""
    kind = KINDS[q.kind] if q.kind else None
    test = _item_filter(q, today)
    out = []
    for s in summaries:
        if s.row["plan"] not in plans or (q.light and s.row["light"] != q.light) or (kind and kind not in s.kinds):
            continue
        items = [i for i in s.open_items if i["kind"] == kind] if kind else s.open_items
        if test is not None:
            items = [i for i in items if test(i)]
            if not items:
                continue
        out.append((s, len(items)))
    return out


def _sort_key(sort: str) -> Any:
    if sort == "due":
        return lambda x: (x[0].row["next_due"] or "", x[0].order)
    if sort == "light":
        return lambda x: (LIGHT_ORDER[x[0].row["light"]], -x[0].row["overdue_days"], x[0].order)
    if sort == "lead":
        return lambda x: (x[0].row["lead_unit"], x[0].order)
    return None  # code: the kept order


def list_tasks(engine: Engine, *, now: dt.datetime, policies: PolicySet, calendar: WorkCalendar, plans: list[str],
               query: TaskQuery) -> dict[str, Any]:
    """One page of the tasks of ``plans`` (the user's) that ``query`` selects: ``{rows, total, item_count, page,
    pages, query}``; each row ``{plan, code, title, lead_unit, co_lead_units, light, next_due, overdue_days,
    items, matched}`` (``matched``: its open items the item filters select). A plan not in ``plans`` is
    ``NotFound``; an unknown unit is ``BadQuery`` (``repo.find_unit``: either script, aliases)."""
    _visible(query.plan, plans)
    today = now.date()
    chosen: list[tuple[_Summary, int]] = []
    if plans:
        try:
            _, summaries = _kept(engine, now=now, policies=policies, plan=query.plan, unit=query.unit, calendar=calendar)
        except NotFound as e:  # the plan is visible, so it is the unit: a filter to correct, not a missing page
            raise BadQuery(f"unit={query.unit!r}: {e}") from None
        chosen = _selected(summaries, query, set(plans), today)
    key = _sort_key(query.sort)
    if key is not None:
        chosen.sort(key=key, reverse=query.desc)
    elif query.desc:
        chosen.reverse()
    if query.sort == "due":  # tasks with nothing open (no next due) last, either way
        chosen = [x for x in chosen if x[0].row["next_due"]] + [x for x in chosen if not x[0].row["next_due"]]
    pages = max(1, -(-len(chosen) // query.per_page))
    page = min(query.page, pages)
    start = (page - 1) * query.per_page
    return {"rows": [{**s.row, "matched": n} for s, n in chosen[start:start + query.per_page]], "total": len(chosen),
            "item_count": sum(n for _, n in chosen), "page": page, "pages": pages, "query": replace(query, page=page),
            "today": today.isoformat()}


# --------------------------------------------------------------------------------------------
# The task page


def _task_row(session: Session, plans: list[str], plan: str, code: str) -> tuple[PlanRow, TaskRow]:
    _visible(plan, plans)
    found = session.execute(sa.select(PlanRow, TaskRow).join(TaskRow, TaskRow.plan_id == PlanRow.id)
                            .where(PlanRow.code == plan, TaskRow.code == code, TaskRow.archived_at.is_(None))).first()
    if found is None:
        raise NotFound(f"no task {code!r} in plan {plan!r}")
    return found[0], found[1]


def _items(session: Session, *, task_id: int, plan: str, today: dt.date, policies: PolicySet,
           calendar: WorkCalendar) -> list[dict[str, Any]]:
    """The task's milestones and periods with their lights and pace (as ``duban status`` shows them)."""
    from duban.matrix.planner import light
    from duban.matrix.vocabulary import ItemKind
    from duban.store.supervision import load_open_items
    from duban.workflows.status_service import _num

    out = []
    for o in load_open_items(session, plan_code=plan, include_closed=True, task_ids=[task_id], as_of=today):
        lt = light(o.item, today, calendar, policies.for_task(o.plan_code, o.task.code))
        it = o.item
        out.append({"kind": it.kind.value, "label": o.label, "due": it.due.isoformat(),
                    "start": it.start.isoformat() if it.start else None, "ongoing": o.ongoing,
                    "quantity": _num(it.quantity), "measure": it.measure, "done_quantity": _num(it.done_quantity),
                    "done_percent": _num(it.done_percent), "expected": _num(lt.expected),
                    "min_count": it.min_count, "done_count": it.done_count if it.kind == ItemKind.INSTANCE else None,
                    "min_amount": _num(it.min_amount), "done_amount": _num(it.done_amount),
                    "light": lt.colour.value, "reason": lt.reason.value,
                    "working_days_overdue": lt.working_days_overdue, "working_days_left": lt.working_days_left})
    return out


def _reports(session: Session, task_id: int, tz: dt.tzinfo) -> list[dict[str, Any]]:
    from duban.workflows.progress_evidence import files_by_report

    p, m, i = ProgressReportRow, MilestoneRow, RecurrenceInstanceRow
    rows = session.execute(
        sa.select(p, UnitRow.name, m.seq, i.due).join(UnitRow, UnitRow.id == p.unit_id)
        .outerjoin(m, m.id == p.milestone_id).outerjoin(i, i.id == p.instance_id)
        .where(p.task_id == task_id).order_by(p.recorded_at, p.id)).all()
    files = files_by_report(session, [r.id for r, *_ in rows])
    return [{"id": r.id, "files": files.get(r.id, []), "kind": r.kind, "unit": unit, "item": _item_name(seq, due),
             "done_quantity": r.done_quantity,
             "done_percent": r.done_percent, "done_count": r.done_count, "done_amount": r.done_amount,
             "note": r.note, "evidence": r.evidence, "reported_by": r.reported_by,
             "reported_on": r.reported_on.isoformat(), "recorded_at": _when(r.recorded_at, tz),
             "source": r.source} for r, unit, seq, due in rows]


def _item_name(seq: int | None, due: dt.date | None) -> str:
    if seq is not None:
        return f"#{seq}"
    return due.isoformat() if due else ""


def _extensions(session: Session, task_id: int) -> list[dict[str, Any]]:
    e, m, i = ExtensionRow, MilestoneRow, RecurrenceInstanceRow
    rows = session.execute(
        sa.select(e, UnitRow.name, m.seq, i.due).join(UnitRow, UnitRow.id == e.unit_id)
        .outerjoin(m, m.id == e.milestone_id).outerjoin(i, i.id == e.instance_id)
        .where(e.task_id == task_id).order_by(e.id)).all()
    return [{"id": x.id, "unit": unit, "item": _item_name(seq, due), "reason": x.reason, "old_due": x.old_due.isoformat(),
             "new_due": x.new_due.isoformat(), "requested_on": x.requested_on.isoformat(), "requested_by": x.requested_by,
             "status": x.status, "decided_on": x.decided_on.isoformat() if x.decided_on else None,
             "decided_by": x.decided_by, "decision_note": x.decision_note} for x, unit, seq, due in rows]


def _deliveries(session: Session, notice_ids: Any, tz: dt.tzinfo) -> dict[int, list[dict[str, Any]]]:
    """Each notice's deliveries (one per recipient) with their message's state, by notice id."""
    d = DeliveryRow
    out: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in session.execute(
            sa.select(d.notice_id, d.recipient_role, d.recipient_name, d.display_name, d.address, d.is_cc, d.status,
                      d.last_error, MessageRow.status.label("message_status"), MessageRow.sent_at)
            .outerjoin(MessageRow, MessageRow.id == d.message_pk).where(d.notice_id.in_(notice_ids))
            .order_by(d.notice_id, d.is_cc, d.id)).all():
        out[row.notice_id].append({
            "role": row.recipient_role, "name": row.display_name or row.recipient_name, "address": row.address,
            "cc": row.is_cc, "status": row.status, "error": row.last_error, "message_status": row.message_status,
            "sent_at": _when(row.sent_at, tz)})
    return out


def _notice(n: NoticeRow, deliveries: list[dict[str, Any]], tz: dt.tzinfo) -> dict[str, Any]:
    return {"id": n.id, "kind": n.kind, "level": n.level, "due": n.due.isoformat(), "days": n.days,
            "planned_for": n.planned_for.isoformat(), "status": n.status, "to": n.recipients, "cc": n.cc,
            "attempts": n.attempts, "error": n.last_error, "sent_at": _when(n.sent_at, tz),
            "acknowledged_at": _when(n.acknowledged_at, tz),
            "acknowledged_by": n.acknowledged_by, "deliveries": deliveries}


def _notices(session: Session, task_id: int, tz: dt.tzinfo) -> list[dict[str, Any]]:
    ids = sa.select(NoticeRow.id).where(NoticeRow.task_id == task_id)
    deliveries = _deliveries(session, ids, tz)
    rows = session.execute(sa.select(NoticeRow).where(NoticeRow.task_id == task_id)
                           .order_by(NoticeRow.planned_for, NoticeRow.id)).scalars().all()
    return [_notice(n, deliveries.get(n.id, []), tz) for n in rows]


def task_page(engine: Engine, *, now: dt.datetime, policies: PolicySet, calendar: WorkCalendar, plans: list[str],
              plan: str, code: str) -> dict[str, Any]:
    """Everything the task page shows: ``{plan, plan_title, task (matrix.model.Task), supervised, light, reports,
    notices, extensions, history}``. ``NotFound`` for a plan outside ``plans`` or no such live task."""
    from duban.workflows.history_service import task_history

    today, tz = now.date(), now.tzinfo or dt.UTC
    with transaction(engine) as session:
        plan_row, task_row = _task_row(session, plans, plan, code)
        assert task_row.id is not None and plan_row.id is not None
        (task,) = repo.read_tasks(session, plan_row.id, task_ids=[task_row.id])
        items = _items(session, task_id=task_row.id, plan=plan, today=today, policies=policies, calendar=calendar)
        page = {"plan": plan, "plan_title": plan_row.title, "task": task, "supervised": items,
                "reports": _reports(session, task_row.id, tz), "notices": _notices(session, task_row.id, tz),
                "extensions": _extensions(session, task_row.id), "today": today.isoformat()}
        session.rollback()  # reads only
    page["light"] = _task_light(items)
    page["history"] = [{**e, "at": _when(dt.datetime.fromisoformat(e["at"]), tz)}
                       for e in task_history(engine, task=code, plan=plan)]
    return page


def _task_light(items: list[dict[str, Any]]) -> str:
    from duban.matrix.planner import worst
    from duban.matrix.vocabulary import Light

    colours = [Light(i["light"]) for i in items if i["light"] != "closed"]
    return shown_light({"light": worst(colours).value, "items": items})


# --------------------------------------------------------------------------------------------
# The unit page


def _unit(session: Session, plans: list[str], name: str, plan: str | None) -> UnitRow:
    _visible(plan, plans)
    unit = repo.find_unit(session, name, plan)
    if unit.plan_id is not None:
        owner = session.execute(sa.select(PlanRow.code).where(PlanRow.id == unit.plan_id)).scalar_one_or_none()
        if owner not in plans:
            raise NotFound(f"no unit {name!r} in the directory")
    return unit


def _roles(session: Session, unit: UnitRow, plans: list[str] | None) -> dict[int, tuple[str, str, str]]:
    """Task id → (the unit's role in it: lead, co_lead or supporting; the group it has it through, or "";
    the task's plan), for the live tasks of ``plans`` (None: all)."""
    from duban.matrix.script import unit_key

    ids = {unit.id: ""}
    keys = [unit_key(g) for g in unit.member_of]
    if keys:
        ids.update(dict(session.execute(sa.select(UnitRow.id, UnitRow.name).where(UnitRow.key.in_(keys))).all()))
    live = sa.and_(TaskRow.archived_at.is_(None), *([PlanRow.code.in_(plans)] if plans is not None else []))
    out: dict[int, tuple[str, str, str]] = {}
    for task_id, plan, uid, role in session.execute(
            sa.select(TaskRow.id, PlanRow.code, TaskUnitRow.unit_id, TaskUnitRow.role)
            .join(TaskRow, TaskRow.id == TaskUnitRow.task_id).join(PlanRow, PlanRow.id == TaskRow.plan_id)
            .where(live, TaskUnitRow.unit_id.in_(list(ids)))).all():
        out[task_id] = ("co_lead" if role == "co_lead" else "supporting", ids[uid], plan)
    for task_id, plan, uid in session.execute(
            sa.select(TaskRow.id, PlanRow.code, TaskRow.lead_unit_id).join(PlanRow, PlanRow.id == TaskRow.plan_id)
            .where(live, TaskRow.lead_unit_id.in_(list(ids)))).all():
        out[task_id] = ("lead", ids[uid], plan)
    return out


def _letters(session: Session, task_ids: list[int], names: set[str], limit: int, tz: dt.tzinfo) -> tuple[list[dict[str, Any]], int]:
    """Notices on ``task_ids`` addressed (主送 or 抄送) to one of ``names`` (keys), newest first, with the
    deliveries to them; and how many there are in all."""
    from duban.matrix.script import unit_key

    def to_it(recipients: list[dict[str, Any]]) -> bool:
        return any(r.get("role") in ("unit", "unit_head") and unit_key(r.get("name") or "") in names for r in recipients)

    rows = session.execute(
        sa.select(NoticeRow, PlanRow.code, TaskRow.code, TaskRow.title).join(TaskRow, TaskRow.id == NoticeRow.task_id)
        .join(PlanRow, PlanRow.id == NoticeRow.plan_id).where(NoticeRow.task_id.in_(task_ids))
        .order_by(NoticeRow.planned_for.desc(), NoticeRow.id.desc())).all()
    letters = [(n, plan, code, title, "to" if to_it(n.recipients) else "cc")
               for n, plan, code, title in rows if to_it(n.recipients) or to_it(n.cc)]
    shown = letters[:limit]
    deliveries = _deliveries(session, [n.id for n, *_ in shown], tz)
    out = []
    for n, plan, code, title, how in shown:
        mine = [d for d in deliveries.get(n.id, []) if d["role"] in ("unit", "unit_head") and unit_key(d["name"]) in names]
        out.append({**_notice(n, mine, tz), "plan": plan, "code": code, "title": title, "as": how})
    return out, len(letters)


def unit_page(engine: Engine, *, now: dt.datetime, policies: PolicySet, calendar: WorkCalendar, plans: list[str],
              name: str, plan: str | None = None, letters: int = 100) -> dict[str, Any]:
    """A unit's page: ``{unit, tasks, letters, letters_total, plans}``; each task a list row (``list_tasks``)
    with ``role`` (lead, co_lead, supporting) and ``via`` (the group it has the role through); letters are the
    notices addressed or copied to it (or its groups), newest first, at most ``letters``. ``NotFound`` for an
    unknown unit, a plan outside ``plans`` or a group of a plan outside them."""
    from duban.matrix.script import unit_key

    with transaction(engine) as session:
        unit = _unit(session, plans, name, plan)
        owner = plan if unit.plan_id is None else session.execute(
            sa.select(PlanRow.code).where(PlanRow.id == unit.plan_id)).scalar_one()
        everywhere = _roles(session, unit, None)
        roles = {tid: r for tid, r in everywhere.items() if r[2] in plans and (owner is None or r[2] == owner)}
        if everywhere and not roles and owner is None:
            raise NotFound(f"no unit {name!r} in the directory")  # it works only for plans the user may not see
        codes = {(p, c): tid for tid, p, c in session.execute(
            sa.select(TaskRow.id, PlanRow.code, TaskRow.code).join(PlanRow, PlanRow.id == TaskRow.plan_id)
            .where(TaskRow.id.in_(list(roles)))).all()}
        names = {unit_key(unit.name), *(unit_key(g) for g in unit.member_of)}
        sent, total = _letters(session, list(roles), names, letters, now.tzinfo or dt.UTC)
        info = {"name": unit.name, "kind": unit.kind, "aliases": list(unit.aliases), "member_of": list(unit.member_of),
                "head_name": unit.head_name, "head_title": unit.head_title, "plan": owner}
        session.rollback()
    tasks = []
    if roles:
        _, summaries = _kept(engine, now=now, policies=policies, plan=owner, unit=info["name"], calendar=calendar)
        for summary in summaries:
            tid = codes.get((summary.row["plan"], summary.row["code"]))
            if tid is not None:
                role, via, _ = roles[tid]
                tasks.append({**summary.row, "matched": len(summary.open_items), "role": role, "via": via})
    tasks.sort(key=lambda r: (("lead", "co_lead", "supporting").index(r["role"]), r["plan"], task_order(r["code"])))
    counts = {k: sum(1 for t in tasks if t["light"] == k) for k in LIGHTS}
    return {"unit": info, "tasks": tasks, "lights": counts, "letters": sent, "letters_total": total,
            "plans": sorted({p for p, _ in codes}), "today": now.date().isoformat()}


_BOARDS: OrderedDict[tuple[Any, ...], tuple[Any, Any, list[tuple[str, dict[str, tuple[Any, Any]], int]]]] = OrderedDict()


def _weekly_boards(engine: Engine, *, now: dt.datetime, scoring: ScoringConfig, calendar: WorkCalendar, plan: str,
                   weeks: int) -> list[tuple[str, dict[str, tuple[Any, Any]], int]]:
    """Per week (oldest first): its last day, each unit's (score, rank), how many units are ranked. Kept, as
    the lights are, until the day, the newest event, the scoring or the calendar change."""
    from duban.matrix.report_facts import period_facts, period_for
    from duban.matrix.scoring import score_week
    from duban.store.report_queries import read_snapshot

    today = now.date()
    with transaction(engine) as session:
        newest = _newest_change(session)
    key = (id(engine), plan, today, newest, weeks)
    with _GUARD:
        kept = _BOARDS.get(key)
    if kept is not None and kept[0] is scoring and kept[1] is calendar:
        return kept[2]
    friday = today - dt.timedelta(days=(today.weekday() - 4) % 7)
    periods = [period_for(friday - dt.timedelta(days=7 * k), scoring) for k in reversed(range(weeks))]
    store = read_snapshot(engine, plan=plan, as_of=today, tz=now.tzinfo or dt.UTC, ack_kinds=scoring.ack_kinds,
                          ack_since=periods[0].start - dt.timedelta(days=31), period_start=periods[0].start)
    boards = []
    for period in periods:
        board = score_week(period_facts(store, period, scoring, calendar).units, period, scoring, detail=False)
        boards.append((period.end.isoformat(), {u.unit: (u.score, u.rank) for u in board.units},
                       sum(1 for u in board.units if u.rank is not None)))
    with _GUARD:
        _BOARDS[key] = (scoring, calendar, boards)
        while len(_BOARDS) > _KEEP:
            _BOARDS.popitem(last=False)
    return boards


TREND_TASKS = 3000  # a larger plan's trend is worked out only when asked for (its first reading takes seconds)


def trend_is_kept_or_cheap(engine: Engine, *, now: dt.datetime, plan: str, weeks: int = 8) -> bool:
    """Whether ``score_trend`` answers at once: kept since the last change, or a plan of at most
    ``TREND_TASKS`` live tasks."""
    with transaction(engine) as session:
        newest = _newest_change(session)
        if (id(engine), plan, now.date(), newest, weeks) in _BOARDS:
            return True
        tasks = session.execute(sa.select(sa.func.count()).select_from(TaskRow).join(PlanRow, PlanRow.id == TaskRow.plan_id)
                                .where(PlanRow.code == plan, TaskRow.archived_at.is_(None))).scalar_one()
    return bool(tasks <= TREND_TASKS)


def score_trend(engine: Engine, *, now: dt.datetime, scoring: ScoringConfig, calendar: WorkCalendar, plan: str,
                unit: str, weeks: int = 8) -> list[dict[str, Any]]:
    """The unit's weekly score in ``plan`` for the ``weeks`` scoring periods ending on the last ``weeks``
    Fridays up to ``now`` (oldest first): ``[{end, score, rank, units}]`` (score None: not scored that week).
    One snapshot read; each week rebuilt from it as the report of its Friday saw it (``matrix.report_facts``),
    with the scoring rules given (the app's scoring.yaml, not the stored version in force each week)."""
    out = []
    for end, scores, ranked in _weekly_boards(engine, now=now, scoring=scoring, calendar=calendar, plan=plan, weeks=weeks):
        score, rank = scores.get(unit, (None, None))
        out.append({"end": end, "score": _score(score) if score is not None else None, "rank": rank, "units": ranked})
    return out


def _score(value: Any) -> float | int:
    from decimal import Decimal

    d = Decimal(value)
    return int(d) if d == d.to_integral() else float(d)
