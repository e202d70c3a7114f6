"""The unit directory through the CLI: "did you mean …?" for a unit nearly spelled, never a silent second
unit beside one nearly spelled, and the directory skeleton a plan's units give (`duban units template`)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from openpyxl import Workbook

from tests.e2e.test_cli import run

# A county office's own directory, as the office writes it (traditional script).
DIRECTORY = """\
office:
  name: 縣鄉村振興領導小組辦公室
  kind: office
  emails: [office@example.org]
units:
  - name: 區交委
    aliases: [區交通委員會]
    emails: [jiaowei@example.org]
  - name: 縣農業農村局
    head: {name: 王建國, title: 局長, email: wang.jianguo@example.org}
    emails: [nongye@example.org]
  - name: 縣財政局
    emails: [caizheng@example.org]
  - name: 縣民政局
    emails: [minzheng@example.org]
  - name: 各鄉鎮人民政府
    kind: group
    emails: [towns@example.org]
"""

HEADER_T = ["序號", "任務", "目標要求", "牽頭單位", "配合單位", "時間要求"]
HEADER_S = ["序号", "任务", "目标要求", "牵头单位", "配合单位", "时间要求"]


def write_sheet(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    """A 任務分解表 as offices lay it out: a title row, then the header, then one row per task."""
    wb = Workbook()
    ws = wb.active
    ws.append(["2026年鄉村振興重點任務分解表"])
    ws.append(header)
    for row in rows:
        ws.append(row)
    wb.save(path)
    return path


@pytest.fixture
def county(tmp_path: Path) -> Path:
    (tmp_path / "units.yaml").write_text(DIRECTORY, encoding="utf-8")
    return tmp_path


def validate(tmp: Path, db_url: str, plan: Path, *extra: str):
    return run(["matrix", "validate", str(plan), "--directory", str(tmp / "units.yaml"), "--plan", "county-2026",
                *extra], cwd=tmp, db_url=db_url, check=False)


@pytest.mark.parametrize("header,rows", [
    (HEADER_T, [["1", "農村公路", "新改建農村公路50公里", "區交通委", "縣財政局", "2026年11月底前"],
                ["2", "高標準農田", "建成高標準農田1萬畝", "縣農業農村", "各鄉鎮人民政府", "2026年12月底前"]]),
    (HEADER_S, [["1", "农村公路", "新改建农村公路50公里", "区交通委", "县财政局", "2026年11月底前"],
                ["2", "高标准农田", "建成高标准农田1万亩", "县农业农村", "各乡镇人民政府", "2026年12月底前"]]),
], ids=["traditional", "simplified"])
def test_an_unknown_unit_nearly_spelled_gets_did_you_mean(county: Path, sqlite_url: str, header, rows) -> None:
    plan = write_sheet(county / "plan.xlsx", header, rows)
    proc = validate(county, sqlite_url, plan)
    assert proc.returncode == 1
    out = proc.stdout + proc.stderr
    # 區交通委 (4 characters) is one edit from 區交委; 縣農業農村 (5) two edits from 縣農業農村局
    assert "row 3" in out and "did you mean 區交委?" in out
    assert "row 4" in out and "did you mean 縣農業農村局?" in out


def test_a_name_far_from_every_unit_gets_no_guess(county: Path, sqlite_url: str) -> None:
    plan = write_sheet(county / "plan.xlsx", HEADER_T, [
        ["1", "氣象服務", "建設自動氣象站10個", "縣氣象局", "", "2026年6月底前"]])
    proc = validate(county, sqlite_url, plan)
    out = proc.stdout + proc.stderr
    assert "縣氣象局" in out and "unknown unit" in out and "did you mean" not in out
    # 縣氣象局 and 縣財政局 are two edits apart: 4 characters allow one
    assert "縣財政局?" not in out


def test_allow_new_units_refuses_a_near_miss_of_a_known_unit_naming_both(county: Path, sqlite_url: str) -> None:
    plan = write_sheet(county / "plan.xlsx", HEADER_S, [
        ["1", "农村公路", "新改建农村公路50公里", "区交通委", "", "2026年11月底前"],
        ["2", "气象服务", "建设自动气象站10个", "县气象局", "", "2026年6月底前"],
    ])
    proc = validate(county, sqlite_url, plan, "--allow-new-units")
    assert proc.returncode == 1
    out = proc.stdout + proc.stderr
    assert "区交通委" in out and "near miss of 區交委" in out
    assert "县气象局" not in out  # far from every unit: added as asked
    # fixed as the hint says, the plan goes in with the one truly new unit
    plan = write_sheet(county / "plan.xlsx", HEADER_S, [
        ["1", "农村公路", "新改建农村公路50公里", "区交委", "", "2026年11月底前"],
        ["2", "气象服务", "建设自动气象站10个", "县气象局", "", "2026年6月底前"]])
    proc = validate(county, sqlite_url, plan, "--allow-new-units", "--json")
    assert proc.returncode == 0, proc.stdout
    assert json.loads(proc.stdout)["new_units"] == ["县气象局"]


def test_unit_option_nearly_spelled_gets_did_you_mean(county: Path, db_url: str) -> None:
    plan = write_sheet(county / "plan.xlsx", HEADER_T, [
        ["1", "農村公路", "新改建農村公路50公里", "區交委", "縣財政局", "2026年11月底前"]])
    run(["matrix", "import", str(plan), "--directory", str(county / "units.yaml"), "--plan", "county-2026",
         "--as-of", "2026-03-01"], cwd=county, db_url=db_url)
    proc = run(["matrix", "show", "--unit", "区交通委"], cwd=county, db_url=db_url, check=False)
    assert proc.returncode != 0
    assert "did you mean 區交委?" in proc.stdout + proc.stderr


# --------------------------------------------------------------------------------------------
# duban units template


def plan_with_new_units(tmp: Path, header: list[str]) -> Path:
    """A county sheet naming units the office's directory lacks, one of them in two scripts."""
    return write_sheet(tmp / "plan.xlsx", header, [
        ["1", "農村公路", "新改建農村公路50公里", "區交委", "縣財政局、各鄉鎮人民政府", "2026年11月底前"],
        ["2", "人居環境", "完成農村戶廁改造3000戶", "縣住建局", "縣衛健局、縣財政局", "2026年12月底前"],
        ["3", "養老服務", "建成村級互助養老服務站20個", "县民政局", "县卫健局", "2026年12月底前"],
        ["4", "氣象服務", "建設自動氣象站10個", "縣氣象局", "", "2026年6月底前"],
    ])


def test_template_lists_every_unit_with_what_the_database_knows(county: Path, db_url: str) -> None:
    import yaml

    known = write_sheet(county / "known.xlsx", HEADER_T, [
        ["1", "農田", "建成高標準農田1萬畝", "縣農業農村局", "縣財政局", "2026年12月底前"]])
    run(["matrix", "import", str(known), "--directory", str(county / "units.yaml"), "--plan", "farmland",
         "--as-of", "2026-03-01"], cwd=county, db_url=db_url)
    plan = plan_with_new_units(county, HEADER_T)
    proc = run(["units", "template", str(plan)], cwd=county, db_url=db_url)
    doc = yaml.safe_load(proc.stdout)
    units = {u["name"]: u for u in doc["units"]}
    # in order of first mention; 县民政局 and 縣民政局 are one unit, spelled as the directory does
    assert list(units) == ["區交委", "縣財政局", "各鄉鎮人民政府", "縣住建局", "縣衛健局", "縣民政局", "縣氣象局"]
    assert units["區交委"]["aliases"] == ["區交通委員會"] and units["區交委"]["emails"] == ["jiaowei@example.org"]
    assert units["各鄉鎮人民政府"]["kind"] == "group"
    assert units["縣住建局"] == {"name": "縣住建局", "kind": "department", "head": {"name": "", "title": "", "email": ""},
                              "emails": []}
    assert "縣農業農村局" not in units  # known, but this plan does not name it
    assert doc["office"]["name"] == "縣鄉村振興領導小組辦公室"
    assert "縣住建局、縣衛健局、縣氣象局" in proc.stdout  # the comment naming the new ones
    # filled in as it is, the template is a directory the plan validates against
    (county / "template.yaml").write_text(proc.stdout, encoding="utf-8")
    out = run(["matrix", "validate", str(plan), "--directory", str(county / "template.yaml"), "--plan", "county",
               "--offline"], cwd=county, db_url=db_url).stdout
    assert "4 tasks" in out


def test_template_as_csv_reads_back_as_a_directory_and_escapes_formulas(county: Path, sqlite_url: str) -> None:
    plan = plan_with_new_units(county, HEADER_S)
    run(["units", "template", str(plan), "--directory", str(county / "units.yaml"), "-o", str(county / "dir.csv")],
        cwd=county, db_url=sqlite_url)
    text = (county / "dir.csv").read_text(encoding="utf-8-sig")
    assert text.splitlines()[0] == "單位,別名,類型,負責人,職務,負責人郵箱,郵箱,所屬"
    assert "區交委,區交通委員會,department,,,,jiaowei@example.org," in text
    out = run(["matrix", "validate", str(plan), "--directory", str(county / "dir.csv"), "--plan", "county",
               "--offline"], cwd=county, db_url=sqlite_url).stdout
    assert "4 tasks" in out
    # a cell a spreadsheet would run as a formula is written as text
    bad = county / "bad.csv"
    with bad.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows([HEADER_S, ["1", "公路", "新改建农村公路", '=HYPERLINK("http://x.example","交委")',
                                            "-2+3", "2026年11月底前"]])
    proc = run(["units", "template", str(bad), "--format", "csv", "--offline"], cwd=county, db_url=sqlite_url)
    assert "'=HYPERLINK" in proc.stdout and "\n'-2+3," in proc.stdout
    assert "\n=" not in proc.stdout and "\n-" not in proc.stdout


# The units of tests/fixtures/table_plans.py's Word table, in order of first mention (縣財政局, 縣民政局,
# 各鄉鎮人民政府, 縣農業農村局 are in the office's directory, spelled as it spells them whatever the plan's script).
TABLE_UNITS = ["縣鄉村振興局", "各鄉鎮人民政府", "縣民政局", "縣醫保局", "縣殘聯", "縣農業農村局", "縣財政局",
               "縣交通運輸局", "縣水務局", "縣住房和城鄉建設局", "縣衛生健康局", "縣自然資源局"]
KNOWN = ("縣財政局", "縣民政局", "各鄉鎮人民政府", "縣農業農村局")


@pytest.mark.parametrize(("script", "kind"), [("traditional", "docx"), ("simplified", "docx"), ("simplified", "txt"),
                                              ("traditional", "txt")])
def test_template_straight_from_a_word_plan(county: Path, sqlite_url: str, script: str, kind: str) -> None:
    """An office makes its directory skeleton from the plan document itself: read as `matrix extract` reads it."""
    import yaml

    from tests.fixtures.table_plans import pasted_text, to_simplified, write_docx

    plan = county / f"方案.{kind}"
    if kind == "docx":
        write_docx(plan, script)
    else:
        plan.write_text(pasted_text(script), encoding="utf-8")
    proc = run(["units", "template", str(plan), "--directory", str(county / "units.yaml"), "--offline"],
               cwd=county, db_url=sqlite_url)
    doc = yaml.safe_load(proc.stdout)
    units = {u["name"]: u for u in doc["units"]}
    expected = [u if u in KNOWN or script == "traditional" else to_simplified(u) for u in TABLE_UNITS]
    assert list(units) == expected
    assert units["縣財政局"]["emails"] == ["caizheng@example.org"] and units["各鄉鎮人民政府"]["kind"] == "group"
    assert f"{len(TABLE_UNITS)} units, {len(TABLE_UNITS) - len(KNOWN)} not yet known" in proc.stderr
    # as a sheet too
    run(["units", "template", str(plan), "--offline", "-o", str(county / "dir.xlsx")], cwd=county, db_url=sqlite_url)
    assert (county / "dir.xlsx").stat().st_size > 0


def test_template_of_a_document_without_a_matrix_is_refused_by_name(county: Path, sqlite_url: str) -> None:
    (county / "notice.txt").write_text("關於做好春節期間值班工作的通知\n各單位要嚴格落實值班制度。\n", encoding="utf-8")
    proc = run(["units", "template", "notice.txt", "--offline"], cwd=county, db_url=sqlite_url, check=False)
    assert proc.returncode == 2 and "notice.txt: the plan has no tasks" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_units_lists_as_before_and_as_units_list(county: Path, sqlite_url: str) -> None:
    plan = write_sheet(county / "plan.xlsx", HEADER_T, [
        ["1", "農村公路", "新改建農村公路50公里", "區交委", "", "2026年11月底前"]])
    run(["matrix", "import", str(plan), "--directory", str(county / "units.yaml"), "--plan", "county-2026",
         "--as-of", "2026-03-01"], cwd=county, db_url=sqlite_url)
    listed = json.loads(run(["units", "--json"], cwd=county, db_url=sqlite_url).stdout)
    assert json.loads(run(["units", "list", "--json"], cwd=county, db_url=sqlite_url).stdout) == listed
    assert "區交委" in {u["name"] for u in listed}


# --------------------------------------------------------------------------------------------
# A group belongs to the plan whose directory defines it


def two_county_plans(tmp: Path) -> tuple[Path, Path]:
    """Two plans of one county, each with its own directory; both name 各鎮人民政府, at two addresses
    (the roads plan's towns report to the transport office's mailbox, the toilets plan's elsewhere)."""
    for code, mailbox in (("roads", "towns.roads@example.org"), ("toilets", "towns.toilets@example.org")):
        (tmp / f"{code}.units.yaml").write_text(f"""\
units:
  - {{name: 縣交通運輸局, emails: [jt@example.org]}}
  - {{name: 縣住建局, emails: [zj@example.org]}}
  - {{name: 各鎮人民政府, aliases: [各鎮], kind: group, emails: [{mailbox}]}}
""", encoding="utf-8")
    roads = write_sheet(tmp / "roads.xlsx", HEADER_T, [
        ["1", "農村公路", "新改建農村公路50公里", "各鎮人民政府", "縣交通運輸局", "2026年3月31日前"]])
    toilets = write_sheet(tmp / "toilets.xlsx", HEADER_S, [
        ["1", "户厕改造", "完成农村户厕改造3000户", "各镇人民政府", "县住建局", "2026年3月31日前"]])
    return roads, toilets


def test_two_plans_groups_of_one_name_keep_their_own_addresses(tmp_path: Path, db_url: str) -> None:
    import email
    import email.policy

    roads, toilets = two_county_plans(tmp_path)
    for plan in (roads, toilets):
        run(["matrix", "import", str(plan), "--directory", str(tmp_path / f"{plan.stem}.units.yaml"), "--plan", plan.stem,
             "--as-of", "2026-03-01"], cwd=tmp_path, db_url=db_url)
    listed = [u for u in json.loads(run(["units", "--json"], cwd=tmp_path, db_url=db_url).stdout) if u["name"] == "各鎮人民政府"]
    assert sorted((u["plan"], u["emails"][0]) for u in listed) == [
        ("roads", "towns.roads@example.org"), ("toilets", "towns.toilets@example.org")]
    assert len([u for u in json.loads(run(["units", "--json"], cwd=tmp_path, db_url=db_url).stdout)
                if u["name"] == "縣交通運輸局"]) == 1  # a named department stays one unit
    # --unit with a group name that two plans define asks whose; --plan says it
    proc = run(["matrix", "show", "--unit", "各镇人民政府"], cwd=tmp_path, db_url=db_url, check=False)
    assert proc.returncode != 0 and "roads" in proc.stdout + proc.stderr and "toilets" in proc.stdout + proc.stderr
    rows = json.loads(run(["matrix", "show", "--unit", "各鎮", "--plan", "toilets", "--json"], cwd=tmp_path, db_url=db_url).stdout)
    assert [(r["plan"], r["title"]) for r in rows] == [("toilets", "户厕改造")]
    # overdue: each plan's chase goes to its own towns' address, never the other plan's
    env_run = ["--as-of", "2026-04-10"]
    run(["sweep", *env_run], cwd=tmp_path, db_url=db_url)
    run(["deliver", *env_run], cwd=tmp_path, db_url=db_url)
    sent: dict[str, set[str]] = {}
    for eml in (tmp_path / "var" / "outbox").glob("*.eml"):
        msg = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
        body = next(p for p in msg.walk() if p.get_content_type() == "text/plain").get_content()
        for address in str(msg["To"]).split(","):
            sent.setdefault(address.strip().split("<")[-1].rstrip(">"), set()).add(
                "roads" if "農村公路" in body or "农村公路" in body else "toilets" if "户厕" in body or "戶廁" in body else "?")
    assert sent.get("towns.roads@example.org") == {"roads"}, sent
    assert sent.get("towns.toilets@example.org") == {"toilets"}, sent


def test_a_plan_naming_another_plans_group_is_told_whose_it_is(tmp_path: Path, sqlite_url: str) -> None:
    roads, _toilets = two_county_plans(tmp_path)
    run(["matrix", "import", str(roads), "--directory", str(tmp_path / "roads.units.yaml"), "--plan", "roads",
         "--as-of", "2026-03-01"], cwd=tmp_path, db_url=sqlite_url)
    water = write_sheet(tmp_path / "water.xlsx", HEADER_T, [
        ["1", "農村供水", "新建集中供水工程5處", "各鎮人民政府", "縣交通運輸局", "2026年6月底前"]])
    proc = run(["matrix", "validate", str(water), "--plan", "water"], cwd=tmp_path, db_url=sqlite_url, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1 and "各鎮人民政府 is a group of plan roads" in out
    assert "縣交通運輸局" not in out  # a named department is shared: known from the roads plan
    # the template: the roads plan's own group with its address; the water plan's a new group to fill in
    import yaml

    doc = yaml.safe_load(run(["units", "template", str(roads), "--plan", "roads"], cwd=tmp_path, db_url=sqlite_url).stdout)
    assert {u["name"]: u["emails"] for u in doc["units"]}["各鎮人民政府"] == ["towns.roads@example.org"]
    doc = yaml.safe_load(run(["units", "template", str(water), "--plan", "water"], cwd=tmp_path, db_url=sqlite_url).stdout)
    units = {u["name"]: u for u in doc["units"]}
    assert units["各鎮人民政府"]["emails"] == [] and units["各鎮人民政府"]["kind"] == "group"
    assert units["縣交通運輸局"]["emails"] == ["jt@example.org"]
