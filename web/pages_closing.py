"""辦結複核 Closing requests: the review queue (pending first) with each request's evidence, the office's
close (辦結) and return (退回, with a reason) forms, a form to file a request on a unit's behalf with
evidence files, and evidence downloads (attachment, the stored content type, only for visible plans).

Thin over ``workflows.closing_service``; every action is a POST with the CSRF token, a 确认 checkbox,
role ``act``, and an event naming the user.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

from duban.web.deps import MAX_FILES, checked_form, duban, render, require, see_other, uploaded_files

router = APIRouter()
STATUSES = ("pending", "closed", "returned")
PER_PAGE = 50  # requests a page of the queue, as the task list


def _visible(request: Request, user: dict[str, Any]) -> list[str]:
    from duban.workflows.user_service import visible_plans

    return visible_plans(duban(request).engine, user)


def _request_for(request: Request, user: dict[str, Any], request_id: int) -> dict[str, Any]:
    """The request, if its plan is one the user sees (404 otherwise, as for none)."""
    from duban.matrix.errors import NotFound
    from duban.workflows.closing_service import get_closing_request

    try:
        found = get_closing_request(duban(request).engine, request_id)
    except NotFound:
        raise HTTPException(status_code=404, detail=f"no closing request #{request_id}") from None
    if found["plan"] not in _visible(request, user):
        raise HTTPException(status_code=404, detail=f"no closing request #{request_id}")
    return found


@router.get("/closing")
def closing_queue(request: Request, status: str = "", page: str = "1") -> Response:
    """The queue, ``PER_PAGE`` a page (``?page=N``; a page past the last shows the last), with its count."""
    from duban.workflows.closing_service import count_closing_requests, list_closing_requests

    user = require(request, "read")
    shown = status if status in STATUSES else None
    engine, plans = duban(request).engine, _visible(request, user)
    total = count_closing_requests(engine, status=shown, plans=plans)
    pages = max(1, -(-total // PER_PAGE))
    number = min(max(int(page), 1), pages) if page.isdigit() else 1
    rows = list_closing_requests(engine, status=shown, plans=plans, limit=PER_PAGE, offset=(number - 1) * PER_PAGE)

    def list_url(page: int) -> str:
        query = urlencode({**({"status": shown} if shown else {}), **({"page": page} if page > 1 else {})})
        return "/closing" + (f"?{query}" if query else "")

    return render(request, "closing_list.html.j2", user=user, rows=rows, status=shown or "", total=total,
                  page=number, pages=pages, list_url=list_url)


@router.get("/closing/new")
def closing_new(request: Request) -> Response:
    user = require(request, "act")
    return _new_form(request, user, {}, None)


def _new_form(request: Request, user: dict[str, Any], values: dict[str, Any], error: str | None,
              status_code: int = 200) -> Response:
    app = duban(request)
    return render(request, "closing_new.html.j2", status_code=status_code, user=user, plans=_visible(request, user),
                  values=values, error=error, max_mb=app.settings.evidence_max_bytes / 1024 / 1024)


@router.post("/closing/new")
async def closing_file(request: Request) -> Response:
    from duban.matrix.errors import DubanError
    from duban.workflows.closing_service import evidence_store, request_closing

    user = require(request, "act")
    app = duban(request)
    store = evidence_store(app.settings)
    if int(request.headers.get("content-length") or 0) > MAX_FILES * store.max_bytes + 1024 * 1024:
        raise HTTPException(status_code=413, detail="the upload is too large")
    form = await checked_form(request)
    values = {k: str(form.get(k) or "").strip() for k in ("plan", "task", "unit", "milestone", "note")}
    if values["plan"] not in _visible(request, user):
        return _new_form(request, user, values, f"plan {values['plan']!r} is not one of yours", 404)
    if form.get("confirm") != "yes":
        return _new_form(request, user, values, "tick 确认 to file the request", 400)
    try:
        milestone = int(values["milestone"]) if values["milestone"] else None
    except ValueError:
        return _new_form(request, user, values, f"milestone: {values['milestone']!r} is not a number", 400)
    try:
        files = await uploaded_files(form, store.max_bytes)
        made = request_closing(app.engine, task=values["task"], unit=values["unit"], note=values["note"], files=files,
                               now=app.clock(), actor=user["name"], store=store, plan=values["plan"],
                               milestone=milestone)
    except DubanError as err:
        return _new_form(request, user, values, str(err), 400)
    return see_other(f"/closing/{made['id']}")


@router.get("/closing/{request_id}")
def closing_detail(request: Request, request_id: int) -> Response:
    user = require(request, "read")
    return render(request, "closing_detail.html.j2", user=user, r=_request_for(request, user, request_id), error=None)


async def _decide(request: Request, request_id: int, close: bool) -> Response:
    from duban.matrix.errors import DubanError
    from duban.workflows.closing_service import close_request, return_request

    user = require(request, "act")
    form = await checked_form(request)
    found = _request_for(request, user, request_id)
    app = duban(request)
    text = str(form.get("reason" if not close else "note") or "")
    if form.get("confirm") != "yes":
        error = "tick 确认 to " + ("close the item" if close else "return the request")
    else:
        try:
            if close:
                close_request(app.engine, request_id=request_id, now=app.clock(), actor=user["name"], note=text)
            else:
                return_request(app.engine, request_id=request_id, reason=text, now=app.clock(), actor=user["name"])
            return see_other(f"/closing/{request_id}")
        except DubanError as err:
            error = str(err)
    return render(request, "closing_detail.html.j2", status_code=400, user=user, r=found, error=error,
                  kept={"close" if close else "return": text})


@router.post("/closing/{request_id}/close")
async def closing_close(request: Request, request_id: int) -> Response:
    return await _decide(request, request_id, close=True)


@router.post("/closing/{request_id}/return")
async def closing_return(request: Request, request_id: int) -> Response:
    return await _decide(request, request_id, close=False)


@router.get("/evidence/{sha256}")
def evidence_download(request: Request, sha256: str) -> Response:
    from duban.workflows.closing_service import evidence_store
    from duban.workflows.progress_service import evidence_file  # closing requests' and progress reports' files

    user = require(request, "read")
    app = duban(request)
    info = evidence_file(app.engine, sha256.lower()) if len(sha256) == 64 else None
    if info is None or not set(info["plans"]) & set(_visible(request, user)):
        raise HTTPException(status_code=404, detail="no such evidence file")
    try:
        data = evidence_store(app.settings).read(info["sha256"])
    except (OSError, ValueError):
        raise HTTPException(status_code=404, detail="the evidence file is missing from the data folder") from None
    asked = request.query_params.get("name", "")
    name: str = asked if asked in info["names"] else info["name"]  # a name the file was sent with, never any other
    ascii_name = "".join(c if c.isascii() and c.isprintable() and c not in '"\\;' else "_" for c in name)
    return Response(data, media_type=info["content_type"], headers={
        "Content-Disposition": f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}",
        "X-Content-Type-Options": "nosniff", "Cache-Control": "private, no-store"})
