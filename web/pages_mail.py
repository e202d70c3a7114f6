"""通知 Notices and 邮件 Mail: the outbox's notices filtered (plan, kind, level, status, days planned),
50 a page, each acknowledged (签收) on a unit's behalf; the messages built from them with their states,
attempts and the server's replies, failed ones sent again (retry)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

from duban.matrix.errors import DubanError
from duban.web.deps import checked_form, duban, render, require, require_every_office
from duban.web.pages_actions import confirmed, done, refused, text, url, visible

router = APIRouter()
PAGE = 50
NOTICE_STATUSES = ("pending", "sending", "sent", "held", "failed", "undeliverable", "superseded")
MESSAGE_STATUSES = ("pending", "sending", "sent", "held", "failed")
KINDS = ("reminder", "chase", "escalation", "closing_returned", "closing_closed", "part_refused")


def _day(name: str, value: str | None) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise HTTPException(status_code=400, detail=f"{name}: {value!r} is not a date (YYYY-MM-DD)") from None


def _states(name: str, value: str | None, known: tuple[str, ...]) -> str | None:
    """A comma-separated filter of known words (``status=held,failed``), or 400 naming the odd one."""
    if not value:
        return None
    words = [w.strip() for w in value.split(",") if w.strip()]
    odd = [w for w in words if w not in known]
    if odd:
        raise HTTPException(status_code=400, detail=f"{name}: {odd[0]!r} is not one of {', '.join(known)}")
    return ",".join(words) or None


def _page(value: str | None) -> int:
    return int(value) if value and value.isdigit() and int(value) > 0 else 1


def _notice_filters(request: Request, plans: list[str]) -> dict[str, Any]:
    q = request.query_params
    plan = q.get("plan") or None
    if plan is not None and plan not in plans:
        raise HTTPException(status_code=404, detail=f"no plan {plan!r} that you may see")
    level = q.get("level") or None
    if level is not None and level not in ("1", "2", "3"):
        raise HTTPException(status_code=400, detail=f"level: {level!r} is not 1, 2 or 3")
    return {"plan": plan, "plans": plans, "status_": _states("status", q.get("status"), NOTICE_STATUSES),
            "kind": _states("kind", q.get("kind"), KINDS), "level": int(level) if level else None,
            "task": q.get("task") or None, "since": _day("since", q.get("since") or q.get("date")),
            "until": _day("until", q.get("until") or q.get("date"))}


@router.get("/notices")
def notices_page(request: Request) -> Response:
    from duban.workflows.notice_service import count_notices, list_notices

    user = require(request, "read")
    engine = duban(request).engine
    filters = _notice_filters(request, visible(request, user))
    page = _page(request.query_params.get("page"))
    total = count_notices(engine, **filters)
    rows = list_notices(engine, **filters, limit=PAGE, offset=(page - 1) * PAGE)
    shown = {k: v for k, v in request.query_params.items() if k != "page" and v}
    pages = max(1, -(-total // PAGE))
    return render(request, "notices_list.html.j2", user=user, rows=rows, total=total, page=page, pages=pages,
                  prev_url=url("/notices", **shown, page=str(page - 1)) if page > 1 else None,
                  next_url=url("/notices", **shown, page=str(page + 1)) if page < pages else None,
                  q=shown, plans=filters["plans"], statuses=NOTICE_STATUSES, kinds=KINDS)


def _visible_notice(request: Request, user: dict[str, Any], notice_id: int) -> dict[str, Any]:
    from duban.workflows.notice_service import get_notice

    try:
        notice = get_notice(duban(request).engine, notice_id)
    except DubanError as e:
        raise refused(e) from None
    if notice["plan"] not in visible(request, user):
        raise HTTPException(status_code=404, detail=f"no notice {notice_id}")
    return notice


@router.get("/notices/{notice_id}/acknowledge")
def acknowledge_page(request: Request, notice_id: int) -> Response:
    user = require(request, "act")
    notice = _visible_notice(request, user, notice_id)
    return render(request, "notices_ack.html.j2", user=user, n=notice)


@router.post("/notices/{notice_id}/acknowledge")
async def acknowledge_run(request: Request, notice_id: int) -> Response:
    from duban.workflows.notice_service import acknowledge

    user = require(request, "act")
    form = await checked_form(request)
    notice = _visible_notice(request, user, notice_id)
    confirmed(form)
    by = text(form, "by") or "、".join(r["name"] for r in notice["to"] if r.get("name"))
    app = duban(request)
    try:
        row = acknowledge(app.engine, notice_id=notice_id, now=app.clock(), by=by, actor=user["name"])
    except DubanError as e:
        raise refused(e) from None
    return done(request, user, ("签收", "Acknowledge"),
                f"通知 {row['id']} ({row['kind']}, 任务 {row['task']}) 已由 {user['name']} 代 {by} 签收 (acknowledged)",
                links=[(url("/notices", plan=row["plan"], task=row["task"]), "返回通知")])


@router.get("/mail")
def mail_page(request: Request) -> Response:
    from duban.workflows.delivery_service import count_messages, list_messages
    from duban.workflows.history_service import recent_actions

    user = require_every_office(request, "read")
    engine = duban(request).engine
    status = _states("status", request.query_params.get("status"), MESSAGE_STATUSES)
    page = _page(request.query_params.get("page"))
    total = count_messages(engine, status=status)
    rows = list_messages(engine, status=status, limit=PAGE, offset=(page - 1) * PAGE)
    pages = max(1, -(-total // PAGE))
    shown = {"status": status} if status else {}
    return render(request, "mail_list.html.j2", user=user, rows=rows, total=total, page=page, pages=pages,
                  status=status or "", statuses=MESSAGE_STATUSES,
                  prev_url=url("/mail", **shown, page=str(page - 1)) if page > 1 else None,
                  next_url=url("/mail", **shown, page=str(page + 1)) if page < pages else None,
                  runs=recent_actions(engine, kinds=("delivery.run", "mail.requeued", "sweep.run"), limit=10))


@router.post("/mail/retry")
async def mail_retry(request: Request) -> Response:
    from duban.workflows.delivery_service import requeue_failed

    user = require_every_office(request, "act")
    form = await checked_form(request)
    confirmed(form)
    chosen = [v for v in form.getlist("message") if isinstance(v, str)]
    if any(not v.isdigit() for v in chosen):
        raise HTTPException(status_code=400, detail=f"message: {next(v for v in chosen if not v.isdigit())!r} is not a message number")
    app = duban(request)
    ids = [int(v) for v in chosen] or None
    n = requeue_failed(app.engine, now=app.clock(), message_ids=ids, actor=user["name"])
    what = f"{n} 封失败邮件已重新排队 (requeued); 下次投递时发送" if n else "没有失败的邮件可重试 (no failed message to retry)"
    return done(request, user, ("重试", "Retry"), what, links=[("/mail?status=pending", "查看邮件")])
