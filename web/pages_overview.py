"""總覽 Overview: per plan the user may see, tasks by light, this week's due items, overdue items by working
days, escalations by level, held notices; units ranked by the newest weekly report's score; undelivered mail."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from duban.web.deps import duban, kept, render, require

router = APIRouter()


@router.get("/")
def overview_page(request: Request) -> Response:
    from duban.workflows.console_service import overview
    from duban.workflows.user_service import visible_plans

    user = require(request, "read")
    app = duban(request)
    plans, every_plan = visible_plans(app.engine, user), not user["offices"]
    data = kept(request, "overview", (tuple(plans), every_plan), lambda now: overview(
        app.engine, now=now, policies=app.policies, calendar=app.calendar, plans=plans, every_plan=every_plan))
    return render(request, "overview.html.j2", user=user, data=data)
