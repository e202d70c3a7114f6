"""The weekly circulation report (周通報): a period's facts from the store → scores → documents → files, mail.

``weekly_report(engine, now=…, policies=…, settings=…, formats=…, out_dir=…)`` reads what the report
needs as of ``now``'s day (``store.report_queries``: one set-based query per table, never a query per
task), derives this period's facts and last week's (``matrix.report_facts``: each item's state rebuilt
for any day, so the report for a past Friday is the report that Friday would have had, and last week's
ranks, for the change in rank, are computed the same way), scores them (``matrix.scoring``, where
every definition is written down), assembles the report's model and renders it
(``notifications.report``: HTML, Markdown, DOCX, the SVG chart and a circulation-criticism notice per
criticised unit). Files are written as ``weekly-YYYY-MM-DD.html|md|svg|docx`` and
``criticism-<unit>-YYYY-MM-DD.html|docx``; the same database and the same as-of day give the same
bytes. "As of D" means the end of day D: reports dated D and items closed on D count. A large plan's
report stays readable: its task and overdue tables list the worst ``report.max_rows`` rows (300) and
count the rest, and each unit shows its first ``report.max_lines_per_unit`` (5) deduction lines and
criticism facts; a criticised unit's own notice lists every fact. The headline numbers, ranking and
scores always cover everything. The entry points score with the rules in force on the day
(``workflows.rules_service.report_scoring``: the stored scoring version, or a file given for the report)
and pass which they are as ``rules``: the report's footer names them.

``queue_report`` puts the report in the outbox as one message (HTML body, Markdown as its text part,
the DOCX attached) to the office's addresses and the supervisors of ``config/scoring.yaml``
``report.recipients``; ``email_report`` queues it and hands it over at once through the one delivery
pipeline (workflows.delivery_service: the same channel, outcome recording and backoff as every
notice); a message the server defers stays queued for ``duban deliver`` to retry. The message's key
holds a digest of its content and recipients: running the weekly flow again for the same week mails
nothing new unless the report changed.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from duban.matrix.calendar import WorkCalendar
from duban.matrix.errors import ConfigError
from duban.matrix.gcpause import no_cyclic_gc
from duban.matrix.report_facts import (
    PeriodFacts,
    ReportSnapshot,
    criticism_streaks,
    period_facts,
    period_for,
    task_lights,
    told_leader,
)
from duban.matrix.scoring import Scoreboard, ScoringConfig, refer, score_week
from duban.matrix.script import for_language
from duban.store.report_queries import frozen_last_levels, office_recipients, read_snapshot, task_officials
from duban.store.report_scores import store_scores
from duban.workflows.bootstrap import load_scoring_config  # when no scoring is given (the one loader)

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from duban.config.settings import Settings
    from duban.matrix.policy import PolicySet
    from duban.matrix.rules import RulesUsed
    from duban.notifications.render import Renderer
    from duban.notifications.report import WeeklyReport

FORMATS = ("html", "md", "docx")


# --------------------------------------------------------------------------------------------
# Scores and the report model


def score_period(engine: Engine, *, now: dt.datetime, plan: str | None = None, scoring: ScoringConfig,
                 calendar: WorkCalendar | None = None, policies: PolicySet | None = None) -> Scoreboard:
    """This period's scoreboard, with last week's ranks for the change (no documents). ``policies``: whose
    ladders say which escalation level tells a unit's leader (the built-in defaults when not given)."""
    with no_cyclic_gc():
        board, _, _ = _scores(engine, now=now, plan=plan, scoring=scoring, calendar=calendar, policies=policies)
    return board


def _refer(engine: Engine, board: Scoreboard, store: ReportSnapshot, scoring: ScoringConfig, cal: WorkCalendar,
           policies: PolicySet | None) -> Scoreboard:
    """Criticised units past ``criticism.max_weeks_running`` whose leader has not been told (no escalation
    at the last level of the ladder in force on their tasks) are referred to the leadership group instead
    (``matrix.scoring.referral``). Streaks are computed only for those units, from the stored facts."""
    if not scoring.criticism_max_weeks or not board.criticised:
        return board
    from duban.matrix.policy import PolicySet

    rules = policies if policies is not None else PolicySet()
    ids = {u.id: u.name for u in store.units.values()}
    criticised = {uid for uid, name in ids.items() if name in {c.unit for c in board.criticised}}
    frozen = frozen_last_levels(engine, (t.id for t in store.tasks if t.lead_unit_id in criticised))

    def last_level(task: Any, item: Any) -> int | None:
        """The last level of the ladder in force on the item: frozen when it went overdue, else the policy's."""
        if item.ref in frozen:
            return frozen[item.ref]
        ladder = rules.for_task(task.plan_code, task.code).ladder
        return ladder[-1].level if ladder else None

    candidates = criticised - told_leader(store, criticised, last_level)
    if not candidates:
        return board
    streaks = criticism_streaks(store, candidates, board.period, scoring, cal)
    over = {uid: s for uid, s in streaks.items() if s[0] > scoring.criticism_max_weeks}
    if not over:
        return board
    tasks = [t for t in store.tasks if t.lead_unit_id in over]
    names = task_officials(engine, (t.id for t in tasks))
    officials: dict[str, dict[str, tuple[str, ...]]] = {}
    for t in tasks:
        officials.setdefault(ids[t.lead_unit_id], {})[t.code] = names.get(t.id, ())
    return refer(board, {ids[uid]: s for uid, s in over.items()}, officials)


def _scores(engine: Engine, *, now: dt.datetime, plan: str | None, scoring: ScoringConfig,
            calendar: WorkCalendar | None, policies: PolicySet | None = None,
            ) -> tuple[Scoreboard, tuple[PeriodFacts, PeriodFacts], ReportSnapshot]:
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    cal = calendar or WorkCalendar()
    as_of = now.date()
    period = period_for(as_of, scoring)
    previous = period_for(as_of - dt.timedelta(days=7), scoring)
    store = read_snapshot(engine, plan=plan, as_of=as_of, tz=now.tzinfo, ack_kinds=scoring.ack_kinds,
                          ack_since=previous.start - dt.timedelta(days=31), period_start=period.start)
    last = period_facts(store, previous, scoring, cal)
    this = period_facts(store, period, scoring, cal)
    last_board = score_week(last.units, previous, scoring, detail=False)
    board = score_week(this.units, period, scoring, previous=last_board.ranks())
    board = _refer(engine, board, store, scoring, cal, policies)
    return board, (this, last), store


def build_report(engine: Engine, *, now: dt.datetime, policies: PolicySet, scoring: ScoringConfig,
                 plan: str | None = None, calendar: WorkCalendar | None = None,
                 rules: RulesUsed | None = None) -> WeeklyReport:
    """The weekly report's model for the period ending on ``now``'s day (``rules``: the scoring version used,
    named in its footer)."""
    from duban.notifications.report.assemble import weekly_report_model

    cal = calendar or WorkCalendar()
    board, (this, last), store = _scores(engine, now=now, plan=plan, scoring=scoring, calendar=cal, policies=policies)
    tasks = task_lights(store, this, policies, cal)
    report = weekly_report_model(store, board=board, this=this, last=last, tasks=tasks, scoring=scoring, cal=cal,
                                 rules=rules)
    return _with_evidence(engine, report, plan=plan, now=now)


def _with_evidence(engine: Engine, report: WeeklyReport, *, plan: str | None, now: dt.datetime) -> WeeklyReport:
    """Each listed task with the names of its evidence files (closing requests filed by the report's day
    and not returned by then, then progress reports' files recorded by then; each name once); a report
    with no evidence is unchanged."""
    import dataclasses

    from duban.workflows import progress_service
    from duban.workflows.closing_service import evidence_by_task

    until = dt.datetime.combine(now.date() + dt.timedelta(days=1), dt.time(), tzinfo=now.tzinfo)
    found = progress_service.merged_evidence(evidence_by_task(engine, plan=plan, until=until),
                                             progress_service.evidence_by_task(engine, plan=plan, until=until))
    if not found:
        return report
    tasks = tuple(dataclasses.replace(t, evidence=found.get((t.plan_code, t.code), ())) for t in report.tasks)
    return dataclasses.replace(report, tasks=tasks)


# --------------------------------------------------------------------------------------------
# The weekly flow: documents, files, mail


def _renderer(settings: Settings, language: str | None):
    from duban.notifications.render import Renderer

    return Renderer(language=language or settings.language, override_dir=Path(settings.config_dir) / "templates")


def write_files(out_dir: Path, files: list[tuple[str, bytes | str]]) -> list[str]:
    """Write a report's files all or nothing; returns their paths as text.

    Every file is first written into a private folder inside ``out_dir`` (a few at a time: there may be
    hundreds of criticism notices), then each is renamed into place, the file it replaces kept aside until
    all are in. A failure at any point (a full disk, a name the file system refuses) puts back what was
    there before, removes the folder and raises ``StoreError`` naming the file: a reader never sees half a
    report, nor a mix of two."""
    import os
    import shutil
    import tempfile
    from concurrent.futures import ThreadPoolExecutor

    from duban.matrix.errors import StoreError
    from duban.store.files import file_mode, make_dirs

    out_dir = Path(out_dir)
    current = out_dir
    mode = file_mode()  # private (0600) unless DUBAN_FILE_MODE says otherwise; the folder 0700
    try:
        make_dirs(out_dir)
        stage = Path(tempfile.mkdtemp(prefix=".report-", dir=out_dir))
    except OSError as e:
        raise StoreError(f"cannot write the report into {current}: {e.strerror or e}") from None
    moved: list[Path] = []
    kept: list[tuple[Path, Path]] = []
    try:
        def put(job: tuple[int, tuple[str, bytes | str]]) -> None:
            i, (name, data) = job
            fd = os.open(stage / f"{i}.new", os.O_CREAT | os.O_EXCL | os.O_WRONLY, mode)
            with os.fdopen(fd, "wb") as f:
                os.fchmod(f.fileno(), mode)
                f.write(data.encode("utf-8") if isinstance(data, str) else data)

        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(put, enumerate(files)))
        for i, (name, _) in enumerate(files):
            current = target = out_dir / name
            if os.path.lexists(target):
                aside = stage / f"{i}.old"
                os.replace(target, aside)
                kept.append((aside, target))
            os.replace(stage / f"{i}.new", target)
            moved.append(target)
    except OSError as e:
        for target in moved:
            with contextlib.suppress(OSError):
                os.unlink(target)
        for aside, target in kept:
            with contextlib.suppress(OSError):
                os.replace(aside, target)
        raise StoreError(f"cannot write the report file {current}: {e.strerror or e}; nothing was written") from None
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return [str(out_dir / name) for name, _ in files]


def summary(report: WeeklyReport, language: str = "zh-Hans", *,
            facts: dict[str, list[str]] | None = None) -> dict[str, Any]:
    """What the report says, as stable JSON keys (for ``--json`` and the flows).

    ``referred``: the units referred to the leadership group instead of criticised again (weeks running,
    since, the tasks concerned with their lead officials). ``ranking`` gives each ranked unit's score, rank, change, points deducted and counts as lead and as
    supporting unit (the deduction lines themselves are in the documents); ``criticised`` every fact of
    each criticism (``facts``: the texts already worded for the notices, by unit).
    """
    from duban.notifications.report.model import family

    words = _fact_words("en" if family(language) == "en" else "zh-Hans")
    facts = facts or {}
    h = report.headline
    return {
        "as_of": report.as_of.isoformat(),
        "period": {"start": report.period.start.isoformat(), "end": report.period.end.isoformat()},
        "number": report.number,
        "headline": {"tasks": h.tasks, "lights": h.lights, "due": h.due, "met_on_time": h.met_on_time, "closed": h.closed,
                     "overdue_open": h.overdue_open, "overdue_open_last_week": h.overdue_open_last_week,
                     "overdue_new": h.overdue_new, "closed_late": h.closed_late, "level2": h.level2,
                     "missing_reports": h.missing_reports, "undeliverable": h.undeliverable},
        "criticised": [{"unit": c.unit, "reasons": list(c.reasons), "facts": facts.get(c.unit) or words.facts(c)}
                       for c in report.board.criticised],
        "praised": [{"unit": c.unit, "facts": words.facts(c)} for c in report.board.praised],
        "referred": [{"unit": r.unit, "weeks": r.weeks, "since": r.since.isoformat(), "reasons": list(r.reasons),
                      "tasks": [{"code": t.code, "title": t.title, "officials": list(t.officials)} for t in r.tasks]}
                     for r in report.board.referred],
        "rules": None if report.rules is None else {
            "number": report.rules.number, "sha256": report.rules.sha256, "file": report.rules.file,
            "from": report.rules.from_date.isoformat() if report.rules.from_date else None},
        "ranking": [{"rank": u.rank, "tied": u.tied, "unit": u.unit, "score": float(u.score), "change": u.change,
                     "vetoed": u.vetoed,
                     "deducted": float(u.deducted), "lead": _counts(u.lead), "supporting": _counts(u.supporting)}
                    for u in report.board.units if u.rank is not None],
    }


@functools.lru_cache(maxsize=2)
def _fact_words(language: str) -> Renderer:
    """The facts in JSON are in the data's own script (traditional Chinese, as the plans write it; the
    documents convert to the report's script) or in English: the package's _lines.j2, no office
    templates. Built once per process and language."""
    from duban.notifications.render import Renderer

    return Renderer(language=language)


def _counts(c: Any) -> dict[str, int]:
    return {"due": c.due, "met_on_time": c.met_on_time, "closed": c.closed, "overdue": c.overdue,
            "overdue_days": c.overdue_days, "max_level": c.max_level, "missing_reports": c.missing_reports,
            "late_reports": c.late_reports, "late_acks": c.late_acks}


def weekly_report(engine: Engine, *, now: dt.datetime, policies: PolicySet, settings: Settings,
                  formats: Iterable[str] = FORMATS, out_dir: Path, plan: str | None = None,
                  scoring: ScoringConfig | None = None, calendar: WorkCalendar | None = None,
                  language: str | None = None, renderer: Renderer | None = None,
                  rules: RulesUsed | None = None) -> dict[str, Any]:
    """Build the weekly report for the period ending on ``now``'s day and write it into ``out_dir``.

    ``scoring`` and ``rules``: the scoring rules to use and which version they are (from
    ``rules_service.report_scoring``: the version in force on the day, or a file given for the report);
    without ``scoring`` the current files are read, without ``rules`` the footer names no version.

    Returns ``{as_of, period, number, headline, criticised, praised, ranking, subject, files: {html, md,
    svg, docx}, criticism: {unit: {html, docx}}, language, documents, model}`` (``documents`` and
    ``model`` are objects, for ``email_report``; the rest is JSON, see ``summary``).
    """
    from duban.notifications.report import render_report

    formats = [f.strip() for f in formats if f.strip()]
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise ConfigError(f"unknown report format {unknown[0]!r}: use {', '.join(FORMATS)}")
    scoring = scoring or load_scoring_config(settings)
    with no_cyclic_gc():
        model = build_report(engine, now=now, policies=policies, scoring=scoring, plan=plan, calendar=calendar,
                             rules=rules)
        if renderer is None or (language and language != renderer.language):
            renderer = _renderer(settings, language)
        docs = render_report(model, renderer, formats=formats, criticism=bool({"html", "docx"} & set(formats)))
    out_dir = Path(out_dir)
    files: dict[str, str] = {}
    stem = model.stem
    pending: list[tuple[str, str | bytes]] = []
    for kind, data, suffix in (("html", docs.html, "html"), ("md", docs.markdown, "md"),
                               ("svg", docs.svg if docs.markdown is not None else None, "svg"),
                               ("docx", docs.docx, "docx")):
        if data is not None:
            files[kind] = str(out_dir / f"{stem}.{suffix}")
            pending.append((f"{stem}.{suffix}", data))
    criticism: dict[str, dict[str, str]] = {}
    for unit, doc in docs.criticism.items():
        written = {}
        for kind in ("html", "docx"):
            if kind in formats:
                name = f"{doc['stem']}.{kind}"
                pending.append((name, doc[kind]))
                written[kind] = str(out_dir / name)
        criticism[unit] = written
    write_files(out_dir, pending)  # all or nothing
    store_scores(engine, as_of=model.as_of, plan=plan, board=model.board, rules=rules.sha256 if rules else "", now=now)
    facts = {unit: doc["facts"] for unit, doc in docs.criticism.items()}
    return {**summary(model, renderer.language, facts=facts), "subject": docs.subject, "files": files, "criticism": criticism,
            "documents": docs, "model": model, "language": renderer.language, "plan": plan}


def report_recipients(engine: Engine, *, scoring: ScoringConfig, extra: Iterable[tuple[str, str]] = (),
                      plan: str | None = None) -> list[tuple[str, str]]:
    """(display name, address) of the office running the report's plans (its addresses and its
    head's) and the supervisors."""
    from duban.notifications.recipients import clean_address

    out: list[tuple[str, str]] = []
    if scoring.report.to_office:
        out += office_recipients(engine, plan)
    out += [(r.name, r.email) for r in scoring.report.recipients]
    out += list(extra)
    seen: set[str] = set()
    good = []
    for name, address in out:
        address = clean_address((address or "").strip())
        if address and address.lower() not in seen:
            seen.add(address.lower())
            good.append((name, address))
    return good


def replay_hold(engine: Engine, settings: Settings, as_of: dt.date, *, reaches_people: bool = True) -> str:
    """Why a replayed report waits, else "": a report for a day more than a day from the machine's local
    day (``real_clock``, in DUBAN_TIMEZONE) reaches real people only with DUBAN_ALLOW_REPLAY_MAIL=1, as
    the notices of a replayed sweep do; a channel that reaches nobody (.eml files) always takes it."""
    from zoneinfo import ZoneInfo

    from duban.store.db import real_clock
    from duban.workflows.delivery_service import replay_reason

    if not reaches_people or settings.allow_replay_mail:
        return ""
    today = real_clock(engine)().astimezone(ZoneInfo(settings.timezone)).date()
    return replay_reason(as_of, today, "a replay's report", "written")


def queue_report(engine: Engine, *, now: dt.datetime, settings: Settings, report: dict[str, Any],
                 scoring: ScoringConfig | None = None, recipients: Iterable[tuple[str, str]] = (),
                 reaches_people: bool | None = None) -> dict[str, Any]:
    """Put the weekly report in the outbox as one message to the office and the supervisors, for the
    delivery pipeline to send (``duban deliver``, the runner's delivery job, or ``email_report`` at once).

    ``report`` is what ``weekly_report`` returned; ``reaches_people`` whether the channel that will take
    it reaches people (default: the settings' channel does — SMTP — and .eml files do not). Returns
    ``{status, key, message_id, to, subject, attachments, message}``: ``status`` is ``pending``; ``held``
    (with ``reason``) for a replay's report while replays may not be mailed (``replay_hold``; ``deliver``
    sends it once they may); or ``already`` when this very report was queued for the same people before
    (then ``previous_status`` is that message's state).
    """
    from duban.store import outbox

    scoring = scoring or load_scoring_config(settings)
    to = report_recipients(engine, scoring=scoring, extra=recipients, plan=report.get("plan"))
    in_script = for_language(report.get("language") or settings.language)  # header names in the letter's script too
    to = [(in_script(name), address) for name, address in to]
    if not to:
        raise ConfigError("the weekly report has nobody to go to: the office has no email address in the unit "
                          "directory and config scoring.yaml lists no report.recipients")
    message = _report_message(report, settings, to, in_script(settings.mail_from), now)
    result = {"key": message["key"], "message_id": message["message_id"], "to": [a for _, a in to],
              "subject": message["subject"], "attachments": message.pop("attachments")}
    if reaches_people is None:
        reaches_people = bool(settings.smtp_url)  # channel_for's choice: SMTP reaches people, .eml files do not
    hold = replay_hold(engine, settings, report["model"].as_of, reaches_people=reaches_people)
    if hold:
        message.update(status="held", last_error=hold)
    message_pk, previous = outbox.enqueue_once(engine, message)
    if previous is not None:
        return {**result, "status": "already", "message": message_pk, "previous_status": previous}
    if hold:
        return {**result, "status": "held", "reason": hold, "message": message_pk}
    return {**result, "status": "pending", "message": message_pk}


def _report_message(report: dict[str, Any], settings: Settings, to: list[tuple[str, str]], mail_from: str,
                    now: dt.datetime) -> dict[str, Any]:
    """The report's message as outbox columns (and its attachments' names). Its key holds a digest of
    the content and the recipients: the same report to the same people is the same message."""
    from duban.notifications.mail import message_id_for, sender_address
    from duban.notifications.render import Renderer
    from duban.notifications.report import build_report_message, render_report

    docs = report["documents"]
    model = report["model"]
    if docs.html is None or docs.markdown is None or docs.docx is None:
        full = render_report(model, Renderer(language=report.get("language") or settings.language,
                                              override_dir=Path(settings.config_dir) / "templates"),
                             formats=FORMATS, criticism=False)
        docs.html, docs.markdown, docs.docx = docs.html or full.html, docs.markdown or full.markdown, docs.docx or full.docx
    sender = sender_address(mail_from)
    domain = sender.rsplit("@", 1)[1].rstrip(">")
    digest = hashlib.sha256(docs.html.encode() + docs.docx + "|".join(a for _, a in to).encode()).hexdigest()[:16]
    key = f"report:weekly:{model.as_of.isoformat()}:{digest}"
    message_id = message_id_for(key, domain)
    filename = f"{model.stem}.docx"
    text = docs.markdown.replace(f"]({model.stem}.svg)", "]")  # no file beside a mail: keep the caption only
    body = build_report_message(sender=sender, to=to, subject=docs.subject, text=text, html=docs.html,
                                attachments=[(filename, docs.docx,
                                              "application/vnd.openxmlformats-officedocument.wordprocessingml.document")],
                                message_id=message_id, date=now)
    return {"key": key, "address": ", ".join(a for _, a in to), "message_id": message_id, "subject": docs.subject,
            "created_at": now, "body": body, "attachments": [filename]}


def email_report(engine: Engine, *, now: dt.datetime, settings: Settings, report: dict[str, Any],
                 scoring: ScoringConfig | None = None, recipients: Iterable[tuple[str, str]] = ()) -> dict[str, Any]:
    """Queue the weekly report (``queue_report``) and hand it over at once, through the same delivery
    pipeline as every notice (``delivery_service.send_now``: claim, channel, record): by SMTP when
    DUBAN_SMTP_URL is set, else as an .eml in the outbox folder. A message the server defers stays
    queued and ``duban deliver`` retries it, backing off as for any message; one the server refuses
    duban itself for waits, uncounted, like the notices.

    Returns ``queue_report``'s dict with ``status`` sent | queued | failed (or ``already``, or ``held``
    with its ``reason``: a replay's report, not handed to a mail server), ``target``, and ``eml`` (the
    file) or ``error`` where there is one.
    """
    from duban.notifications.channels import channel_for
    from duban.workflows.delivery_service import send_now

    channel = channel_for(settings)
    result = queue_report(engine, now=now, settings=settings, report=report, scoring=scoring, recipients=recipients,
                          reaches_people=getattr(channel, "reaches_people", True))
    if result["status"] in ("already", "held"):
        result["target"] = channel.target
        return result
    delivery, outcomes = send_now(engine, [result["message"]], now=now, settings=settings, channel=channel)
    outcome = outcomes.get(result["message"])
    result["target"] = delivery.target
    if outcome is not None and outcome.where:
        result["eml"] = outcome.where
    # As recorded: sent, or failed for good; otherwise (deferred, halted, or taken by another process's
    # delivery) it waits in the queue.
    result["status"] = "sent" if delivery.sent else "failed" if delivery.failed else "queued"
    if outcome is not None and outcome.error:
        result["error"] = outcome.error
    return result
