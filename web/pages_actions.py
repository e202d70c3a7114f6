"""Office actions (办理): run a sweep (a dry run first: what would be sent), deliver, hold or resume a
task's notices, record progress on a unit's behalf (with evidence files, checked and kept as closing
requests' are), approve or refuse extension requests, accept or refuse a supporting unit's pending part
(配合单位报送，待确认: from the task page's progress history).

Every action is a POST form with the session's CSRF token and a ticked 「确认」 box, for the roles that
may act (office, supervisor; a viewer gets 403), on a plan the user may see (404 otherwise). Each calls
the service the CLI calls with the user's name as the actor, so its event names who did it. A refusal
(a bad number, an unknown task) is the service's one-line message on the form again, with nothing changed.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from duban.matrix.errors import DubanError, NotFound
from duban.web.deps import MAX_FILES, checked_form, duban, render, require, require_every_office, uploaded_files

router = APIRouter()
NOT_CONFIRMED = "请勾选「确认」后再提交；未做任何更改 (tick 确认 to confirm: nothing was changed)"


# --------------------------------------------------------------------------------------------
# Shared by the action pages (and pages_mail)


def visible(request: Request, user: dict[str, Any]) -> list[str]:
    from duban.workflows.user_service import visible_plans

    return visible_plans(duban(request).engine, user)


def plan_of(request: Request, user: dict[str, Any], plan: str | None) -> str:
    """``plan`` if the user may see it (the only visible plan when none is given); 404 otherwise."""
    plans = visible(request, user)
    if not plan and len(plans) == 1:
        return plans[0]
    if not plan or plan not in plans:
        raise HTTPException(status_code=404, detail=f"no plan {plan!r} that you may see" if plan else "choose a plan")
    return plan


def confirmed(form: Any) -> None:
    if form.get("confirm") != "yes":
        raise HTTPException(status_code=400, detail=NOT_CONFIRMED)


def text(form: Any, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def url(path: str, **params: str) -> str:
    """A link to one of the console's pages, its query escaped."""
    from urllib.parse import urlencode

    return path + ("?" + urlencode(params) if params else "")


def done(request: Request, user: dict[str, Any], title: tuple[str, str], message: str, **context: Any) -> Response:
    """The page after an action: what was done, in one line, and where to go next."""
    return render(request, "actions_done.html.j2", user=user, title=title, message=message, **context)


def refused(exc: DubanError) -> HTTPException:
    """A service's refusal as the page's answer: 404 for what does not exist, 400 for the rest."""
    return HTTPException(status_code=404 if isinstance(exc, NotFound) else 400, detail=str(exc))


# --------------------------------------------------------------------------------------------
# The actions' index


@router.get("/actions")
def actions_page(request: Request) -> Response:
    from duban.workflows.notice_service import held_tasks

    user = require(request, "act")
    plans = visible(request, user)
    return render(request, "actions_index.html.j2", user=user, plans=plans,
                  held=held_tasks(duban(request).engine, plans=plans))


# --------------------------------------------------------------------------------------------
# Sweep: a dry run shows what would be written; the confirmation runs it


@router.get("/actions/sweep")
def sweep_preview(request: Request, plan: str | None = None) -> Response:
    from duban.workflows.sweep_service import sweep

    user = require(request, "act")
    code = plan_of(request, user, plan)
    app = duban(request)
    result = sweep(app.engine, now=app.clock(), policies=app.policies, plan=code, calendar=app.calendar, dry_run=True)
    return render(request, "actions_sweep.html.j2", user=user, plan=code, result=result.as_dict())


@router.post("/actions/sweep")
async def sweep_run(request: Request) -> Response:
    from duban.workflows.sweep_service import sweep

    user = require(request, "act")
    form = await checked_form(request)
    code = plan_of(request, user, text(form, "plan"))
    confirmed(form)
    app = duban(request)
    try:
        result = await run_in_threadpool(lambda: sweep(app.engine, now=app.clock(), policies=app.policies, plan=code,
                                                       calendar=app.calendar, actor=user["name"]))
    except DubanError as e:
        raise refused(e) from None
    written = sum(result.created.values())
    return done(request, user, ("督办扫描", "Sweep"), f"扫描完成 (sweep #{result.sweep_id}, {result.as_of}): "
                f"{result.items} 个事项，新写入 {written} 条通知",
                counts=result.created, links=[(url("/notices", plan=code), "查看通知")])


# --------------------------------------------------------------------------------------------
# Deliver: plan messages for pending notices and send what is due


@router.post("/actions/deliver")
async def deliver_run(request: Request) -> Response:
    from duban.workflows.delivery_service import deliver

    user = require_every_office(request, "act")
    form = await checked_form(request)
    confirmed(form)
    app = duban(request)
    try:
        # Its own thread: delivery runs an event loop of its own (asyncio.run), and may take a while.
        result = await run_in_threadpool(lambda: deliver(app.engine, now=app.clock(), settings=app.settings,
                                                         renderer=app.renderer, calendar=app.calendar,
                                                         actor=user["name"]))
    except DubanError as e:
        raise refused(e) from None
    message = f"投递完成 ({result.target}): {result.summary()}" + (f"; 已停止: {result.halted}" if result.halted else "")
    return done(request, user, ("投递", "Deliver"), message, errors=result.errors, links=[("/mail", "查看邮件")])


# --------------------------------------------------------------------------------------------
# Hold / resume a task's notices


@router.get("/actions/hold")
def hold_page(request: Request, plan: str | None = None, task: str = "") -> Response:
    from duban.workflows.notice_service import task_hold

    user = require(request, "act")
    code = plan_of(request, user, plan)
    state = None
    if task.strip():
        try:
            state = task_hold(duban(request).engine, plan=code, task=task)
        except DubanError as e:
            raise refused(e) from None
    return render(request, "actions_hold.html.j2", user=user, plan=code, task=task.strip(), state=state)


@router.post("/actions/hold")
async def hold_run(request: Request) -> Response:
    from duban.workflows.notice_service import hold_notices, resume_notices

    user = require(request, "act")
    form = await checked_form(request)
    code = plan_of(request, user, text(form, "plan"))
    confirmed(form)
    app = duban(request)
    task, resume = text(form, "task"), text(form, "do") == "resume"
    try:
        if resume:
            state = resume_notices(app.engine, plan=code, task=task, now=app.clock(), actor=user["name"])
        else:
            state = hold_notices(app.engine, plan=code, task=task, now=app.clock(), actor=user["name"],
                                 reason=text(form, "reason"))
    except DubanError as e:
        raise refused(e) from None
    what = "已恢复" if resume else "已暂停"
    return done(request, user, ("暂停/恢复通知", "Hold or resume notices"), f"任务 {state['task']} 的通知{what} ({'resumed' if resume else 'held'})",
                links=[(url("/actions/hold", plan=code, task=state["task"]), "返回")])


# --------------------------------------------------------------------------------------------
# Progress on a unit's behalf (the same service and validation as `duban progress report`)


PROGRESS_FIELDS = ("task", "unit", "milestone", "period", "done", "percent", "count", "amount", "note")


@router.get("/actions/progress")
def progress_page(request: Request, plan: str | None = None, task: str = "") -> Response:
    user = require(request, "act")
    code = plan_of(request, user, plan)
    return _progress_form(request, user, code, {"task": task}, None)


def _progress_form(request: Request, user: dict[str, Any], code: str, values: dict[str, str], error: str | None,
                   status_code: int = 200) -> Response:
    return render(request, "actions_progress.html.j2", status_code=status_code, user=user, plan=code, values=values,
                  error=error, max_mb=duban(request).settings.evidence_max_bytes / 1024 / 1024)


def _progress_args(form: Any) -> dict[str, Any]:
    """The form's fields as `duban progress report` takes them (quantities as text: the service parses)."""
    from duban.matrix.errors import Refused

    values = {name: text(form, name) for name in PROGRESS_FIELDS}
    milestone = values["milestone"]
    if milestone and not milestone.isdigit():
        raise Refused(f"milestone: {milestone!r} is not a milestone number (1, 2, …)")
    try:
        period = dt.date.fromisoformat(values["period"]) if values["period"] else None
    except ValueError:
        raise Refused(f"period: {values['period']!r} is not a date (YYYY-MM-DD)") from None
    return {"task": values["task"], "unit": values["unit"], "milestone": int(milestone) if milestone else None,
            "period": period, "note": values["note"],
            **{k: values[k] or None for k in ("done", "percent", "count", "amount")}}


@router.post("/actions/progress")
async def progress_run(request: Request) -> Response:
    """The report, with its evidence files (multipart, field ``files``) checked and stored as closing
    requests' are: a refused file is named on the form again and nothing is stored."""
    from duban.web.pages_tasks import task_url
    from duban.workflows.progress_service import evidence_store, report_progress

    user = require(request, "act")
    app = duban(request)
    store = evidence_store(app.settings)
    if int(request.headers.get("content-length") or 0) > MAX_FILES * store.max_bytes + 1024 * 1024:
        raise HTTPException(status_code=413, detail="the upload is too large")
    form = await checked_form(request)
    code = plan_of(request, user, text(form, "plan"))
    values = {name: text(form, name) for name in PROGRESS_FIELDS}
    try:
        if form.get("confirm") != "yes":
            raise HTTPException(status_code=400, detail=NOT_CONFIRMED)
        args = _progress_args(form)
        files = await uploaded_files(form, store.max_bytes)
        result = report_progress(app.engine, plan=code, now=app.clock(), reported_by=user["name"], source="console",
                                 files=files, store=store, **args)
    except (DubanError, HTTPException) as e:
        message = e.detail if isinstance(e, HTTPException) else str(e)
        return _progress_form(request, user, code, values, message, 400)
    from duban.workflows.cli_progress import describe

    names = "、".join(f["name"] for f in result["files"])
    message = describe(result) + (f"；佐证材料 (evidence)：{names}" if names else "")
    return done(request, user, ("进展报送", "Progress report"), message, warnings=result["warnings"],
                links=[(task_url(code, result["task"]), "查看任务"),
                       (url("/actions/progress", plan=code, task=result["task"]), "再报一条")])


# --------------------------------------------------------------------------------------------
# Extension requests: approve or refuse


@router.get("/extensions")
def extensions_page(request: Request, plan: str | None = None) -> Response:
    from duban.workflows.extension_service import list_extensions

    user = require(request, "read")
    plans = visible(request, user)
    if plan and plan not in plans:
        raise HTTPException(status_code=404, detail=f"no plan {plan!r} that you may see")
    rows = [e for e in list_extensions(duban(request).engine, status="pending", plan=plan or None) if e["plan"] in plans]
    return render(request, "actions_extensions.html.j2", user=user, rows=rows, plan=plan or "")


@router.post("/extensions/{extension_id}/decide")
async def extension_decide(request: Request, extension_id: int) -> Response:
    from duban.workflows.extension_service import decide_extension, get_extension

    user = require(request, "act")
    form = await checked_form(request)
    app = duban(request)
    try:
        found = get_extension(app.engine, extension_id)
    except DubanError as e:
        raise refused(e) from None
    if found["plan"] not in visible(request, user):
        raise HTTPException(status_code=404, detail=f"no extension request #{extension_id}")
    confirmed(form)
    decision = text(form, "decision")
    if decision not in ("approve", "refuse"):
        raise HTTPException(status_code=400, detail="decision: approve or refuse; nothing was changed")
    try:
        ext = decide_extension(app.engine, extension_id=extension_id, approve=decision == "approve", now=app.clock(),
                               decided_by=user["name"], note=text(form, "note"))
    except DubanError as e:
        raise refused(e) from None
    verb = "已批准" if ext["status"] == "approved" else "已驳回"
    return done(request, user, ("延期申请", "Extension request"), f"延期申请 #{ext['id']} ({ext['task']}, {ext['old_due']} → {ext['new_due']}) "
                f"{verb} ({ext['status']})", links=[("/extensions", "返回延期申请")])


@router.post("/actions/progress/{report_id}/decide")
async def progress_decide(request: Request, report_id: int) -> Response:
    """The office accepts (it counts from today) or refuses (with a reason) a supporting unit's pending part."""
    from duban.workflows.progress_service import accept_report, pending_part, refuse_report

    user = require(request, "act")
    form = await checked_form(request)
    app = duban(request)
    found = pending_part(app.engine, report_id, plans=visible(request, user))
    if found is None:
        raise HTTPException(status_code=404, detail=f"no pending part #{report_id} in your plans (decided already?)")
    confirmed(form)
    decision = text(form, "decision")
    if decision not in ("accept", "refuse"):
        raise HTTPException(status_code=400, detail="decision: accept or refuse; nothing was changed")
    try:
        if decision == "accept":
            result = accept_report(app.engine, report_id=report_id, now=app.clock(), actor=user["name"],
                                   note=text(form, "reason"))
        else:
            result = refuse_report(app.engine, report_id=report_id, now=app.clock(), actor=user["name"],
                                   reason=text(form, "reason"))
    except DubanError as e:
        raise refused(e) from None
    from urllib.parse import quote

    back = f"/tasks/{quote(found['plan'], safe='')}/{quote(found['task'], safe='')}"
    verb = (f"已确认，自 {result['counted_on']} 起计入" if result["state"] == "accepted"
            else f"未采纳（{result['reason']}）")
    return done(request, user, ("配合单位报送", "Supporting unit's part"),
                f"{found['unit']} 报送 #{report_id}（{found['task']} {found['item']}）{verb}", links=[(back, "返回任务")])
