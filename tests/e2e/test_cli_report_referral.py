"""Criticism that runs too long goes to the leadership group, as a user meets it through `duban report weekly`.

Repeating the same 通报批评 every week for months while nobody above the unit is told is noise: with
``criticism.max_weeks_running`` (8), a unit that met the criticism condition more than 8 weekly periods
running, and none of whose tasks has a level-3 escalation (the ladder's last level) by the report's day,
is listed under 提请领导小组研究 instead of being criticised again; once the escalation exists, it is
criticised as before. The streak is rebuilt from the stored facts (a pure function of plan, day and rules).

The small plan: 區甲 leads task 1, a quantity milestone in progress since the plan's start (2015-07-01),
and never reports: a report is first due in the window from 07-08, so it has missed two windows running —
the criticism condition — every Friday from 2015-07-24 on (week 1), 09-11 being week 8, 09-18 week 9.
Its task 2 was due 2015-08-14 and is never closed: a sweep of 10-09 escalates it to level 3.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from tests.e2e.test_cli import run

UNITS = """\
office:
  name: 辦公室
  emails: [office@example.org]
units:
  - {name: 區甲, emails: [a@example.org]}
  - {name: 區乙, emails: [b@example.org]}
officials:
  - {name: 劉儀, title: 區人民政府副區長, email: liu@example.org}
top_leader: {name: 張書記, title: 區委書記, email: top@example.org}
"""

PLAN = """\
plan:
  code: streak-2015
  title: 連續通報測試方案
  issuer: 辦公室
  start: 2015-07-01
  end: 2016-12-31
  timezone: Asia/Shanghai
directory: units.yaml
tasks:
  - {code: "1", title: 道路硬化, lead_officials: ["劉儀(區人民政府副區長)"], lead_unit: 區甲,
     deadline: 2015年底完成25個村}
  - {code: "2", title: 規劃編制, lead_unit: 區甲, deadline: 2015年8月14日}
  - {code: "3", title: 宣傳, lead_unit: 區乙, deadline: 2016年6月底}
"""


def _plan(tmp: Path, url: str) -> None:
    (tmp / "units.yaml").write_text(UNITS, encoding="utf-8")
    (tmp / "p.yaml").write_text(PLAN, encoding="utf-8")
    (tmp / "office").mkdir()
    _duban(tmp, url, ["matrix", "import", "p.yaml", "--as-of", "2015-07-01"])


def _duban(tmp: Path, url: str, args: list[str], *, check: bool = True):
    import os

    old = os.environ.get("DUBAN_CONFIG_DIR")
    os.environ["DUBAN_CONFIG_DIR"] = str(tmp / "office")
    try:
        return run(args, cwd=tmp, db_url=url, check=check)
    finally:
        if old is None:
            del os.environ["DUBAN_CONFIG_DIR"]
        else:
            os.environ["DUBAN_CONFIG_DIR"] = old


def _report(tmp: Path, url: str, day: str, *extra: str, out: str = "rep", formats: str = "md") -> dict:
    proc = _duban(tmp, url, ["report", "weekly", "--as-of", day, "--format", formats, "--out", out, "--json", *extra])
    return json.loads(proc.stdout)


def _docx_text(path: Path) -> str:
    with zipfile.ZipFile(path) as z:
        return z.read("word/document.xml").decode("utf-8")


def test_a_unit_criticised_more_than_8_weeks_running_without_level_3_is_referred(tmp_path: Path,
                                                                                   sqlite_url: str) -> None:
    _plan(tmp_path, sqlite_url)
    for day in ("2015-07-24", "2015-09-11"):  # weeks 1 and 8: criticised
        r = _report(tmp_path, sqlite_url, day)
        assert [c["unit"] for c in r["criticised"]] == ["區甲"], day
        assert r["referred"] == []
        md = (tmp_path / "rep" / f"weekly-{day}.md").read_text(encoding="utf-8")
        assert "提请领导小组研究" not in md
    for day, weeks in (("2015-09-18", 9), ("2015-09-25", 10)):
        r = _report(tmp_path, sqlite_url, day, formats="md,html,docx")
        assert r["criticised"] == [], day
        assert [(x["unit"], x["weeks"], x["since"]) for x in r["referred"]] == [("區甲", weeks, "2015-07-24")]
        assert r["referred"][0]["tasks"][0] == {"code": "1", "title": "道路硬化", "officials": ["劉儀(區人民政府副區長)"]}
        assert not (tmp_path / "rep" / f"criticism-区甲-{day}.html").exists()
        md = (tmp_path / "rep" / f"weekly-{day}.md").read_text(encoding="utf-8")
        section = md.split("（三）提请领导小组研究", 1)[1]
        assert f"区甲：自2015年7月24日当周起，已连续{weeks}周符合通报批评情形" in section
        assert "（1）1 道路硬化（牵头领导：刘仪（区人民政府副区长））。" in section and "（2）2 规划编制。" in section
        assert "请办公室提请领导小组研究" in section and "约谈" in section
        assert "（一）通报批评" in md and "本期无通报批评单位。" in md
        html = (tmp_path / "rep" / f"weekly-{day}.html").read_text(encoding="utf-8")
        assert "提请领导小组研究" in html and f"已连续{weeks}周" in html
        assert "提请领导小组研究" in _docx_text(tmp_path / "rep" / f"weekly-{day}.docx")
    hant = _report(tmp_path, sqlite_url, "2015-09-18", "--lang", "zh-Hant", out="hant", formats="md,html,docx")
    assert [x["unit"] for x in hant["referred"]] == ["區甲"]
    for suffix in ("md", "html"):
        text = (tmp_path / "hant" / f"weekly-2015-09-18.{suffix}").read_text(encoding="utf-8")
        assert "提請領導小組研究" in text and "區甲：自2015年7月24日當週起，已連續9周符合通報批評情形" in text
        assert "牽頭領導：劉儀（區人民政府副區長）" in text and "請辦公室提請領導小組研究" in text
    assert "提請領導小組研究" in _docx_text(tmp_path / "hant" / "weekly-2015-09-18.docx")
    en = _report(tmp_path, sqlite_url, "2015-09-18", "--lang", "en", out="en", formats="md,html,docx")
    assert [x["unit"] for x in en["referred"]] == ["區甲"]
    for suffix in ("md", "html"):
        text = (tmp_path / "en" / f"weekly-2015-09-18.{suffix}").read_text(encoding="utf-8")
        assert "Referred to the leadership group" in text and "9 weeks running" in text
    assert "Referred to the leadership group" in _docx_text(tmp_path / "en" / "weekly-2015-09-18.docx")


def test_once_the_level_3_escalation_exists_the_unit_is_criticised_again(tmp_path: Path, sqlite_url: str) -> None:
    _plan(tmp_path, sqlite_url)
    assert [x["unit"] for x in _report(tmp_path, sqlite_url, "2015-10-09")["referred"]] == ["區甲"]
    _duban(tmp_path, sqlite_url, ["sweep", "--as-of", "2015-10-09"])
    r = _report(tmp_path, sqlite_url, "2015-10-09", formats="md,html")
    assert r["referred"] == []
    assert [c["unit"] for c in r["criticised"]] == ["區甲"]
    html = (tmp_path / "rep" / "weekly-2015-10-09.html").read_text(encoding="utf-8")
    assert "提请领导小组研究" not in html
    assert (tmp_path / "rep" / "criticism-区甲-2015-10-09.html").exists()


def test_max_weeks_running_0_criticises_as_before_and_a_bad_value_is_refused(tmp_path: Path,
                                                                              sqlite_url: str) -> None:
    _plan(tmp_path, sqlite_url)
    (tmp_path / "office" / "scoring.yaml").write_text("criticism:\n  max_weeks_running: 0\n", encoding="utf-8")
    r = _report(tmp_path, sqlite_url, "2015-09-25")
    assert [c["unit"] for c in r["criticised"]] == ["區甲"] and r["referred"] == []
    (tmp_path / "office" / "scoring.yaml").write_text("criticism:\n  max_weeks_running: null\n", encoding="utf-8")
    assert _report(tmp_path, sqlite_url, "2015-09-25")["referred"] == []
    for bad, words in (("eight", "criticism.max_weeks_running: 'eight' is not a number"),
                       ("-1", "criticism.max_weeks_running: '-1' must be a number ≥ 0"),
                       ("2.5", "criticism.max_weeks_running: '2.5' is not a whole number")):
        (tmp_path / "office" / "scoring.yaml").write_text(f"criticism:\n  max_weeks_running: {bad}\n",
                                                          encoding="utf-8")
        proc = _duban(tmp_path, sqlite_url, ["report", "weekly", "--as-of", "2015-09-25", "--out", "bad"], check=False)
        assert proc.returncode != 0 and words in proc.stdout + proc.stderr, (bad, proc.stdout, proc.stderr)
        assert "scoring.yaml:2" in proc.stdout + proc.stderr
        assert "Traceback" not in proc.stderr
        assert not (tmp_path / "bad").exists()
