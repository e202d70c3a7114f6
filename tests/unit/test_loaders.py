"""Loading and validating plan files: YAML, CSV, XLSX, unit directories; every problem reported at once."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from duban.matrix.directory import load_directory, split_list
from duban.matrix.errors import SourceError, ValidationFailed
from duban.matrix.loaders import load_plan, parse_official
from duban.matrix.script import to_simplified
from duban.matrix.sources import decode_bytes, read_text

DIRECTORY = """\
office:
  name: 區扶貧開發領導小組辦公室
  emails: [office@example.org]
units:
  - name: 區扶貧辦
    aliases: [扶貧辦]
    emails: [fupin@example.org]
    member_of: [區級各部門]
  - name: 區交委
    emails: [jiaowei@example.org]
    member_of: [區級各部門]
  - name: 區紀委(監察局)
    emails: [jiwei@example.org]
  - name: 各鄉鎮人民政府
    kind: group
    emails: [townships@example.org]
  - name: 區級各部門
    kind: group
    emails: [bumen@example.org]
"""

PLAN = """\
plan:
  code: demo
  title: 演示方案
  base_year: 2015
  start: 2015-07-01
directory: units.yaml
tasks:
  - code: "1"
    title: 扶貧對象精準
    lead_officials: ["林光(區人民政府副區長)"]
    lead_unit: 區扶貧辦
    supporting_units: 各鄉鎮人民政府、區紀委（監察局）
    deadline: 2015年7月初
  - code: "2"
    title: 交通建設
    lead_officials: ["劉儀(區人民政府副區長)", "夏于峰(區委常委、區人民政府常務副區長)"]
    lead_unit: 区交委
    supporting_units: [扶贫办]
    deadline: 2015年底完成25個村、2016年底完成40個村
"""


def write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding=encoding)
    return p


@pytest.fixture
def plan_file(tmp_path: Path) -> Path:
    write(tmp_path, "units.yaml", DIRECTORY)
    return write(tmp_path, "plan.yaml", PLAN)


def test_yaml_plan_loads_with_units_resolved_across_scripts_and_aliases(plan_file: Path) -> None:
    loaded = load_plan(plan_file)
    plan = loaded.plan
    assert plan.code == "demo" and plan.base_year == 2015
    t1, t2 = plan.tasks
    assert t1.lead_unit == "區扶貧辦"
    assert t1.supporting_units == ("各鄉鎮人民政府", "區紀委(監察局)")  # full-width parentheses folded
    assert t1.milestones[0].due == dt.date(2015, 7, 10)
    assert t2.lead_unit == "區交委"  # written in simplified
    assert t2.supporting_units == ("區扶貧辦",)  # an alias, in simplified
    assert [(m.due, m.quantity, m.measure) for m in t2.milestones] == [
        (dt.date(2015, 12, 31), Decimal(25), "村"), (dt.date(2016, 12, 31), Decimal(40), "村")]
    assert [o.name for o in t2.lead_officials] == ["劉儀", "夏于峰"]
    assert t2.lead_officials[1].title == "區委常委、區人民政府常務副區長"
    assert t1.source.line == 8


def test_every_problem_is_reported_at_once_with_line_field_and_text(tmp_path: Path) -> None:
    write(tmp_path, "units.yaml", DIRECTORY)
    bad = write(tmp_path, "plan.yaml", """\
plan: {code: bad, title: 有問題的方案, base_year: 2015}
directory: units.yaml
tasks:
  - code: "1"
    title: 沒有牽頭單位
    deadline: 2015年底
  - code: "2"
    title: 未知單位
    lead_unit: 區不存在局
    deadline: 2015年底
  - code: "2"
    title: 重複編號
    lead_unit: 區交委
    deadline: 2015年底
  - code: "4"
    title: 讀不懂的時間
    lead_unit: 區交委
    deadline: 盡快完成
  - code: "5"
    title: 不可能的日期
    lead_unit: 區交委
    deadline: 2015年13月
  - code: "6"
    title: 拼錯的欄位
    lead_unit: 區交委
    lead_units: 區扶貧辦
    deadline: 2015年底
""")
    with pytest.raises(ValidationFailed) as info:
        load_plan(bad)
    problems = info.value.problems
    got = {(p.line, p.field) for p in problems}
    assert (4, "lead_unit") in got  # the record's line when the field is missing
    assert (9, "lead_unit") in got
    assert (11, "code") in got
    assert (18, "deadline") in got
    assert (22, "deadline") in got
    assert (26, "lead_units") in got
    assert len(problems) == 6
    by_field = {p.field: p for p in problems}
    assert by_field["lead_units"].message.startswith("unknown field")
    unknown = next(p for p in problems if p.line == 9)
    assert unknown.text == "區不存在局" and "--allow-new-units" in unknown.hint
    dup = next(p for p in problems if p.field == "code")
    assert "line 7" in dup.message
    assert "盡快完成" in str(next(p for p in problems if p.line == 18))
    assert "2015年13月" in str(next(p for p in problems if p.line == 22))
    assert str(problems[0]).startswith(f"{bad}:4: lead_unit")


def test_allow_new_units_adds_them_instead(tmp_path: Path) -> None:
    write(tmp_path, "units.yaml", DIRECTORY)
    p = write(tmp_path, "plan.yaml", PLAN.replace("lead_unit: 區扶貧辦", "lead_unit: 區新設局").replace(
        "supporting_units: [扶贫办]", "supporting_units: [各街道, 区新设局]"))
    loaded = load_plan(p, allow_new_units=True)
    assert [u.name for u in loaded.new_units] == ["區新設局", "各街道"]
    assert loaded.new_units[1].kind == "group"
    assert loaded.plan.tasks[1].supporting_units == ("各街道", "區新設局")  # one unit across scripts


@pytest.mark.parametrize("deadline", ["2026.6", "2026-06-30", "2026/6/30"])
def test_a_sheet_whose_deadlines_write_the_year_with_dots_or_dashes_has_its_base_year(tmp_path: Path, deadline: str) -> None:
    """A sheet has no header block: its base year is the earliest year a deadline names, 2026.6 included
    (it was only 2026年…, so a sheet of 2026.6 cells was refused for having no base year)."""
    p = write(tmp_path, "plan.csv", f"序號,重點任務,牽頭單位,完成時限\n1,農村公路建設,區交委,{deadline}\n")
    loaded = load_plan(p, allow_new_units=True)
    assert loaded.plan.base_year == 2026 and loaded.plan.tasks[0].milestones[0].due == dt.date(2026, 6, 30)


def test_more_than_one_lead_unit_makes_the_others_co_leads(tmp_path: Path) -> None:
    """Issue 13: 區扶貧辦、區交委 in the lead cell is no longer refused: the first leads, the rest co-lead (共同牽頭)."""
    write(tmp_path, "units.yaml", DIRECTORY)
    p = write(tmp_path, "plan.yaml", PLAN.replace("lead_unit: 區扶貧辦", "lead_unit: 區扶貧辦、區交委"))
    task = load_plan(p).plan.tasks[0]
    assert (task.lead_unit, task.co_lead_units) == ("區扶貧辦", ("區交委",))
    assert task.units[:2] == ("區扶貧辦", "區交委")


@pytest.mark.parametrize("content, message", [
    ("", "empty"),
    ("   \n\n", "empty"),
    ("plan: [unclosed\n", "not valid YAML"),
    ("- just\n- a list\n", "mapping"),
    ("plan: {title: x, base_year: 2015}\n", "no 'tasks'"),
    ("plan: {title: x, base_year: 2015}\ntasks: []\n", "no tasks"),
    ("plan: {title: x, base_year: 2015}\ntask: []\n", "unknown top-level key 'task'"),
])
def test_unreadable_files_name_the_file_and_the_reason(tmp_path: Path, content: str, message: str) -> None:
    p = write(tmp_path, "plan.yaml", content)
    with pytest.raises(SourceError) as info:
        load_plan(p)
    assert str(p) in str(info.value) and message in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no such file"):
        load_plan(tmp_path / "nope.yaml")


def test_gbk_files_are_read(tmp_path: Path) -> None:
    write(tmp_path, "units.yaml", DIRECTORY, encoding="gbk")
    p = write(tmp_path, "plan.yaml", PLAN, encoding="gbk")
    assert len(load_plan(p).plan.tasks) == 2


def test_undecodable_bytes_are_located(tmp_path: Path) -> None:
    p = tmp_path / "plan.yaml"
    p.write_bytes(PLAN.encode("utf-8")[:40] + b"\xff\xfe\xfa\x80" + b"tail")
    with pytest.raises(SourceError) as info:
        load_plan(p)
    assert "offset 40" in str(info.value) and "UTF-8" in str(info.value)


def test_base_year_governs_dates_without_a_year(tmp_path: Path) -> None:
    write(tmp_path, "units.yaml", DIRECTORY)
    p = write(tmp_path, "plan.yaml", PLAN.replace("base_year: 2015", "base_year: 2011").replace(
        "deadline: 2015年7月初", "deadline: 7月20日前"))
    assert load_plan(p).plan.tasks[0].milestones[0].due == dt.date(2011, 7, 20)


@pytest.mark.parametrize("text, name, title", [
    ("林光(區人民政府副區長)", "林光", "區人民政府副區長"),
    ("林光（区人民政府副区长）", "林光", "区人民政府副区长"),
    ("徐江(區委副書記\n區長)", "徐江", "區委副書記、區長"),
    ("楊宏偉", "楊宏偉", ""),
])
def test_parse_official(text: str, name: str, title: str) -> None:
    o = parse_official(text)
    assert o is not None and (o.name, o.title) == (name, title)


@pytest.mark.parametrize("text", ["林光(副區長", "(副區長)", "林光、劉儀"])
def test_parse_official_refuses_malformed(text: str) -> None:
    assert parse_official(text) is None


def test_split_list_keeps_parenthesised_separators() -> None:
    assert split_list("區紀委(監察局、審計)、區財政局；各鄉鎮人民政府。") == ["區紀委(監察局、審計)", "區財政局", "各鄉鎮人民政府"]


# --------------------------------------------------------------------------------------------
# Sheets

CSV_SIMPLIFIED = """\
全区扶贫攻坚任务分解表,,,,,,
序号,任务,目标要求,牵头领导,牵头单位,配合单位,时间要求
(一)扶贫对象精准,,,,,,
1,锁定对象,锁定65个贫困村,林光(区人民政府副区长),区扶贫办,各乡镇人民政府,2015年7月初
2,交通建设,道路硬化,"刘仪(区人民政府副区长)、夏于峰(区委常委、区人民政府常务副区长)",区交委,"区扶贫办、各乡镇人民政府",2015年底完成25个村、2016年底完成40个村
"""


def test_csv_with_simplified_headers_title_row_and_section_rows(tmp_path: Path) -> None:
    write(tmp_path, "units.yaml", DIRECTORY)
    p = write(tmp_path, "matrix.csv", CSV_SIMPLIFIED)
    loaded = load_plan(p, directory=tmp_path / "units.yaml")
    plan = loaded.plan
    assert plan.title == "全区扶贫攻坚任务分解表"
    assert plan.code == "matrix" and plan.base_year == 2015  # the earliest year a deadline names
    t1, t2 = plan.tasks
    assert t1.section == ("(一)扶贫对象精准",)
    assert t1.lead_unit == "區扶貧辦" and t1.source.line == 4 and t1.source.kind == "row"
    assert [o.name for o in t2.lead_officials] == ["刘仪", "夏于峰"]
    assert t2.supporting_units == ("區扶貧辦", "各鄉鎮人民政府")
    assert len(t2.milestones) == 2


def test_csv_problems_name_the_row(tmp_path: Path) -> None:
    write(tmp_path, "units.yaml", DIRECTORY)
    p = write(tmp_path, "matrix.csv", "code,title,lead_unit,deadline\n1,a,區交委,2015年底\n2,b,,2015年底\n3,c,區交委,2015年2月30日\n")
    with pytest.raises(ValidationFailed) as info:
        load_plan(p, directory=tmp_path / "units.yaml")
    assert [(p.line, p.field, p.row_kind) for p in info.value.problems] == [(3, "lead_unit", "row"), (4, "deadline", "row")]
    assert "row 4" in str(info.value.problems[1]) and "2015年2月30日" in str(info.value.problems[1])


def test_csv_without_header_is_refused(tmp_path: Path) -> None:
    p = write(tmp_path, "matrix.csv", "a,b,c\n1,2,3\n")
    with pytest.raises(SourceError, match="no header row"):
        load_plan(p, base_year=2015)


def test_xlsx_with_merged_cells_and_traditional_headers(tmp_path: Path) -> None:
    from openpyxl import Workbook

    write(tmp_path, "units.yaml", DIRECTORY)
    wb = Workbook()
    ws = wb.active
    ws.append(["全區扶貧攻堅任務分解表"])
    ws.append(["序號", "任務", "目標要求", "牽頭領導", "牽頭單位", "配合單位", "時間要求"])
    ws.append(["3.2.1", "交通建設", "道路硬化", "劉儀(區人民政府副區長)", "區交委", "區扶貧辦", "2015年底完成25個村、2016年底完成40個村"])
    ws.append(["3.2.2", "飲水安全", "飲水", None, "區扶貧辦", "各鄉鎮人民政府", "2016年底"])
    ws.merge_cells("D3:D4")  # one official leads both rows, as offices lay it out
    ws.append([3.0, "數字編號", "", "", "區交委", "", "7月"])
    p = tmp_path / "matrix.xlsx"
    wb.save(p)
    plan = load_plan(p, directory=tmp_path / "units.yaml", plan_code="x").plan
    assert [t.code for t in plan.tasks] == ["3.2.1", "3.2.2", "3"]
    assert plan.tasks[1].lead_officials[0].name == "劉儀"
    assert plan.tasks[2].milestones[0].due == dt.date(2015, 7, 31)


def test_not_an_xlsx(tmp_path: Path) -> None:
    p = write(tmp_path, "matrix.xlsx", "this is not a workbook")
    with pytest.raises(SourceError, match="not a readable .xlsx"):
        load_plan(p)


# --------------------------------------------------------------------------------------------
# Unit directory


def test_directory_resolves_across_scripts_and_expands_groups(tmp_path: Path) -> None:
    d = load_directory(write(tmp_path, "units.yaml", DIRECTORY))
    assert d.resolve("区扶贫办").name == "區扶貧辦"
    assert d.resolve("扶贫办").name == "區扶貧辦"
    assert d.resolve("區紀委（監察局）").name == "區紀委(監察局)"
    assert d.resolve("區不存在局") is None
    assert [u.name for u in d.expand("區級各部門")] == ["區扶貧辦", "區交委"]
    assert [u.name for u in d.expand("各乡镇人民政府")] == ["各鄉鎮人民政府"]  # no members: its own address
    assert d.office is not None and d.office.emails == ("office@example.org",)


def test_directory_csv(tmp_path: Path) -> None:
    p = write(tmp_path, "units.csv", "單位,別名,類型,負責人,郵箱,所屬\n區扶貧辦,扶貧辦、扶贫办,department,張主任,fupin@example.org,區級各部門\n區級各部門,,group,,bumen@example.org,\n")
    d = load_directory(p)
    assert d.resolve("扶贫办").emails == ("fupin@example.org",)
    assert d.resolve("區扶貧辦").head.name == "張主任"
    assert [u.name for u in d.expand("区级各部门")] == ["區扶貧辦"]


def test_directory_problems(tmp_path: Path) -> None:
    p = write(tmp_path, "units.yaml", """\
units:
  - name: 區扶貧辦
    emails: ["bad\\nBcc: x@evil.example"]
  - name: 区扶贫办
  - aliases: [無名]
  - name: 區交委
    colour: red
""")
    with pytest.raises(ValidationFailed) as info:
        load_directory(p)
    msgs = [(pr.line, pr.field, pr.message.split(",")[0]) for pr in info.value.problems]
    assert (3, "emails", "not an email address") in msgs
    assert (4, "name", "spelled the same as a unit at line 2") in msgs
    assert (5, "name", "a unit needs a name") in msgs
    assert (7, "colour", "unknown field of a unit") in msgs


@pytest.mark.parametrize("content, message", [
    ("plan: {title: x}\nplan: {title: y}\ntasks: []\n", "the key 'plan' appears twice"),
    ("a: &x {b: 1}\nc:\n  <<: *x\n", "merge keys"),
    ("plan: {title: x}\n---\nplan: {title: y}\n", "more than one YAML document"),
])
def test_yaml_shapes_that_are_refused_with_their_line(tmp_path: Path, content: str, message: str) -> None:
    p = write(tmp_path, "plan.yaml", content)
    with pytest.raises(SourceError) as info:
        load_plan(p)
    assert message in str(info.value) and f"{p}:" in str(info.value)


def test_yaml_scalars_keep_their_text(tmp_path: Path) -> None:
    """A code written 3.10 is the code "3.10" (YAML would make it the float 3.1); anchors work."""
    write(tmp_path, "units.yaml", DIRECTORY)
    p = write(tmp_path, "plan.yaml", """\
plan: {code: demo, title: 演示, base_year: 2015}
directory: units.yaml
tasks:
  - {code: 3.10, title: a, lead_unit: &lead 區交委, deadline: 2015年底, veto: true}
  - {code: 3.1, title: b, lead_unit: *lead, deadline: 2015年底, supporting_units: ~}
""")
    plan = load_plan(p).plan
    assert [t.code for t in plan.tasks] == ["3.10", "3.1"]
    assert plan.tasks[1].lead_unit == "區交委" and plan.tasks[0].veto and not plan.tasks[1].veto
    assert plan.tasks[1].supporting_units == ()


def test_gbk_csv_sheet_saved_by_chinese_excel(tmp_path: Path) -> None:
    write(tmp_path, "units.yaml", DIRECTORY)
    p = write(tmp_path, "matrix.csv", CSV_SIMPLIFIED, encoding="gbk")
    plan = load_plan(p, directory=tmp_path / "units.yaml", title="全區扶貧攻堅", start=dt.date(2015, 7, 1)).plan
    assert plan.title == "全區扶貧攻堅" and plan.start == dt.date(2015, 7, 1)
    assert [t.lead_unit for t in plan.tasks] == ["區扶貧辦", "區交委"]


def test_yaml_tasks_may_use_the_chinese_field_labels(tmp_path: Path) -> None:
    """牽頭單位 / 时间要求 … as YAML keys, in either script, stand for lead_unit / deadline …; a field
    given both ways is refused with its line."""
    plan = tmp_path / "plan.yaml"
    plan.write_text("\n".join([
        "plan: {code: p, title: 測試方案, base_year: 2015}",
        "tasks:",
        "  - 序號: '1'",
        "    任务: 建檔立卡",
        "    目標要求: 全面建檔",
        "    牵头单位: 區扶貧辦",
        "    配合單位: [區民政局]",
        "    時間要求: 2015年底",
    ]), encoding="utf-8")
    task = load_plan(plan, allow_new_units=True).plan.task("1")
    assert (task.title, task.target, task.lead_unit, task.supporting_units) == ("建檔立卡", "全面建檔", "區扶貧辦", ("區民政局",))
    assert task.milestones[0].due.isoformat() == "2015-12-31"
    plan.write_text(plan.read_text(encoding="utf-8") + "\n    deadline: 2016年底\n", encoding="utf-8")
    with pytest.raises(SourceError, match=r"plan.yaml:9.*'deadline' is given twice"):
        load_plan(plan, allow_new_units=True)


# --------------------------------------------------------------------------------------------
# Every problem at once, even without a base year


def test_a_sheet_without_a_base_year_still_reports_every_task_problem(tmp_path: Path) -> None:
    """No deadline names a year, so there is no base year; the unknown unit and the impossible date
    are reported with it, and a yearless deadline is said to need a base year, not read in a guess."""
    write(tmp_path, "units.yaml", DIRECTORY)
    p = write(tmp_path, "matrix.csv", "序號,任務,牽頭單位,時間要求\n1,鎖定對象,區不存在局,7月20日前\n2,交通建設,區交委,7月99日\n")
    with pytest.raises(ValidationFailed) as info:
        load_plan(p, directory=tmp_path / "units.yaml")
    found = {(pr.line, pr.field): pr for pr in info.value.problems}
    assert set(found) == {(None, "base_year"), (2, "lead_unit"), (2, "deadline"), (3, "deadline")}
    assert "no base year" in found[(None, "base_year")].message and "--base-year" in found[(None, "base_year")].hint
    assert found[(2, "lead_unit")].text == "區不存在局"
    assert "base year" in found[(2, "deadline")].message and found[(2, "deadline")].text == "7月20日前"
    assert "base year" in found[(2, "deadline")].hint
    assert "7月99日 does not exist" in found[(3, "deadline")].message and "base year" not in found[(3, "deadline")].message
    assert all(pr.hint for pr in info.value.problems)


def test_a_yaml_plan_with_a_bad_base_year_still_reports_every_task_problem(tmp_path: Path) -> None:
    write(tmp_path, "units.yaml", DIRECTORY)
    p = write(tmp_path, "plan.yaml", """\
plan: {code: bad, title: 壞方案, base_year: 明年, start: 2015-13-01}
directory: units.yaml
tasks:
  - code: "1"
    title: 未知單位
    lead_unit: 區不存在局
    deadline: 2016年底
  - code: "2"
    title: 不可能的日期
    lead_unit: 區交委
    deadline: 7月99日
  - code: "2"
    title: 沒有年份
    lead_unit: 區交委
    lead_officials: ["林光(副區長"]
    deadline: 年底
  - code: "4"
    title: 有年份的不可能日期
    lead_unit: 區交委
    deadline: 2016年2月30日
""")
    with pytest.raises(ValidationFailed) as info:
        load_plan(p)
    got = {(pr.line, pr.field): pr for pr in info.value.problems}
    assert set(got) == {(1, "base_year"), (1, "start"), (6, "lead_unit"), (11, "deadline"), (12, "code"),
                        (15, "lead_officials"), (16, "deadline"), (20, "deadline")}
    assert got[(1, "base_year")].text == "明年"
    assert "7月99日 does not exist" in got[(11, "deadline")].message
    assert "base year" in got[(16, "deadline")].message
    assert "2016-02-30 does not exist" in got[(20, "deadline")].message
    assert all(pr.hint for pr in info.value.problems)


def test_a_plan_without_a_base_year_whose_deadlines_all_name_a_year_is_reported_once(tmp_path: Path) -> None:
    write(tmp_path, "units.yaml", DIRECTORY)
    p = write(tmp_path, "plan.yaml", PLAN.replace("base_year: 2015", "base_year: abc"))
    with pytest.raises(ValidationFailed) as info:
        load_plan(p)
    (problem,) = info.value.problems  # every deadline names its year: only the base year is wrong
    assert (problem.line, problem.field, problem.text) == (4, "base_year", "abc")


def test_problems_that_had_no_hint_have_one(tmp_path: Path) -> None:
    write(tmp_path, "units.yaml", DIRECTORY)
    p = write(tmp_path, "plan.yaml", """\
plan: {code: h, title: 提示, base_year: 2015, start: 2016-01-01, end: 2015-12-31}
directory: units.yaml
officials:
  - {title: 副區長}
tasks:
  - code: "1"
    lead_unit: 區交委
    lead_officials: [{title: 副區長}]
    deadline: 2015年底
    source_line: seven
stages:
  - {code: S1, title: 動員, deadline: 2015年7月17日前}
  - {code: S1, title: 實施, deadline: 2015年12月前}
""")
    with pytest.raises(ValidationFailed) as info:
        load_plan(p)
    got = {(pr.line, pr.field): pr for pr in info.value.problems}
    assert set(got) == {(1, "end"), (4, "name"), (6, "title"), (8, "lead_officials"), (10, "source_line"), (13, "code")}
    assert all(pr.hint for pr in info.value.problems), [str(pr) for pr in info.value.problems if not pr.hint]
    assert "line 12" in got[(13, "code")].message  # the duplicate stage code names the first one


# --------------------------------------------------------------------------------------------
# Encodings: UTF-8, GB18030/GBK and Big5 told apart, and said when not UTF-8

CSV_TRADITIONAL = """\
全區扶貧攻堅任務分解表,,,,,,
序號,任務,目標要求,牽頭領導,牽頭單位,配合單位,時間要求
(一)扶貧對象精準,,,,,,
1,鎖定對象,鎖定65個貧困村,林光(區人民政府副區長),區扶貧辦,各鄉鎮人民政府,2015年7月初
2,交通建設,道路硬化,"劉儀(區人民政府副區長)、夏于峰(區委常委、區人民政府常務副區長)",區交委,"區扶貧辦、各鄉鎮人民政府",2015年底完成25個村、2016年底完成40個村
"""
PLAN_TRADITIONAL = PLAN.replace("lead_unit: 区交委", "lead_unit: 區交委").replace("[扶贫办]", "[扶貧辦]")


def test_big5_csv_sheet_is_read_as_big5_and_said_so(tmp_path: Path) -> None:
    write(tmp_path, "units.yaml", DIRECTORY)
    data = CSV_TRADITIONAL.encode("big5")
    data.decode("gb18030")  # the trap: Big5 bytes also "decode" as GB18030, into nonsense
    p = tmp_path / "matrix.csv"
    p.write_bytes(data)
    loaded = load_plan(p, directory=tmp_path / "units.yaml")
    assert loaded.plan.title == "全區扶貧攻堅任務分解表"
    assert [t.lead_unit for t in loaded.plan.tasks] == ["區扶貧辦", "區交委"]
    assert [o.name for o in loaded.plan.tasks[1].lead_officials] == ["劉儀", "夏于峰"]
    assert any(str(p) in w and "Big5" in w for w in loaded.warnings), loaded.warnings


def test_big5_yaml_plan_and_directory_are_read_as_big5(tmp_path: Path) -> None:
    (tmp_path / "units.yaml").write_bytes(DIRECTORY.encode("big5"))
    p = tmp_path / "plan.yaml"
    p.write_bytes(PLAN_TRADITIONAL.encode("big5"))
    loaded = load_plan(p)
    assert [t.lead_unit for t in loaded.plan.tasks] == ["區扶貧辦", "區交委"]
    assert loaded.plan.tasks[0].supporting_units == ("各鄉鎮人民政府", "區紀委(監察局)")
    assert any("plan.yaml" in w and "Big5" in w for w in loaded.warnings), loaded.warnings
    assert any("units.yaml" in w and "Big5" in w for w in loaded.warnings), loaded.warnings


@pytest.mark.parametrize("text", [CSV_SIMPLIFIED, CSV_TRADITIONAL], ids=["simplified", "traditional"])
def test_gbk_csv_is_read_as_gb18030_and_said_so(tmp_path: Path, text: str) -> None:
    write(tmp_path, "units.yaml", DIRECTORY)
    p = tmp_path / "matrix.csv"
    p.write_bytes(text.encode("gbk"))
    loaded = load_plan(p, directory=tmp_path / "units.yaml")
    assert [t.lead_unit for t in loaded.plan.tasks] == ["區扶貧辦", "區交委"]
    assert any(str(p) in w and "GB18030" in w for w in loaded.warnings), loaded.warnings


def test_utf8_files_with_or_without_bom_give_no_encoding_warning(tmp_path: Path) -> None:
    write(tmp_path, "units.yaml", DIRECTORY)
    for name, encoding in (("plain.csv", "utf-8"), ("bom.csv", "utf-8-sig")):
        p = write(tmp_path, name, CSV_TRADITIONAL, encoding=encoding)
        loaded = load_plan(p, directory=tmp_path / "units.yaml")
        assert loaded.plan.title == "全區扶貧攻堅任務分解表" and loaded.warnings == []


@pytest.mark.parametrize("text", [
    "區扶貧辦、區交委、各鄉鎮人民政府",
    "時間要求：2015年底完成25個村、2016年底完成40個村",
    "牽頭領導：劉儀(區人民政府副區長)",
    "全區扶貧攻堅任務分解表",
    "目標要求",
], ids=lambda t: t[:6])
def test_short_texts_decode_as_what_they_were_written_in(text: str) -> None:
    big5 = decode_bytes(text.encode("big5"), where="x.txt")
    assert (big5.text, big5.encoding) == (text, "Big5")
    gbk = decode_bytes(text.encode("gbk"), where="x.txt")
    assert (gbk.text, gbk.encoding) == (text, "GB18030")
    simplified = to_simplified(text)
    gbk_simplified = decode_bytes(simplified.encode("gbk"), where="x.txt")
    assert (gbk_simplified.text, gbk_simplified.encoding) == (simplified, "GB18030")
    utf8 = decode_bytes(text.encode("utf-8"), where="x.txt")
    assert (utf8.text, utf8.encoding, utf8.warning) == (text, "UTF-8", None)


def test_an_undeterminable_encoding_names_the_file_and_what_was_tried(tmp_path: Path) -> None:
    p = tmp_path / "plan.csv"
    p.write_bytes("東京都の予定表です。ひらがなとカタカナ、漢字を含みます。会議は来週の月曜日に行います。".encode("shift_jis"))
    with pytest.raises(SourceError) as info:
        read_text(p)
    message = str(info.value)
    assert str(p) in message and "could not be determined" in message
    assert "UTF-8" in message and "GB18030" in message and "Big5" in message


def test_utf16_is_refused_with_the_encodings_tried(tmp_path: Path) -> None:
    p = tmp_path / "plan.yaml"
    p.write_bytes(PLAN_TRADITIONAL.encode("utf-16"))
    with pytest.raises(SourceError) as info:
        load_plan(p)
    assert str(p) in str(info.value) and "could not be determined" in str(info.value) and "Big5" in str(info.value)


@pytest.mark.parametrize("value", ["99999999999999999999999", "2147483648", "0", "-5", "3.5", "true", "'12x'"])
def test_a_source_line_the_database_cannot_hold_is_refused_at_validate_with_its_line(tmp_path: Path, value: str) -> None:
    # source_line (written by `duban matrix extract`: the task's line in the plan's source text) goes into
    # an INTEGER column; 99999999999999999999999 passed validate, then import died with OverflowError.
    write(tmp_path, "units.yaml", DIRECTORY)
    p = write(tmp_path, "plan.yaml", PLAN.replace("    deadline: 2015年7月初\n",
                                                  f"    deadline: 2015年7月初\n    source_line: {value}\n"))
    with pytest.raises(ValidationFailed) as info:
        load_plan(p)
    (problem,) = info.value.problems
    assert (problem.line, problem.field) == (14, "source_line")
    assert "1 to 2,147,483,647" in problem.hint


def test_a_source_line_in_range_is_kept(tmp_path: Path) -> None:
    write(tmp_path, "units.yaml", DIRECTORY)
    p = write(tmp_path, "plan.yaml", PLAN.replace("    deadline: 2015年7月初\n",
                                                  "    deadline: 2015年7月初\n    source_line: 2147483647\n"))
    assert load_plan(p).plan.tasks[0].source.line == 2147483647


def test_an_infinite_base_year_is_not_a_year(tmp_path: Path) -> None:
    write(tmp_path, "units.yaml", DIRECTORY)
    p = write(tmp_path, "plan.yaml", PLAN.replace("base_year: 2015", "base_year: .inf"))
    with pytest.raises(ValidationFailed) as info:  # was OverflowError from int(inf)
        load_plan(p)
    assert [(pr.line, pr.field) for pr in info.value.problems] == [(4, "base_year")]


def test_telling_gbk_from_big5_scores_a_bounded_sample_per_distinct_character(monkeypatch) -> None:
    # Before: every character of each candidate decoding went through _unusual one by one (a 12.5 MB
    # plan not in UTF-8 spent ~20 s there). Now each distinct character of a bounded sample is scored once.
    import duban.matrix.sources as sources

    calls = 0
    original = sources._unusual

    def counting(char: str) -> bool:
        nonlocal calls
        calls += 1
        return original(char)

    monkeypatch.setattr(sources, "_unusual", counting)
    text = PLAN_TRADITIONAL * 2000  # about 1,000,000 characters
    assert decode_bytes(text.encode("big5"), where="plan.yaml").encoding == "Big5"
    assert decode_bytes(PLAN.encode("gbk"), where="plan.yaml").encoding != "Big5"
    assert calls < 5_000, f"{calls:,} characters scored for a text of {len(text):,}"


def _xlsx_matrix(path: Path, rows: int) -> Path:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(["全區扶貧攻堅任務分解表"])
    ws.append(["序號", "任務", "目標要求", "牽頭領導", "牽頭單位", "配合單位", "時間要求", "填表日期"])
    for i in range(rows):
        ws.append([f"1.{i}", f"任務{i}", "道路硬化", "劉儀(區人民政府副區長)" if i % 4 == 0 else None,
                   "區交委", "區扶貧辦、各鄉鎮人民政府", ["2015年底", "每月不少於1次", "2016年6月底前"][i % 3],
                   dt.datetime(2015, 7, 1)])
    for start in range(3, rows + 3, 4):  # one official leads four rows, merged down
        ws.merge_cells(start_row=start, start_column=4, end_row=min(start + 3, rows + 2), end_column=4)
    wb.save(path)
    return path


def test_a_large_xlsx_is_streamed_with_merged_ranges_filled_and_dates_as_dates(tmp_path: Path, monkeypatch) -> None:
    # Before: openpyxl's full load made a Cell object per cell (a 20,000-row sheet took 20-40 s to
    # refuse, half of it there). Now the sheet is streamed; merged ranges are filled down from the
    # mergeCell refs, and date cells still come as dates. Counted: Cell objects made.
    from openpyxl.cell import cell as cell_module

    from duban.matrix.sheets import sheet_rows

    write(tmp_path, "units.yaml", DIRECTORY)
    path = _xlsx_matrix(tmp_path / "matrix.xlsx", 2_000)
    made = 0
    original = cell_module.Cell.__init__

    def counting(self, *args, **kwargs) -> None:
        nonlocal made
        made += 1
        original(self, *args, **kwargs)

    monkeypatch.setattr(cell_module.Cell, "__init__", counting)
    plan = load_plan(path, directory=tmp_path / "units.yaml", base_year=2015).plan
    assert made < 100, f"{made:,} Cell objects for a sheet of 2,000 rows"
    assert len(plan.tasks) == 2_000
    assert all(t.lead_officials and t.lead_officials[0].name == "劉儀" for t in plan.tasks)  # filled down
    rows = dict(sheet_rows(path))
    assert rows[4][3:5] == ["劉儀(區人民政府副區長)", "區交委"]
    assert rows[4][7] == dt.datetime(2015, 7, 1)


def test_each_distinct_deadline_is_read_once_per_plan(tmp_path: Path, monkeypatch) -> None:
    # Before: each row's deadline was read again (the parser's memo keyed on a context holding the row).
    from duban.matrix import deadlines

    write(tmp_path, "units.yaml", DIRECTORY)
    path = _xlsx_matrix(tmp_path / "matrix.xlsx", 300)
    calls = 0
    original = deadlines._parse

    def counting(text, context):
        nonlocal calls
        calls += 1
        return original(text, context)

    monkeypatch.setattr(deadlines, "_parse", counting)
    deadlines._parse_memoised.cache_clear()
    load_plan(path, directory=tmp_path / "units.yaml", base_year=2015)
    assert calls <= 3 * 2  # three distinct texts (and the base year's reading of them)


@pytest.mark.parametrize("cell, expected", [
    ("張志強\n(區人民政府副區長)", [("張志強", "區人民政府副區長")]),
    ("张志强\n（区人民政府副区长）", [("张志强", "区人民政府副区长")]),
    ("副區長 張志強", [("張志強", "副區長")]),
    ("副區長：張志強", [("張志強", "副區長")]),
    ("副区长:张志强", [("张志强", "副区长")]),
    ("張志強\n副區長", [("張志強", "副區長")]),
    ("區人民政府\n副區長張志強", [("張志強", "區人民政府副區長")]),
    ("區委副書記\n區長陳明", [("陳明", "區委副書記、區長")]),
    ("張志強(副區長)\n李明(副區長)", [("張志強", "副區長"), ("李明", "副區長")]),
    ("張三\n李四\n王五", [("張三", ""), ("李四", ""), ("王五", "")]),
    ("副區長 張志強；副區長 李明", [("張志強", "副區長"), ("李明", "副區長")]),
])
def test_read_officials_in_a_cell(cell: str, expected: list[tuple[str, str]]) -> None:
    from duban.matrix.officials import read_officials

    read = read_officials(cell, cell=True)
    assert [(o.name, o.title) for o in read.officials] == expected and not read.bad
