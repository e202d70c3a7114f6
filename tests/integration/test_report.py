"""The weekly circulation report on a replay of the district plan, December 2015 – Friday 22 January 2016.

The sweep runs every working day at 08:30 from 2015-12-01; units report and close at 17:00 as scripted:
most close their 2015 milestone on 12-28 and report weekly (Thursdays) on the 2016 one; 區交委 closes
late on 01-12 (before the period); 區水務局 closes 13 working days late on 01-20 (in the period, after
level 2); 區金融辦 never reports (and has no address in the directory: its notices are undeliverable);
區文化委 stops reporting after 01-07 (two weeks in a row); 區教委 misses only the last week. Delivery
runs every evening of the report's week. The report for 2016-01-22 (16 … 22 January) is checked section
by section, as a Word document read back by python-docx, byte for byte on a second run, as an email,
and as a page in headless Chromium (the screenshot is kept under tests/artifacts/).
"""

from __future__ import annotations

import datetime as dt
import email
import json
import re
import shutil
import subprocess
import uuid
from email import policy as email_policy
from pathlib import Path

import chinese_calendar
import pytest

from duban.config.settings import Settings
from duban.matrix.scoring import load_scoring
from duban.notifications.sink import loopback_smtp
from duban.workflows.delivery_service import deliver
from duban.workflows.matrix_service import PlanOptions, import_file
from duban.workflows.progress_service import close_item, report_progress
from duban.workflows.report_service import email_report, score_period, weekly_report
from duban.workflows.sweep_service import sweep
from tests.support import PG_SKIP, PLANS, POLICY, ROOT, SHANGHAI

D = dt.date
AS_OF = D(2016, 1, 22)
ARTIFACTS = ROOT / "tests" / "artifacts"
QUANTITY_TASKS = ["3.2.1", "3.2.2", "3.2.3", "3.2.4", "3.2.5", "3.2.6", "3.2.7", "3.2.8", "3.2.9", "3.2.10", "3.2.11",
                  "3.2.12", "3.2.13"]
THURSDAYS = [D(2016, 1, 7), D(2016, 1, 14), D(2016, 1, 21)]


def at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), SHANGHAI)


def script() -> list[tuple]:
    """(day, action, task, milestone number, quantity) — the units' side of the replay."""
    out: list[tuple] = [(D(2015, 7, 8), "close", "3.1", 1, None), (D(2015, 7, 28), "close", "3.5", 1, None)]
    for code in QUANTITY_TASKS:
        if code == "3.2.1":  # 區交委: reports as it goes, closes late before the period, then weekly on 2016
            out += [(D(2015, 12, 10), "report", code, 1, "10"), (D(2015, 12, 24), "report", code, 1, "18"),
                    (D(2016, 1, 12), "report", code, 1, "25"), (D(2016, 1, 14), "report", code, 2, "3"),
                    (D(2016, 1, 21), "report", code, 2, "6")]
        elif code == "3.2.2":  # 區水務局: 13 working days late, inside the period
            out.append((D(2016, 1, 20), "report", code, 1, "25"))
        elif code == "3.2.7":  # 區金融辦: never a word
            pass
        elif code == "3.2.11":  # 區文化委: one report on the 2016 milestone, then silence for two weeks
            out += [(D(2015, 12, 28), "report", code, 1, "25"), (D(2016, 1, 7), "report", code, 2, "2")]
        elif code == "3.2.9":  # 區教委: misses the report's own week only
            out += [(D(2015, 12, 28), "report", code, 1, "25")] + [(d, "report", code, 2, str(2 * k))
                                                                   for k, d in enumerate(THURSDAYS[:2], start=1)]
        else:
            out += [(D(2015, 12, 28), "report", code, 1, "25")] + [(d, "report", code, 2, str(2 * k))
                                                                   for k, d in enumerate(THURSDAYS, start=1)]
    for code in ("3.4.1", "3.4.2", "3.4.3", "3.4.4", "3.4.5", "3.4.6"):
        out.append((D(2015, 12, 28), "close", code, 1, None))
    return out


def _database(kind: str, tmp: Path):
    if kind == "sqlite":
        return f"sqlite:///{tmp / 'duban.db'}", None
    if PG_SKIP:
        pytest.skip(PG_SKIP)
    import psycopg

    from tests.support import PG_BASE

    schema = f"duban_{uuid.uuid4().hex[:12]}"
    with psycopg.connect("host=127.0.0.1 port=5432 dbname=test user=postgres", autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    return f"{PG_BASE}?options=-csearch_path%3D{schema}", schema


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def replayed(request, tmp_path_factory):
    from duban.store.db import open_database

    tmp = tmp_path_factory.mktemp(f"report-{request.param}")
    url, schema = _database(request.param, tmp)
    plans = tmp / "plans"
    shutil.copytree(PLANS, plans)
    units = plans / "district-2015.units.yaml"
    text = units.read_text(encoding="utf-8")
    assert "emails: [jinrong@example.org]" in text
    units.write_text(text.replace("emails: [jinrong@example.org]", "emails: []"), encoding="utf-8")
    engine = open_database(url)
    loaded, _ = import_file(engine, plans / "district-2015.yaml", PlanOptions(), now=at(D(2015, 7, 1), 8))
    lead = {t.code: t.lead_unit for t in loaded.plan.tasks}
    settings = Settings(outbox_dir=tmp / "outbox", config_dir=tmp / "config", language="zh-Hans",
                        mail_from="督辦系統 <duban@example.org>", smtp_url=None)
    by_day: dict[dt.date, list[tuple]] = {}
    for entry in script():
        by_day.setdefault(entry[0], []).append(entry)
    for day in sorted(d for d in by_day if d < D(2015, 12, 1)):
        _act(engine, by_day[day], lead)
    day = D(2015, 12, 1)
    while day <= AS_OF:
        if chinese_calendar.is_workday(day):
            sweep(engine, now=at(day, 8, 30), policies=POLICY)
        _act(engine, by_day.get(day, []), lead)
        if day >= D(2016, 1, 18) and chinese_calendar.is_workday(day):
            deliver(engine, now=at(day, 18), settings=settings)
        day += dt.timedelta(days=1)
    scoring_file = tmp / "scoring.yaml"
    # This module checks the criticism's scores, facts and notices week by week: criticism is not capped
    # here (max_weeks_running: 0). With the default cap the long-running units are referred to the
    # leadership group instead (test_the_command_line; tests/e2e/test_cli_report_referral.py).
    scoring_file.write_text("report:\n  recipients:\n    - {name: 區委督查室, email: ducha@example.org}\n"
                            "criticism:\n  max_weeks_running: 0\n", encoding="utf-8")
    scoring = load_scoring(ROOT / "config" / "scoring.yaml", scoring_file)
    report = weekly_report(engine, now=at(AS_OF, 18), policies=POLICY, settings=settings, out_dir=tmp / "out",
                           scoring=scoring)
    yield {"engine": engine, "report": report, "tmp": tmp, "settings": settings, "scoring": scoring,
           "kind": request.param}
    engine.dispose()
    if schema:
        import psycopg

        with psycopg.connect("host=127.0.0.1 port=5432 dbname=test user=postgres", autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def _act(engine, entries, lead) -> None:
    for day, action, code, number, quantity in entries:
        evening = at(day, 17)
        if action == "close":
            close_item(engine, task=code, unit=lead[code], now=evening, evidence="已完成,附驗收材料", milestone=number)
        else:
            report_progress(engine, task=code, unit=lead[code], now=evening, done=quantity, milestone=number,
                            note="按周報送")


# --------------------------------------------------------------------------------------------


def test_scores_criticism_and_praise(replayed) -> None:
    r = replayed["report"]
    assert r["period"] == {"start": "2016-01-16", "end": "2016-01-22"} and r["number"] == 30
    scores = {u["unit"]: u["score"] for u in r["ranking"]}
    assert scores["區金融辦"] == 55  # 15 working days × 2 = 30 (the cap), level 2: 5, no report: 10
    assert scores["區水務局"] == 69  # 13 working days × 2 = 26, level 2: 5 — closed late on 01-20
    assert scores["區文化委"] == 90 and scores["區教委"] == 90  # one missing report each
    assert scores["區交委"] == 100  # its late closing (01-12) is last week's fact
    assert r["ranking"][-1]["unit"] == "區金融辦" and r["ranking"][-1]["deducted"] == 45
    assert r["ranking"][-1]["lead"] == {"due": 0, "met_on_time": 0, "closed": 0, "overdue": 1, "overdue_days": 15,
                                        "max_level": 2, "missing_reports": 1, "late_reports": 0, "late_acks": 2}
    # (3 before delivery held notices to a unit with no address: its older held chase is now superseded by the
    # newest, never sent, and owes no acknowledgement)
    criticised = {c["unit"]: c for c in r["criticised"]}
    assert list(criticised) == ["區金融辦", "區水務局", "區文化委"]  # worst first
    assert criticised["區金融辦"]["reasons"] == ["level", "missed_reports"]
    assert criticised["區金融辦"]["facts"] == [
        "牽頭負責的第3.2.7項“金融扶貧”工作，2015年12月31日節點（2015年底完成25個村）逾期15個工作日仍未辦結，已予二級（橙色）督辦",
        "牽頭負責的第3.2.7項“金融扶貧”工作，本期未按要求報送進展（已連續28期未報送）",  # due from the first full week after 07-01
    ]
    assert criticised["區水務局"]["reasons"] == ["level"]
    assert criticised["區水務局"]["facts"] == [
        "牽頭負責的第3.2.2項“飲水安全”工作，2015年12月31日節點（2015年底完成25個村）逾期13個工作日後於2016年1月20日辦結，"
        "已予二級（橙色）督辦"]
    assert criticised["區文化委"]["reasons"] == ["missed_reports"]
    assert criticised["區文化委"]["facts"] == ["牽頭負責的第3.2.11項“文化”工作，本期未按要求報送進展（已連續2期未報送）"]
    # Praise: the three best-ranked with nothing overdue as lead or supporting unit and a report or closing this week.
    praised = [p["unit"] for p in r["praised"]]
    assert len(praised) == 3 and all(scores[u] == 100 for u in praised)
    supporters_of_overdue = {"區扶貧辦", "區發改委", "各鄉鎮人民政府", "街道辦事處"}  # 3.2.2 and 3.2.7 are overdue this week
    assert not supporters_of_overdue & set(praised) and "區交委" in praised
    assert all(p["facts"] and "按時報送進展" in p["facts"][0] for p in r["praised"])
    h = r["headline"]
    assert (h["tasks"], h["overdue_open"], h["overdue_open_last_week"], h["closed_late"], h["level2"],
            h["missing_reports"], h["due"]) == (23, 1, 2, 1, 1, 3, 0)
    # 3.1 and 3.5 closed; 3.2.7 red; the other 3.2.x and 3.4.x on track with their 2016 milestone; 3.3, 3.6 green.
    assert h["lights"] == {"red": 1, "yellow": 0, "green": 20, "closed": 2}


def test_chart_numbers_and_svg(replayed) -> None:
    from decimal import Decimal

    chart = replayed["report"]["model"].chart
    assert chart.measure == "村" and len(chart.task_codes) == 13  # the twelve 3.2.x tasks and 3.2.13 share 25 + 40 村
    assert chart.targets == ((D(2015, 12, 31), Decimal(25)), (D(2016, 12, 31), Decimal(65)))
    last = {p.end: p for p in chart.points[-4:]}
    # 12 first milestones closed (25 each) + second milestones 6 (3.2.1) + 2 (3.2.11) + 4 (3.2.9) + 8 × 6 = 360.
    assert last[AS_OF].mean == Decimal(360) / 13 and last[AS_OF].slowest == 0  # 3.2.7 has nothing
    assert [last[d].overdue for d in sorted(last)] == [3, 3, 2, 1]  # 01-01, 01-08, 01-15, 01-22
    assert all(p.overdue == 0 for p in chart.points if D(2015, 8, 7) <= p.end <= D(2015, 12, 25))
    svg = Path(replayed["report"]["files"]["svg"]).read_text(encoding="utf-8")
    assert svg.count("<polyline") == 3 and "目标25村" in svg and "目标65村" in svg and ">27.7<" in svg
    assert svg.count('fill="#a33a3a"/>') == 1 + sum(1 for p in chart.points if p.overdue)  # the legend's, then a bar a week


def test_change_in_rank_is_last_weeks_rank_minus_this_weeks(replayed) -> None:
    last = score_period(replayed["engine"], now=at(AS_OF - dt.timedelta(days=7), 18), scoring=replayed["scoring"]).ranks()
    moved = 0
    for u in replayed["report"]["ranking"]:
        expected = last[u["unit"]] - u["rank"] if u["unit"] in last else None
        assert u["change"] == expected, u
        moved += bool(expected)
    assert moved and last["區水務局"] > last["區文化委"]


def test_sections_of_the_html_report(replayed) -> None:
    files = replayed["report"]["files"]
    html = Path(files["html"]).read_text(encoding="utf-8")
    for heading in ("一、总体情况", "二、各项任务推进情况", "三、逾期事项", "四、单位得分排名", "五、通报批评与表扬", "六、通知送达异常"):
        assert heading in html
    assert "区扶贫开发领导小组办公室" in html and "第30期" in html and "《全区扶贫攻坚工作方案》推进情况周通报" in html
    assert html.count("<svg") == 1 and "目标25村" in html and "目标65村" in html
    assert "18/25" not in html  # 3.2.1's first milestone is closed: 25/25
    assert "6/40村" in html  # 3.2.1's second milestone: 6 of 40 reported on 01-21
    assert "逾期13个工作日" not in html or "1月20日逾期办结" in html
    assert "<td style=\"border:1px solid #8c8c8c;padding:6px 6px;vertical-align:top;text-align:left;\">区金融办</td>" in html
    assert "通讯录中无该单位电子邮箱" in html  # the undeliverable section, its reason in the report's language
    assert "抄送：区委督查室" in html
    assert "<style" not in html  # an email body: inline CSS only
    md = Path(files["md"]).read_text(encoding="utf-8")
    assert f"](weekly-{AS_OF}.svg)" in md and Path(files["svg"]).read_text().startswith("<svg")
    assert "| 3.2.7 | 金融扶贫 | 区金融办 |" in md


def test_docx_is_an_official_circulation_with_its_tables(replayed) -> None:
    from docx import Document

    r = replayed["report"]
    doc = Document(r["files"]["docx"])
    texts = [p.text for p in doc.paragraphs]
    assert texts[0] == "区扶贫开发领导小组办公室" and texts[1] == "第30期"
    assert "《全区扶贫攻坚工作方案》推进情况周通报" in texts and "（2016年1月16日至1月22日）" in texts
    assert texts[-1].startswith("区扶贫开发领导小组办公室") and texts[-1].endswith("2016年1月22日印发")
    tables = {"|".join(c.text for c in t.rows[0].cells): t for t in doc.tables}
    tasks = tables["编号|任务|牵头单位|时间节点与完成情况|状态"]
    assert len(tasks.rows) == 1 + 23
    assert [c.text for c in tasks.rows[0].cells] == ["编号", "任务", "牵头单位", "时间节点与完成情况", "状态"]
    row = next(r_ for r_ in tasks.rows if r_.cells[0].text == "3.2.7")
    assert row.cells[2].text == "区金融办" and row.cells[4].text == "逾期" and "逾期15个工作日" in row.cells[3].text
    overdue = tables["编号|任务|牵头单位|时间节点|逾期（工作日）|督办级别|办理情况"]
    assert [[c.text for c in r_.cells] for r_ in overdue.rows[1:]] == [
        ["3.2.7", "金融扶贫", "区金融办", "2015年12月31日（2015年底完成25个村）", "15", "二级（橙）", "未办结（0/25村）"],
        ["3.2.2", "饮水安全", "区水务局", "2015年12月31日（2015年底完成25个村）", "13", "二级（橙）", "1月20日逾期办结"]]
    ranking = tables["名次|单位|得分|较上期|牵头事项|配合事项|扣分明细"]
    assert len(ranking.rows) == 1 + len(r["ranking"])
    last = ranking.rows[-1].cells
    assert (last[1].text, last[2].text) == ("区金融办", "55") and "扣30分（封顶30分）" in last[6].text
    body = "\n".join(texts)
    for unit in ("区金融办", "区水务局", "区文化委"):
        assert unit in body
    assert "（一）通报批评" in texts and "（二）通报表扬" in texts
    assert doc.core_properties.created == dt.datetime(2016, 1, 22, tzinfo=dt.UTC) == doc.core_properties.modified
    assert doc.core_properties.revision == 1 and "python-docx" not in (doc.core_properties.comments or "")
    assert doc.sections[0].page_width == 11906 * 635  # A4, in EMU


def test_a_criticism_notice_per_criticised_unit(replayed) -> None:
    from docx import Document

    r = replayed["report"]
    assert set(r["criticism"]) == {"區金融辦", "區水務局", "區文化委"}
    paths = r["criticism"]["區金融辦"]
    assert Path(paths["docx"]).name == f"criticism-区金融办-{AS_OF}.docx"
    doc = Document(paths["docx"])
    texts = [p.text for p in doc.paragraphs]
    assert texts[0] == "区扶贫开发领导小组办公室" and texts[1] == "周通报〔2016〕30号之一"
    assert "关于对区金融办的通报批评" in texts
    assert any(t.startswith("（一）牵头负责的第3.2.7项“金融扶贫”工作") and "逾期15个工作日仍未办结" in t for t in texts)
    assert any("2016年1月29日前" in t for t in texts)  # rectify within 5 working days of 01-22
    html = Path(paths["html"]).read_text(encoding="utf-8")
    assert "关于对区金融办的通报批评" in html and "已连续28期未报送" in html and "2016年1月29日" in html


def test_same_database_and_day_give_the_same_bytes(replayed) -> None:
    again = weekly_report(replayed["engine"], now=at(AS_OF, 23, 59), policies=POLICY, settings=replayed["settings"],
                          out_dir=replayed["tmp"] / "again", scoring=replayed["scoring"])
    first = replayed["report"]
    names = sorted(Path(p).name for p in first["files"].values())
    assert names == [f"weekly-{AS_OF}.{x}" for x in ("docx", "html", "md", "svg")]
    for kind, path in first["files"].items():
        assert Path(path).read_bytes() == Path(again["files"][kind]).read_bytes(), kind
    for unit, paths in first["criticism"].items():
        for kind, path in paths.items():
            assert Path(path).read_bytes() == Path(again["criticism"][unit][kind]).read_bytes(), (unit, kind)


def test_the_report_is_mailed_once_with_the_docx_attached(replayed) -> None:
    r = replayed["report"]
    settings = replayed["settings"]
    sent = email_report(replayed["engine"], now=at(AS_OF, 18, 5), settings=settings, report=r, scoring=replayed["scoring"])
    assert sent["status"] == "sent" and sent["to"] == ["office@example.org", "office.head@example.org", "ducha@example.org"]
    msg = email.message_from_bytes(Path(sent["eml"]).read_bytes(), policy=email_policy.default)
    assert msg["Subject"] == "《全区扶贫攻坚工作方案》推进情况周通报 第30期（2016年1月16日至1月22日）"
    assert "区委督查室 <ducha@example.org>" in msg["To"]
    parts = {p.get_content_type(): p for p in msg.walk()}
    assert "推进情况周通报" in parts["text/html"].get_content() and "## 一、总体情况" in parts["text/plain"].get_content()
    attachment = parts["application/vnd.openxmlformats-officedocument.wordprocessingml.document"]
    assert attachment.get_filename() == f"weekly-{AS_OF}.docx"
    assert attachment.get_content() == Path(r["files"]["docx"]).read_bytes()
    again = email_report(replayed["engine"], now=at(AS_OF, 19), settings=settings, report=r, scoring=replayed["scoring"])
    assert again["status"] == "already" and again["message"] == sent["message"]


def test_the_command_line(replayed, tmp_path: Path, monkeypatch) -> None:
    if replayed["kind"] != "sqlite":
        pytest.skip("the command line is exercised once, on SQLite")
    import typer
    from typer.testing import CliRunner

    import duban.workflows.cli_common as cli_common
    from duban.workflows.cli_report import report_app

    app = typer.Typer()
    app.add_typer(report_app, name="report")
    monkeypatch.setenv("DUBAN_DATABASE_URL", str(replayed["engine"].url))
    monkeypatch.setenv("DUBAN_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setattr(cli_common._State, "app", None)
    out = CliRunner().invoke(app, ["report", "weekly", "--as-of", str(AS_OF), "--format", "md,docx", "--out",
                                   str(tmp_path / "cli"), "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    # The packaged rules cap criticism at 8 weeks running: 區金融辦 and 區水務局 have met the criticism
    # condition for months (no progress report since July) with no level-3 escalation yet, so they are
    # referred to the leadership group rather than criticised a twenty-somethingth time.
    assert sorted(data["files"]) == ["docx", "md", "svg"] and [c["unit"] for c in data["criticised"]] == ["區文化委"]
    assert sorted(x["unit"] for x in data["referred"]) == sorted(["區金融辦", "區水務局"])
    assert all(x["weeks"] > 8 for x in data["referred"]) and "區金融辦" not in data["criticism"]
    assert sorted(Path(p).name for p in data["criticism"]["區文化委"].values()) == [f"criticism-区文化委-{AS_OF}.docx"]
    bad = CliRunner().invoke(app, ["report", "weekly", "--as-of", str(AS_OF), "--format", "pdf"])
    assert bad.exit_code != 0 and "unknown format 'pdf'" in str(bad.exception)


def test_screenshot_in_headless_chromium(replayed) -> None:
    if replayed["kind"] != "sqlite":
        pytest.skip("one screenshot is enough")
    chromium = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    if chromium is None:
        pytest.skip("no /usr/bin/chromium on this machine (apt-get install chromium fonts-noto-cjk)")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    png = ARTIFACTS / f"weekly-report-{AS_OF}.png"
    png.unlink(missing_ok=True)
    html = Path(replayed["report"]["files"]["html"]).resolve()
    proc = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                           "--window-size=800,2400", f"--screenshot={png}", html.as_uri()],
                          capture_output=True, text=True, timeout=120)
    assert png.exists(), proc.stderr[-2000:]
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 50_000
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (800, 2400)


@pytest.mark.parametrize("language, words", [
    ("zh-Hant", ["《全區扶貧攻堅工作方案》推進情況周通報", "關於對區金融辦的通報批評", "區金融辦", "一、總體情況"]),
    ("en", ["Weekly progress report on “全區扶貧攻堅工作方案”", "1. Overview", "Criticised"]),
])
def test_other_languages(replayed, language: str, words: list[str]) -> None:
    from docx import Document

    if replayed["kind"] != "sqlite":
        pytest.skip("languages are rendered once, on SQLite")
    out = replayed["tmp"] / f"out-{language}"
    r = weekly_report(replayed["engine"], now=at(AS_OF, 18), policies=POLICY, settings=replayed["settings"], out_dir=out,
                      scoring=replayed["scoring"], language=language)
    html = Path(r["files"]["html"]).read_text(encoding="utf-8")
    notice = Path(r["criticism"]["區金融辦"]["html"]).read_text(encoding="utf-8")
    docx_text = "\n".join(p.text for p in Document(r["files"]["docx"]).paragraphs)
    for word in words:
        assert word in html + notice, word
    assert words[0] in docx_text
    if language == "zh-Hant":
        assert "区金融办" not in html and "推进" not in docx_text
    else:
        assert "As lead unit of task 3.2.7 “金融扶貧”" in html and "Overview" in docx_text


def test_the_report_goes_out_by_smtp(replayed, tmp_path: Path) -> None:
    from duban.notifications.sink import start_sink

    sink = start_sink("127.0.0.1", 0, tmp_path / "sink")
    port = sink.port
    try:
        settings = replayed["settings"].model_copy(update={"smtp_url": f"smtp://127.0.0.1:{port}",
                                                           "allow_replay_mail": True})  # a replay's sink
        sent = email_report(replayed["engine"], now=at(AS_OF, 18, 30), settings=settings, report=replayed["report"],
                            scoring=replayed["scoring"], recipients=[("區政府督查室", "zfducha@example.org")])
    finally:
        sink.stop()
    assert sent["status"] == "sent" and sent["target"] == f"smtp://127.0.0.1:{port}"
    assert sent["to"][-1] == "zfducha@example.org"  # a new recipient: a new message, not "already"
    received = sorted((tmp_path / "sink").glob("*.eml"))
    assert len(received) == 1
    raw = received[0].read_bytes()
    assert b"X-Envelope-To: zfducha@example.org" in raw and b"X-Envelope-To: ducha@example.org" in raw
    msg = email.message_from_bytes(raw, policy=email_policy.default)
    assert [p.get_filename() for p in msg.walk() if p.get_filename()] == [f"weekly-{AS_OF}.docx"]


def test_a_replayed_report_is_held_from_the_mail_server_until_replays_may_be_mailed(replayed, tmp_path: Path) -> None:
    """The weekly report of a replayed Friday (years before the machine's day) reaches a mail server only
    with DUBAN_ALLOW_REPLAY_MAIL, like a replayed sweep's notices: it waits in the outbox, held with the
    reason, and the next `deliver` that may mail replays sends it; an .eml outbox takes it at once."""
    from duban.notifications.sink import start_sink
    from duban.workflows.delivery_service import deliver, list_messages

    sink = start_sink("127.0.0.1", 0, tmp_path / "sink")
    try:
        settings = replayed["settings"].model_copy(update={"smtp_url": f"smtp://127.0.0.1:{sink.port}"})
        held = email_report(replayed["engine"], now=at(AS_OF, 18, 30), settings=settings, report=replayed["report"],
                            scoring=replayed["scoring"], recipients=[("區政府督查室", "held@example.org")])
        assert held["status"] == "held" and "replay" in held["reason"] and "DUBAN_ALLOW_REPLAY_MAIL" in held["reason"]
        deliver(replayed["engine"], now=at(AS_OF, 18, 35), settings=settings)  # still not allowed: still held
        assert not list((tmp_path / "sink").glob("*.eml"))
        shown = [m for m in list_messages(replayed["engine"]) if m["id"] == held["message"]]
        assert shown and shown[0]["status"] == "held" and "replay" in shown[0]["last_error"], shown

        allowed = settings.model_copy(update={"allow_replay_mail": True})
        deliver(replayed["engine"], now=at(AS_OF, 18, 40), settings=allowed)
    finally:
        sink.stop()
    received = list((tmp_path / "sink").glob("*.eml"))
    assert len(received) == 1 and b"held@example.org" in received[0].read_bytes()

    eml = email_report(replayed["engine"], now=at(AS_OF, 18, 45), settings=replayed["settings"],
                       report=replayed["report"], scoring=replayed["scoring"], recipients=[("區紀委", "eml@example.org")])
    assert eml["status"] == "sent" and eml["eml"], eml  # no SMTP: the .eml outbox always takes it

    # Queued alone (for `deliver` to send), a replay's report to a mail server is held too.
    from duban.workflows.report_service import queue_report

    queued = queue_report(replayed["engine"], now=at(AS_OF, 18, 50), settings=settings, report=replayed["report"],
                          scoring=replayed["scoring"], recipients=[("區審計局", "queued@example.org")])
    assert queued["status"] == "held" and "DUBAN_ALLOW_REPLAY_MAIL" in queued["reason"], queued


def test_behind_pace_is_said_in_whole_units(sqlite_url: str, tmp_path: Path) -> None:
    """A milestone behind its linear pace: "按进度应完成约21村，已完成12村", never "应完成21.3"."""
    from duban.store.db import open_database

    engine = open_database(sqlite_url)
    try:
        import_file(engine, PLANS / "district-2015.yaml", PlanOptions(), now=at(D(2015, 7, 1), 9))
        report_progress(engine, task="3.2.1", unit="區交委", now=at(D(2015, 11, 20), 17), done=12)
        sweep(engine, now=at(D(2015, 12, 4), 8, 30), policies=POLICY)
        settings = Settings(database_url=sqlite_url, config_dir=tmp_path / "cfg", outbox_dir=tmp_path / "outbox")
        report = weekly_report(engine, now=at(D(2015, 12, 4), 18), policies=POLICY, settings=settings,
                               out_dir=tmp_path / "out", formats=("md",))
    finally:
        engine.dispose()
    md = Path(report["files"]["md"]).read_text(encoding="utf-8")
    behind = re.findall(r"进度滞后（[^）]*）", md)
    assert "进度滞后（按进度应完成约21村，已完成12村）" in behind
    assert all(re.fullmatch(r"进度滞后（按进度应完成约\d+村，已完成\d+村）", b) for b in behind), behind


def test_a_replayed_report_waits_for_its_retry_on_the_real_clock(replayed) -> None:
    """A report mailed while replaying a past Friday, to a server that says "try later" (451), waits for its
    retry on the real clock, like every other message (issue 10, defect 18): with the replay's day as its
    retry time, the next live `deliver` would find it long due and send it again at once."""
    import sqlalchemy as sa

    from duban.store.db import transaction
    from duban.store.tables import MessageRow

    class Later:
        async def handle_DATA(self, server, session, envelope):  # noqa: N802
            return "451 4.3.0 try again later"

    controller = loopback_smtp(Later())
    port = controller.port
    before = dt.datetime.now(dt.UTC)
    try:
        settings = replayed["settings"].model_copy(update={"smtp_url": f"smtp://127.0.0.1:{port}",
                                                           "allow_replay_mail": True})
        queued = email_report(replayed["engine"], now=at(AS_OF, 18, 40), settings=settings, report=replayed["report"],
                              scoring=replayed["scoring"], recipients=[("區紀委", "later@example.org")])
    finally:
        controller.stop()
    assert queued["status"] == "queued" and "451" in queued["error"]
    with transaction(replayed["engine"]) as s:
        row = s.execute(sa.select(MessageRow).where(MessageRow.id == queued["message"])).scalar_one()
        retry_at, status, attempts = row.next_attempt_at, row.status, row.attempts
    if retry_at.tzinfo is None:  # SQLite keeps UTC without its zone
        retry_at = retry_at.replace(tzinfo=dt.UTC)
    assert status == "pending" and attempts == 1
    assert retry_at >= before + dt.timedelta(seconds=settings.retry_base_seconds) - dt.timedelta(seconds=1), retry_at


def test_a_queued_report_is_sent_by_deliver_like_any_message(replayed) -> None:
    """The weekly report only enqueues (``queue_report``): ``duban deliver`` sends it through the same
    claim, channel and outcome recording as the notices."""
    import sqlalchemy as sa

    from duban.store.db import transaction
    from duban.store.tables import MessageRow
    from duban.workflows.report_service import queue_report

    engine, settings = replayed["engine"], replayed["settings"]
    queued = queue_report(engine, now=at(AS_OF, 18, 50), settings=settings, report=replayed["report"],
                          scoring=replayed["scoring"], recipients=[("區審計局", "shenji@example.org")])
    assert queued["status"] == "pending" and queued["to"][-1] == "shenji@example.org"

    def state() -> tuple[str, int]:
        with transaction(engine) as s:
            row = s.execute(sa.select(MessageRow).where(MessageRow.id == queued["message"])).scalar_one()
            return row.status, row.attempts

    assert state() == ("pending", 0)
    result = deliver(engine, now=at(AS_OF, 19), settings=settings)
    assert result.sent >= 1 and state() == ("sent", 1)
    files = [p for p in Path(settings.outbox_dir).glob("*.eml") if queued["message_id"].encode() in p.read_bytes()]
    assert len(files) == 1
    msg = email.message_from_bytes(files[0].read_bytes(), policy=email_policy.default)
    assert [p.get_filename() for p in msg.walk() if p.get_filename()] == [f"weekly-{AS_OF}.docx"]
    again = queue_report(engine, now=at(AS_OF, 20), settings=settings, report=replayed["report"],
                         scoring=replayed["scoring"], recipients=[("區審計局", "shenji@example.org")])
    assert again["status"] == "already" and again["previous_status"] == "sent"
