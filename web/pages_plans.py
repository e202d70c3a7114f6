"""方案 Plans: the stored plans, and a plan file uploaded (sheet, Word document or YAML), validated with
every problem in a table, its diff against the stored plan shown, then imported on confirmation — the
same validation and transaction as `duban matrix validate|import` (workflows.plan_upload_service)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from duban.web.deps import checked_form, duban, render, require

router = APIRouter()
KEEP_TOKENS = 5  # uploads a session may have waiting for confirmation


def _plans(request: Request, user: dict[str, Any]) -> list[dict[str, Any]]:
    from duban.workflows.matrix_service import list_plans
    from duban.workflows.user_service import visible_plans

    engine = duban(request).engine
    mine = set(visible_plans(engine, user))
    return [p for p in list_plans(engine) if p["code"] in mine]


def _page(request: Request, user: dict[str, Any], *, error: str | None = None, status: int = 200,
          done: dict[str, Any] | None = None) -> Response:
    return render(request, "plans_list.html.j2", status_code=status, user=user, plans=_plans(request, user),
                  error=error, done=done, limit=duban(request).settings.limit_file_bytes)


@router.get("/plans")
def plans_page(request: Request) -> Response:
    return _page(request, require(request, "read"))


def _options(form: Any) -> dict[str, Any]:
    year = str(form.get("base_year") or "").strip()
    if year and not (year.isdigit() and len(year) == 4):
        raise HTTPException(status_code=400, detail=f"base year 「{year}」: write a year such as 2026")
    return {"plan_code": str(form.get("plan_code") or "").strip()[:80] or None, "base_year": int(year) if year else None,
            "sheet": str(form.get("sheet") or "").strip()[:120] or None, "allow_new_units": form.get("allow_new_units") == "1"}


def _file(form: Any, name: str) -> tuple[str, Any] | None:
    value = form.get(name)
    if isinstance(value, UploadFile) and value.filename:
        return value.filename, value.file
    return None


@router.post("/plans/upload")
async def upload(request: Request) -> Response:
    from duban.matrix.errors import DubanError, ValidationFailed
    from duban.workflows import plan_upload_service as uploads

    user = require(request, "act")
    app = duban(request)
    limit = app.settings.limit_file_bytes
    if int(request.headers.get("content-length") or 0) > 2 * limit + 65536:
        return _page(request, user, status=413, error=f"上传文件过大 (the upload is larger than the {limit:,} bytes allowed, "
                                                       "DUBAN_LIMIT_FILE_BYTES)")
    form = await checked_form(request)
    plan = _file(form, "plan")
    if plan is None:
        return _page(request, user, status=400, error="请选择方案文件 (choose a plan file: .xlsx, .csv, .yaml or .docx)")
    try:
        staged = await run_in_threadpool(uploads.stage, app.settings, plan=plan, units=_file(form, "units"),
                                         options=_options(form))
    except DubanError as e:
        return _page(request, user, status=400, error=str(e))
    try:
        loaded, result = await run_in_threadpool(uploads.preview, app.engine, app.settings, staged, now=app.clock(), user=user)
    except ValidationFailed as err:
        problems = uploads.problem_rows(err.problems, staged)  # before the upload is gone: a Word plan's lines
        uploads.discard(staged)
        return render(request, "plans_problems.html.j2", status_code=422, user=user, name=staged.original,
                      problems=problems, notes=staged.notes,
                      warnings=[_plain(w, staged) for w in err.warnings],
                      tasks=getattr(err, "tasks", None), readable=getattr(err, "readable_tasks", None))
    except DubanError as e:
        uploads.discard(staged)
        return _page(request, user, status=400, error=_plain(str(e), staged))
    request.session["uploads"] = [*request.session.get("uploads", [])[-(KEEP_TOKENS - 1):], staged.token]
    return render(request, "plans_preview.html.j2", user=user, name=staged.original, token=staged.token,
                  diff=_diff(loaded, result), notes=staged.notes, warnings=[_plain(w, staged) for w in loaded.warnings])


@router.post("/plans/confirm")
async def confirm(request: Request) -> Response:
    from duban.matrix.errors import DubanError, ValidationFailed
    from duban.workflows import plan_upload_service as uploads

    user = require(request, "act")
    form = await checked_form(request)
    token = str(form.get("token") or "")
    if token not in request.session.get("uploads", []):
        raise HTTPException(status_code=404, detail="no such upload in this session: upload the file again")
    if form.get("confirm") != "1":
        raise HTTPException(status_code=400, detail="请勾选“确认导入” (tick the confirmation to import)")
    app = duban(request)
    try:
        staged = await run_in_threadpool(uploads.load_staged, app.settings, token)
        loaded, result = await run_in_threadpool(uploads.confirm, app.engine, app.settings, staged, now=app.clock(), user=user)
    except ValidationFailed as err:
        return _page(request, user, status=422, error=f"{len(err.problems)} problem(s) now — the store changed since the preview; "
                                                      "upload the file again")
    except DubanError as e:
        return _page(request, user, status=400, error=str(e))
    request.session["uploads"] = [t for t in request.session.get("uploads", []) if t != token]
    return _page(request, user, done={"name": staged.original, "diff": _diff(loaded, result)})


def _plain(text: str, staged: Any) -> str:
    """A message without the upload's private folder: the file as the user named it."""
    return text.replace(str(staged.folder) + "/", "")


def _short(value: Any, limit: int = 120) -> str:
    text = "、".join(map(str, value)) if isinstance(value, (list, tuple)) else "" if value is None else str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _diff(loaded: Any, result: Any) -> dict[str, Any]:
    """What the import does (or would do), as the CLI prints it: tasks added, changed, archived, restored."""
    plan = loaded.plan
    titles = {t.code: t.title for t in plan.tasks}
    return {
        "code": result.plan_code, "title": plan.title, "created": result.created_plan, "noop": result.is_noop,
        "tasks": len(plan.tasks), "added": [(c, titles.get(c, "")) for c in result.added], "restored": result.restored,
        "changed": [(code, [(c.field, _short(c.old), _short(c.new)) for c in changes]) for code, changes in result.changed.items()],
        "archived": result.archived, "header": [(c.field, _short(c.old), _short(c.new)) for c in result.header],
        "stages": result.stages, "units_added": result.units_added, "units_updated": result.units_updated,
        "kept": result.kept, "unchanged": result.unchanged,
        "supervised_from": result.supervised_from.isoformat() if result.supervised_from else None,
    }
