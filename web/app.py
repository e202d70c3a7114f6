"""The console's FastAPI application: middleware (sessions, security headers), error pages, routes.

``create_app(app)`` builds it over one ``App`` (bootstrap): the same engine, settings, policies and
calendar the CLI uses. Each ``pages_*.py`` module is a router of related pages, thin over services.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import MutableHeaders
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from duban.web import (
    pages_actions,
    pages_auth,
    pages_closing,
    pages_mail,
    pages_overview,
    pages_parts,
    pages_plans,
    pages_reports,
    pages_tasks,
    pages_unit,
)
from duban.web.deps import IDLE, LoginRequired, local_path, render, see_other
from duban.web.kept_reads import KeptReads

if TYPE_CHECKING:
    from duban.workflows.bootstrap import App

STATIC = Path(__file__).parent / "static"
SECURITY_HEADERS = {
    # Every asset is duban's own: no inline script, no other origin, no framing.
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}
ROUTERS = [pages_auth.router, pages_overview.router, pages_plans.router, pages_tasks.router]
ROUTERS += [pages_actions.router, pages_mail.router]  # office actions; notices and mail (helper actions)
ROUTERS += [pages_closing.router]  # closing requests and evidence (helper closing)
ROUTERS += [pages_parts.router]  # supporting units' parts waiting for acceptance, across tasks (helper parts)
ROUTERS += [pages_reports.router]  # weekly reports and their approval (helper plansreports)
ROUTERS += [pages_unit.router]  # a unit's page from its signed link, no account (helper unitlinks)


def create_app(app: App, *, secure_cookies: bool = False) -> FastAPI:
    from duban.workflows.user_service import secret_key

    web = FastAPI(title="duban", docs_url=None, redoc_url=None, openapi_url=None, lifespan=_threads_within_the_pool(app))
    web.state.duban = app
    web.state.kept_reads = KeptReads(app.engine)
    web.add_middleware(SessionMiddleware, secret_key=secret_key(app.engine), session_cookie="duban_session",
                       max_age=int(IDLE.total_seconds()), same_site="lax", https_only=secure_cookies)

    web.add_middleware(SecurityHeaders)

    @web.exception_handler(LoginRequired)
    async def to_login(request: Request, _exc: LoginRequired) -> Response:
        return see_other("/login?next=" + quote(local_path(request.url.path + (f"?{request.url.query}" if request.url.query else ""))))

    @web.exception_handler(HTTPException)
    async def error_page(request: Request, exc: HTTPException) -> HTMLResponse:
        return render(request, "error.html.j2", status_code=exc.status_code, status=exc.status_code, detail=str(exc.detail))

    web.mount("/static", StaticFiles(directory=STATIC), name="static")
    for router in ROUTERS:
        web.include_router(router)
    return web


class SecurityHeaders:
    """Adds ``SECURITY_HEADERS`` to every response that does not set its own. A plain ASGI middleware:
    Starlette's ``BaseHTTPMiddleware`` (``@app.middleware("http")``) runs each response through a second
    task and stream, the largest cost of serving a small page."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    if name not in headers:
                        headers.append(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def from_environment() -> FastAPI:
    """The console of one worker process of ``duban serve --workers N``: its own ``App`` from the settings
    in the environment (the ones the command was started with), the cookie flag from the command."""
    import dataclasses
    import datetime as dt
    import os

    from duban.workflows.bootstrap import bootstrap
    from duban.workflows.serve_service import AS_OF_ENV, SECURE_COOKIES_ENV

    app = bootstrap(open_engine=True)
    if os.environ.get(AS_OF_ENV):
        app = dataclasses.replace(app, as_of_day=dt.date.fromisoformat(os.environ[AS_OF_ENV]))
    return create_app(app, secure_cookies=os.environ.get(SECURE_COOKIES_ENV) == "1")


def _threads_within_the_pool(app: App) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """Pages run in worker threads (40 by default); each holds a database connection while it reads. With
    more threads than the engine's pool has connections, a slow moment under load made requests wait
    out the pool's timeout and fail (QueuePool limit reached: seen in bench/serve_bench.py). So the
    threads are limited to the pool's connections: requests queue for a thread instead."""

    @asynccontextmanager
    async def lifespan(_web: FastAPI) -> AsyncIterator[None]:
        import anyio.to_thread

        pool = app.engine.pool
        size_of = getattr(pool, "size", None)
        size = int(size_of()) if callable(size_of) else 0
        connections = size + max(int(getattr(pool, "_max_overflow", 0)), 0)
        if connections > 0:
            anyio.to_thread.current_default_thread_limiter().total_tokens = connections
        yield
        _web.state.kept_reads.close()  # the read cache's watcher connection

    return lifespan
