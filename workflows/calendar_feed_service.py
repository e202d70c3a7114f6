"""A unit's calendar feed (督办日历): its due dates in Outlook or a phone's calendar, from its signed link.

``{DUBAN_PUBLIC_URL}/u/{token}/calendar.ics`` is the link's page as iCalendar (RFC 5545, written with the
``icalendar`` package): the same token, so the feed is scoped to one unit and one plan and is revoked with
the link (``link_service.verify``; a tampered or revoked link gives no feed). A subscription should outlive
the letter's link, so the feed is served ``links.calendar_days`` days from the link's day (policy, default
400; never fewer than ``links.expire_days``), while the link's page and actions end after
``links.expire_days`` (30). It reads only — no event,
no row: calendar apps poll a feed every few hours, and opening a link's page writes nothing either.

One all-day VEVENT per open item of the unit in the plan (lead, co-lead, supporting, member of a
responsible group, as the page lists them): every open milestone, and every open recurrence instance
the sweep has created (up to its horizon, later periods included, so the next months' dates show). Each
has

- ``UID`` ``milestone-<id>.unit-<unit id>@duban`` (``instance-…`` for a period): the same item keeps
  its UID in every fetch and every later link of the unit, so a moved due date (an approved extension)
  replaces the event instead of adding one; a closed item simply drops out of the next fetch;
- ``SUMMARY`` ``【督办】3.2.1 交通建设：2015年底完成25个村`` (task, title, the milestone's wording);
- ``DESCRIPTION`` the task's target, the milestone's quantity and what is done so far, the unit's role
  (牵头 / 共同牵头 / 配合), the plan and the link's address (also in ``URL``);
- ``DTSTART``/``DTEND`` the due day (the extended one when an extension was approved);
- a ``VALARM`` at 09:00 on the day of the earliest reminder of the task's policy
  (``reminders.working_days_before``, counted in the office's working-day calendar), else on the day;
- ``DTSTAMP`` the start (UTC) of ``now``'s day: a feed fetched twice a day is byte-identical, so the web
  page can answer a poll with 304 (ETag) and nothing looks changed to the calendar app.

The calendar is named ``督办：<unit> ·《<plan>》`` (``X-WR-CALNAME``) and asks to be refreshed every six
hours (``REFRESH-INTERVAL``, ``X-PUBLISHED-TTL``). Text is escaped by ``icalendar``.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlmodel import col

from duban.store.db import transaction
from duban.store.tables import MilestoneRow, PlanRow, RecurrenceInstanceRow, RecurrenceRow, TaskRow
from duban.workflows.link_service import DEFAULT_EXPIRE_DAYS, Link, _roles, _verify
from duban.workflows.progress_items import _effective_due, _today

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine
    from sqlalchemy.orm import Session

    from duban.matrix.calendar import WorkCalendar
    from duban.matrix.policy import PolicySet

__all__ = ["REFRESH", "feed", "feed_items"]

REFRESH = dt.timedelta(hours=6)  # how often a calendar app is asked to fetch the feed again
ALARM_HOUR = 9  # the reminder pops up at 09:00 on its day
_ORDER = ("lead", "co_lead", "supporting", "member")
_ROLES = {"lead": ("牵头单位", "lead unit"), "co_lead": ("共同牵头单位", "co-lead unit"),
          "supporting": ("配合单位", "supporting unit"), "member": ("成员单位（配合）", "member of a responsible group")}


def _num(value: Any) -> str | None:
    from duban.notifications.render import quantity

    return None if value is None else quantity(value)


def feed_items(session: Session, link: Link) -> list[dict[str, Any]]:
    """The link's unit's open items in its plan, each ``{uid, kind, id, task, title, target, role, label,
    due, milestone, period, beneficiary, quantity, measure, done, percent, min_count, done_count,
    min_amount, done_amount, amount_unit}``, by due date. Reads only."""
    roles = _roles(session, link.plan_id, link.unit_id)
    if not roles:
        return []
    tasks = {t.id: t for t in session.execute(sa.select(TaskRow).where(col(TaskRow.id).in_(list(roles)))).scalars()}
    out: list[dict[str, Any]] = []
    for task_id, role in roles.items():
        task = tasks[task_id]
        base = {"task": task.code, "title": task.title, "target": task.target or "", "role": role,
                "position": task.position}
        milestones = session.execute(sa.select(MilestoneRow).where(
            col(MilestoneRow.task_id) == task_id, col(MilestoneRow.archived_at).is_(None)).order_by(col(MilestoneRow.seq))).scalars()
        for number, m in enumerate(milestones, start=1):
            if m.closed_at is not None:
                continue
            out.append({**base, "uid": f"milestone-{m.id}.unit-{link.unit_id}@duban", "kind": "milestone", "id": m.id,
                        "milestone": number, "label": m.label or "", "due": _effective_due(m), "period": None,
                        "beneficiary": None, "quantity": _num(m.quantity), "measure": m.measure or "",
                        "done": _num(m.done_quantity), "percent": _num(m.done_percent), "min_count": None,
                        "done_count": None, "min_amount": None, "done_amount": None, "amount_unit": ""})
        for inst, rec in session.execute(
                sa.select(RecurrenceInstanceRow, RecurrenceRow)
                .join(RecurrenceRow, col(RecurrenceRow.id) == col(RecurrenceInstanceRow.recurrence_id))
                .where(col(RecurrenceInstanceRow.task_id) == task_id, col(RecurrenceRow.archived_at).is_(None),
                       col(RecurrenceInstanceRow.closed_at).is_(None))).all():
            out.append({**base, "uid": f"instance-{inst.id}.unit-{link.unit_id}@duban", "kind": "instance",
                        "id": inst.id, "milestone": None, "label": rec.label or rec.freq, "due": _effective_due(inst),
                        "period": inst.period_start, "beneficiary": rec.beneficiary, "quantity": None, "measure": "",
                        "done": None, "percent": None, "min_count": rec.min_count, "done_count": inst.done_count,
                        "min_amount": _num(rec.min_amount), "done_amount": _num(inst.done_amount),
                        "amount_unit": rec.amount_unit or ""})
    out.sort(key=lambda i: (i["due"], _ORDER.index(i["role"]), i["position"], i["task"], i["uid"]))
    return out


def _t(language: str, zh: str, en: str) -> str:
    return en if language == "en" else zh


def _summary(item: dict[str, Any], language: str) -> str:
    what = item["label"]
    if item["kind"] == "instance":
        period = _t(language, f"本期自 {item['period']:%Y-%m-%d}", f"period from {item['period']:%Y-%m-%d}")
        what = f"{what}（{period}{'，' + item['beneficiary'] if item['beneficiary'] else ''}）"
    head = f"{_t(language, '【督办】', '[Duban] ')}{item['task']} {item['title']}"
    return f"{head}{_t(language, '：', ': ')}{what}" if what else head


def _description(item: dict[str, Any], link: Link, page_url: str, language: str) -> str:
    role = _t(language, *_ROLES[item["role"]])
    lines = [f"{_t(language, '任务', 'Task')}：{item['task']} {item['title']}（{_t(language, '本单位为', 'this unit: ')}{role}）"]
    if item["target"]:
        lines.append(f"{_t(language, '目标任务', 'Target')}：{item['target']}")
    if item["label"]:
        lines.append(f"{_t(language, '时间节点', 'Milestone')}：{item['label']}")
    lines.append(f"{_t(language, '完成时限', 'Due')}：{item['due']:%Y-%m-%d}")
    if item["kind"] == "milestone":
        if item["quantity"]:
            lines.append(f"{_t(language, '目标数量', 'Quantity')}：{item['quantity']} {item['measure']}"
                         f"（{_t(language, '已报送完成', 'reported done')} {item['done'] or 0}）")
        elif item["percent"]:
            lines.append(f"{_t(language, '已报送完成', 'Reported done')}：{item['percent']}%")
    else:
        count = f"{item['done_count'] or 0}" + (f" / {item['min_count']}" if item["min_count"] else "")
        lines.append(f"{_t(language, '本期完成', 'This period')}：{count} {_t(language, '次', 'times')}"
                     + (f"，{item['done_amount'] or 0} / {item['min_amount']} {item['amount_unit']}"
                        if item["min_amount"] else ""))
    lines.append(f"{_t(language, '督办方案', 'Plan')}：《{link.plan_title}》")
    if page_url:
        lines.append(f"{_t(language, '在线签收和报送', 'Answer online')}：{page_url}")
    return "\n".join(lines)


def _alarm_days(item: dict[str, Any], plan_code: str, policies: PolicySet | None, cal: WorkCalendar) -> int:
    """Calendar days from the earliest reminder of the task's policy to its due day (0: on the day)."""
    from duban.matrix.policy import Policy

    days = (policies.for_task(plan_code, item["task"]) if policies is not None else Policy()).reminder_days
    n = max(days, default=0)
    due: dt.date = item["due"]
    return (due - cal.add_working_days(due, -n)).days if n > 0 else 0


def feed(engine: Engine, token: str, *, now: dt.datetime, expire_days: int = DEFAULT_EXPIRE_DAYS,
         page_url: str = "", policies: PolicySet | None = None, calendar: WorkCalendar | None = None,
         language: str = "zh-Hans", calendar_days: int | None = None) -> bytes:
    """The link's calendar (iCalendar bytes, UTF-8); ``LinkRefused`` for a link that may not act. Reads only.
    ``page_url``: the link's page, shown in each event; ``policies``: whose reminders set the alarms
    (default: the built-in policy) and how long the feed outlives the link's actions (``calendar_days``, else
    the policies' ``links.calendar_days``, else 400; never fewer than ``expire_days``); ``calendar``: the
    working days (default: the office's)."""
    from icalendar import Alarm, Calendar, Event

    with transaction(engine) as session:
        if calendar_days is None:
            from duban.matrix.policy import DEFAULT_CALENDAR_DAYS

            calendar_days = policies.link_calendar_days if policies is not None else DEFAULT_CALENDAR_DAYS
        link = _verify(session, token, now=now, expire_days=max(expire_days, calendar_days))
        plan = session.get(PlanRow, link.plan_id)
        assert plan is not None
        today, timezone, plan_code = _today(now, plan), plan.timezone or "Asia/Shanghai", plan.code
        items = feed_items(session, link)
        session.rollback()
    if calendar is None:
        from duban.workflows.calendar_service import work_calendar

        calendar = work_calendar(engine)
    stamp = dt.datetime.combine(now.astimezone(dt.UTC).date(), dt.time(), tzinfo=dt.UTC)
    cal = Calendar()
    cal.add("prodid", "-//duban//督办日历 calendar feed//ZH")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", f"{_t(language, '督办', 'Duban')}：{link.unit} ·《{link.plan_title}》")
    cal.add("x-wr-caldesc", _t(language, f"{link.unit}在《{link.plan_title}》中未办结事项的完成时限（截至 {today:%Y-%m-%d}）",
                                f"Due dates of {link.unit}'s open items in {link.plan_title} (as of {today:%Y-%m-%d})"))
    cal.add("x-wr-timezone", timezone)
    cal.add("refresh-interval", REFRESH, parameters={"VALUE": "DURATION"})
    cal.add("x-published-ttl", REFRESH)
    for item in items:
        event = Event()
        event.add("uid", item["uid"])
        event.add("dtstamp", stamp)
        event.add("dtstart", item["due"])
        event.add("dtend", item["due"] + dt.timedelta(days=1))
        event.add("summary", _summary(item, language))
        event.add("description", _description(item, link, page_url, language))
        event.add("categories", [_t(language, "督办", "Duban")])
        event.add("transp", "TRANSPARENT")  # a deadline, not a meeting: it does not block the day
        if page_url:
            event.add("url", page_url)
        alarm = Alarm()
        alarm.add("action", "DISPLAY")
        alarm.add("description", _summary(item, language))
        alarm.add("trigger", dt.timedelta(days=-_alarm_days(item, plan_code, policies, calendar), hours=ALARM_HOUR))
        event.add_component(alarm)
        cal.add_component(event)
    return bytes(cal.to_ical())

