"""通報 Reports: the weekly circulation archive (a report shown in the page from its Markdown, rendered with
raw HTML disabled; its DOCX/Markdown/HTML as downloads), each week's criticism notices, a report written
for a day, and a draft approved (審核通過) and mailed when the policy says ``reports.require_approval``
(workflows.report_review_service, as `duban report weekly|approve`)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, Response
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool

from duban.web.deps import checked_form, duban, render, require, see_other

router = APIRouter()


def _day(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise HTTPException(status_code=404, detail=f"「{text}」 is not a report day (YYYY-MM-DD)") from None


def _may_see(request: Request, user: dict[str, Any], plan: str | None) -> bool:
    """A report covers its plan, or every plan: a user of some offices sees it only if they see all it covers."""
    from duban.workflows.matrix_service import plan_codes
    from duban.workflows.user_service import visible_plans

    if not user.get("offices"):
        return True
    engine = duban(request).engine
    mine = set(visible_plans(engine, user))
    return plan in mine if plan else set(plan_codes(engine)) <= mine


def _entry(request: Request, user: dict[str, Any], day: str) -> dict[str, Any]:
    from duban.matrix.errors import NotFound
    from duban.workflows.report_review_service import report_entry

    app = duban(request)
    try:
        entry = report_entry(app.engine, app.settings, _day(day))
    except NotFound as e:
        raise HTTPException(status_code=404, detail=str(e)) from None
    if not _may_see(request, user, entry.get("plan")):
        raise HTTPException(status_code=404, detail=f"no weekly report of {day}")
    return entry


@router.get("/reports")
def reports_page(request: Request) -> Response:
    from duban.workflows.report_review_service import archive

    user = require(request, "read")
    app = duban(request)
    entries = [e for e in archive(app.engine, app.settings) if _may_see(request, user, e.get("plan"))]
    return render(request, "reports_list.html.j2", user=user, reports=entries,
                  require_approval=app.policies.require_report_approval, today=app.clock().date().isoformat())


@router.get("/reports/{day}")
def report_page(request: Request, day: str) -> Response:
    user = require(request, "read")
    entry = _entry(request, user, day)
    return render(request, "reports_view.html.j2", user=user, report=entry, body=_markdown(entry, day),
                  require_approval=duban(request).policies.require_report_approval)


def _markdown(entry: dict[str, Any], day: str) -> Markup:
    """The report's Markdown as HTML: raw HTML in it is text (html disabled), links only to this site's chart."""
    from markdown_it import MarkdownIt

    path = entry["files"].get("md")
    if not path:
        return Markup("")
    text = Path(path).read_text(encoding="utf-8").replace(f"](weekly-{day}.svg)", f"](/reports/{day}/file/svg)")
    md = MarkdownIt("commonmark", {"html": False}).enable("table")
    md.validateLink = lambda url: url.startswith(f"/reports/{day}/")  # type: ignore[method-assign]
    return Markup(md.render(text))  # markdown-it escaped every text: safe to place as it is


def _download(path: str, name: str, kind: str) -> Response:
    from duban.workflows.report_review_service import KINDS

    disposition = "inline" if kind == "svg" else "attachment"
    headers = {"Content-Disposition": f"{disposition}; filename*=UTF-8''{quote(name)}", "Cache-Control": "no-store"}
    if kind in ("svg", "html"):
        headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox"
    return FileResponse(path, media_type=KINDS[kind], headers=headers)


@router.get("/reports/{day}/file/{kind}")
def report_file(request: Request, day: str, kind: str) -> Response:
    user = require(request, "read")
    entry = _entry(request, user, day)
    path = entry["files"].get(kind)
    if not path:
        raise HTTPException(status_code=404, detail=f"the report of {day} has no {kind} file")
    return _download(path, Path(path).name, kind)


@router.get("/reports/{day}/criticism/{name}/{kind}")
def criticism_file(request: Request, day: str, name: str, kind: str) -> Response:
    user = require(request, "read")
    entry = _entry(request, user, day)
    notice = next((c for c in entry["criticism"] if c["name"] == name), None)  # only a file listed beside the report
    if notice is None or kind not in notice["files"]:
        raise HTTPException(status_code=404, detail=f"no criticism notice {name}.{kind} of {day}")
    return _download(notice["files"][kind], f"{name}.{kind}", kind)


@router.post("/reports/generate")
async def generate(request: Request) -> Response:
    from duban.matrix.errors import DubanError

    user = require(request, "act")
    form = await checked_form(request)
    app = duban(request)
    try:
        day = dt.date.fromisoformat(str(form.get("as_of") or ""))
    except ValueError:
        raise HTTPException(status_code=400, detail=f"「{form.get('as_of') or ''}」 is not a day (YYYY-MM-DD)") from None
    if form.get("confirm") != "1":
        raise HTTPException(status_code=400, detail="请勾选“确认生成” (tick the confirmation to write the report)")
    if day > app.clock().date():
        raise HTTPException(status_code=400, detail=f"{day.isoformat()} is after today: a report covers days that have passed")
    try:
        await run_in_threadpool(_write, request, day, user["name"])
    except DubanError as e:
        raise HTTPException(status_code=400, detail=str(e)) from None
    return see_other(f"/reports/{day.isoformat()}")


def _write(request: Request, day: dt.date, actor: str) -> None:
    """The report of ``day`` written where the weekly job writes, as `duban report weekly --as-of DAY` does;
    a draft awaiting approval when the policy asks for one."""
    from duban.workflows.report_review_service import record_draft, reports_dir
    from duban.workflows.report_service import weekly_report
    from duban.workflows.rules_service import scoring_for_app

    app = duban(request)
    now = app.now(dt.datetime.combine(day, dt.time()))
    scoring, used = scoring_for_app(app, day)
    report = weekly_report(app.engine, now=now, policies=app.policies, settings=app.settings, out_dir=reports_dir(app.settings),
                           scoring=scoring, calendar=app.calendar, renderer=app.renderer, rules=used)
    if app.policies.require_report_approval:
        record_draft(app.engine, report, now=app.clock(), actor=actor)


@router.post("/reports/{day}/approve")
async def approve(request: Request, day: str) -> Response:
    from duban.matrix.errors import DubanError
    from duban.workflows.report_review_service import approve_report
    from duban.workflows.rules_service import report_scoring

    user = require(request, "approve")
    form = await checked_form(request)
    entry = _entry(request, user, day)
    if form.get("confirm") != "1":
        raise HTTPException(status_code=400, detail="请勾选“审核通过” (tick the confirmation to approve and mail the report)")
    app = duban(request)
    as_of = _day(entry["as_of"])
    try:
        scoring, _used = report_scoring(app.engine, day=as_of)
        await run_in_threadpool(lambda: approve_report(app.engine, as_of=as_of, now=app.clock(), settings=app.settings,
                                                       scoring=scoring, actor=user["name"]))
    except DubanError as e:
        raise HTTPException(status_code=409, detail=str(e)) from None
    return see_other(f"/reports/{day}")
