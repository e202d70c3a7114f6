"""Letters as a user meets them through the CLI: the day a reminder names (今日 / 明日（周六）), what a digest
is titled (提醒 / 催辦 / 督辦) and as of when, the level a previewed escalation reaches, and mail headers a
strict reader accepts (RFC 2047 words ≤ 75 characters, lines ≤ 78) however long the names."""

from __future__ import annotations

import csv
import email.parser
import email.policy
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.test_cli import ROOT, run
from tests.support import PLANS

DIRECTORY = """\
office:
  name: {office}
  emails: [office@example.org]
  head: {{title: 主任, email: office.head@example.org}}
units:
  - name: {unit}
    emails: [unit@example.org]
    head: {{title: 局長, email: unit.head@example.org}}
  - name: {support}
    emails: [support@example.org]
officials:
  - {{name: 林光, title: {title}, email: lin@example.org}}
"""


def sheet_plan(tmp_path: Path, *, deadline: str, title: str = "審計整改", unit: str = "區審計局",
               support: str = "區財政局", office: str = "區扶貧開發領導小組辦公室", official_title: str = "區人民政府副區長") -> list[str]:
    """A one-row CSV plan (lead unit, one supporting unit, one lead official) and its directory; the import options."""
    (tmp_path / "units.yaml").write_text(DIRECTORY.format(office=json.dumps(office, ensure_ascii=False),
                                                          unit=json.dumps(unit, ensure_ascii=False),
                                                          support=json.dumps(support, ensure_ascii=False),
                                                          title=json.dumps(official_title, ensure_ascii=False)),
                                         encoding="utf-8")
    with (tmp_path / "plan.csv").open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["code", "title", "target", "lead_officials", "lead_unit", "supporting_units", "deadline"])
        w.writerow(["1", title, "按期完成", "林光", unit, support, deadline])
    return [str(tmp_path / "plan.csv"), "--directory", str(tmp_path / "units.yaml")]


def eml_messages(folder: Path) -> list:
    """Every .eml in ``folder``, read by the strictest parser (any defect raises)."""
    strict = email.policy.strict.clone(utf8=True)
    return [email.parser.BytesParser(policy=strict).parsebytes(p.read_bytes()) for p in sorted(folder.glob("*.eml"))]


def body_text(msg) -> str:
    return msg.get_body(("plain",)).get_content()


# --------------------------------------------------------------------------------------------
# The day a reminder names


@pytest.mark.parametrize(("lang", "wanted"), [("zh-Hans", "明日（周六）到期"), ("zh-Hant", "明日（週六）到期"),
                                              ("en", "due tomorrow (Saturday)")])
def test_a_reminder_the_friday_before_a_saturday_due_says_tomorrow_saturday(tmp_path: Path, sqlite_url: str,
                                                                             lang: str, wanted: str) -> None:
    """Task 3.3 of the district plan is due 2016年底 = Saturday 2016-12-31. Its reminder on Friday 12-30
    said 今日到期 (no working day left); only the due day itself is 今日."""
    run(["matrix", "import", str(PLANS / "district-2015.yaml"), "--as-of", "2015-07-01"], cwd=tmp_path, db_url=sqlite_url)
    friday = run(["notices", "preview", "reminder", "--task", "3.3", "--as-of", "2016-12-30", "--lang", lang],
                 cwd=tmp_path, db_url=sqlite_url).stdout
    assert wanted in friday, friday
    assert "今日到期" not in friday and "due today" not in friday
    html = run(["notices", "preview", "reminder", "--task", "3.3", "--as-of", "2016-12-30", "--lang", lang, "--format", "html"],
               cwd=tmp_path, db_url=sqlite_url).stdout
    assert wanted in html
    if lang == "zh-Hans":
        thursday = run(["notices", "preview", "reminder", "--task", "3.3", "--as-of", "2016-12-29"],
                       cwd=tmp_path, db_url=sqlite_url).stdout
        assert "距完成时限还有1个工作日" in thursday and "到期" not in thursday.split("完成时限为2016年12月31日，", 1)[1][:6]
        saturday = run(["notices", "preview", "reminder", "--task", "3.3", "--as-of", "2016-12-31"],
                       cwd=tmp_path, db_url=sqlite_url).stdout
        assert "今日到期" in saturday and "明日" not in saturday


def test_a_delivered_reminder_only_digest_is_a_reminder_dated_its_sweep_day(tmp_path: Path, sqlite_url: str) -> None:
    """A replayed sweep for Friday 2016-12-30, delivered to .eml today: the lead unit's digest holds one
    reminder, so it is a 提醒 letter (subject and title), not 督办; it says 明日（周六）到期; its 截至 and
    subject date are the sweep's day, not the machine's."""
    opts = sheet_plan(tmp_path, deadline="2016年12月31日")
    run(["matrix", "import", *opts, "--as-of", "2016-12-01"], cwd=tmp_path, db_url=sqlite_url)
    run(["sweep", "--as-of", "2016-12-30"], cwd=tmp_path, db_url=sqlite_url)
    run(["deliver"], cwd=tmp_path, db_url=sqlite_url)
    mail = {m["To"].addresses[0].addr_spec: m for m in eml_messages(tmp_path / "var" / "outbox")}
    lead = mail["unit@example.org"]
    assert str(lead["Subject"]) == "【提醒】区审计局 待办事项 1 项（2016年12月30日）"
    text = body_text(lead)
    assert "到期事项提醒函" in text and "督办" not in text.split("\n\n", 3)[2]
    assert "明日（周六）到期" in text and "今日到期" not in text
    assert "截至2016年12月30日，以下1项工作即将到期" in text
    html = lead.get_body(("html",)).get_content()
    assert "到期事项提醒函</h1>" in html and "督办事项汇总通知" not in html


def duban(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    """``duban ARGS`` in ``tmp_path`` with these DUBAN_* settings (``language="en"`` → DUBAN_LANGUAGE=en)."""
    environ = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200",
               **{f"DUBAN_{k.upper()}": v for k, v in env.items()}}
    proc = subprocess.run([sys.executable, "-m", "duban.workflows.cli", *args], cwd=tmp_path, env=environ,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
    return proc


@pytest.mark.parametrize(("lang", "chase", "escalation"), [
    ("zh-Hans", ("【催办】", "催办事项汇总通知"), ("【督办】", "督办事项汇总通知")),
    ("zh-Hant", ("【催辦】", "催辦事項彙總通知"), ("【督辦】", "督辦事項彙總通知")),
    ("en", ("[Chase]", "Overdue items: chase notice"), ("[Supervision]", "Supervision items outstanding"))])
def test_digest_titles_follow_the_gravest_notice_in_every_language(tmp_path: Path, lang: str, chase: tuple[str, str],
                                                                   escalation: tuple[str, str]) -> None:
    """3 working days overdue: the lead unit's digest holds a chase only (催办), its head's the level-1
    escalation (督办)."""
    opts = sheet_plan(tmp_path, deadline="2016年11月30日")
    settings = {"database_url": f"sqlite:///{tmp_path / 'duban.db'}", "language": lang}
    duban(tmp_path, "matrix", "import", *opts, "--as-of", "2016-11-01", **settings)
    duban(tmp_path, "sweep", "--as-of", "2016-12-05", **settings)
    duban(tmp_path, "deliver", **settings)
    mail = {m["To"].addresses[0].addr_spec: (str(m["Subject"]), body_text(m))
            for m in eml_messages(tmp_path / "var" / "outbox")}
    for address, (tag, title) in (("unit@example.org", chase), ("unit.head@example.org", escalation)):
        subject, text = mail[address]
        assert subject.startswith(tag) and title in text, (address, subject, text[:300])


# --------------------------------------------------------------------------------------------
# The level a previewed escalation reaches


def test_preview_escalation_shows_the_level_the_day_reaches(tmp_path: Path, sqlite_url: str) -> None:
    """3.1 of the district plan is due 2015-07-10: on 07-28 it is 12 working days overdue (level 2 after 10),
    on 08-20 29 (level 3 after 20), on 07-13 1 (no level yet: level 1, and a note says so). ``--level``
    still forces a level."""
    run(["matrix", "import", str(PLANS / "district-2015.yaml"), "--as-of", "2015-07-01"], cwd=tmp_path, db_url=sqlite_url)

    def preview(*args: str):
        return run(["notices", "preview", "escalation", "--task", "3.1", *args], cwd=tmp_path, db_url=sqlite_url)

    level2 = preview("--as-of", "2015-07-28").stdout
    assert "橙色督办（二级）" in level2 and "已逾期12个工作日" in level2
    level3 = preview("--as-of", "2015-08-20").stdout
    assert "红色督办（三级）" in level3
    early = preview("--as-of", "2015-07-13")
    assert "蓝色督办（一级）" in early.stdout
    assert "not reached yet" in early.stderr and "level 1" in early.stderr and "after 3" in early.stderr
    forced = preview("--as-of", "2015-07-28", "--level", "1").stdout
    assert "蓝色督办（一级）" in forced
    assert "not reached" not in preview("--as-of", "2015-07-28").stderr


# --------------------------------------------------------------------------------------------
# Headers a strict reader accepts


ENCODED_WORD = re.compile(r"=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=")


def check_headers(raw: bytes) -> None:
    """Every physical header line ≤ 78 characters, every encoded word ≤ 75, and the strict parser reads
    every header without a defect."""
    head = raw.split(b"\r\n\r\n", 1)[0].decode("utf-8")
    for line in head.split("\r\n"):
        assert len(line) <= 78, line
        for word in ENCODED_WORD.findall(line):
            assert len(word) <= 75, word
    msg = email.parser.BytesParser(policy=email.policy.strict.clone(utf8=True)).parsebytes(raw)
    for name, value in msg.items():
        assert not getattr(value, "defects", ()), (name, value.defects)


LONG_TITLE = ("關於全面推進農村人居環境整治提升五年行動暨美麗鄉村建設示範片區打造" * 7)[:200]


@pytest.mark.parametrize("lang", ["zh-Hans", "zh-Hant"])
@pytest.mark.parametrize("mode", ["digest", "per_notice"])
def test_headers_of_a_200_character_title_and_long_names_are_folded_within_the_limits(
        tmp_path: Path, mode: str, lang: str) -> None:
    """A 200-character task title, unit and office names of 30–40 characters, a long official title and a
    Chinese sender name: every message's header lines stay ≤ 78 characters and its encoded words ≤ 75."""
    assert len(LONG_TITLE) == 200
    opts = sheet_plan(tmp_path, deadline="2016年11月30日", title=LONG_TITLE,
                      unit="區農業農村委員會鄉村振興和農村人居環境整治工作專班辦公室",
                      support="區住房和城鄉建設委員會村鎮建設與農房質量安全管理工作領導小組辦公室",
                      office="區全面推進鄉村振興和扶貧開發工作領導小組辦公室（區委農村工作領導小組辦公室）",
                      official_title="區委常委、區人民政府常務副區長兼區農業農村委員會黨組書記")
    settings = {"database_url": f"sqlite:///{tmp_path / 'duban.db'}", "delivery_mode": mode, "language": lang,
                "mail_from": "區全面推進鄉村振興和扶貧開發工作領導小組辦公室督查督辦系統 <duban@example.org>"}
    duban(tmp_path, "matrix", "import", *opts, "--as-of", "2016-11-01", **settings)
    duban(tmp_path, "sweep", "--as-of", "2016-12-28", **settings)  # 20 working days overdue: chase and levels 1–3
    duban(tmp_path, "deliver", **settings)
    files = sorted((tmp_path / "var" / "outbox").glob("*.eml"))
    assert len(files) >= 3  # the three escalation levels at least (a chase too, unless the series ended)
    for path in files:
        check_headers(path.read_bytes())
    subjects = [str(m["Subject"]) for m in eml_messages(tmp_path / "var" / "outbox")]
    if mode == "per_notice":
        title = LONG_TITLE if lang == "zh-Hant" else "关于全面推进农村人居环境整治提升五年行动"
        assert all(title in s for s in subjects), subjects
