"""What every page shares: the process's App, the logged-in user, roles, CSRF and rendering.

Sessions are signed cookies (Starlette's SessionMiddleware, itsdangerous underneath): HttpOnly,
SameSite=Lax, Secure when `duban serve --secure-cookies` (behind HTTPS), renewed on every request and
expiring after ``IDLE`` without one. A cookie names the user and their session generation, checked on
every request (``current_user``), so a logout ends it on the server, not only in the browser. Every POST carries the session's CSRF token as a form field
(``csrf``); a missing or wrong one is refused with 403 before anything is read or changed.
"""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from fastapi import HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from duban.notifications.render import visible_controls

if TYPE_CHECKING:
    from duban.workflows.bootstrap import App

T = TypeVar("T")
IDLE = dt.timedelta(hours=8)
TEMPLATES = Path(__file__).parent / "templates"
CAN = {  # what each role may do
    "read": {"office", "supervisor", "viewer"},
    "act": {"office", "supervisor"},
    "approve": {"supervisor"},
}


class LoginRequired(Exception):
    """No (valid) session: the page sends the browser to the login form."""


def duban(request: Request) -> App:
    return request.app.state.duban


def client_address(request: Request) -> str:
    """The client's address: the peer, or X-Forwarded-For's as uvicorn sets it when the proxy is trusted
    (`duban serve --forwarded-allow-ips`)."""
    return request.client.host if request.client else ""


def current_user(request: Request) -> dict[str, Any]:
    """The logged-in user, re-read on every request: a disabled user is out at once, and so is a session
    ended on the server (a logout, a new password: its generation is no longer the user's)."""
    from duban.workflows.user_service import active_user

    name, generation = request.session.get("user"), request.session.get("generation")
    user = None
    if isinstance(name, str) and isinstance(generation, int):
        user = active_user(duban(request).engine, name, generation)
    if user is None:
        request.session.clear()
        raise LoginRequired()
    return user


def require(request: Request, power: str) -> dict[str, Any]:
    """The user, if their role may ``power`` (read, act, approve); else 403."""
    user = current_user(request)
    if user["role"] not in CAN[power]:
        raise HTTPException(status_code=403, detail=f"role {user['role']} may not {power}")
    return user


def require_every_office(request: Request, power: str) -> dict[str, Any]:
    """The user, if they may ``power`` and see every office's plans: mail is not tied to a plan (a digest
    carries several plans' notices), so the outbox, its retries and delivery belong to users of every
    office (`duban user add` without --office). Others get 403."""
    user = require(request, power)
    if user["offices"]:
        raise HTTPException(status_code=403, detail="邮件由各办公室共用：仅限不限办公室的用户 (the outbox is shared by "
                                                    "every office's plans: only a user of every office may see or send it)")
    return user


def kept(request: Request, page: str, args: tuple[Any, ...], compute: Callable[[dt.datetime], T]) -> T:
    """``compute(now)`` (a service's reading for ``page`` with ``args`` at the console's ``now``), kept until the
    database changes, the day turns or the rules are read again (``web.kept_reads``). One ``now`` names the
    day in the key and is the one the reading uses (two clock reads could straddle midnight)."""
    app = duban(request)
    now, policies = app.clock(), app.policies
    return request.app.state.kept_reads.get((page, args, now.date(), id(policies)), lambda: compute(now),
                                            keep_alive=policies)


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = request.session["csrf"] = secrets.token_urlsafe(32)
    return token


async def checked_form(request: Request) -> Any:
    """The POSTed form, once its CSRF token matches the session's (403 otherwise)."""
    form = await request.form()
    sent, kept = form.get("csrf"), request.session.get("csrf")
    if not isinstance(sent, str) or not isinstance(kept, str) or not hmac.compare_digest(sent, kept):
        raise HTTPException(status_code=403, detail="CSRF token missing or wrong: reload the page and try again")
    return form


_DICT_ATTRIBUTES = frozenset(dir(dict))


class _PageEnvironment(Environment):
    """Jinja2 as the pages use it. ``row.code`` on a dict (what services return) is looked up as a key first:
    Jinja tries the attribute, and a dict's missing attribute raises and catches an AttributeError for each
    cell of a table (a quarter of the task list's rendering). The result is the same — the names of dict's
    own methods (``items``, ``get``) still come first."""

    def getattr(self, obj: Any, attribute: str) -> Any:
        if type(obj) is dict and attribute not in _DICT_ATTRIBUTES:
            try:
                return obj[attribute]
            except KeyError:
                pass
        return super().getattr(obj, attribute)


def _finalize(value: Any) -> Any:
    """A value on a page: control characters (a terminal escape in a unit's note) shown as their pictures,
    as in the letters (``notifications.render.visible_controls``); escaped after, as every value. Printable
    text (nearly every value) is returned as it is without a regex."""
    if type(value) is str and not value.isprintable():
        return visible_controls(value)
    return value


def _environment() -> Environment:
    # auto_reload off: the templates are the installed package's, read once (not stat-ed on every page).
    return _PageEnvironment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "j2"]),
                            auto_reload=False, trim_blocks=True, lstrip_blocks=True, finalize=_finalize)


_ENV = _environment()


def label(language: str, zh: str, en: str) -> str:
    """A page's own words in the console's language (plan text keeps its own script)."""
    if language == "en":
        return en
    if language == "zh-Hant":
        from duban.matrix.script import to_traditional

        return to_traditional(zh)
    return zh


def render(request: Request, template: str, status_code: int = 200, *, headers: dict[str, str] | None = None,
           **context: Any) -> HTMLResponse:
    """A page in the console's layout and language. Its form token is the session's (``csrf_token``) unless
    the page gives its own ``csrf`` (a unit's link page: no session, no cookie); ``headers`` add to
    ``Cache-Control: no-store`` and ``Content-Language``."""
    app = duban(request)
    language = app.settings.language
    user = context.pop("user", None)
    csrf = context.pop("csrf") if "csrf" in context else csrf_token(request)
    as_of = app.as_of_day.isoformat() if app.as_of_day else None
    page = _ENV.get_template(template).render(
        request=request, user=user, csrf=csrf, lang=language, as_of_day=as_of,
        t=lambda zh, en: label(language, zh, en), **context)
    return HTMLResponse(page, status_code=status_code, headers={
        "Cache-Control": "no-store", **(headers or {}), "Content-Language": "en" if language == "en" else language})


def see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def local_path(path: str) -> str:
    """Only a path on this site may be a redirect target (not //evil.example)."""
    return path if path.startswith("/") and not path.startswith("//") and "\\" not in path else "/"


MAX_FILES = 20  # evidence files in one request (the closing, progress and unit-link forms)


async def uploaded_files(form: Any, limit: int) -> list[tuple[str, bytes]]:
    """A form's uploaded ``files`` as (name, bytes), empty file inputs skipped; a file over ``limit`` bytes is
    refused unread (``store.evidence.too_large``), more than ``MAX_FILES`` with a 400."""
    from duban.store.evidence import too_large

    out = []
    for part in form.getlist("files"):
        if isinstance(part, str) or not getattr(part, "filename", None):
            continue
        if part.size is not None and part.size > limit:
            raise too_large(part.filename, part.size, limit)
        out.append((part.filename, await part.read(limit + 1)))
    if len(out) > MAX_FILES:
        raise HTTPException(status_code=400, detail=f"at most {MAX_FILES} evidence files in one request")
    return out
