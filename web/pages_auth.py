"""Log in and out. Failed logins are counted per user (lock-out: user_service) and per client address
here: after ``CLIENT_LIMIT`` failures in ``CLIENT_WINDOW`` the address must wait. Logging out ends the
user's sessions on the server (user_service.end_sessions): a copy of the cookie no longer works."""

from __future__ import annotations

import time
from collections import defaultdict, deque

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from duban.web.deps import (
    LoginRequired,
    checked_form,
    client_address,
    current_user,
    duban,
    local_path,
    render,
    see_other,
)

router = APIRouter()
CLIENT_LIMIT = 20
CLIENT_WINDOW = 600.0
_failures: dict[str, deque[float]] = defaultdict(deque)


def _throttled(client: str) -> bool:
    recent = _failures[client]
    while recent and recent[0] < time.monotonic() - CLIENT_WINDOW:
        recent.popleft()
    return len(recent) >= CLIENT_LIMIT


@router.get("/login")
def login_form(request: Request, next: str = "/") -> Response:
    try:
        current_user(request)
        return see_other(local_path(next))
    except LoginRequired:
        pass
    return render(request, "login.html.j2", next=local_path(next), error=None)


@router.post("/login")
async def login(request: Request) -> Response:
    from duban.matrix.errors import Refused
    from duban.workflows.user_service import authenticate, session_of

    form = await checked_form(request)
    target = local_path(str(form.get("next") or "/"))
    client = client_address(request)
    if _throttled(client):
        return render(request, "login.html.j2", status_code=429, next=target,
                      error="登录失败次数过多，请10分钟后再试 (too many failed logins from this address: wait 10 minutes)")
    app = duban(request)
    try:
        # Argon2 takes tens of milliseconds on purpose: in the thread pool, not on the event loop every page waits on
        user = await run_in_threadpool(authenticate, app.engine, name=str(form.get("name") or ""),
                                       password=str(form.get("password") or ""), now=app.clock(), client=client)
    except Refused as e:
        _failures[client].append(time.monotonic())
        return render(request, "login.html.j2", status_code=401, next=target, error=str(e))
    request.session.clear()  # a new session (and CSRF token) on login: no fixation
    request.session.update(session_of(user))
    return see_other(target)


@router.post("/logout")
async def logout(request: Request) -> Response:
    from duban.workflows.user_service import end_sessions

    await checked_form(request)
    try:
        user = current_user(request)
    except LoginRequired:
        return see_other("/login")  # ended already (or never): nothing to end
    app = duban(request)
    end_sessions(app.engine, name=user["name"], generation=request.session["generation"], now=app.clock(),
                 actor=user["name"])
    request.session.clear()
    return see_other("/login")
