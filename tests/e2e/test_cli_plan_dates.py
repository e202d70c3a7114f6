"""Plan dates, as a user meets them: where the start comes from, and dates that make no sense are warnings.

A sheet that gives no start (and no --start) is imported with a warning that supervision starts on the
import day; --start (or the sheet's own 填報時間 row) silences it. A start or deadline years from the base
year, or a deadline before the start, is a warning with the file and line — the plan still validates and
imports. A document dated 2100年7月14日 whose text speaks of 2011 (seed part 4) is extracted with a warning
naming line and date.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.test_cli import run
from tests.support import PLANS

SHEET = {
    "traditional": "序號,重點任務,牽頭單位,配合單位,完成時限\n1,道路硬化,區交委,區農委,2019年12月底前\n2,危房改造,區城鄉建委,,2020年6月底前\n",
    "simplified": "序号,重点任务,牵头单位,配合单位,完成时限\n1,道路硬化,区交委,区农委,2019年12月底前\n2,危房改造,区城乡建委,,2020年6月底前\n",
}


def _sheet(tmp_path: Path, script: str) -> Path:
    path = tmp_path / "任務分解表.csv"
    path.write_text(SHEET[script], encoding="utf-8")
    return path


@pytest.mark.parametrize("script", ["traditional", "simplified"])
def test_an_import_without_a_start_says_supervision_starts_on_the_import_day(tmp_path: Path, db_url: str,
                                                                             script: str) -> None:
    base = ["matrix", "import", str(_sheet(tmp_path, script)), "--directory", str(PLANS / "district-2015.units.yaml"),
            "--allow-new-units", "--plan", "county-2019"]
    out = run([*base, "--as-of", "2019-04-02", "--json"], cwd=tmp_path, db_url=db_url).stdout
    result = json.loads(out)
    (said,) = [w for w in result["warnings"] if "no start date" in w]
    assert "任務分解表.csv" in said and "supervision starts on 2019-04-02, the import day" in said and "--start" in said
    assert result["supervised_from"] == "2019-04-02"
    plans = json.loads(run(["plans", "--json"], cwd=tmp_path, db_url=db_url).stdout)
    assert [(p["code"], p["start"]) for p in plans] == [("county-2019", None)]
    # the same sheet with --start: the plan starts then, no warning; imported again without it, the stored start stays
    out = run([*base, "--as-of", "2019-04-03", "--start", "2019-03-01"], cwd=tmp_path, db_url=db_url).stdout
    assert "no start date" not in out
    out = run([*base, "--as-of", "2019-04-04"], cwd=tmp_path, db_url=db_url).stdout
    assert "no start date" not in out
    plans = json.loads(run(["plans", "--json"], cwd=tmp_path, db_url=db_url).stdout)
    assert plans[0]["start"] == "2019-03-01"


ODD_PLAN = """\
plan:
  code: odd-2011
  title: 四戶幫扶方案
  base_year: 2011
  start: 2100-07-14
tasks:
  - code: "1"
    title: 暑期看望
    lead_unit: 區扶貧辦
    deadline: 2011年8月底
  - code: "2"
    title: 年度總結
    lead_unit: 區扶貧辦
    deadline: 2011年12月底
"""


def test_dates_that_make_no_sense_are_warnings_with_the_line(tmp_path: Path, sqlite_url: str) -> None:
    plan = tmp_path / "odd.yaml"
    plan.write_text(ODD_PLAN, encoding="utf-8")
    units = ["--directory", str(PLANS / "district-2015.units.yaml")]
    proc = run(["matrix", "validate", str(plan), *units, "--json"], cwd=tmp_path, db_url=sqlite_url)
    warnings = json.loads(proc.stdout)["warnings"]
    assert any(w.startswith(f"{plan}:5: the plan's start 2100-07-14 is 89 years from its base year 2011") for w in warnings)
    assert any(w.startswith(f"{plan}:10: task 1: the deadline 2011年8月底 (2011-08-31) is before the plan starts")
               for w in warnings), warnings
    # never a refusal: the plan imports, warned; with the start fixed (2011-07-14) nothing is said
    out = run(["matrix", "import", str(plan), *units, "--as-of", "2011-07-14"], cwd=tmp_path, db_url=sqlite_url).stdout
    assert "89 years" in " ".join(out.split()) and "imported new plan" in out
    plan.write_text(ODD_PLAN.replace("2100-07-14", "2011-07-14").replace("2011年12月底", "2019年12月底"), encoding="utf-8")
    warnings = json.loads(run(["matrix", "validate", str(plan), *units, "--json"], cwd=tmp_path, db_url=sqlite_url).stdout)["warnings"]
    assert warnings == [f"{plan}:14: task 2: the deadline 2019年12月底 (2019-12-31) is 8 years from the plan's base "
                        "year 2011: check the year"]


DOCUMENT = {
    "traditional": "系黨支部扶貧工作方案\n2100年7月14日\n一、工作目標\n1.走訪貧困戶\n2011年6月29日，支部前往該村了解情況。\n"
                   "2.定期看望\n（牽頭單位：系黨支部；時間要求：2011年底前）\n",
    "simplified": "系党支部扶贫工作方案\n2100年7月14日\n一、工作目标\n1.走访贫困户\n2011年6月29日，支部前往该村了解情况。\n"
                  "2.定期看望\n（牵头单位：系党支部；时间要求：2011年底前）\n",
}


@pytest.mark.parametrize("script", ["traditional", "simplified"])
def test_extract_warns_about_a_document_date_years_from_its_text(tmp_path: Path, sqlite_url: str, script: str) -> None:
    doc = tmp_path / "plan.txt"
    doc.write_text(DOCUMENT[script], encoding="utf-8")
    proc = run(["matrix", "extract", str(doc)], cwd=tmp_path, db_url=sqlite_url, check=False)
    assert proc.returncode in (0, 1) and "Traceback" not in proc.stderr
    assert f"{doc}:2: warning: the document's date 2100年7月14日 is 89 years from every other year the text names " \
           "(nearest: 2011)" in proc.stderr
    assert "# note: line 2: the document's date 2100年7月14日" in proc.stdout


def test_extract_of_seed_part_4_warns_about_2100_with_its_line(tmp_path: Path, sqlite_url: str, shared: Path) -> None:
    seed = shared / "seeds" / "000_60fd9141b206e91e.txt"
    proc = run(["matrix", "extract", str(seed), "--part", "4"], cwd=tmp_path, db_url=sqlite_url, check=False)
    assert f"{seed}:63: warning: the document's date 2100年7月14日 is 89 years" in proc.stderr
    assert "Traceback" not in proc.stderr
