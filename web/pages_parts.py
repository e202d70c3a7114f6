"""配合单位报送 Supporting units' parts waiting for acceptance, across tasks (``/parts``): every pending part in
the plans the user may see, oldest first, ``PER_PAGE`` a page, with its task, unit, what it reported, note, day
and evidence files, and the office's accept / refuse forms (a reason to refuse, which the supporting unit is
told by a ``part_refused`` notice).

Thin over ``workflows.progress_acceptance`` (``pending_page``) and ``progress_service`` (``accept_report``,
``refuse_report``), as the task page's form (``/actions/progress/{id}/decide``). Deciding is a POST with the
session's CSRF token and a 确认 tick, role ``act`` (office, supervisor; a viewer reads the list only), on a part
of a visible plan (404 otherwise); an event names the user. A refusal without a reason, or a part decided
meanwhile, is the service's message on the page again, nothing changed.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

from duban.web.deps import checked_form, duban, render, require, see_other

router = APIRouter()
PER_PAGE = 50  # parts a page, as the closing queue
DECIDED = {"accepted": ("已确认，自今日起计入。", "Accepted: it counts from today."),
           "refused": ("已不予采纳，并通知配合单位。", "Refused: the supporting unit is told by a notice.")}


def _visible(request: Request, user: dict[str, Any]) -> list[str]:
    from duban.workflows.user_service import visible_plans

    return visible_plans(duban(request).engine, user)


def _page(request: Request, user: dict[str, Any], page: str = "1", *, status_code: int = 200, error: str = "",
          error_id: int | None = None, kept: str = "", decided: str = "", decided_id: int | None = None) -> Response:
    from duban.workflows.progress_acceptance import pending_page

    engine, plans = duban(request).engine, _visible(request, user)
    number = max(int(page), 1) if page.isdigit() else 1
    total, rows = pending_page(engine, plans=plans, limit=PER_PAGE, offset=(number - 1) * PER_PAGE)
    pages = max(1, -(-total // PER_PAGE))
    if number > pages:  # past the last page: the last
        number = pages
        total, rows = pending_page(engine, plans=plans, limit=PER_PAGE, offset=(number - 1) * PER_PAGE)

    def list_url(page: int) -> str:
        return "/parts" + (f"?{urlencode({'page': page})}" if page > 1 else "")

    return render(request, "parts_list.html.j2", status_code=status_code, user=user, rows=rows, total=total,
                  page=number, pages=pages, list_url=list_url, error=error, error_id=error_id, kept=kept,
                  decided=DECIDED.get(decided), decided_id=decided_id)


@router.get("/parts")
def parts_queue(request: Request, page: str = "1", decided: str = "", part: str = "") -> Response:
    """The pending parts of the user's plans, ``PER_PAGE`` a page (``?page=N``; past the last shows the last)."""
    user = require(request, "read")
    return _page(request, user, page, decided=decided, decided_id=int(part) if part.isdigit() else None)


@router.post("/parts/{report_id}/decide")
async def parts_decide(request: Request, report_id: int) -> Response:
    """Accept (it counts from today) or refuse (with a reason) one pending part of a visible plan."""
    from duban.matrix.errors import DubanError
    from duban.workflows.progress_service import accept_report, pending_part, refuse_report

    user = require(request, "act")
    form = await checked_form(request)
    app = duban(request)
    found = pending_part(app.engine, report_id, plans=_visible(request, user))
    if found is None:
        raise HTTPException(status_code=404, detail=f"no pending part #{report_id} in your plans (decided already?)")
    decision, reason = str(form.get("decision") or ""), str(form.get("reason") or "").strip()
    if form.get("confirm") != "yes" or decision not in ("accept", "refuse"):
        return _page(request, user, status_code=400, error_id=report_id, kept=reason,
                     error="请选择确认计入或不予采纳并勾选“确认”；未做任何更改 (choose accept or refuse and tick 确认: "
                           "nothing was changed)")
    try:
        if decision == "accept":
            result = accept_report(app.engine, report_id=report_id, now=app.clock(), actor=user["name"], note=reason)
        else:
            result = refuse_report(app.engine, report_id=report_id, now=app.clock(), actor=user["name"], reason=reason)
    except DubanError as err:
        return _page(request, user, status_code=400, error=str(err), error_id=report_id, kept=reason)
    return see_other("/parts?" + urlencode({"decided": result["state"], "part": report_id}))
