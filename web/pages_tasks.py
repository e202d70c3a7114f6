"""任務 Tasks and 單位 Units: the task list (filters, sort, pages), a task's page and a unit's page.

Thin over ``workflows.task_pages_service``; every page checks the plan is one the user may see (404
otherwise, as for a plan or task that does not exist)."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

from duban.web.deps import duban, kept, render, require

router = APIRouter()


def task_url(plan: str, code: str) -> str:
    return f"/tasks/{quote(plan, safe='')}/{quote(code, safe='')}"


def unit_url(name: str, plan: str | None = None) -> str:
    return f"/units/{quote(name, safe='')}" + (f"?{urlencode({'plan': plan})}" if plan else "")


LINKS: dict[str, Any] = {"task_url": task_url, "unit_url": unit_url}


@router.get("/tasks")
def task_list(request: Request) -> Response:
    from duban.matrix.errors import NotFound
    from duban.workflows.task_pages_service import BadQuery, TaskQuery, list_tasks, parse_query
    from duban.workflows.user_service import visible_plans

    user = require(request, "read")
    app = duban(request)
    plans = visible_plans(app.engine, user)
    error, data = None, None
    try:
        query = parse_query(dict(request.query_params))
        data = kept(request, "tasks", (tuple(plans), query), lambda now: list_tasks(
            app.engine, now=now, policies=app.policies, calendar=app.calendar, plans=plans, query=query))
    except NotFound as e:
        raise HTTPException(status_code=404, detail=str(e)) from None
    except BadQuery as e:
        error, query = str(e), TaskQuery()

    def list_url(**changes: Any) -> str:
        return "/tasks?" + urlencode(query.params(**changes))

    return render(request, "tasks_list.html.j2", status_code=400 if error else 200, user=user, data=data,
                  error=error, query=query, plans=plans, list_url=list_url, args=dict(request.query_params), **LINKS)


@router.get("/tasks/{plan}/{code}")
def task_page(request: Request, plan: str, code: str) -> Response:
    from duban.matrix.errors import NotFound
    from duban.workflows.task_pages_service import task_page as page_of
    from duban.workflows.user_service import visible_plans

    user = require(request, "read")
    app = duban(request)
    plans = visible_plans(app.engine, user)
    try:
        data = kept(request, "task", (tuple(plans), plan, code), lambda now: page_of(
            app.engine, now=now, policies=app.policies, calendar=app.calendar, plans=plans, plan=plan, code=code))
    except NotFound as e:
        raise HTTPException(status_code=404, detail=str(e)) from None
    return render(request, "tasks_page.html.j2", user=user, data=data, **LINKS)


@router.get("/units/{name:path}")
def unit_page(request: Request, name: str, plan: str | None = None) -> Response:
    from duban.matrix.errors import NotFound
    from duban.workflows.task_pages_service import score_trend
    from duban.workflows.task_pages_service import unit_page as page_of
    from duban.workflows.user_service import visible_plans

    user = require(request, "read")
    app = duban(request)
    plans = visible_plans(app.engine, user)

    def read(now: dt.datetime) -> tuple[dict[str, Any], Any]:
        data = page_of(app.engine, now=now, policies=app.policies, calendar=app.calendar, plans=plans, name=name,
                       plan=plan or None)
        return data, score_trend(app.engine, now=now, plans=data["plans"], unit=data["unit"]["name"])

    try:
        data, trends = kept(request, "unit", (tuple(plans), name, plan or None), read)
    except NotFound as e:
        raise HTTPException(status_code=404, detail=str(e)) from None
    return render(request, "unit_page.html.j2", user=user, data=data, trends=trends, **LINKS)
