"""`duban demo`: the whole thing in a minute — the district plan replayed from 2015-07-01 to 2016-12-31.

Everything happens in ./demo-out/ (its own SQLite database; the user's database is not touched):
the district plan (seed part 5) is imported, then day by day the sweep runs each working morning,
units report and close as scripted in the evening (most on time, a few late, one extension, and 區金融辦
never reports), the day's notices are delivered as digests to a local SMTP sink (aiosmtpd, loopback),
and every Friday the weekly circulation report is written. ``index.html`` links the reports.
The script is deterministic: the same run gives the same outbox, mail and reports.
"""

from __future__ import annotations

import datetime as dt
import html
import shutil
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

START, END = dt.date(2015, 7, 1), dt.date(2016, 12, 31)
LATE = {"3.2.2": 13, "3.4.3": 6}       # working days late with the year-end milestone
NEVER = "3.2.7"                         # 區金融辦 never reports
EXTENDED = ("3.2.5", dt.date(2015, 12, 15), dt.date(2016, 1, 29))  # asked before due, approved next day
REPORT_EVERY_DAYS = 31  # units report quantity progress monthly; the demo's scoring expects that
TZ = ZoneInfo("Asia/Shanghai")


@dataclass
class DemoResult:
    out_dir: Path
    days: int = 0
    sweeps: int = 0
    notices: Counter = field(default_factory=Counter)
    messages: int = 0
    undeliverable: int = 0
    held: int = 0  # recipients held in the outbox at the last delivery (no address in the directory)
    reports: list[Path] = field(default_factory=list)
    criticised: Counter = field(default_factory=Counter)
    praised: Counter = field(default_factory=Counter)
    escalation_levels: Counter = field(default_factory=Counter)  # escalations written, by level
    criticisms: dict[dt.date, list[str]] = field(default_factory=dict)  # Friday -> units criticised that week
    stats: Any = None  # per unit: letters received and criticisms (workflows.letter_stats_service.LetterStats)




def _working_days_after(cal, day: dt.date, n: int) -> dt.date:
    return cal.add_working_days(day, n)


def _script(plan, cal) -> dict[dt.date, list[tuple[str, str, int, Any]]]:
    """What each unit does, day by day: (action, task, milestone number, argument)."""
    by_day: dict[dt.date, list] = defaultdict(list)
    for task in plan.tasks:
        if task.code == NEVER:
            continue
        for number, m in enumerate(task.milestones, start=1):
            due = m.due
            if task.code == EXTENDED[0] and number == 1:
                by_day[EXTENDED[1]].append(("extend", task.code, number, EXTENDED[2]))
                by_day[EXTENDED[1] + dt.timedelta(days=1)].append(("approve", task.code, number, None))
                due = EXTENDED[2]
            if m.quantity:
                # Month-end progress reports, a fair share of the target each month.
                start = m.start or (task.milestones[number - 2].due if number > 1 else START)
                months = max(1, (due.year - start.year) * 12 + due.month - start.month)
                for k in range(1, months):
                    day = dt.date(start.year + (start.month - 1 + k) // 12, (start.month - 1 + k) % 12 + 1, 25)
                    if day < due:
                        done = int(m.quantity * k / months)
                        by_day[day].append(("report", task.code, number, str(done)))
            if task.code in LATE and number == 1:
                by_day[_working_days_after(cal, due, LATE[task.code])].append(("close", task.code, number, None))
            else:
                by_day[due - dt.timedelta(days=2)].append(("close", task.code, number, None))
    return by_day


def run_demo(out_dir: Path, *, progress: Callable[[int, int, str], None] | None = None,
             language: str = "zh-Hans", formats: tuple[str, ...] = ("html",)) -> DemoResult:
    from duban.config.settings import EXAMPLE_PLANS
    from duban.notifications.sink import start_sink
    from duban.workflows.bootstrap import bootstrap
    from duban.workflows.matrix_service import PlanOptions, import_file

    if out_dir.exists():
        shutil.rmtree(out_dir)
    (out_dir / "reports").mkdir(parents=True)
    (out_dir / "config").mkdir()
    (out_dir / "config" / "scoring.yaml").write_text(
        f"# the demo's units report monthly\nreports:\n  expected_every_days: {REPORT_EVERY_DAYS}\n", encoding="utf-8")
    sink = start_sink("127.0.0.1", 0, out_dir / "mail")  # port 0: the port it binds, no race for one
    port = sink.port
    # The demo's own wiring: its database, config folder (the packaged policy, its scoring) and sink.
    app = bootstrap(database_url=f"sqlite:///{(out_dir / 'demo.db').resolve()}", smtp_url=f"smtp://127.0.0.1:{port}",
                    config_dir=out_dir / "config", outbox_dir=out_dir / "outbox",
                    mail_from="區扶貧開發領導小組辦公室 <office@example.org>", messages_per_minute=0, language=language,
                    allow_replay_mail=True)  # a replay, mailed to the demo's own sink: nobody real
    result = DemoResult(out_dir=out_dir)
    try:
        loaded, _ = import_file(app.engine, EXAMPLE_PLANS / "district-2015.yaml", PlanOptions(),
                                now=dt.datetime(2015, 7, 1, 8, tzinfo=TZ), actor="demo")
        script = _script(loaded.plan, app.calendar)
        lead = {t.code: t.lead_unit for t in loaded.plan.tasks}
        extensions: dict[tuple[str, int], int] = {}
        waiting = 0
        total = (END - START).days + 1
        day = START
        while day <= END:
            if app.calendar.is_working_day(day):
                waiting = _morning(app, day, result, waiting)
            _evening(app, day, script.get(day, []), lead, extensions)
            if day.weekday() == 4:  # Friday afternoon: the weekly circulation report
                _friday(app, day, result, formats)
            result.days += 1
            if progress:
                progress(result.days, total, day.isoformat())
            day += dt.timedelta(days=1)
        result.escalation_levels.update(escalation_levels(app.engine))
        result.stats = _stats(app, result)
    finally:
        app.close()
        sink.stop()
    _write_index(out_dir, result)
    return result


def _morning(app, day: dt.date, result: DemoResult, waiting: int) -> int:
    """The sweep at 08:30, then delivery at 09:00 if there is anything to send; returns messages waiting."""
    from duban.workflows.delivery_service import deliver
    from duban.workflows.rules_service import record_for
    from duban.workflows.sweep_service import sweep

    record_for(app, day)  # the demo's rules in force from its first day
    r = sweep(app.engine, now=dt.datetime.combine(day, dt.time(8, 30), TZ), policies=app.policies,
              calendar=app.calendar)
    result.sweeps += 1
    for kind, n in r.created.items():
        result.notices[kind] += n
    if not (sum(r.created.values()) or waiting):  # nothing new and nothing to retry: no delivery run
        return waiting
    d = deliver(app.engine, now=dt.datetime.combine(day, dt.time(9, 0), TZ), settings=app.settings,
                renderer=app.renderer, calendar=app.calendar)
    result.messages += d.sent
    result.undeliverable += len(d.undeliverable)
    result.held = len(d.held)
    return d.retrying


def _evening(app, day: dt.date, actions: list, lead: dict[str, str], extensions: dict[tuple[str, int], int]) -> None:
    """What the units (and the office) do at 17:00, as the script says."""
    from duban.workflows.extension_service import decide_extension, request_extension
    from duban.workflows.progress_service import close_item, report_progress

    evening = dt.datetime.combine(day, dt.time(17, 0), TZ)
    for action, code, number, arg in actions:
        if action == "close":
            close_item(app.engine, task=code, unit=lead[code], now=evening, milestone=number,
                       evidence="已按要求完成，驗收材料已報送", closed_by="demo")
        elif action == "report":
            report_progress(app.engine, task=code, unit=lead[code], now=evening, milestone=number, done=arg,
                            note="月度進展", reported_by="demo")
        elif action == "extend":
            ext = request_extension(app.engine, task=code, unit=lead[code], now=evening, milestone=number,
                                    new_due=arg, reason="雨季施工受阻，申請延期")
            extensions[(code, number)] = ext["id"]
        elif action == "approve":
            decide_extension(app.engine, extension_id=extensions[(code, number)], approve=True, now=evening,
                             decided_by="區扶貧開發領導小組辦公室")


def _friday(app, day: dt.date, result: DemoResult, formats: tuple[str, ...]) -> None:
    """The weekly circulation report at 16:00, into the demo's reports folder."""
    from duban.workflows import report_service
    from duban.workflows.rules_service import scoring_for_app

    scoring, used = scoring_for_app(app, day)
    report = report_service.weekly_report(
        app.engine, now=dt.datetime.combine(day, dt.time(16, 0), TZ), policies=app.policies, settings=app.settings,
        formats=formats, out_dir=result.out_dir / "reports", scoring=scoring, calendar=app.calendar,
        renderer=app.renderer, rules=used)
    if "html" in report["files"]:
        result.reports.append(Path(report["files"]["html"]))
    result.reports.extend(Path(doc["html"]) for doc in report["criticism"].values() if "html" in doc)
    result.criticisms[day] = [entry["unit"] for entry in report["criticised"]]
    for entry in report["criticised"]:
        result.criticised[entry["unit"]] += 1
    for entry in report["praised"]:
        result.praised[entry["unit"]] += 1


def _stats(app, result: DemoResult) -> Any:
    """Letters and criticisms per unit over the replay, read from the demo's database (and kept in stats.json)."""
    import json

    from duban.workflows.letter_stats_service import letter_stats

    stats = letter_stats(app.engine, criticisms=result.criticisms, calendar=app.calendar)
    (result.out_dir / "stats.json").write_text(json.dumps(stats.to_json(), ensure_ascii=False, indent=1) + "\n",
                                               encoding="utf-8")
    return stats


def escalation_levels(engine) -> dict[int, int]:
    """Escalations written, by level, read back from the demo's database."""
    import sqlalchemy as sa

    from duban.store.tables import NoticeRow

    with engine.connect() as conn:
        return dict(conn.execute(sa.select(NoticeRow.level, sa.func.count()).where(NoticeRow.kind == "escalation")
                                 .group_by(NoticeRow.level)).all())


def _write_index(out_dir: Path, result: DemoResult) -> None:
    weekly = sorted(p for p in result.reports if p.name.startswith("weekly-"))
    others = sorted(p for p in result.reports if not p.name.startswith("weekly-"))
    rows = "\n".join(f'<li><a href="reports/{html.escape(p.name)}">{html.escape(p.stem)}</a></li>' for p in weekly)
    extra = "\n".join(f'<li><a href="reports/{html.escape(p.name)}">{html.escape(p.stem)}</a></li>' for p in others)
    kinds = "".join(f"<tr><td>{html.escape(k)}</td><td>{v}</td></tr>" for k, v in sorted(result.notices.items()))
    page = f"""<!doctype html><html lang="zh-Hans"><head><meta charset="utf-8"><title>duban demo — 周通報</title>
<style>body{{font-family:'Noto Serif CJK SC','SimSun',serif;max-width:860px;margin:2em auto;color:#111}}
h1{{color:#b00000;border-bottom:3px double #b00000;padding-bottom:.3em}}td,th{{border:1px solid #999;padding:.2em .6em}}
table{{border-collapse:collapse}}li{{margin:.15em 0}}</style></head><body>
<h1>全區扶貧攻堅 督辦演示（2015年7月—2016年12月）</h1>
<p>{result.sweeps} sweeps · {sum(result.notices.values())} notices · {result.messages} messages delivered to the local sink
({html.escape(str(out_dir / 'mail'))}) · {result.held} recipients held (no address) · {result.undeliverable} undeliverable</p>
<table><tr><th>notice kind</th><th>count</th></tr>{kinds}</table>
<h2>周通報 ({len(weekly)})</h2><ol>{rows}</ol>
{f'<h2>通報批評 / 表揚</h2><ul>{extra}</ul>' if extra else ''}
</body></html>
"""
    (out_dir / "index.html").write_text(page, encoding="utf-8")
