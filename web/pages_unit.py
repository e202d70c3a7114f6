"""A unit's page from its signed link (``/u/{token}``): no account, no session — the link is the key.

The page lists the unit's open items in the link's plan (lead, co-lead, supporting) with 签收, 报送进展,
申请办结 (note and evidence files) and 申请延期, and says which unit the link acts as (a forwarded link acts
as the unit it was sent to). 按文件报送 reads an uploaded progress report into proposals the unit ticks
(``/u/{token}/document``, then ``…/document/confirm``); 订阅日历 is the link's calendar feed
(``/u/{token}/calendar.ics``, ``workflows.calendar_feed_service``). Opening it, or its feed, reads only
(mail scanners and link previews open links); every action is a POST with the page's form token (an HMAC of the link token: there is no session to keep one
in) and a 确认 tick, on an item of the link's own unit and plan, through ``workflows.link_service``.
A lead unit's page also lists supporting units' parts waiting for it (配合单位报送，待你单位确认) to accept or
refuse (``/u/{token}/part``); a supporting unit's page, its own parts and what became of them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool

from duban.web.deps import MAX_FILES, client_address, duban, label, render, see_other, uploaded_files

router = APIRouter()
DONE = {  # what the page says after an action (?done=…): only these words, never text from the query
    "ack": ("已签收。", "Acknowledged."),
    "report": ("进展已报送。", "Progress reported."),
    "close": ("办结申请已提交，等待督办部门复核。", "Closing request filed for the office's review."),
    "extend": ("延期申请已提交，等待督办部门审批。", "Extension request filed for the office's decision."),
    "document": ("已按所选条目报送进展。", "The chosen entries were reported."),
    "pending": ("已报送。配合单位报送的部分待牵头单位确认后计入。",
                "Reported: a supporting unit's part counts once the lead unit accepts it."),
    "accept": ("已确认，配合单位报送的部分自今日起计入。", "Accepted: the supporting unit's part counts from today."),
    "refuse": ("已不予采纳，配合单位可在其链接页面看到理由。", "Refused: the supporting unit sees the reason on its page."),
}
_HEADERS = {"Cache-Control": "no-store", "X-Robots-Tag": "noindex, nofollow", "Referrer-Policy": "no-referrer"}


def _render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """A page without a session: the console's layout, no user, the link's own form token (``csrf``)."""
    context.setdefault("csrf", "")
    return render(request, template, status_code, headers=_HEADERS, **context)


def _refused(request: Request, err: Exception) -> HTMLResponse:
    reason = getattr(err, "reason", "")
    return _render(request, "unit_link_refused.html.j2", status_code=404 if reason == "unknown" else 403,
                   reason=reason, detail=str(err))


def _page(request: Request, token: str, *, status_code: int = 200, error: str | None = None,
          error_item: str = "", done: str = "", kept: dict[str, str] | None = None,
          doc: dict[str, Any] | None = None, doc_error: str | None = None) -> HTMLResponse:
    from duban.workflows.link_service import LinkRefused, page, url_of

    app = duban(request)
    try:
        found = page(app.engine, token, now=app.clock(), expire_days=app.policies.link_expire_days)
    except LinkRefused as err:
        return _refused(request, err)
    feed_url = url_of(app.settings.public_url or str(request.base_url), found["link"].token) + "/calendar.ics"
    from duban.workflows.link_service import closings, parts

    return _render(request, "unit_link.html.j2", status_code=status_code, link=found["link"], items=found["items"],
                   parts=parts(app.engine, found["link"]), closings=closings(app.engine, found["link"]), feed_url=feed_url, webcal_url="webcal://" + feed_url.split("://", 1)[1],
                   csrf=found["csrf"], today=found["today"], error=error, error_item=error_item,
                   done=DONE.get(done), kept=kept or {}, max_mb=app.settings.evidence_max_bytes / 1024 / 1024,
                   doc=doc, doc_error=doc_error, doc_max_mb=_document_limit(request) / 1024 / 1024)


@router.get("/u/{token}")
def unit_link(request: Request, token: str, done: str = "") -> Response:
    return _page(request, token, done=done)


@router.api_route("/u/{token}/calendar.ics", methods=["GET", "HEAD"])
def unit_link_calendar(request: Request, token: str) -> Response:
    """The link's calendar feed (``calendar_feed_service``): reads only; a refused link gets its reason as
    text (a calendar app shows no page); an unchanged feed answers a poll's If-None-Match with 304."""
    import hashlib

    from duban.workflows.calendar_feed_service import feed
    from duban.workflows.link_service import LinkRefused, url_of

    app = duban(request)
    try:
        body = feed(app.engine, token, now=app.clock(), expire_days=app.policies.link_expire_days,
                    page_url=url_of(app.settings.public_url or str(request.base_url), token), policies=app.policies,
                    calendar=app.calendar, language=app.settings.language)
    except LinkRefused as err:
        return PlainTextResponse(f"{err}\n", status_code=404 if err.reason == "unknown" else 403, headers=_HEADERS)
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    headers = {**_HEADERS, "Cache-Control": "private, no-cache", "ETag": etag,
               "Content-Disposition": 'inline; filename="duban.ics"'}
    if etag in [t.strip() for t in request.headers.get("if-none-match", "").split(",")]:
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="text/calendar; charset=utf-8", headers=headers)


async def _checked(request: Request, token: str) -> tuple[Any, Any]:
    """The link (or a refusal page) and the POSTed form, once the form token matches the link's. The
    database work runs in the thread pool, as a page's does: the event loop only reads the request."""
    from duban.workflows.link_service import LinkRefused, check_csrf, verify

    app = duban(request)
    try:
        link = await run_in_threadpool(verify, app.engine, token, now=app.clock(),
                                       expire_days=app.policies.link_expire_days)
    except LinkRefused as err:
        return None, _refused(request, err)
    form = await request.form()
    if not await run_in_threadpool(check_csrf, app.engine, link.token, form.get("csrf")):
        await form.close()  # an upload's spooled files go now, not when collected
        raise HTTPException(status_code=403, detail="CSRF token missing or wrong: reload the page and try again")
    return link, form


async def _act(request: Request, token: str, action: str) -> Response:
    from duban.matrix.errors import DubanError
    from duban.workflows.closing_service import evidence_store

    app = duban(request)
    store = evidence_store(app.settings)
    if int(request.headers.get("content-length") or 0) > MAX_FILES * store.max_bytes + 1024 * 1024:
        raise HTTPException(status_code=413, detail="the upload is too large")
    link, form = await _checked(request, token)
    if link is None:
        return form  # the refusal page
    try:
        item = str(form.get("item") or "")
        kept = {k: str(form.get(k) or "") for k in ("done", "percent", "count", "amount", "note", "new_due", "reason")}
        confirmed = form.get("confirm") == "yes"
        try:
            files = await uploaded_files(form, store.max_bytes) if confirmed and action in ("report", "close") else []
        except DubanError as err:  # a file over the limit: refused unread, the page says which
            return await run_in_threadpool(_page, request, token, status_code=400, error=str(err), error_item=item,
                                           kept=kept)
        return await run_in_threadpool(_acted, request, token, link, action, item, kept, confirmed, files, store)
    finally:
        await form.close()  # an upload's spooled files go when the action is done


def _acted(request: Request, token: str, link: Any, action: str, item: str, kept: dict[str, str], confirmed: bool,
           files: list[tuple[str, bytes]], store: Any) -> Response:
    """The action itself (in the thread pool): the service's call, then the page again or its error."""
    from duban.matrix.errors import DubanError, NotFound
    from duban.workflows import link_service

    app = duban(request)
    if not confirmed:
        return _page(request, token, status_code=400, error=label(app.settings.language, "请勾选“确认”后再提交。",
                                                                   "Tick the confirmation to submit."),
                     error_item=item, kept=kept)
    now, client = app.clock(), client_address(request)
    try:
        if action == "ack":
            link_service.acknowledge(app.engine, link, item, now=now, client=client)
        elif action == "report":
            reported = link_service.report(app.engine, link, item, now=now, client=client, done=kept["done"],
                                           percent=kept["percent"], count=kept["count"], amount=kept["amount"],
                                           note=kept["note"], files=files, store=store)
            action = "pending" if reported.get("state") == "pending" else action
        elif action == "close":
            link_service.request_closing(app.engine, link, item, now=now, client=client, note=kept["note"],
                                         files=files, store=store)
        else:
            try:
                new_due = dt.date.fromisoformat(kept["new_due"].strip())
            except ValueError:
                raise DubanError(f"new_due: {kept['new_due']!r} is not a date such as 2016-03-31") from None
            link_service.request_extension(app.engine, link, item, now=now, client=client, new_due=new_due,
                                           reason=kept["reason"])
    except NotFound as err:
        return _page(request, token, status_code=404, error=str(err), error_item=item, kept=kept)
    except DubanError as err:
        return _page(request, token, status_code=400, error=str(err), error_item=item, kept=kept)
    return see_other(f"/u/{token}?done={action}#item-{item}")


@router.post("/u/{token}/ack")
async def unit_link_ack(request: Request, token: str) -> Response:
    return await _act(request, token, "ack")


@router.post("/u/{token}/report")
async def unit_link_report(request: Request, token: str) -> Response:
    return await _act(request, token, "report")


@router.post("/u/{token}/close")
async def unit_link_close(request: Request, token: str) -> Response:
    return await _act(request, token, "close")


@router.post("/u/{token}/extend")
async def unit_link_extend(request: Request, token: str) -> Response:
    return await _act(request, token, "extend")


@router.post("/u/{token}/part")
async def unit_link_part(request: Request, token: str) -> Response:
    """The lead unit accepts or refuses (with a reason) a supporting unit's pending part (配合单位报送)."""
    link, form = await _checked(request, token)
    if link is None:
        return form  # the refusal page
    try:
        raw, decision = str(form.get("report") or ""), str(form.get("decision") or "")
        reason, confirmed = str(form.get("reason") or ""), form.get("confirm") == "yes"
    finally:
        await form.close()
    return await run_in_threadpool(_part_decided, request, token, link, raw, decision, reason, confirmed)


def _part_decided(request: Request, token: str, link: Any, raw: str, decision: str, reason: str,
                  confirmed: bool) -> Response:
    from duban.matrix.errors import DubanError, NotFound
    from duban.workflows.link_service import decide_part

    app = duban(request)
    key = f"part-{raw}"
    if not confirmed or decision not in ("accept", "refuse"):
        return _page(request, token, status_code=400, error=label(app.settings.language, "请选择确认或不予采纳并勾选“确认”。",
                                                                   "Choose accept or refuse and tick the confirmation."),
                     error_item=key, kept={"reason": reason})
    try:
        if not raw.isdigit():
            raise NotFound(f"#{raw!r} 不是待确认的配合单位报送 (not a pending part)")
        decide_part(app.engine, link, int(raw), accept=decision == "accept", now=app.clock(),
                    client=client_address(request), reason=reason)
    except NotFound as err:
        return _page(request, token, status_code=404, error=str(err), error_item=key, kept={"reason": reason})
    except DubanError as err:
        return _page(request, token, status_code=400, error=str(err), error_item=key, kept={"reason": reason})
    return see_other(f"/u/{token}?done={decision}#parts")


# --------------------------------------------------------------------------------------------
# Answer by document: upload a progress report (.docx/.txt), see what duban read, tick what to record.
# The file is read within the request (Starlette spools an upload in memory, or a temporary file it
# deletes when the request ends) and kept nowhere; the proposals come back signed for the link.


def _document_limit(request: Request) -> int:
    from duban.workflows.progress_document_service import MAX_BYTES

    return min(duban(request).settings.evidence_max_bytes, MAX_BYTES)


def _no_tick(request: Request) -> str:
    return label(duban(request).settings.language, "请勾选“确认”后再提交。", "Tick the confirmation to submit.")


@router.post("/u/{token}/document")
async def unit_link_document(request: Request, token: str) -> Response:
    """读取文件: the proposals read from the uploaded report, shown with checkboxes. Writes nothing."""
    from duban.matrix.errors import DubanError, Refused
    from duban.workflows.link_service import propose_document

    limit = _document_limit(request)
    if int(request.headers.get("content-length") or 0) > limit + 1024 * 1024:
        raise HTTPException(status_code=413, detail="the upload is too large")
    link, form = await _checked(request, token)
    if link is None:
        return form  # the refusal page
    part = form.get("document")
    try:
        if form.get("confirm") != "yes":
            return await run_in_threadpool(_page, request, token, status_code=400, doc_error=_no_tick(request))
        if part is None or isinstance(part, str) or not getattr(part, "filename", None):
            raise DubanError("document: choose a .docx or .txt file to read")
        if part.size is not None and part.size > limit:
            raise Refused(f"{part.filename}: the file is {part.size:,} bytes, more than the {limit:,} bytes a progress "
                          "report may have")
        data = await part.read(limit + 1)
        made = await run_in_threadpool(propose_document, duban(request).engine, link, (part.filename, data),
                                       max_bytes=limit)
    except DubanError as err:
        return await run_in_threadpool(_page, request, token, status_code=400, doc_error=str(err))
    finally:
        await form.close()
    return await run_in_threadpool(_page, request, token, doc=made)


@router.post("/u/{token}/document/confirm")
async def unit_link_document_confirm(request: Request, token: str) -> Response:
    """报送所选条目: the ticked proposals recorded as the link's unit (``link_service.confirm_document``)."""
    if int(request.headers.get("content-length") or 0) > 1024 * 1024:
        raise HTTPException(status_code=413, detail="the form is too large")
    link, form = await _checked(request, token)
    if link is None:
        return form  # the refusal page
    try:
        carry, sig = form.get("carry"), form.get("carry_sig")
        confirmed, chosen = form.get("confirm") == "yes", [str(c) for c in form.getlist("choose")]
    finally:
        await form.close()
    return await run_in_threadpool(_document_confirmed, request, token, link, carry, sig, confirmed, chosen)


def _document_confirmed(request: Request, token: str, link: Any, carry: Any, sig: Any, confirmed: bool,
                        chosen: list[str]) -> Response:
    from duban.matrix.errors import DubanError, NotFound
    from duban.workflows.link_service import confirm_document, read_carried

    app = duban(request)
    try:
        shown = {**read_carried(app.engine, link, carry, sig), "carry": carry, "carry_sig": sig}
    except DubanError as err:
        return _page(request, token, status_code=400, doc_error=str(err))
    if not confirmed:
        return _page(request, token, status_code=400, doc=shown, doc_error=_no_tick(request))
    try:
        confirm_document(app.engine, link, carry=carry, carry_sig=sig, chosen=chosen, now=app.clock(),
                         client=client_address(request))
    except NotFound as err:
        return _page(request, token, status_code=404, doc=shown, doc_error=str(err))
    except DubanError as err:
        return _page(request, token, status_code=400, doc=shown, doc_error=str(err))
    return see_other(f"/u/{token}?done=document#answer-document")


# --------------------------------------------------------------------------------------------
# The office's side: a unit's links and their revocation (as `duban links list` / `revoke`)


def _office_links(request: Request, user: dict[str, Any], unit: str) -> list[dict[str, Any]]:
    from duban.matrix.errors import DubanError
    from duban.workflows.link_service import list_links
    from duban.workflows.user_service import visible_plans

    app = duban(request)
    visible = set(visible_plans(app.engine, user))
    try:
        rows = list_links(app.engine, unit=unit, now=app.clock(), expire_days=app.policies.link_expire_days,
                          public_url=app.settings.public_url)
    except DubanError as err:
        raise HTTPException(status_code=404, detail=str(err)) from None
    return [r for r in rows if r["plan"] in visible]


@router.get("/links")
def office_links(request: Request, unit: str = "") -> Response:
    from duban.web.deps import render, require

    user = require(request, "read")
    rows = _office_links(request, user, unit) if unit.strip() else []
    return render(request, "unit_links_office.html.j2", user=user, unit=unit.strip(), rows=rows, error=None)


@router.post("/links/revoke")
async def office_links_revoke(request: Request) -> Response:
    from urllib.parse import quote

    from duban.matrix.errors import DubanError
    from duban.web.deps import checked_form, render, require
    from duban.workflows.link_service import revoke

    user = require(request, "act")
    form = await checked_form(request)
    unit, link_id = str(form.get("unit") or "").strip(), str(form.get("link") or "").strip()
    rows = _office_links(request, user, unit)
    if link_id not in {r["link"] for r in rows}:
        raise HTTPException(status_code=404, detail=f"no link {link_id!r} of {unit} in your plans")
    error = None
    if form.get("confirm") != "yes":
        error = label(duban(request).settings.language, "请勾选“确认撤销”。", "Tick the confirmation to revoke.")
    else:
        try:
            revoke(duban(request).engine, link_ids=[link_id], now=duban(request).clock(), actor=user["name"],
                   reason=str(form.get("reason") or ""))
            return see_other(f"/links?unit={quote(unit)}")
        except DubanError as err:
            error = str(err)
    return render(request, "unit_links_office.html.j2", status_code=400, user=user, unit=unit, rows=rows, error=error)
