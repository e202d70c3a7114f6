"""Obligations owed to each beneficiary, as a user meets them: `matrix import`, `sweep`, `status`, `progress`.

The branch plan (seed part 4) owes each of four households 每年不少於伍百元，其中春節不少於三百元，暑期不少於二百元:
one series per household, each with three obligations, each chased and reported on its own. A village
office's plan in simplified script lists its villages on a task (每村每季度…): one series per village.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.test_cli import run
from tests.support import PLANS

UNIT = "應用外語系黨支部"
HOUSEHOLDS = ["貧困戶之一", "貧困戶之二", "貧困戶之三", "貧困戶之四"]


def _import_branch(tmp_path: Path, url: str) -> None:
    run(["matrix", "import", str(PLANS / "branch-2011.yaml"), "--as-of", "2011-07-14"], cwd=tmp_path, db_url=url)


def _items(tmp_path: Path, url: str, day: str, code: str) -> list[dict]:
    rows = json.loads(run(["status", "--as-of", day, "--json"], cwd=tmp_path, db_url=url).stdout)
    return next(r for r in rows if r["code"] == code)["items"]


def test_a_sweep_after_the_spring_festival_chases_each_household(tmp_path: Path, db_url: str) -> None:
    _import_branch(tmp_path, db_url)
    # Every household's 暑期 (08-31) and year-end (12-31) series went overdue before; on 2012-02-06 the
    # four 春節 (2012-01-23) series are newly overdue: four chases, one per household, not one for all.
    run(["sweep", "--as-of", "2012-01-20"], cwd=tmp_path, db_url=db_url)
    run(["sweep", "--as-of", "2012-02-06"], cwd=tmp_path, db_url=db_url)
    outbox = json.loads(run(["outbox", "--json", "--kind", "chase", "--task", "2.1", "--since", "2012-02-06"],
                            cwd=tmp_path, db_url=db_url).stdout)
    spring = [n for n in outbox if n["due"] == "2012-01-23"]
    assert len(spring) == 4 and len({n["item"] for n in spring}) == 4
    items = _items(tmp_path, db_url, "2012-02-06", "2.1")
    assert len(items) == 12  # 4 households × (the year, 春節, 暑期)
    assert sorted(i["beneficiary"] for i in items if i["due"] == "2012-01-23") == sorted(HOUSEHOLDS)
    assert {(i["due"], i["min_amount"]) for i in items} == {("2011-08-31", 200), ("2011-12-31", 500), ("2012-01-23", 300)}
    table = run(["status", "--as-of", "2012-02-06"], cwd=tmp_path, db_url=db_url).stdout
    assert "貧困戶之三 0/300" in table
    letter = run(["notices", "preview", "chase", "-t", "2.1", "--as-of", "2012-02-06", "--lang", "zh-Hant"],
                 cwd=tmp_path, db_url=db_url).stdout
    assert "貧困戶之一：" in letter  # the letter names the household whose series it chases
    run(["report", "weekly", "--as-of", "2012-02-10"], cwd=tmp_path, db_url=db_url)
    weekly = (tmp_path / "var" / "reports" / "weekly-2012-02-10.md").read_text(encoding="utf-8")
    assert all(f"{h}：其中春节不少于三百元" in weekly for h in ("贫困户之一", "贫困户之二", "贫困户之三", "贫困户之四"))


def test_a_report_for_one_household_closes_only_its_period(tmp_path: Path, db_url: str) -> None:
    _import_branch(tmp_path, db_url)
    out = run(["progress", "report", "2.1", "--unit", UNIT, "--amount", "300", "--beneficiary", "贫困户之二",
               "--as-of", "2012-01-10"], cwd=tmp_path, db_url=db_url).stdout  # simplified script finds it too
    assert "300/300元 on 2.1 period 2011-07-14 for 貧困戶之二" in " ".join(out.split()) and "closed (辦結)" in out
    spring = {i["beneficiary"]: i for i in _items(tmp_path, db_url, "2012-01-20", "2.1") if i["due"] == "2012-01-23"}
    assert spring["貧困戶之二"]["light"] == "closed" and spring["貧困戶之二"]["done_amount"] == 300
    assert all(spring[h]["light"] != "closed" and spring[h]["done_amount"] is None for h in HOUSEHOLDS if h != "貧困戶之二")
    # 200 for household 4 in the summer: its 暑期 series, not another household's and not 春節's.
    summer = json.loads(run(["progress", "report", "2.1", "--unit", UNIT, "--amount", "200", "-b", "貧困戶之四",
                             "--as-of", "2011-08-20", "--json"], cwd=tmp_path, db_url=db_url).stdout)["item"]
    assert (summer["beneficiary"], summer["due"], summer["min_amount"], summer["closed"]) == ("貧困戶之四", "2011-08-31", 200, True)


def test_a_report_that_does_not_say_which_household_exits_2(tmp_path: Path, sqlite_url: str) -> None:
    _import_branch(tmp_path, sqlite_url)
    base = ["progress", "report", "2.1", "--unit", UNIT, "--amount", "300", "--as-of", "2012-01-10"]
    for extra, message in (([], "name the one this report is for with --beneficiary"),
                           (["--beneficiary", "貧困戶之九"], "貧困戶之九 is not a beneficiary of task 2.1 (貧困戶之一、")):
        proc = run([*base, *extra], cwd=tmp_path, db_url=sqlite_url, check=False)
        assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr
    proc = run(["progress", "report", "3.3", "--unit", UNIT, "--percent", "10", "-b", "貧困戶之一", "--as-of", "2012-01-10"],
               cwd=tmp_path, db_url=sqlite_url, check=False)
    assert proc.returncode == 2 and "milestones are not owed per beneficiary" in proc.stderr


VILLAGE_PLAN = """\
plan:
  code: villages-2019
  title: 驻村帮扶工作方案
  base_year: 2019
  start: 2019-01-01
  end: 2019-12-31
tasks:
  - code: "1"
    title: 走访各村困难群众
    lead_unit: 镇扶贫办
    beneficiaries: [东村, 西村]
    deadline: 每季度走访不少于2次
  - code: "2"
    title: 年底总结
    lead_unit: 镇扶贫办
    deadline: 2019年12月底
"""


def test_a_task_lists_its_villages_and_the_export_keeps_them(tmp_path: Path, db_url: str) -> None:
    plan = tmp_path / "villages.yaml"
    plan.write_text(VILLAGE_PLAN, encoding="utf-8")
    run(["matrix", "import", str(plan), "--allow-new-units", "--as-of", "2019-01-02"], cwd=tmp_path, db_url=db_url)
    items = _items(tmp_path, db_url, "2019-04-10", "1")
    assert [(i["due"], i["beneficiary"]) for i in items if i["due"] == "2019-03-31"] == [("2019-03-31", "东村"), ("2019-03-31", "西村")]
    exported = run(["matrix", "export", "--plan", "villages-2019", "--format", "yaml"], cwd=tmp_path, db_url=db_url).stdout
    assert "beneficiaries:\n  - 东村\n  - 西村" in exported
    again = tmp_path / "again.yaml"
    again.write_text(exported, encoding="utf-8")
    out = run(["matrix", "import", str(again), "--as-of", "2019-01-03"], cwd=tmp_path, db_url=db_url).stdout
    assert "no changes" in out  # the same series, the same beneficiaries


def test_a_beneficiary_listed_twice_is_a_problem_with_its_line(tmp_path: Path, sqlite_url: str) -> None:
    plan = tmp_path / "villages.yaml"
    plan.write_text(VILLAGE_PLAN.replace("[东村, 西村]", "[东村, 東村]"), encoding="utf-8")
    proc = run(["matrix", "validate", str(plan), "--allow-new-units"], cwd=tmp_path, db_url=sqlite_url, check=False)
    assert proc.returncode != 0 and "villages.yaml:11" in proc.stdout + proc.stderr
    assert "listed twice" in proc.stdout + proc.stderr


def test_a_returned_sheet_and_an_extension_name_the_household(tmp_path: Path, sqlite_url: str) -> None:
    _import_branch(tmp_path, sqlite_url)
    sheet = tmp_path / "回执.csv"  # the sheet the branch sends back, simplified script, a 户名 column
    sheet.write_bytes("编号,单位,户名,金额,进展情况,报送日期\n2.1,应用外语系党支部,贫困户之三,300,春节慰问金,2012-01-12\n"
                      "2.1,应用外语系党支部,贫困户之一,100,第一批,2012-01-12\n".encode("gbk"))
    run(["progress", "import", str(sheet), "--as-of", "2012-01-12"], cwd=tmp_path, db_url=sqlite_url)
    spring = {i["beneficiary"]: i for i in _items(tmp_path, sqlite_url, "2012-01-12", "2.1") if i["due"] == "2012-01-23"}
    assert (spring["貧困戶之三"]["light"], spring["貧困戶之三"]["done_amount"]) == ("closed", 300)
    assert spring["貧困戶之一"]["done_amount"] == 100 and spring["貧困戶之一"]["light"] != "closed"
    assert spring["貧困戶之二"]["done_amount"] is None
    asked = json.loads(run(["extension", "request", "2.1", "--unit", UNIT, "--until", "2012-02-15", "--reason", "春節後發放",
                            "--beneficiary", "貧困戶之二", "--as-of", "2012-01-15", "--json"],
                           cwd=tmp_path, db_url=sqlite_url).stdout)
    assert asked["status"] == "pending" and asked["old_due"] == "2012-01-23", asked
