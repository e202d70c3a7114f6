"""`duban demo`: the whole thing in a minute — the district plan replayed from 2015-07-01 to 2016-12-31.

Everything happens in ./demo-out/ (its own SQLite database; the user's database is not touched):
the district plan (seed part 5) is imported, then day by day the sweep runs each working morning,
units report and close as scripted in the evening (most on time, a few late, one extension, and 區金融辦
never reports), the day's notices are delivered as digests to a local SMTP sink (aiosmtpd, loopback),
and every Friday the weekly circulation report is written. ``index.html`` links the reports.

Every other lead unit (``link_units``) answers through the signed link of its latest letter, as the link
page's POSTs do (``link_service.verify``, then ``acknowledge``, ``report``, ``request_closing``,
``request_extension``): it signs for each letter the evening it arrives, and asks to close
``REQUEST_BEFORE`` working days before the due date; the office reviews each request the next working day
(``closing_service``), returning the first one once with a reason (the unit asks again when the 退回 notice
arrives). A unit whose latest letter's link has expired answers on paper, as the other units do: the office
types it in (``reported_by="demo"``). The letters carry the links (``PUBLIC_URL``: the console the demo's
last line starts), signed with a fixed key kept in the demo's own database, so a replay's letters are alike.
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
OFFICE = "區扶貧開發領導小組辦公室"
PUBLIC_URL = "http://127.0.0.1:8000"  # where the demo's last line starts the console: the letters' links open there
LINK_KEY = "duban-demo-replay-link-key-not-a-secret"  # the demo database's link key: the same links every run
CLIENT = "demo"  # the client address a link use records (a replay has none)
REQUEST_BEFORE = 4  # link units ask to close this many working days before the due date
RETURN_REASON = "佐證材料缺少驗收報告蓋章頁，請補充後重新申請辦結"


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
    link_units: list[str] = field(default_factory=list)  # the units that answer through their letters' links
    by_link: Counter = field(default_factory=Counter)  # units' answers through their links (link.used), by action
    by_office: Counter = field(default_factory=Counter)  # answers on paper typed in by the office, by action
    closings: Counter = field(default_factory=Counter)  # closing requests the office decided: closed, returned
    stats: Any = None  # per unit: letters received and criticisms (workflows.letter_stats_service.LetterStats)




def _working_days_after(cal, day: dt.date, n: int) -> dt.date:
    return cal.add_working_days(day, n)


def link_units(plan, kinds: dict[str, str]) -> list[str]:
    """The units that answer through their links: of the plan's lead units that are departments (no group, no
    office; ``kinds``: unit name → kind) and report at all (not 區金融辦), in the plan's order, every other one
    from the second."""
    leads = list(dict.fromkeys(t.lead_unit for t in plan.tasks if t.code != NEVER))
    departments = [u for u in leads if kinds.get(u) not in ("group", "office")]
    return departments[1::2]


def _script(plan, cal, linked: frozenset[str] = frozenset()) -> dict[dt.date, list[tuple[str, str, int, Any]]]:
    """What each unit does, day by day: (action, task, milestone number, argument). A unit in ``linked`` asks
    to close (``request``) ``REQUEST_BEFORE`` working days before the due date, for the office to decide."""
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
            close = "request" if task.lead_unit in linked else "close"
            if task.code in LATE and number == 1:
                by_day[_working_days_after(cal, due, LATE[task.code])].append((close, task.code, number, None))
            elif close == "request":
                by_day[_working_days_after(cal, due, -REQUEST_BEFORE)].append((close, task.code, number, None))
            else:
                by_day[due - dt.timedelta(days=2)].append((close, task.code, number, None))
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
                    config_dir=out_dir / "config", outbox_dir=out_dir / "outbox", evidence_dir=out_dir / "evidence",
                    mail_from=f"{OFFICE} <office@example.org>", messages_per_minute=0, language=language,
                    public_url=PUBLIC_URL,
                    allow_replay_mail=True)  # a replay, mailed to the demo's own sink: nobody real
    result = DemoResult(out_dir=out_dir)
    try:
        _fix_link_key(app.engine)
        loaded, _ = import_file(app.engine, EXAMPLE_PLANS / "district-2015.yaml", PlanOptions(),
                                now=dt.datetime(2015, 7, 1, 8, tzinfo=TZ), actor="demo")
        result.link_units = link_units(loaded.plan, _unit_kinds(app.engine))
        units = Units(app, loaded.plan.code, frozenset(result.link_units), result)
        script = _script(loaded.plan, app.calendar, frozenset(result.link_units))
        lead = {t.code: t.lead_unit for t in loaded.plan.tasks}
        extensions: dict[tuple[str, int], int] = {}
        waiting = 0
        total = (END - START).days + 1
        day = START
        while day <= END:
            if app.calendar.is_working_day(day):
                sent = result.messages
                waiting = _morning(app, day, result, waiting or int(units.told))
                units.told = False
                if result.messages > sent:
                    units.mailed = day
                units.review(day)
            _evening(app, day, script.get(day, []) + units.again.pop(day, []), lead, extensions, units)
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
    """The sweep at 08:30, then delivery at 09:00 if there is anything to send (``waiting``: messages to retry, or
    notices the office's decisions wrote); returns messages waiting."""
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


def _evening(app, day: dt.date, actions: list, lead: dict[str, str], extensions: dict[tuple[str, int], int],
             units: Units) -> None:
    """What the units (and the office) do at 17:00, as the script says: the link units through their latest
    letter's link (signing for the letters that came that day first), the others on paper, typed in by the
    office."""
    from duban.workflows.extension_service import decide_extension, request_extension
    from duban.workflows.progress_service import close_item, report_progress

    evening = dt.datetime.combine(day, dt.time(17, 0), TZ)
    units.sign_for_letters(day, evening)
    for action, code, number, arg in actions:
        unit = lead[code]
        if action in ("report", "request", "again", "extend") and units.answer(unit, action, code, number, arg, evening):
            continue
        if action in ("close", "request", "again"):  # a link unit without a live link closes on paper, as the others do
            close_item(app.engine, task=code, unit=unit, now=evening, milestone=number,
                       evidence="已按要求完成，驗收材料已報送", closed_by="demo")
            units.result.by_office["close"] += 1
        elif action == "report":
            report_progress(app.engine, task=code, unit=unit, now=evening, milestone=number, done=arg,
                            note="月度進展", reported_by="demo")
            units.result.by_office["report"] += 1
        elif action == "extend":
            ext = request_extension(app.engine, task=code, unit=unit, now=evening, milestone=number,
                                    new_due=arg, reason="雨季施工受阻，申請延期", requested_by="demo")
            extensions[(code, number)] = ext["id"]
            units.result.by_office["extend"] += 1
        elif action == "approve":
            pending = extensions.get((code, number)) or units.extensions.get((code, number))
            assert pending is not None, f"no extension request of {code} to approve"
            decide_extension(app.engine, extension_id=pending, approve=True, now=evening, decided_by=OFFICE)


def _pdf(text: str) -> bytes:
    """A small, fixed PDF standing for a scanned 驗收材料 (the same bytes every run)."""
    return f"%PDF-1.4\n% duban demo evidence: {text}\n%%EOF\n".encode()


class Units:
    """The link units' side of the replay: each answers through the link of its latest letter (as its page's
    POSTs do: ``link_service.verify`` then the action), and the office decides their closing requests the
    next working day (the first one returned once with ``RETURN_REASON``)."""

    def __init__(self, app, plan: str, linked: frozenset[str], result: DemoResult) -> None:
        from duban.workflows.closing_service import evidence_store

        self.app, self.plan, self.linked, self.result = app, plan, linked, result
        self.store = evidence_store(app.settings)
        self.expire_days = app.policies.link_expire_days
        self.to_review: list[tuple[int, str, int]] = []  # closing requests waiting for the office: (id, task, number)
        self.again: dict[dt.date, list] = defaultdict(list)  # a returned request asked again: day -> actions
        self.extensions: dict[tuple[str, int], int] = {}
        self.returned = False
        self.told = False  # the office's decisions wrote notices for the next delivery
        self.mailed: dt.date | None = None  # the last day letters went out: no link is live long after it
        self.signed: dict[str, dt.date] = {}  # unit -> the day of the link it last signed for letters with

    def _link(self, unit: str, now: dt.datetime):
        """The unit's latest letter's link, verified as its page verifies it; None when it has expired (or the
        unit has had no letter yet): the unit then answers on paper."""
        from duban.workflows.link_service import LinkRefused, list_links, verify

        if self.mailed is None or (now.date() - self.mailed).days > self.expire_days:
            return None  # no letter went out within a link's life: nothing to look up
        rows = list_links(self.app.engine, unit=unit, plan=self.plan, now=now, expire_days=self.expire_days)
        if not rows or rows[0]["status"] != "valid":  # newest first
            return None
        try:
            return verify(self.app.engine, rows[0]["url"], now=now, expire_days=self.expire_days)  # the token
        except LinkRefused:
            return None

    def _item(self, link, now: dt.datetime, code: str, number: int) -> dict[str, Any] | None:
        from duban.workflows.link_service import page

        items = page(self.app.engine, link.token, now=now, expire_days=self.expire_days)["items"]
        return next((i for i in items if i["task"] == code and i["kind"] == "milestone" and i["milestone"] == number
                     and i["role"] in ("lead", "co_lead")), None)

    def sign_for_letters(self, day: dt.date, now: dt.datetime) -> None:
        """簽收: on a day letters went out, each link unit holding a live link signs for every notice waiting on its
        items (its page lists those addressed to it)."""
        from duban.workflows import link_service

        if self.mailed != day:
            return
        for unit in sorted(self.linked):
            link = self._link(unit, now)
            if link is None or self.signed.get(unit) == link.issued_on:
                continue  # no live link, or no letter since the unit last signed
            self.signed[unit] = link.issued_on
            for item in link_service.page(self.app.engine, link.token, now=now, expire_days=self.expire_days)["items"]:
                if item["notices"]:
                    link_service.acknowledge(self.app.engine, link, item["key"], now=now, client=CLIENT)
                    self.result.by_link["acknowledge"] += 1

    def answer(self, unit: str, action: str, code: str, number: int, arg: Any, now: dt.datetime) -> bool:
        """The unit's scripted action through its link; False when it is no link unit or holds no live link."""
        from duban.workflows import link_service

        if unit not in self.linked:
            return False
        link = self._link(unit, now)
        item = self._item(link, now, code, number) if link is not None else None
        if link is None or item is None:
            return False
        if action == "report":
            link_service.report(self.app.engine, link, item["key"], now=now, client=CLIENT, done=arg, note="月度進展")
            self.result.by_link["report"] += 1
        elif action == "extend":
            made = link_service.request_extension(self.app.engine, link, item["key"], now=now, client=CLIENT,
                                                  new_due=arg, reason="雨季施工受阻，申請延期")
            self.extensions[(code, number)] = made["id"]
            self.result.by_link["request_extension"] += 1
        else:
            files = [(f"{code}-驗收材料.pdf", _pdf(f"{code} milestone {number}"))]
            if action == "again":
                files.append((f"{code}-驗收報告蓋章頁.pdf", _pdf(f"{code} milestone {number}, signed and stamped")))
            made = link_service.request_closing(self.app.engine, link, item["key"], now=now, client=CLIENT,
                                                note="已按要求完成，驗收材料見附件", files=files, store=self.store)
            self.to_review.append((made["id"], code, number))
            self.result.by_link["request_closing"] += 1
        return True

    def review(self, day: dt.date) -> None:
        """The office at 10:00 decides the closing requests filed before today: closes each, but returns the
        replay's first one with a reason (its unit asks again the working day after, when the 退回 notice came)."""
        from duban.workflows import closing_service

        at = dt.datetime.combine(day, dt.time(10, 0), TZ)
        for request_id, code, number in self.to_review:
            if not self.returned:
                closing_service.return_request(self.app.engine, request_id=request_id, reason=RETURN_REASON, now=at,
                                               actor=OFFICE)
                self.returned = True
                self.result.closings["returned"] += 1
                self.again[self.app.calendar.add_working_days(day, 1)].append(("again", code, number, None))
            else:
                closing_service.close_request(self.app.engine, request_id=request_id, now=at, actor=OFFICE,
                                              note="複核通過，同意辦結")
                self.result.closings["closed"] += 1
            self.told = True
        self.to_review = []


def _fix_link_key(engine) -> None:
    """The demo database's link key, fixed (unless DUBAN_SECRET_KEY gives one): every run's letters carry the
    same links. A replay's key, for the demo's own database only."""
    from duban.store.db import transaction
    from duban.store.tables import SecretRow
    from duban.workflows.link_service import SECRET_NAME

    with transaction(engine) as session:
        session.add(SecretRow(name=SECRET_NAME, value=LINK_KEY))


def _unit_kinds(engine) -> dict[str, str]:
    import sqlalchemy as sa

    from duban.store.tables import UnitRow

    with engine.connect() as conn:
        return dict(conn.execute(sa.select(UnitRow.name, UnitRow.kind)).all())


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
    links = ", ".join(f"{action} {n}" for action, n in sorted(result.by_link.items()))
    page = f"""<!doctype html><html lang="zh-Hans"><head><meta charset="utf-8"><title>duban demo — 周通報</title>
<style>body{{font-family:'Noto Serif CJK SC','SimSun',serif;max-width:860px;margin:2em auto;color:#111}}
h1{{color:#b00000;border-bottom:3px double #b00000;padding-bottom:.3em}}td,th{{border:1px solid #999;padding:.2em .6em}}
table{{border-collapse:collapse}}li{{margin:.15em 0}}</style></head><body>
<h1>全區扶貧攻堅 督辦演示（2015年7月—2016年12月）</h1>
<p>{result.sweeps} sweeps · {sum(result.notices.values())} notices · {result.messages} messages delivered to the local sink
({html.escape(str(out_dir / 'mail'))}) · {result.held} recipients held (no address) · {result.undeliverable} undeliverable</p>
<table><tr><th>notice kind</th><th>count</th></tr>{kinds}</table>
<p>{sum(result.by_link.values())} answers through the units' signed links ({html.escape(links)}) ·
{sum(result.by_office.values())} answers on paper, typed in by the office · closing requests:
{result.closings.get('closed', 0)} closed, {result.closings.get('returned', 0)} returned ·
通報表揚 {sum(result.praised.values())} times ({len(result.praised)} units) · 通報批評 {sum(result.criticised.values())}
times ({len(result.criticised)} units)</p>
<p>Answering through their links: {html.escape('、'.join(result.link_units))}</p>
<h2>周通報 ({len(weekly)})</h2><ol>{rows}</ol>
{f'<h2>通報批評 / 表揚</h2><ul>{extra}</ul>' if extra else ''}
</body></html>
"""
    (out_dir / "index.html").write_text(page, encoding="utf-8")
