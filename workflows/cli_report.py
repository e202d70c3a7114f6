"""The ``duban report`` commands: the weekly circulation report (周通報) with its criticism notices.

Registered on the main app by ``workflows.cli`` as ``duban report``. Only typer and the standard
library are imported at module level (``duban --help`` stays fast); the service is imported inside the
command, which takes the policies and scoring from the process's wiring (``workflows.cli_common``).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import typer

from duban.workflows.cli_common import app, console, day_option, emit_json, engine, now_for, styled

report_app = typer.Typer(help="The weekly circulation report (周通報): scores, ranking, criticism and praise, "
                              "as HTML, Markdown and DOCX, mailed to the office and the supervisors.",
                         no_args_is_help=True)


@report_app.command("weekly")
def weekly(
    as_of: dt.datetime | None = day_option("--as-of", "The report's last day (YYYY-MM-DD), usually a "
                                                                      "Friday; the period is the 7 days ending on it."),
    fmt: str = typer.Option("html,md,docx", "--format", "-f", help="Comma-separated: html, md, docx."),
    out: Path = typer.Option(Path("var/reports"), "--out", "-o", help="Folder for weekly-DATE.* and criticism-UNIT-DATE.*"),
    plan: str | None = typer.Option(None, "--plan", "-p", help="Only this plan (default: every plan)."),
    email: bool = typer.Option(False, "--email", help="Mail the report (HTML, DOCX attached) to the office and the "
                                                      "supervisors of scoring.yaml report.recipients."),
    lang: str | None = typer.Option(None, "--lang", help="zh-Hans | zh-Hant | en (default: DUBAN_LANGUAGE)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON with stable keys."),
    rules: Path | None = typer.Option(None, "--rules", help="Score with this scoring file (over the packaged "
                                      "defaults) instead of the version in force on the day; not stored."),
) -> None:
    """Build the weekly circulation report as of a day: files in --out, and with --email the mail.

    It scores with the scoring rules in force on the day (`duban rules list`), unless --rules is given."""
    from duban.matrix.errors import ConfigError
    from duban.workflows.report_service import FORMATS, email_report, weekly_report
    from duban.workflows.rules_service import scoring_for_app

    formats = [f.strip().lower() for f in fmt.split(",") if f.strip()]
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        raise ConfigError(f"--format: unknown format {bad[0] if bad else fmt!r}; use {', '.join(FORMATS)}")
    wiring = app()
    s = wiring.settings
    now = now_for(as_of)
    eng = engine()
    scoring, used = scoring_for_app(wiring, now.date(), rules)
    result = weekly_report(eng, now=now, policies=wiring.policies, settings=s, formats=formats, out_dir=out, plan=plan,
                           scoring=scoring, language=lang, calendar=wiring.calendar, renderer=wiring.renderer,
                           rules=used)
    review = None
    if wiring.policies.require_report_approval:  # policy reports.require_approval: a draft, mailed once approved
        from duban.workflows.report_review_service import record_draft

        review = record_draft(eng, result, now=now, actor="cli")
    mailed = email_report(eng, now=now, settings=s, report=result, scoring=scoring) if email and not review else None
    if as_json:
        data = {k: v for k, v in result.items() if k not in ("documents", "model")}
        if mailed is not None:
            data["email"] = mailed
        if review:
            data["review"] = review
        emit_json(data)
        return
    _print(result, mailed)
    if review == "draft":
        console().print(styled(("draft", "yellow"), f": awaiting approval (審核), not mailed — duban report approve "
                               f"{result['as_of']}"))


def _print(result: dict, mailed: dict | None) -> None:
    """What the report says and where it went, for a reader of the terminal."""
    out_console = console()
    h = result["headline"]
    out_console.print(styled((result["subject"], "bold")))
    out_console.print(f"period {result['period']['start']} … {result['period']['end']}: {h['tasks']} tasks, "
                      f"{h['due']} due ({h['met_on_time']} on time), {h['closed']} closed, "
                      f"{h['overdue_open']} overdue (last week {h['overdue_open_last_week']}), "
                      f"{h['level2']} at level ≥2, {h['missing_reports']} reports missing")
    if result.get("rules"):
        r = result["rules"]
        out_console.print(f"scoring rules: version {r['number']} (sha256 {r['sha256'][:8]}, in force from {r['from']})"
                          if r["number"] else f"scoring rules: {r['file']} (sha256 {r['sha256'][:8]}, given for this report)")
    for kind, path in result["files"].items():
        out_console.print(f"  {kind:<5} {path}")
    if result["criticised"]:
        out_console.print(styled(("通報批評", "red"), f" {len(result['criticised'])}: " + "、".join(c["unit"] for c in result["criticised"])))
        for _unit, files in result["criticism"].items():
            for path in files.values():
                out_console.print(f"  {path}")
    else:
        out_console.print("通報批評 none")
    out_console.print(styled(("通報表揚", "green"), " " + "、".join(c["unit"] for c in result["praised"])) if result["praised"]
                      else "通報表揚 none")
    if mailed is not None:
        where = mailed.get("eml") or mailed.get("target", "")
        state = {"sent": "mailed", "already": "already mailed (unchanged)", "queued": "queued for retry",
                 "failed": "failed"}.get(mailed["status"], mailed["status"])
        out_console.print(styled("email ", (state, "red" if mailed["status"] == "failed" else ""),
                                 f" to {', '.join(mailed['to'])} ({where})"
                                 + (f": {mailed.get('error') or mailed.get('reason')}" if mailed.get("error") or mailed.get("reason") else "")))


@report_app.command("approve")
def approve(
    day: str = typer.Argument(..., metavar="DATE|WEEK", help="The report's day (YYYY-MM-DD) or its ISO week (2016-W03)."),
    user: str = typer.Option("cli", "--as", help="Who approves (recorded as the event's actor)."),
) -> None:
    """Approve a draft weekly report (審核通過) and mail it as written: for offices whose policy says
    reports.require_approval: true (the weekly job then writes drafts and mails nothing)."""
    from duban.workflows.report_review_service import approve_report, resolve_day
    from duban.workflows.rules_service import report_scoring

    wiring = app()
    as_of = resolve_day(wiring.engine, day)
    scoring, _used = report_scoring(wiring.engine, day=as_of)
    mailed = approve_report(wiring.engine, as_of=as_of, now=wiring.clock(), settings=wiring.settings, scoring=scoring,
                            actor=user)
    where = mailed.get("eml") or mailed.get("target", "")
    console().print(styled(("approved", "green"), f" the report of {as_of.isoformat()}; mail {mailed['status']} to "
                           f"{', '.join(mailed.get('to', []))} ({where})"))
