"""Units' signed links (签收和报送链接): a unit answers a notice from the letter itself, without an account.

A link is the unit's page for one plan on `duban serve`: ``{DUBAN_PUBLIC_URL}/u/{token}``. The token is

    {plan id}-{unit id}-{YYYYMMDD}.{signature}

— the link id (the plan, the unit and the day of the letter: its notice's planned day, or the sweep's when a
sweep caught up later, as ``notifications.views`` dates it) and an HMAC-SHA256 of it under
DUBAN_SECRET_KEY, else a key duban made once and keeps in the database (``app_secret`` ``link``). So a
link survives a restart, every worker signs alike, and the same notice carries the same link in every
replay (the day is the notice's, never the clock's). Nothing about a link is stored until the office
revokes it (``link_revocation``, `duban links revoke`).

``verify`` returns the ``Link`` or raises ``LinkRefused`` with a reason: ``tampered`` (the signature or
the form is wrong), ``unknown`` (its plan or unit is gone), ``revoked`` or ``expired`` (policy
``links.expire_days`` days after the day it was issued, default 30).

What a link may do is what its unit may do in its plan — 签收 a notice addressed to it, 报送进展 (the
lead, co-lead or a supporting unit), 申请办结 (lead or co-lead, with a note and evidence), 申请延期 (the
lead, refused after the due date as always), and for the lead or a co-lead unit accepting or refusing a supporting
unit's part (a supporting unit's report through its link waits for that: ``parts``, ``decide_part``) — through
the same services the office uses, on the unit's
open items of that plan only (``unit_items``). A forwarded link acts as the unit it was sent to. Every
action is an event ``link.used`` naming the unit, the link and the client's address, beside the
service's own event (whose actor names the link too). Opening the page reads only.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from duban.matrix.errors import NotFound, Refused
from duban.matrix.script import unit_key
from duban.store.db import transaction
from duban.store.tables import (
    TASK_UNIT_CO_LEAD,
    EventRow,
    LinkRevocationRow,
    MilestoneRow,
    NoticeRow,
    PlanRow,
    RecurrenceInstanceRow,
    RecurrenceRow,
    SecretRow,
    SweepRow,
    TaskRow,
    TaskUnitRow,
    UnitRow,
)
from duban.workflows.progress_items import _effective_due, _today

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from duban.store.evidence import EvidenceStore

SECRET_NAME = "link"
DEFAULT_EXPIRE_DAYS = 30
REASONS = ("tampered", "unknown", "revoked", "expired")
_LINK_ID = re.compile(r"^([1-9][0-9]{0,9})-([1-9][0-9]{0,9})-([0-9]{8})$")
_SIG_CHARS = 32  # 192 bits of the HMAC, URL-safe base64
_NOTICE_ROLES = ("unit", "unit_head")  # a notice's 主送 entries that address a unit


class LinkRefused(Refused):
    """A link that may not act: ``reason`` is one of ``REASONS``."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Link:
    link_id: str
    token: str
    plan_id: int
    plan: str
    plan_title: str
    unit_id: int
    unit: str
    issued_on: dt.date
    expires_on: dt.date  # the last day it works


# --------------------------------------------------------------------------------------------
# Signing


def _secret(session: Session, *, make: bool = True) -> bytes | None:
    """DUBAN_SECRET_KEY, else the link key kept in the database (made here once, inside the caller's
    transaction: ON CONFLICT DO NOTHING, so two processes making it at once agree on the first). Without
    ``make`` (verifying: opening a link writes nothing) None when there is no key yet: no link was signed."""
    given = os.environ.get("DUBAN_SECRET_KEY")
    if given:
        return given.encode()
    row = session.get(SecretRow, SECRET_NAME)
    if row is None and not make:
        return None
    if row is None:
        import secrets

        from duban.store.supervision import _insert_ignore

        session.execute(_insert_ignore(session, SecretRow.__table__, ("name",)).values(
            name=SECRET_NAME, value=secrets.token_urlsafe(48)))
        row = session.get(SecretRow, SECRET_NAME)
        assert row is not None
    return row.value.encode()


def _mac(secret: bytes, purpose: str, text: str) -> str:
    digest = hmac.new(secret, f"duban-{purpose}-v1|{text}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")[:_SIG_CHARS]


def link_id_of(plan_id: int, unit_id: int, issued_on: dt.date) -> str:
    return f"{plan_id}-{unit_id}-{issued_on:%Y%m%d}"


def _parse_link_id(link_id: str) -> tuple[int, int, dt.date] | None:
    m = _LINK_ID.match(link_id)
    if not m:
        return None
    try:
        day = dt.datetime.strptime(m.group(3), "%Y%m%d").date()
    except ValueError:
        return None
    return int(m.group(1)), int(m.group(2)), day


def token_in(session: Session, *, plan_id: int, unit_id: int, issued_on: dt.date) -> str:
    """The signed token of the unit's link of the plan issued on ``issued_on`` (read in ``session``)."""
    link_id = link_id_of(plan_id, unit_id, issued_on)
    secret = _secret(session)
    assert secret is not None
    return f"{link_id}.{_mac(secret, 'link', link_id)}"


def url_of(public_url: str, token: str) -> str:
    return f"{public_url.rstrip('/')}/u/{token}"


def csrf_of(session: Session, token: str) -> str:
    """The form token of a link's page: an HMAC of the link token (there is no session to keep one in)."""
    secret = _secret(session, make=False)
    return _mac(secret, "link-csrf", token) if secret is not None else ""


def check_csrf(engine: Engine, token: str, sent: object) -> bool:
    with transaction(engine) as session:
        expected = csrf_of(session, token)
        return bool(expected) and isinstance(sent, str) and hmac.compare_digest(sent, expected)


class NoticeLinks:
    """The links a delivery run writes into its letters: one per recipient unit, plan and day, looked up
    in the run's own session (the unit by the name the notice addresses)."""

    def __init__(self, session: Session, public_url: str) -> None:
        self.session, self.public_url = session, public_url
        self._plans: dict[str, int] = {}
        self._units: dict[tuple[str, str], int | None] = {}

    def addressee(self, names: Sequence[str], plan_code: str) -> str | None:
        """Whose link a letter to one address carries: the first of the units it reaches there that is no group
        (a group's notice reaches each member at the member's address), else the group itself (a group's own
        address)."""
        from duban.store import repository as repo

        for name in names:
            try:
                if repo.find_unit(self.session, name, plan_code).kind != "group":
                    return name
            except NotFound:
                continue
        return names[0] if names else None

    def url(self, *, plan_code: str, unit_name: str, day: dt.date) -> str:
        """The link for ``unit_name`` (a unit of the directory) in ``plan_code`` issued on ``day``; "" when
        the name is no unit (an official, a leader: they answer otherwise)."""
        from duban.store import repository as repo

        if plan_code not in self._plans:
            self._plans[plan_code] = repo.plan_row(self.session, plan_code).id or 0
        key = (plan_code, unit_key(unit_name))
        if key not in self._units:
            try:
                self._units[key] = repo.find_unit(self.session, unit_name, plan_code).id
            except NotFound:
                self._units[key] = None
        unit_id = self._units[key]
        if not unit_id:
            return ""
        return url_of(self.public_url, token_in(self.session, plan_id=self._plans[plan_code], unit_id=unit_id,
                                                issued_on=day))


def issue(engine: Engine, *, plan: str, unit: str, on: dt.date, expire_days: int = DEFAULT_EXPIRE_DAYS) -> dict[str, Any]:
    """The unit's link of ``plan`` issued on ``on`` (as a notice planned that day carries it): ``{link, token,
    plan, unit, issued_on, expires_on}``. Reads only (the link key is made on first use)."""
    from duban.workflows.progress_items import _plan, _unit

    with transaction(engine) as session:
        plan_row = _plan(session, plan)
        unit_row = _unit(session, unit, plan_row.code)
        assert plan_row.id is not None and unit_row.id is not None
        token = token_in(session, plan_id=plan_row.id, unit_id=unit_row.id, issued_on=on)
        return {"link": token.split(".")[0], "token": token, "plan": plan_row.code, "unit": unit_row.name,
                "issued_on": on.isoformat(), "expires_on": (on + dt.timedelta(days=expire_days)).isoformat()}


# --------------------------------------------------------------------------------------------
# Verifying


def verify(engine: Engine, token: str, *, now: dt.datetime, expire_days: int = DEFAULT_EXPIRE_DAYS) -> Link:
    """The link ``token`` stands for, if it may act on ``now``; else ``LinkRefused`` saying why. Reads only."""
    with transaction(engine) as session:
        return _verify(session, token, now=now, expire_days=expire_days)


def _verify(session: Session, token: str, *, now: dt.datetime, expire_days: int) -> Link:
    text = str(token or "")
    link_id, _, sig = text.partition(".")
    parsed = _parse_link_id(link_id) if len(text) <= 120 else None
    secret = _secret(session, make=False)
    if parsed is None or secret is None or not hmac.compare_digest(sig.encode(), _mac(secret, "link", link_id).encode()):
        raise LinkRefused("tampered", "链接无效：签名不符或链接不完整，请使用通知中的原始链接 "
                                      "(the link is not valid: its signature does not match)")
    plan_id, unit_id, issued_on = parsed
    plan = session.get(PlanRow, plan_id)
    unit = session.get(UnitRow, unit_id)
    if plan is None or unit is None:
        raise LinkRefused("unknown", "链接所指的方案或单位已不存在 (the link's plan or unit no longer exists)")
    revoked = session.get(LinkRevocationRow, link_id)
    if revoked is not None:
        raise LinkRefused("revoked", f"链接已由督办部门于 {revoked.revoked_at.date().isoformat()} 撤销"
                                     f"{'：' + revoked.reason if revoked.reason else ''} "
                                     f"(the link was revoked by the office)")
    expires_on = issued_on + dt.timedelta(days=expire_days)
    if _today(now, plan) > expires_on:
        raise LinkRefused("expired", f"链接已于 {expires_on.isoformat()} 过期，请使用最新通知中的链接 "
                                     f"(the link expired on {expires_on.isoformat()}: use the one in the latest notice)")
    assert plan.id is not None and unit.id is not None
    return Link(link_id=link_id, token=text, plan_id=plan.id, plan=plan.code, plan_title=plan.title, unit_id=unit.id,
                unit=unit.name, issued_on=issued_on, expires_on=expires_on)


# --------------------------------------------------------------------------------------------
# The unit's open items in the plan


def _roles(session: Session, plan_id: int, unit_id: int, *, task_id: int | None = None) -> dict[int, str]:
    """Task id → the unit's role in it (lead, co_lead, supporting; ``member`` of a lead or supporting group,
    which reports like a supporting unit), for the plan's live tasks (``task_id``: that task only)."""
    one_unit = [TaskUnitRow.task_id == task_id] if task_id is not None else []
    one_task = [TaskRow.id == task_id] if task_id is not None else []
    out: dict[int, str] = {}
    unit = session.get(UnitRow, unit_id)
    groups = [unit_key(g) for g in (unit.member_of if unit is not None else [])]
    group_ids = list(session.execute(sa.select(UnitRow.id).where(UnitRow.key.in_(groups))).scalars()) if groups else []
    unit_ids = [*group_ids, unit_id]
    # The units' task_unit rows first, then which of those tasks are the plan's live ones: each step on its
    # own index (joined in one query, SQLite without statistics walked the plan's every task instead).
    named = session.execute(sa.select(TaskUnitRow.task_id, TaskUnitRow.unit_id, TaskUnitRow.role)
                            .where(TaskUnitRow.unit_id.in_(unit_ids), *one_unit)).all()
    led = session.execute(sa.select(TaskRow.id, TaskRow.lead_unit_id).where(
        TaskRow.lead_unit_id.in_(unit_ids), TaskRow.plan_id == plan_id, TaskRow.archived_at.is_(None), *one_task)).all()
    live = set(session.execute(sa.select(TaskRow.id).where(
        TaskRow.id.in_(sorted({t for t, _, _ in named})), TaskRow.plan_id == plan_id, TaskRow.archived_at.is_(None))).scalars()) \
        if named else set()
    for task_id, who, _role in named:  # a lead or supporting group's member
        if who != unit_id and task_id in live:
            out[task_id] = "member"
    for task_id, who in led:
        if who != unit_id:
            out[task_id] = "member"
    for task_id, who, role in named:
        if who == unit_id and task_id in live:
            out[task_id] = "co_lead" if role == TASK_UNIT_CO_LEAD else "supporting"
    for task_id, who in led:
        if who == unit_id:
            out[task_id] = "lead"
    return out


def _addressed(recipients: list[dict[str, Any]], key: str) -> bool:
    return any(r.get("role") in _NOTICE_ROLES and unit_key(r.get("name") or "") == key for r in recipients)


def _num(value: Any) -> str | None:
    from duban.notifications.render import quantity

    return None if value is None else quantity(value)


def _items(session: Session, link: Link, today: dt.date, *, task_id: int | None = None) -> list[dict[str, Any]]:
    """The unit's open items in the link's plan (``task_id``: of that task only), with a fixed number of
    queries whatever the number of tasks (a unit may lead hundreds)."""
    roles = _roles(session, link.plan_id, link.unit_id, task_id=task_id)
    if not roles:
        return []
    ids = list(roles)
    tasks = {t.id: t for t in session.execute(sa.select(TaskRow).where(TaskRow.id.in_(ids))).scalars()}
    key = unit_key(link.unit)
    unacked: dict[tuple[str, int], list[int]] = {}
    for n in session.execute(sa.select(NoticeRow).where(
            NoticeRow.task_id.in_(ids), NoticeRow.acknowledged_at.is_(None), NoticeRow.planned_for <= today,
            NoticeRow.status != "superseded").order_by(NoticeRow.id)).scalars():
        if _addressed(n.recipients, key):
            ref = ("m", n.milestone_id) if n.milestone_id else ("i", n.instance_id or 0)
            unacked.setdefault(ref, []).append(n.id or 0)
    milestones: dict[int, list[MilestoneRow]] = {}
    for m in session.execute(sa.select(MilestoneRow).where(MilestoneRow.task_id.in_(ids), MilestoneRow.archived_at.is_(None))
                             .order_by(MilestoneRow.task_id, MilestoneRow.seq)).scalars():
        milestones.setdefault(m.task_id, []).append(m)
    instances: dict[int, list[tuple[RecurrenceInstanceRow, RecurrenceRow]]] = {}
    for inst, rec in session.execute(
            sa.select(RecurrenceInstanceRow, RecurrenceRow)
            .join(RecurrenceRow, RecurrenceRow.id == RecurrenceInstanceRow.recurrence_id)
            .where(RecurrenceInstanceRow.task_id.in_(ids), RecurrenceRow.archived_at.is_(None),
                   RecurrenceInstanceRow.closed_at.is_(None), RecurrenceInstanceRow.period_start <= today)
            .order_by(RecurrenceInstanceRow.task_id, RecurrenceInstanceRow.due, RecurrenceRow.seq)).all():
        instances.setdefault(inst.task_id, []).append((inst, rec))
    out: list[dict[str, Any]] = []
    for tid, role in roles.items():
        task = tasks[tid]
        base = {"task": task.code, "title": task.title, "role": role, "position": task.position,
                "can_report": True, "can_close": role in ("lead", "co_lead"), "can_extend": role == "lead"}
        for number, m in enumerate(milestones.get(tid, []), start=1):
            if m.closed_at is not None:
                continue
            out.append({**base, "key": f"m{m.id}", "kind": "milestone", "milestone": number, "period": None,
                        "beneficiary": None, "label": m.label, "due": _effective_due(m).isoformat(),
                        "quantity": _num(m.quantity), "measure": m.measure or "", "done": _num(m.done_quantity),
                        "percent": _num(m.done_percent), "min_count": None, "done_count": None, "min_amount": None,
                        "done_amount": None, "amount_unit": None, "notices": unacked.get(("m", m.id or 0), [])})
        for inst, rec in instances.get(tid, []):
            out.append({**base, "key": f"i{inst.id}", "kind": "instance", "milestone": None,
                        "period": inst.period_start.isoformat(), "beneficiary": rec.beneficiary,
                        "label": rec.label or rec.freq, "due": _effective_due(inst).isoformat(), "quantity": None,
                        "measure": "", "done": None, "percent": None, "min_count": rec.min_count,
                        "done_count": inst.done_count, "min_amount": _num(rec.min_amount),
                        "done_amount": _num(inst.done_amount), "amount_unit": rec.amount_unit or "",
                        "notices": unacked.get(("i", inst.id or 0), [])})
    order = ("lead", "co_lead", "supporting", "member")
    out.sort(key=lambda i: (order.index(i["role"]), i["position"], i["task"], i["due"], i["key"]))
    return out


def _task_of_item(session: Session, item_key: str) -> int | None:
    """The task an item key (``m<milestone id>``, ``i<period id>``) belongs to, or None."""
    kind, number = item_key[:1], item_key[1:]
    if kind not in ("m", "i") or not number.isdigit() or len(number) > 18:
        return None
    row = MilestoneRow if kind == "m" else RecurrenceInstanceRow
    return session.execute(sa.select(row.task_id).where(row.id == int(number))).scalar()


def unit_items(engine: Engine, link: Link, *, now: dt.datetime) -> list[dict[str, Any]]:
    """The link's unit's open items in its plan (lead, co-lead, supporting), each ``{key, task, title, role,
    kind, milestone, period, beneficiary, label, due, quantity, measure, done, percent, min_count, done_count,
    min_amount, done_amount, amount_unit, notices (ids to 签收), can_report, can_close, can_extend}``. Reads only."""
    with transaction(engine) as session:
        plan = session.get(PlanRow, link.plan_id)
        assert plan is not None
        items = _items(session, link, _today(now, plan))
        session.rollback()
        return items


def page(engine: Engine, token: str, *, now: dt.datetime, expire_days: int = DEFAULT_EXPIRE_DAYS) -> dict[str, Any]:
    """Everything the link's page shows: ``{link, items, csrf, today}``; ``LinkRefused`` for a link that may
    not act. Reads only: opening a link (a mail scanner, a preview) changes nothing."""
    with transaction(engine) as session:
        link = _verify(session, token, now=now, expire_days=expire_days)
        plan = session.get(PlanRow, link.plan_id)
        assert plan is not None
        today = _today(now, plan)
        out = {"link": link, "items": _items(session, link, today), "csrf": csrf_of(session, link.token),
               "today": today.isoformat()}
        session.rollback()
        return out


# --------------------------------------------------------------------------------------------
# Actions: each checks the item is one of the unit's open items of the link's plan, calls the service
# the office uses, and records ``link.used``


def _actor(link: Link) -> str:
    return f"{link.unit}（链接 {link.link_id}）"


def _item(engine: Engine, link: Link, item_key: str, now: dt.datetime) -> dict[str, Any]:
    """The open item ``item_key`` of the link's unit in its plan (read from its task alone), or NotFound."""
    with transaction(engine) as session:
        plan = session.get(PlanRow, link.plan_id)
        assert plan is not None
        task_id = _task_of_item(session, item_key)
        items = [] if task_id is None else _items(session, link, _today(now, plan), task_id=task_id)
        session.rollback()
    found = next((i for i in items if i["key"] == item_key), None)
    if found is None:
        raise NotFound(f"{item_key!r} 不是{link.unit}在本方案中未办结的事项 "
                       f"(not an open item of {link.unit} in plan {link.plan})")
    return found


def _where(item: dict[str, Any]) -> dict[str, Any]:
    """The service arguments that name the item: its milestone number or its period (and beneficiary)."""
    if item["kind"] == "milestone":
        return {"milestone": item["milestone"]}
    return {"period": dt.date.fromisoformat(item["period"]), "beneficiary": item["beneficiary"]}


def _used(engine: Engine, link: Link, *, now: dt.datetime, action: str, item: dict[str, Any], client: str,
          **data: Any) -> None:
    with transaction(engine) as session:
        task_id = session.execute(sa.select(TaskRow.id).where(TaskRow.plan_id == link.plan_id,
                                                              TaskRow.code == item["task"])).scalar()
        session.add(EventRow(at=now, kind="link.used", plan_id=link.plan_id, task_id=task_id, actor=_actor(link),
                             data={"link": link.link_id, "unit": link.unit, "client": client, "action": action,
                                   "task": item["task"], "item": item["key"], **data}))


def acknowledge(engine: Engine, link: Link, item_key: str, *, now: dt.datetime, client: str) -> list[int]:
    """签收: every notice of the item addressed to the unit and not yet acknowledged. Returns their ids."""
    from duban.workflows import notice_service

    item = _item(engine, link, item_key, now)
    if not item["notices"]:
        raise Refused(f"{item['task']} 没有待签收的通知 (no notice of this item waits to be acknowledged)")
    done = []
    for notice_id in item["notices"]:
        notice_service.acknowledge(engine, notice_id=notice_id, now=now, by=link.unit, actor=_actor(link))
        done.append(notice_id)
    _used(engine, link, now=now, action="acknowledge", item=item, client=client, notices=done)
    return done


def report(engine: Engine, link: Link, item_key: str, *, now: dt.datetime, client: str, done: str = "",
           percent: str = "", count: str = "", amount: str = "", note: str = "",
           files: Sequence[tuple[str, bytes]] = (), store: EvidenceStore | None = None) -> dict[str, Any]:
    """报送进展: the unit's report on the item (a milestone's cumulative quantity or percent, a period's
    count and amount, a note, evidence files kept in ``store``), as ``duban progress report`` records it
    (source ``link``)."""
    from duban.workflows.progress_service import report_progress

    item = _item(engine, link, item_key, now)
    values: dict[str, Any] = {k: v.strip() for k, v in
                              {"done": done, "percent": percent, "count": count, "amount": amount}.items()
                              if v and v.strip()}
    result = report_progress(engine, task=item["task"], unit=link.unit, now=now, plan=link.plan, note=note,
                             reported_by=_actor(link), source="link", files=files, store=store, from_unit=True,
                             **values, **_where(item))
    _used(engine, link, now=now, action="report", item=item, client=client, report_id=result["report_id"],
          closed=result["item"]["closed"], files=[f["name"] for f in result.get("files", [])],
          state=result.get("state", "counted"))
    return result


def request_closing(engine: Engine, link: Link, item_key: str, *, now: dt.datetime, client: str, note: str,
                    files: Sequence[tuple[str, bytes]], store: EvidenceStore) -> dict[str, Any]:
    """申请办结: a closing request for the item with a note and evidence files, for the office to review."""
    from duban.workflows import closing_service

    item = _item(engine, link, item_key, now)
    made = closing_service.request_closing(engine, task=item["task"], unit=link.unit, note=note, files=files, now=now,
                                           actor=_actor(link), store=store, plan=link.plan, **_where(item))
    _used(engine, link, now=now, action="request_closing", item=item, client=client, closing_id=made["id"],
          files=[f["name"] for f in made["files"]])
    return made


def request_extension(engine: Engine, link: Link, item_key: str, *, now: dt.datetime, client: str,
                      new_due: dt.date, reason: str) -> dict[str, Any]:
    """申请延期: the lead unit asks to move the item's due date (refused after it, as always)."""
    from duban.workflows import extension_service

    item = _item(engine, link, item_key, now)
    made = extension_service.request_extension(engine, task=item["task"], unit=link.unit, new_due=new_due,
                                               reason=reason, now=now, plan=link.plan, requested_by=_actor(link),
                                               **_where(item))
    _used(engine, link, now=now, action="request_extension", item=item, client=client, extension_id=made["id"],
          new_due=new_due.isoformat())
    return made


# --------------------------------------------------------------------------------------------
# Answer by document: the unit uploads its progress report, duban proposes entries
# (progress_document_service), the unit ticks the ones to record. The document is read in the request
# and kept nowhere; the proposals travel to the confirming POST in the form, signed for this link (the
# unit confirms what duban read, not numbers edited in the page's source).

_CARRY_KEYS = ("number", "task", "title", "milestone", "measure", "target", "done", "due", "quantity", "sentence",
               "shown", "level")
_CARRY_MAX = 256 * 1024  # characters of the signed proposals a confirming form may send back
_SENTENCE_CHARS = 400


def _carry_mac(session: Session, link: Link, carry: str) -> str:
    secret = _secret(session, make=False)
    return _mac(secret, "link-document", f"{link.token}|{carry}") if secret is not None else ""


def propose_document(engine: Engine, link: Link, file: tuple[str, bytes], *, max_bytes: int) -> dict[str, Any]:
    """The proposals ``progress_document_service.propose`` reads from the unit's document for the link's unit
    and plan, with ``carry`` and ``carry_sig``: the proposals as the confirming form sends them back, signed
    for this link. Reads only (nothing is written, the document is not kept)."""
    import json

    from duban.workflows import progress_document_service

    made = progress_document_service.propose(engine, unit=link.unit, plan=link.plan, file=file, max_bytes=max_bytes)
    kept = [{k: p.get(k) for k in _CARRY_KEYS} | {"sentence": str(p.get("sentence") or "")[:_SENTENCE_CHARS]}
            for p in made["proposals"]]
    carry = base64.urlsafe_b64encode(json.dumps({"document": made["document"], "proposals": kept},
                                                ensure_ascii=False).encode()).decode()
    if len(carry) > _CARRY_MAX:
        raise Refused(f"{made['document']}: {len(kept)} proposals are too many to confirm at once "
                      "(split the report into shorter documents)")
    with transaction(engine) as session:
        sig = _carry_mac(session, link, carry)
    return {**made, "proposals": kept, "carry": carry, "carry_sig": sig}


def read_carried(engine: Engine, link: Link, carry: object, carry_sig: object) -> dict[str, Any]:
    """The proposals a confirming form sent back (``{document, proposals}``), if signed for this link; else
    ``Refused`` (changed, from another link, or none)."""
    import json

    refused = Refused("提交的识别结果无效或已被改动，请重新上传文件 "
                      "(the proposals were changed or belong to another link: upload the document again)")
    if not isinstance(carry, str) or not isinstance(carry_sig, str) or not carry or len(carry) > _CARRY_MAX:
        raise refused
    with transaction(engine) as session:
        expected = _carry_mac(session, link, carry)
    if not expected or not hmac.compare_digest(carry_sig.encode(), expected.encode()):
        raise refused
    data = json.loads(base64.urlsafe_b64decode(carry.encode()))
    return {"document": str(data["document"]), "proposals": list(data["proposals"])}


def confirm_document(engine: Engine, link: Link, *, carry: object, carry_sig: object, chosen: Sequence[str],
                     now: dt.datetime, client: str) -> list[dict[str, Any]]:
    """Record the chosen proposals (their numbers) of a document read by ``propose_document``, as the link's
    unit: each must be an open milestone of the unit in the link's plan (checked for all before anything is
    written); then each through ``progress_document_service.confirm`` (source ``document``, the sentence in
    the note, the link as reporter) and its ``link.used`` event (action ``report_document``)."""
    from duban.workflows import progress_document_service

    carried = read_carried(engine, link, carry, carry_sig)
    by_number = {p.get("number"): p for p in carried["proposals"]}
    picked: list[dict[str, Any]] = []
    for piece in chosen:
        number = int(piece) if str(piece).isdigit() else None
        if number not in by_number:
            raise Refused(f"choose: {piece!r} is not one of the proposals ({', '.join(map(str, by_number)) or 'none'})")
        if by_number[number] not in picked:
            picked.append(by_number[number])
    if not picked:
        raise Refused("请至少勾选一条识别结果 (tick at least one proposal to report)")
    open_items = {(i["task"], i["milestone"]): i for i in unit_items(engine, link, now=now) if i["kind"] == "milestone"}
    for p in picked:
        if (p.get("task"), p.get("milestone")) not in open_items:
            raise NotFound(f"{p.get('task')} 第{p.get('milestone')}个节点不是{link.unit}在本方案中未办结的事项 "
                           f"(not an open milestone of {link.unit} in plan {link.plan})")
    results = []
    for p in picked:
        item = open_items[(p["task"], p["milestone"])]
        result = progress_document_service.confirm(engine, unit=link.unit, plan=link.plan, chosen=[p], now=now,
                                                   reported_by=_actor(link), document=carried["document"],
                                                   from_unit=True)[0]
        _used(engine, link, now=now, action="report_document", item=item, client=client,
              report_id=result["report_id"], closed=result["item"]["closed"], document=carried["document"],
              quantity=p.get("quantity"), state=result.get("state", "counted"))
        results.append(result)
    return results


# --------------------------------------------------------------------------------------------
# Supporting units' parts (配合单位报送，待确认): the lead or a co-lead unit decides them through its link


def parts(engine: Engine, link: Link) -> dict[str, list[dict[str, Any]]]:
    """``{to_decide: the pending parts of the tasks the link's unit leads or co-leads in its plan (not its own),
    mine: the unit's own
    parts (pending, accepted, refused with the reason)}``, as ``progress_service.pending_reports`` lists them."""
    from duban.workflows.progress_acceptance import ACCEPTED, PENDING, REFUSED, pending

    with transaction(engine) as session:
        out = {"to_decide": pending(session, plan=link.plan, decider_unit_id=link.unit_id),
               "mine": pending(session, plan=link.plan, unit_id=link.unit_id, states=(PENDING, ACCEPTED, REFUSED))}
        session.rollback()
        return out


def closings(engine: Engine, link: Link) -> dict[str, dict[str, Any]]:
    """The latest closing request (申请办结) of each of the link's unit's items in its plan, by item key
    (``m{id}``, ``i{id}``): ``{id, status (pending | returned | closed), requested_on, decided_on, decision}``,
    ``decision`` being the office's reason when it returned the request. Reads only."""
    from duban.store.tables import ClosingRequestRow

    with transaction(engine) as session:
        plan = session.get_one(PlanRow, link.plan_id)
        rows = session.execute(sa.select(ClosingRequestRow).join(TaskRow, TaskRow.id == ClosingRequestRow.task_id)
                               .where(TaskRow.plan_id == link.plan_id, ClosingRequestRow.unit_id == link.unit_id)
                               .order_by(ClosingRequestRow.id)).scalars().all()
        out = {(f"m{r.milestone_id}" if r.milestone_id else f"i{r.instance_id}"): {
            "id": r.id, "status": r.status, "requested_on": _today(r.requested_at, plan).isoformat(),
            "decided_on": _today(r.decided_at, plan).isoformat() if r.decided_at else None,
            "decision": r.decision_note} for r in rows}
        session.rollback()
        return out


def decide_part(engine: Engine, link: Link, report_id: int, *, accept: bool, now: dt.datetime, client: str,
                reason: str = "") -> dict[str, Any]:
    """The lead or a co-lead unit accepts (it counts from today) or refuses (with a reason) a supporting unit's
    pending part of a task it leads or co-leads in the link's plan; ``link.used`` beside the service's ``progress.accepted``/``refused``."""
    from duban.workflows.progress_service import accept_report, refuse_report

    if report_id not in {p["report_id"] for p in parts(engine, link)["to_decide"]}:
        raise NotFound(f"#{report_id} 不是{link.unit}牵头事项中待确认的配合单位报送 "
                       f"(not a part waiting for {link.unit} in plan {link.plan})")
    if accept:
        result = accept_report(engine, report_id=report_id, now=now, actor=_actor(link), note=reason,
                               lead_unit_id=link.unit_id)
    else:
        result = refuse_report(engine, report_id=report_id, now=now, actor=_actor(link), reason=reason,
                               lead_unit_id=link.unit_id)
    _used(engine, link, now=now, action="accept" if accept else "refuse", client=client,
          item={"task": result["task"], "key": ("m" if result["item"]["kind"] == "milestone" else "i")
                + str(result["item"]["id"])}, report_id=report_id, reason=result["reason"])
    return result


# --------------------------------------------------------------------------------------------
# The office: a unit's links, revocation


def _unit_and_plans(session: Session, unit: str, plan: str | None) -> tuple[UnitRow, list[PlanRow]]:
    from duban.workflows.progress_items import _plan, _unit

    plans = [_plan(session, plan)] if plan else list(session.execute(sa.select(PlanRow).order_by(PlanRow.code)).scalars())
    unit_row = _unit(session, unit, plans[0].code if len(plans) == 1 else None)
    if plan is None and unit_row.plan_id is not None:
        plans = [p for p in plans if p.id == unit_row.plan_id]
    return unit_row, plans


def list_links(engine: Engine, *, unit: str, plan: str | None = None, now: dt.datetime,
               expire_days: int = DEFAULT_EXPIRE_DAYS, public_url: str | None = None) -> list[dict[str, Any]]:
    """The unit's links: one per plan and day a letter addressed or copied to it (or to a group it is a member
    of) is dated, newest first, with any revoked ones: ``[{link, plan, unit, issued_on, expires_on, status
    (valid|expired|revoked), revoked_at, revoked_by, reason, uses, url}]`` (``url`` with ``public_url``, else the token)."""
    with transaction(engine) as session:
        unit_row, plans = _unit_and_plans(session, unit, plan)
        keys = {unit_key(unit_row.name), *(unit_key(g) for g in unit_row.member_of)}  # a group's letters reach its members
        days: set[tuple[int, dt.date]] = set()
        for plan_id, day, swept, recipients, cc in session.execute(
                sa.select(NoticeRow.plan_id, NoticeRow.planned_for, SweepRow.as_of, NoticeRow.recipients, NoticeRow.cc)
                .outerjoin(SweepRow, SweepRow.id == NoticeRow.sweep_id)
                .where(NoticeRow.plan_id.in_([p.id for p in plans]))).all():
            if any(_addressed(recipients, k) or _addressed(cc, k) for k in keys):
                days.add((plan_id, max(day, swept or day)))  # the letter's date, as notifications.views dates it
        revoked = {r.link_id: r for r in session.execute(sa.select(LinkRevocationRow).where(
            LinkRevocationRow.unit_id == unit_row.id, LinkRevocationRow.plan_id.in_([p.id for p in plans]))).scalars()}
        days |= {(r.plan_id, r.issued_on) for r in revoked.values()}
        uses: dict[str, int] = {}
        for (data,) in session.execute(sa.select(EventRow.data).where(
                EventRow.kind == "link.used", EventRow.plan_id.in_([p.id for p in plans]))).all():
            if isinstance(data, dict) and data.get("link"):
                uses[data["link"]] = uses.get(data["link"], 0) + 1
        by_id = {p.id: p for p in plans}
        out = []
        for plan_id, day in sorted(days, key=lambda d: (d[1], d[0]), reverse=True):
            p = by_id[plan_id]
            link_id = link_id_of(plan_id, unit_row.id or 0, day)
            token = token_in(session, plan_id=plan_id, unit_id=unit_row.id or 0, issued_on=day)
            expires_on = day + dt.timedelta(days=expire_days)
            r = revoked.get(link_id)
            status = "revoked" if r else ("expired" if _today(now, p) > expires_on else "valid")
            out.append({"link": link_id, "plan": p.code, "unit": unit_row.name, "issued_on": day.isoformat(),
                        "expires_on": expires_on.isoformat(), "status": status,
                        "revoked_at": r.revoked_at.astimezone(dt.UTC).isoformat() if r else None,
                        "revoked_by": r.revoked_by if r else "", "reason": r.reason if r else "",
                        "uses": uses.get(link_id, 0), "url": url_of(public_url, token) if public_url else token})
        return out


def revoke(engine: Engine, *, link_ids: Sequence[str], now: dt.datetime, actor: str, reason: str = "") -> list[dict[str, Any]]:
    """Revoke links by id (``plan-unit-YYYYMMDD`` as `duban links list` shows them): each is refused from then
    on. Every id is checked before anything is written; one already revoked is refused. Event ``link.revoked``."""
    if not link_ids:
        raise Refused("name at least one link to revoke (duban links list --unit UNIT shows them)")
    reason = (reason or "").strip()
    out = []
    with transaction(engine) as session:
        rows = []
        for link_id in dict.fromkeys(link_ids):
            parsed = _parse_link_id(str(link_id).strip())
            if parsed is None:
                raise Refused(f"link {link_id!r}: not a link id such as 1-12-20160115 (plan-unit-day; "
                              "duban links list --unit UNIT shows them)")
            plan_id, unit_id, day = parsed
            plan, unit = session.get(PlanRow, plan_id), session.get(UnitRow, unit_id)
            if plan is None or unit is None:
                raise NotFound(f"link {link_id}: no {'plan' if plan is None else 'unit'} {plan_id if plan is None else unit_id}")
            before = session.get(LinkRevocationRow, link_id)
            if before is not None:
                raise Refused(f"link {link_id} was already revoked on {before.revoked_at.date().isoformat()}"
                              + (f" by {before.revoked_by}" if before.revoked_by else ""))
            rows.append((link_id, plan, unit, day))
        for link_id, plan, unit, day in rows:
            session.add(LinkRevocationRow(link_id=link_id, plan_id=plan.id or 0, unit_id=unit.id or 0, issued_on=day,
                                          revoked_at=now, revoked_by=actor, reason=reason))
            session.add(EventRow(at=now, kind="link.revoked", plan_id=plan.id, actor=actor,
                                 data={"link": link_id, "unit": unit.name, "issued_on": day.isoformat(),
                                       "reason": reason}))
            out.append({"link": link_id, "plan": plan.code, "unit": unit.name, "issued_on": day.isoformat(),
                        "revoked_by": actor, "reason": reason})
    return out
