"""What the console's 任務 (task list, task page) and 單位 (unit page) show.

The list reads the stored lights (``lights_service``: brought up to date first, nothing computed when
nothing moved) and filters, counts, sorts and pages them in SQL: a count, the page (LIMIT/OFFSET) and
its co-lead units, the same statements whatever the page size or the number of tasks. The unit page
reads its tasks' stored lights the same way, and its score trend from the scores the weekly reports
gave (``store.report_scores``). The task and unit pages read each of their lists (reports, notices,
deliveries, extensions, letters) with one set-based query each, never a query per row. Every entry
point takes ``plans``, the codes the user may see (``user_service.visible_plans``): a plan outside them
is ``NotFound``, as is a task that does not exist (the page answers 404). Nothing is kept in the
process: every worker process reads the same rows.

Lights as the overview counts them (``console_service``): a task whose open items are all ongoing work
(持續推進) and whose light is green is ``ongoing``; the others keep their light.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
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
    ExtensionRow,
    ItemLightRow,
    MessageRow,
    MilestoneRow,
    NoticeRow,
    PlanRow,
    ProgressReportRow,
    RecurrenceInstanceRow,
    TaskLightRow,
    TaskRow,
    TaskUnitRow,
    UnitRow,
)

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine
    from sqlalchemy.orm import Session

    from duban.matrix.calendar import WorkCalendar
    from duban.matrix.policy import PolicySet

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
# The task list: stored lights (``lights_service``), filtered, sorted and paged in SQL


def _week(today: dt.date) -> tuple[dt.date, dt.date]:
    start = today - dt.timedelta(days=today.weekday())
    return start, start + dt.timedelta(days=6)


_TL: Any = TaskLightRow.__table__  # type: ignore[attr-defined]  # the tables, typed for SQL expressions
_IL: Any = ItemLightRow.__table__  # type: ignore[attr-defined]
_T: Any = TaskRow.__table__  # type: ignore[attr-defined]
_P: Any = PlanRow.__table__  # type: ignore[attr-defined]
_LEAD: Any = UnitRow.__table__.alias("lead")  # type: ignore[attr-defined]


def _item_conditions(q: TaskQuery, today: dt.date) -> list[Any]:
    """The conditions on an open item (``item_light``) the dates and overdue days ask for: a task is listed
    when one of its open items (of ``kind``, when asked) meets them all."""
    conds: list[Any] = []
    low, high = q.due_from, q.due_to
    if q.due == "week":
        week = _week(today)
        low, high = max(low or week[0], week[0]), min(high or week[1], week[1])
    if low is not None:
        conds.append(_IL.c.due >= low)
    if high is not None:
        conds.append(_IL.c.due <= high)
    if q.overdue:
        least, most = OVERDUE[q.overdue]
        conds.append(_IL.c.working_days_overdue >= least)
        if most is not None:
            conds.append(_IL.c.working_days_overdue <= most)
    return conds


def _binary(session: Session, column: Any) -> Any:
    """``column`` compared by code point (as Python compares text) whatever the database's collation."""
    return column.collate("C") if session.get_bind().dialect.name == "postgresql" else column


def _find_unit(session: Session, name: str, plan: str | None) -> UnitRow:
    """``repo.find_unit``: a unit whose key is the name's is the one it answers when it is the only one (one
    indexed query); otherwise (an alias, a group several plans define, a misspelling) it is asked."""
    from duban.matrix.script import unit_key

    same = list(session.execute(sa.select(UnitRow).where(UnitRow.key == unit_key(name)).limit(2)).scalars())
    return same[0] if len(same) == 1 else repo.find_unit(session, name, plan)


def _unit_ids(session: Session, unit: UnitRow) -> list[int]:
    """The unit and the groups it is a member of (a task for 各鄉鎮人民政府 is each township's)."""
    from duban.matrix.script import unit_key

    keys = [unit_key(g) for g in unit.member_of]
    groups = list(session.execute(sa.select(UnitRow.id).where(UnitRow.key.in_(keys))).scalars()) if keys else []
    return [unit.id, *groups]  # type: ignore[list-item]


def _of_units(ids: list[int]) -> Any:
    """The ids of the tasks whose lead, co-lead or supporting unit is one of ``ids`` (``repo.query_task_ids``'s
    unit; archived ones too: the stored lights hold live tasks only), from the two unit indexes."""
    return sa.union(sa.select(_T.c.id).where(_T.c.lead_unit_id.in_(ids)),
                    sa.select(TaskUnitRow.task_id).where(TaskUnitRow.unit_id.in_(ids)))


def _selection(q: TaskQuery, today: dt.date, plan_ids: list[int], units: list[int] | None, sort: str | None) -> Any:
    """The tasks the filters select, as stored lights: ``task_id``, ``matched`` (its open items the item
    filters select). Reads ``task_light`` (the task and its lead unit only for ``sort`` lead) and, for dates
    or overdue days, one grouped pass over the plans' ``item_light`` rows in range. The stored lights hold
    live tasks only (``lights_service``), as the overview counts them."""
    conds = _item_conditions(q, today)
    source: Any = _TL
    where = [_TL.c.plan_id.in_(plan_ids)]  # ids, not a subquery: SQLite then uses the (plan, due) indexes
    matched: Any = _TL.c.open_items
    kind = [_IL.c.item_kind == KINDS[q.kind]] if q.kind else []
    if conds:  # the open items (of the kind) in range, counted per task: a task needs one
        per_task = (sa.select(_IL.c.task_id, sa.func.count().label("n"))
                    .where(_IL.c.plan_id.in_(plan_ids), _IL.c.light != "closed", *conds, *kind)
                    .group_by(_IL.c.task_id).subquery("per_task"))
        source = source.join(per_task, per_task.c.task_id == _TL.c.task_id)
        matched = per_task.c.n
    elif q.kind == "milestone":  # ``kind`` alone also lists tasks whose items of that kind are all closed
        where.append(_TL.c.milestones > 0)
        matched = _TL.c.open_milestones
    elif q.kind:
        where.append(_TL.c["items"] > _TL.c.milestones)
        matched = _TL.c.open_items - _TL.c.open_milestones
    if units is not None:
        where.append(_TL.c.task_id.in_(_of_units(units)))
    if sort == "lead":
        source = source.join(_T, _T.c.id == _TL.c.task_id)
        source = source.join(_LEAD, _LEAD.c.id == _T.c.lead_unit_id)
    if q.light:
        where.append(_TL.c.light == q.light)
    columns = [_TL.c.task_id, matched.label("matched")]
    return sa.select(*columns).select_from(source).where(*where)


def _details(ids: Any, matched: Any = None) -> Any:
    """The list's rows of the tasks ``ids`` (a list or a query of ids): the stored light with the task, its
    plan and its lead unit."""
    return (sa.select(_T.c.id, _P.c.code.label("plan"), _T.c.code, _T.c.title, _LEAD.c.name.label("lead_unit"),
                      _TL.c.light, _TL.c.next_due, _TL.c.working_days_overdue, _TL.c["items"],
                      (_TL.c.open_items if matched is None else matched).label("matched"))
            .select_from(_TL).join(_T, _T.c.id == _TL.c.task_id).join(_P, _P.c.id == _TL.c.plan_id)
            .join(_LEAD, _LEAD.c.id == _T.c.lead_unit_id).where(_TL.c.task_id.in_(ids)))


def _order(session: Session, sort: str, desc: bool, plan_ids: list[int]) -> list[Any]:
    """The sort asked, then the plan (``plan_ids`` are in the order of their codes) and the task code."""
    def way(column: Any, reverse: bool = False) -> Any:
        return column.desc() if desc != reverse else column.asc()

    code = [way(_binary(session, _TL.c.order_key))]
    if len(plan_ids) > 1:
        code.insert(0, way(sa.case({p: n for n, p in enumerate(plan_ids)}, value=_TL.c.plan_id)))
    if sort == "due":  # tasks with nothing open (no next due) last, either way
        return [_TL.c.next_due.is_(None).asc(), way(_TL.c.next_due), *code]
    if sort == "light":
        rank = sa.case(*((_TL.c.light == k, v) for k, v in LIGHT_ORDER.items()), else_=len(LIGHT_ORDER))
        return [way(rank), way(_TL.c.working_days_overdue, reverse=True), *code]
    if sort == "lead":
        return [way(_binary(session, _LEAD.c.name)), *code]
    return code


def _co_leads(session: Session, task_ids: Any) -> dict[int, list[str]]:
    """The co-lead units of ``task_ids`` (a list or a query of ids), in the plan's order, by task id (one query)."""
    out: dict[int, list[str]] = defaultdict(list)
    for task_id, name in session.execute(
            sa.select(TaskUnitRow.task_id, UnitRow.name).join(UnitRow, UnitRow.id == TaskUnitRow.unit_id)
            .where(TaskUnitRow.task_id.in_(task_ids), TaskUnitRow.role == "co_lead")
            .order_by(TaskUnitRow.task_id, TaskUnitRow.position)).all():
        out[task_id].append(name)
    return out


def _row(r: Any, co_leads: dict[int, list[str]]) -> dict[str, Any]:
    return {"plan": r.plan, "code": r.code, "title": r.title, "lead_unit": r.lead_unit,
            "co_lead_units": co_leads.get(r.id, []), "light": r.light,
            "next_due": r.next_due.isoformat() if r.next_due else None, "overdue_days": r.working_days_overdue,
            "items": r.items, "matched": int(r.matched or 0)}


def list_tasks(engine: Engine, *, now: dt.datetime, policies: PolicySet, calendar: WorkCalendar, plans: list[str],
               query: TaskQuery) -> dict[str, Any]:
    """One page of the tasks of ``plans`` (the user's) that ``query`` selects: ``{rows, total, item_count, page,
    pages, query, today}``; each row ``{plan, code, title, lead_unit, co_lead_units, light, next_due,
    overdue_days, items, matched}`` (``matched``: its open items the item filters select). A plan not in
    ``plans`` is ``NotFound``; an unknown unit is ``BadQuery`` (``repo.find_unit``: either script, aliases).

    The stored lights are brought up to date first (``lights_service.fresh``: nothing computed when nothing
    moved); then one query counts what the filters select and one reads the page (LIMIT/OFFSET), one more
    the page's co-lead units: the statements run do not grow with the rows shown or the tasks stored."""
    from duban.workflows.lights_service import fresh

    _visible(query.plan, plans)
    today = now.date()
    shown = [query.plan] if query.plan else plans
    if shown:
        fresh(engine, now=now, policies=policies, calendar=calendar, plans=shown)
    with transaction(engine) as session:
        units = None
        if query.unit:
            try:
                unit = _find_unit(session, query.unit, query.plan)
            except NotFound as e:  # the plan is visible, so it is the unit: a filter to correct, not a missing page
                raise BadQuery(f"unit={query.unit!r}: {e}") from None
            units = _unit_ids(session, unit)
        ids = dict(session.execute(sa.select(_P.c.code, _P.c.id).where(_P.c.code.in_(shown))).all())
        plan_ids = [ids[c] for c in sorted(ids)]
        counted = _selection(query, today, plan_ids, units, None).subquery()
        total, item_count = session.execute(
            sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(counted.c.matched), 0))).one()
        pages = max(1, -(-total // query.per_page))
        page = min(query.page, pages)
        chosen = dict(session.execute(_selection(query, today, plan_ids, units, query.sort).order_by(*_order(session, query.sort, query.desc, plan_ids))
                                      .limit(query.per_page).offset((page - 1) * query.per_page)).all())
        details = {r.id: r for r in session.execute(_details(list(chosen))).all()}
        co_leads = _co_leads(session, list(chosen))
        session.rollback()  # reads only
    found = [details[i] for i in chosen if i in details]
    return {"rows": [{**_row(r, co_leads), "matched": int(chosen[r.id] or 0)} for r in found], "total": int(total), "item_count": int(item_count),
            "page": page, "pages": pages, "query": replace(query, page=page), "today": today.isoformat()}

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
             "source": r.source, "state": r.state, "decided_by": r.decided_by, "decision_note": r.decision_note,
             "decided_at": _when(r.decided_at, tz)} for r, unit, seq, due in rows]


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
    """Everything the task page shows: ``{plan, plan_title, task (matrix.model.Task), supervised, light, reports
    (each with its ``state``: counted, pending, accepted, refused), pending (the parts waiting), notices,
    extensions, history}``. ``NotFound`` for a plan outside ``plans`` or no such live task."""
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
    page["pending"] = [r for r in page["reports"] if r["state"] == "pending"]  # supporting units' parts, 待确认
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
    unit = _find_unit(session, name, plan)
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
    from duban.workflows.lights_service import fresh

    with transaction(engine) as session:
        unit = _unit(session, plans, name, plan)
        owner = plan if unit.plan_id is None else session.execute(
            sa.select(PlanRow.code).where(PlanRow.id == unit.plan_id)).scalar_one()
        everywhere = _roles(session, unit, None)
        roles = {tid: r for tid, r in everywhere.items() if r[2] in plans and (owner is None or r[2] == owner)}
        if everywhere and not roles and owner is None:
            raise NotFound(f"no unit {name!r} in the directory")  # it works only for plans the user may not see
        names = {unit_key(unit.name), *(unit_key(g) for g in unit.member_of)}
        sent, total = _letters(session, list(roles), names, letters, now.tzinfo or dt.UTC)
        info = {"name": unit.name, "kind": unit.kind, "aliases": list(unit.aliases), "member_of": list(unit.member_of),
                "head_name": unit.head_name, "head_title": unit.head_title, "plan": owner}
        ids = _unit_ids(session, unit)
        session.rollback()
    its_plans = sorted({r[2] for r in roles.values()})
    tasks = []
    if its_plans:  # its tasks' stored lights, read as the list reads them (one query, whatever their number)
        fresh(engine, now=now, policies=policies, calendar=calendar, plans=its_plans)
        with transaction(engine) as session:
            found = session.execute(_details(_of_units(ids))
                                    .where(_P.c.code.in_(its_plans))).all()
            co_leads = _co_leads(session, _of_units(ids))
            session.rollback()
        for r in found:
            if r.id in roles:
                role, via, _ = roles[r.id]
                tasks.append({**_row(r, co_leads), "role": role, "via": via})
    tasks.sort(key=lambda r: (("lead", "co_lead", "supporting").index(r["role"]), r["plan"], task_order(r["code"])))
    counts = {k: sum(1 for t in tasks if t["light"] == k) for k in LIGHTS}
    return {"unit": info, "tasks": tasks, "lights": counts, "letters": sent, "letters_total": total,
            "plans": its_plans, "today": now.date().isoformat()}

# --------------------------------------------------------------------------------------------
# The unit's score trend: what the weekly reports gave it


def score_trend(engine: Engine, *, now: dt.datetime, plans: list[str], unit: str,
                weeks: int = 8) -> dict[str, list[dict[str, Any]]]:
    """``unit``'s score in the weekly reports written for it (``store.report_scores``: each report's scores as
    it gave them, with the scoring rules in force on its day), for the ``weeks`` weeks (Monday to Sunday)
    ending with the week of the newest such report up to ``now``'s day; per report scope: "" for the
    reports of every plan (the weekly job's), else one of ``plans`` (a report of one plan). Each scope's
    weeks, oldest first: ``{end, score, rank, units, reported}``; ``end`` is the report's day, or the
    week's Friday when no report of that scope was written that week (``reported`` False, score None: the
    page says 未通报 rather than show a score nobody circulated). A scope with no report in those weeks is
    left out; ``{}`` when no report gave the unit a score. Two queries, nothing kept in the process."""
    from duban.store.report_scores import newest_report, read_scores

    scopes = ["", *plans]
    newest = newest_report(engine, unit=unit, until=now.date(), scopes=scopes)
    if newest is None:
        return {}
    monday = newest - dt.timedelta(days=newest.weekday())
    starts = [monday - dt.timedelta(days=7 * k) for k in reversed(range(weeks))]
    found = read_scores(engine, unit=unit, since=starts[0], until=min(now.date(), monday + dt.timedelta(days=6)),
                        scopes=scopes)
    out: dict[str, list[dict[str, Any]]] = {}
    for scope in scopes:
        mine = [r for r in found if r["scope"] == scope]
        if not mine:
            continue
        rows = []
        for start in starts:
            week = [r for r in mine if start <= r["as_of"] <= start + dt.timedelta(days=6)]
            if week:  # the week's last report
                r = week[-1]
                rows.append({"end": r["as_of"].isoformat(), "score": _score(r["score"]), "rank": r["rank"],
                             "units": r["units"], "reported": True})
            else:
                rows.append({"end": (start + dt.timedelta(days=4)).isoformat(), "score": None, "rank": None,
                             "units": None, "reported": False})
        out[scope] = rows
    return out


def _score(value: Any) -> float | int:
    from decimal import Decimal

    d = Decimal(value)
    return int(d) if d == d.to_integral() else float(d)
