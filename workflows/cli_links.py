"""The ``duban links`` commands: the units' signed links in notices (workflows.link_service).

``list`` shows a unit's links — one per plan and day a notice addressed to it was planned — with their state
(valid, expired, revoked), how often each was used and its address (with DUBAN_PUBLIC_URL) or token;
``revoke`` ends links before they expire (a link forwarded where it should not be). Registered on the main
app by ``workflows.cli``.
"""

from __future__ import annotations

import datetime as dt

import typer

from duban.workflows.cli_common import console, day_option, emit_json, engine, now_for, policies, settings

links_app = typer.Typer(help="Units' signed links in notices: list a unit's links, revoke one.", no_args_is_help=True)

AsOf = day_option("--as-of", "Act as if today were this date (YYYY-MM-DD), to replay a plan.")
Json = typer.Option(False, "--json", help="Print JSON with stable keys.")
STATUS_ZH = {"valid": "有效", "expired": "已過期", "revoked": "已撤銷"}


@links_app.command("list")
def links_list(
    unit: str = typer.Option(..., "--unit", "-u", help="The unit (either script, aliases too)."),
    plan: str | None = typer.Option(None, "--plan", "-p", help="Only this plan."),
    as_of: dt.datetime | None = AsOf,
    as_json: bool = Json,
) -> None:
    """List a unit's links, newest first: id, plan, issued and expiry days, state, uses, address."""
    from duban.workflows.link_service import list_links

    rows = list_links(engine(), unit=unit, plan=plan, now=now_for(as_of), expire_days=policies().link_expire_days,
                      public_url=settings().public_url)
    if as_json:
        emit_json(rows)
        return
    out = console()
    if not rows:
        out.print(f"no links: no notice has been addressed to {unit} yet")
    for r in rows:
        line = (f"{r['link']} {r['status']} ({STATUS_ZH[r['status']]}): {r['unit']} {r['plan']}, issued {r['issued_on']}, "
                f"until {r['expires_on']}, used {r['uses']}×")
        if r["status"] == "revoked":
            line += f"; revoked by {r['revoked_by'] or 'someone'}" + (f": {r['reason']}" if r["reason"] else "")
        out.print(line, markup=False, highlight=False)
        out.print(f"  {r['url']}", markup=False, highlight=False, soft_wrap=True)


@links_app.command("revoke")
def links_revoke(
    link_ids: list[str] = typer.Argument(..., help="Link ids as `duban links list` shows them (plan-unit-day)."),
    reason: str = typer.Option("", "--reason", help="Why (shown to whoever opens the link)."),
    by: str = typer.Option("", "--by", help="Name of the person acting (recorded in the event)."),
    as_of: dt.datetime | None = AsOf,
    as_json: bool = Json,
) -> None:
    """Revoke links: they are refused from then on (the unit's next notice carries a new one)."""
    from duban.workflows.link_service import revoke

    rows = revoke(engine(), link_ids=link_ids, now=now_for(as_of), actor=by, reason=reason)
    if as_json:
        emit_json(rows)
        return
    for r in rows:
        console().print(f"revoked {r['link']}: {r['unit']} {r['plan']}, issued {r['issued_on']}", markup=False,
                        highlight=False)
