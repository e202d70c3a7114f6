"""A fair, reproducible 通報, as a user meets it through `duban report weekly` and `duban rules`.

Reproducible: the scoring rules in force are versioned in the database, so the same plan, day and stored
rules give the same report wherever it runs (before, the demo's report for 2016-01-15 criticised 2 units
and the CLI's 12: the demo's scoring.yaml lived only in its folder). Fair: a unit is criticised for a
missed progress report only when one was actually due, and equal scores are broken, or shown as ties.

The small plan: 區甲 closed its 2015 milestone on 12-29 and its 2016 one began on 01-01; 區乙's only
milestone (a plan starting 2016-01-01) began on 01-01 and is due at the year's end; 區丙 reported on
12-20 on a milestone in progress since July, then went silent; 區丁 and 區戊 are overdue by 22 and 19
working days (both capped at 30 points: 70 each); 區庚 closed an item due in the period on time; 區己 and
區辛 had nothing to do. No sweep runs, so no item is escalated.
"""

from __future__ import annotations

import datetime as dt
import json
import zipfile
from pathlib import Path
from zoneinfo import ZoneInfo

from tests.e2e.test_cli import run

UNITS = """\
office:
  name: 辦公室
  emails: [office@example.org]
units:
""" + "".join(f"  - {{name: 區{u}, emails: [{k}@example.org]}}\n" for k, u in zip("abcdefgh", "甲乙丙丁戊己庚辛"))

PLAN = """\
plan:
  code: fair-2015
  title: 公平通報測試方案
  issuer: 辦公室
  start: 2015-07-01
  end: 2016-12-31
  timezone: Asia/Shanghai
directory: units.yaml
tasks:
  - {code: "1", title: 道路硬化, lead_unit: 區甲, deadline: 2015年底完成25個村、2016年底完成40個村}
  - {code: "2", title: 危房改造, lead_unit: 區丙, deadline: 2016年底完成40個村}
  - {code: "3", title: 規劃編制, lead_unit: 區丁, deadline: 2015年12月15日}
  - {code: "4", title: 資金撥付, lead_unit: 區戊, deadline: 2015年12月20日}
  - {code: "5", title: 培訓, lead_unit: 區庚, deadline: 2016年1月12日}
  - {code: "6", title: 宣傳, lead_unit: 區己, deadline: 2016年6月底}
  - {code: "7", title: 調研, lead_unit: 區辛, deadline: 2016年6月底}
"""

PLAN_2016 = """\
plan:
  code: fair-2016
  title: 公平通報測試方案二
  issuer: 辦公室
  start: 2016-01-01
  end: 2016-12-31
  timezone: Asia/Shanghai
directory: units.yaml
tasks:
  - {code: "1", title: 飲水工程, lead_unit: 區乙, deadline: 2016年底完成40個村}
"""

DEMO_LIKE = "# the units report monthly, as in the demo\nreports:\n  expected_every_days: 31\n"
AS_OF = "2016-01-15"


def _plan(tmp: Path, url: str, *, with_2016: bool) -> None:
    (tmp / "units.yaml").write_text(UNITS, encoding="utf-8")
    (tmp / "p1.yaml").write_text(PLAN, encoding="utf-8")
    run(["matrix", "import", "p1.yaml", "--as-of", "2015-07-01"], cwd=tmp, db_url=url)
    if with_2016:
        (tmp / "p2.yaml").write_text(PLAN_2016, encoding="utf-8")
        run(["matrix", "import", "p2.yaml", "--as-of", "2015-07-01"], cwd=tmp, db_url=url)
    for args in (["report", "1", "-u", "區甲", "--done", "20", "--as-of", "2015-12-01"],
                 ["close", "1", "-u", "區甲", "--evidence", "驗收", "--as-of", "2015-12-29"],
                 ["report", "2", "-u", "區丙", "--done", "10", "--as-of", "2015-12-20"],
                 ["close", "5", "-u", "區庚", "--evidence", "完成", "--as-of", "2016-01-11"]):
        run(["progress", *args, "-p", "fair-2015"], cwd=tmp, db_url=url)


def _duban(tmp: Path, url: str, args: list[str], *, config: str = "office", check: bool = True):
    import os

    old = os.environ.get("DUBAN_CONFIG_DIR")
    os.environ["DUBAN_CONFIG_DIR"] = str(tmp / config)
    try:
        return run(args, cwd=tmp, db_url=url, check=check)
    finally:
        if old is None:
            del os.environ["DUBAN_CONFIG_DIR"]
        else:
            os.environ["DUBAN_CONFIG_DIR"] = old


def _report(tmp: Path, url: str, *extra: str, config: str = "office", out: str = "rep") -> dict:
    proc = _duban(tmp, url, ["report", "weekly", "--as-of", AS_OF, "--format", "md,html,docx", "--out", out, "--json",
                             *extra], config=config)
    return json.loads(proc.stdout)


def _versions(tmp: Path, url: str, kind: str = "scoring") -> list[dict]:
    return json.loads(_duban(tmp, url, ["rules", "list", "--kind", kind, "--json"]).stdout)


def test_the_rules_in_force_are_stored_and_a_report_for_a_day_uses_them(tmp_path: Path, sqlite_url: str) -> None:
    _plan(tmp_path, sqlite_url, with_2016=False)
    demo = tmp_path / "demo"
    demo.mkdir()
    (demo / "scoring.yaml").write_text(DEMO_LIKE, encoding="utf-8")
    (tmp_path / "office").mkdir()  # no scoring.yaml of its own: the packaged defaults (weekly reports)
    today = dt.datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()

    # The demo-like folder's report stores its rules as version 1, in force from the report's day.
    first = _report(tmp_path, sqlite_url, config="demo", out="rep-demo")
    assert first["criticised"] == []
    v1 = _versions(tmp_path, sqlite_url)
    assert [(v["number"], v["from"]) for v in v1] == [(1, AS_OF)]
    assert first["rules"] == {"number": 1, "sha256": v1[0]["sha256"], "file": None, "from": AS_OF}
    md = (tmp_path / "rep-demo" / f"weekly-{AS_OF}.md").read_text(encoding="utf-8")
    footer = f"评分规则：第1版（sha256 前8位 {v1[0]['sha256'][:8]}，自{AS_OF}起施行）"
    assert footer in md
    assert footer in (tmp_path / "rep-demo" / f"weekly-{AS_OF}.html").read_text(encoding="utf-8")
    with zipfile.ZipFile(tmp_path / "rep-demo" / f"weekly-{AS_OF}.docx") as z:
        assert footer in z.read("word/document.xml").decode("utf-8")

    # Later, from the CLI with the packaged defaults, for the same day: the same criticisms, by version 1.
    # The new content is stored as version 2, in force from the machine's day (not rewriting the past).
    later = _report(tmp_path, sqlite_url)
    assert later["criticised"] == first["criticised"] and later["ranking"] == first["ranking"]
    assert later["rules"]["number"] == 1
    assert [(v["number"], v["from"]) for v in _versions(tmp_path, sqlite_url)] == [(1, AS_OF), (2, today)]

    # --rules FILE scores with that file, says so in the footer, and is not stored as in force.
    (tmp_path / "weekly.yaml").write_text("reports:\n  expected_every_days: 7\n", encoding="utf-8")
    given = _report(tmp_path, sqlite_url, "--rules", "weekly.yaml", out="rep-given")
    assert [c["unit"] for c in given["criticised"]] == ["區丙"]
    assert given["rules"]["number"] is None and given["rules"]["file"] == "weekly.yaml"
    assert "评分规则：本期按指定文件 weekly.yaml 评分" in (tmp_path / "rep-given" / f"weekly-{AS_OF}.md").read_text(
        encoding="utf-8")
    assert len(_versions(tmp_path, sqlite_url)) == 2

    # A stored version's content is a whole scoring file: shown, and given back, it scores the same.
    shown = _duban(tmp_path, sqlite_url, ["rules", "show", "1"]).stdout
    assert "expected_every_days: 31" in shown
    (tmp_path / "v1.yaml").write_text(shown, encoding="utf-8")
    assert _report(tmp_path, sqlite_url, "--rules", "v1.yaml", out="rep-v1")["criticised"] == []

    # Unchanged files store nothing, however often they run; a changed file stores one version, once.
    _report(tmp_path, sqlite_url)
    assert len(_versions(tmp_path, sqlite_url)) == 2
    (demo / "scoring.yaml").write_text(DEMO_LIKE.replace("31", "14"), encoding="utf-8")
    _report(tmp_path, sqlite_url, config="demo")
    _report(tmp_path, sqlite_url, config="demo")
    assert [v["number"] for v in _versions(tmp_path, sqlite_url)] == [1, 2, 3]


def test_the_footer_names_the_version_in_every_language(tmp_path: Path, sqlite_url: str) -> None:
    _plan(tmp_path, sqlite_url, with_2016=False)
    (tmp_path / "office").mkdir()
    sha = _report(tmp_path, sqlite_url, "--lang", "zh-Hant", out="hant")["rules"]["sha256"][:8]
    hant = (tmp_path / "hant" / f"weekly-{AS_OF}.md").read_text(encoding="utf-8")
    assert f"評分規則：第1版（sha256 前8位 {sha}，自{AS_OF}起施行）" in hant
    _report(tmp_path, sqlite_url, "--lang", "en", out="en")
    en = (tmp_path / "en" / f"weekly-{AS_OF}.md").read_text(encoding="utf-8")
    assert f"Scoring rules: version 1 (sha256 {sha}, in force from {AS_OF})" in en


def test_a_sweep_stores_the_policy_in_force_once(tmp_path: Path, sqlite_url: str) -> None:
    _plan(tmp_path, sqlite_url, with_2016=False)
    office = tmp_path / "office"
    office.mkdir()
    _duban(tmp_path, sqlite_url, ["sweep", "--as-of", "2016-01-04"])
    first = _versions(tmp_path, sqlite_url, "policy")
    assert [(v["number"], v["from"]) for v in first] == [(1, "2016-01-04")]
    (office / "policy.yaml").write_text("chase:\n  every_working_days: 5\n", encoding="utf-8")
    _duban(tmp_path, sqlite_url, ["sweep", "--as-of", "2016-01-05"])
    _duban(tmp_path, sqlite_url, ["sweep", "--as-of", "2016-01-06"])
    assert [v["number"] for v in _versions(tmp_path, sqlite_url, "policy")] == [1, 2]
    shown = _duban(tmp_path, sqlite_url, ["rules", "show", "2", "--kind", "policy"]).stdout
    assert "every_working_days: 5" in shown


def test_bad_rules_input_is_refused_clearly_and_changes_nothing(tmp_path: Path, sqlite_url: str) -> None:
    _plan(tmp_path, sqlite_url, with_2016=False)
    (tmp_path / "office").mkdir()
    (tmp_path / "bad.yaml").write_text("score:\n  bonus: 5\n", encoding="utf-8")
    for args, words in ((["report", "weekly", "--as-of", AS_OF, "--rules", "nosuch.yaml"], "--rules: no such file"),
                        (["report", "weekly", "--as-of", AS_OF, "--rules", "bad.yaml"], "unknown key score.'bonus'"),
                        (["rules", "show", "9"], "no scoring rules version 9"),
                        (["rules", "list", "--kind", "colour"], "rules kind 'colour'")):
        proc = _duban(tmp_path, sqlite_url, args, check=False)
        assert proc.returncode != 0 and words in proc.stdout + proc.stderr, (args, proc.stdout, proc.stderr)
        assert "Traceback" not in proc.stderr
    assert not (tmp_path / "var").exists()  # no report written


def test_criticism_is_fair_and_ties_are_broken_or_shown(tmp_path: Path, sqlite_url: str) -> None:
    _plan(tmp_path, sqlite_url, with_2016=True)
    (tmp_path / "office").mkdir()
    r = _report(tmp_path, sqlite_url)
    # 區甲 closed on 12-29 and its next milestone began on 01-01; 區乙's began on 01-01: neither had a
    # report actually due for two windows. 區丙, silent on a milestone in progress since July, is criticised.
    assert [(c["unit"], c["reasons"]) for c in r["criticised"]] == [("區丙", ["missed_reports"])]
    ranking = [(u["rank"], u["tied"], u["unit"], u["score"]) for u in r["ranking"]]
    assert ranking == [
        (1, False, "區庚", 100),  # met an item on time in the period
        (2, True, "區己", 100), (2, True, "區辛", 100),  # equal in everything: a tie, not name order
        (4, True, "區丙", 90), (4, True, "區乙", 90), (4, True, "區甲", 90),
        (7, False, "區戊", 70),  # 19 working days overdue
        (8, False, "區丁", 70),  # 22
    ]
    md = (tmp_path / "rep" / f"weekly-{AS_OF}.md").read_text(encoding="utf-8")
    assert "| 1 | 区庚 |" in md and "| 并列2 | 区己 |" in md and "| 并列2 | 区辛 |" in md and "| 7 | 区戊 |" in md
    assert "区丙（连续缺报进展；本期得分90分，并列第4名）" in md


def test_streaks_and_overdue_days_start_when_supervision_began(tmp_path: Path, sqlite_url: str) -> None:
    """A plan imported on 2016-01-11 (supervised from that day) is not criticised on 01-15 for the months of
    silence before it was supervised, and its overdue items count from 01-11; a report of a day before the
    import replays history as if the plan had been supervised from its start."""
    (tmp_path / "units.yaml").write_text(UNITS, encoding="utf-8")
    (tmp_path / "p1.yaml").write_text(PLAN, encoding="utf-8")
    (tmp_path / "office").mkdir()
    run(["matrix", "import", "p1.yaml", "--as-of", "2016-01-11"], cwd=tmp_path, db_url=sqlite_url)
    r = _report(tmp_path, sqlite_url)
    scores = {u["unit"]: u for u in r["ranking"]}
    assert r["criticised"] == []
    assert scores["區丙"]["lead"]["missing_reports"] == 0 and scores["區丙"]["score"] == 100
    # 區丁's item was due 2015-12-15: overdue 4 working days since 01-11 (12-16 … 01-10 were not supervised).
    assert (scores["區丁"]["lead"]["overdue_days"], scores["區丁"]["score"]) == (4, 92)
    replay = json.loads(_duban(tmp_path, sqlite_url, ["report", "weekly", "--as-of", "2016-01-08", "--format", "md",
                                                      "--out", "replay", "--json"]).stdout)
    units = {u["unit"]: u for u in replay["ranking"]}
    # Months without a report on tasks 1 and 2 (區甲's 2015 milestone also overdue since 12-31): more than
    # criticism.max_weeks_running (8) weeks running with no level-3 escalation (no sweep ran), so both are
    # referred to the leadership group rather than criticised again.
    assert replay["criticised"] == []
    assert sorted(x["unit"] for x in replay["referred"]) == ["區丙", "區甲"]
    assert all(x["weeks"] > 8 for x in replay["referred"])
    assert units["區丁"]["lead"]["overdue_days"] == 17  # from its due date
