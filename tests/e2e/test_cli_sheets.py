"""A county's own 任務分解表 goes in on the first try: `duban matrix validate|import FILE.xlsx|.csv`, then
what was stored, read back with `matrix export --format json`. Fixtures: tests/office_sheets.py."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from tests.e2e.test_cli import run
from tests.office_sheets import COUNTY_UNITS, category_column_workbook, county_workbook, expected, plain_workbook

SCRIPTS = ["traditional", "simplified"]


def _stored(tmp_path: Path, db_url: str, plan: str) -> dict:
    return json.loads(run(["matrix", "export", "--format", "json", "--plan", plan], cwd=tmp_path, db_url=db_url).stdout)


@pytest.fixture
def units(tmp_path: Path) -> Path:
    path = tmp_path / "units.yaml"
    path.write_text(COUNTY_UNITS, encoding="utf-8")
    return path


@pytest.mark.parametrize("script", SCRIPTS)
def test_a_county_workbook_goes_in_on_the_first_try(tmp_path: Path, sqlite_url: str, units: Path, script: str) -> None:
    book = county_workbook(tmp_path / f"county-{script}.xlsx", script)
    proc = run(["matrix", "validate", str(book), "--directory", str(units), "--offline"], cwd=tmp_path, db_url=sqlite_url)
    out = " ".join(proc.stdout.split())  # rich wraps long lines
    unknown, cover = ("責任處室", "封面") if script == "traditional" else ("责任科室", "说明")
    assert f"column I 「{unknown}」 not understood, ignored" in out
    assert f"sheet 「{cover}」 has no task header" in out and "skipped" in out
    assert "10 tasks, 10 milestones" in out and "tasks read from sheets" not in out
    run(["matrix", "import", str(book), "--directory", str(units)], cwd=tmp_path, db_url=sqlite_url)
    stored = _stored(tmp_path, sqlite_url, book.stem)
    plan, tasks = stored["plan"], stored["tasks"]
    # The rows above the header give the plan's title, issuer and date.
    assert plan["title"] == ("XX縣2019年脫貧攻堅重點任務分解表" if script == "traditional" else "XX县2019年脱贫攻坚重点任务分解表")
    assert plan["issuer"] in ("XX縣人民政府辦公室", "XX县人民政府办公室") and plan["start"] == "2019-03-01"
    # Category rows are sections, not tasks; 序號 restarting under them takes their numbers; an Excel
    # date (2019-09-30 00:00:00) is that day; a task without 序號 is numbered by its place.
    got = [(t["code"], t["section"], t["milestones"][0]["due"]) for t in tasks]
    assert got == expected(script)
    assert tasks[0]["deadline"] == "2019年9月30日"
    # One 牽頭領導 merged down over three tasks leads all three; the last task of sheet 2 has none.
    assert [t["lead_officials"][0]["name"] if t["lead_officials"] else None for t in tasks][:3] == ["張志強"] * 3 \
        or [t["lead_officials"][0]["name"] for t in tasks[:3]] == ["张志强"] * 3
    assert tasks[9]["lead_officials"] == []
    # 責任單位 beside 牽頭單位 names the supporting units; alone (the simplified sheet) it leads.
    assert tasks[0]["lead_unit"] == "縣交通運輸局" and tasks[0]["supporting_units"] == ["各鄉鎮人民政府"]
    assert tasks[2]["lead_unit"] == "縣住房和城鄉建設局" and tasks[2]["supporting_units"] == ["縣財政局"]
    assert tasks[8]["supporting_units"] == ["縣財政局"]  # 協辦單位


def test_sheet_names_one_sheet_whose_name_is_then_no_section(tmp_path: Path, sqlite_url: str, units: Path) -> None:
    book = county_workbook(tmp_path / "county.xlsx")
    proc = run(["matrix", "import", str(book), "--directory", str(units), "--sheet", "三、社會保障", "--plan", "social"],
               cwd=tmp_path, db_url=sqlite_url)
    assert "+3 tasks" in proc.stdout
    tasks = _stored(tmp_path, sqlite_url, "social")["tasks"]
    assert [(t["code"], t["section"]) for t in tasks] == [
        ("3.1", ["教育保障"]), ("3.2", ["教育保障"]), ("3.3", ["醫療保障"])]


def test_a_column_not_understood_is_said_with_the_problems(tmp_path: Path, sqlite_url: str, units: Path) -> None:
    # Before: the warning came only once every problem was gone.
    from openpyxl import load_workbook

    book = county_workbook(tmp_path / "county.xlsx")
    wb = load_workbook(book)
    wb["脫貧攻堅"]["E7"] = "縣不存在局"
    wb.save(book)
    proc = run(["matrix", "validate", str(book), "--directory", str(units), "--offline"], cwd=tmp_path,
               db_url=sqlite_url, check=False)
    err = " ".join(proc.stderr.split())
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert err.index("column I 「責任處室」 not understood") < err.index("1 problem") < err.index("縣不存在局")
    proc = run(["matrix", "validate", str(book), "--directory", str(units), "--offline", "--json"], cwd=tmp_path,
               db_url=sqlite_url, check=False)
    answer = json.loads(proc.stdout)
    assert [(p["row"], p["field"], p["sheet"]) for p in answer["problems"]] == [(7, "lead_unit", "脫貧攻堅")]
    assert any("column I 「責任處室」" in w for w in answer["warnings"])


CSV_SIMPLIFIED = """\
附件1,,,,,,
XX县2019年重点任务分解表,,,,,,
填报单位：XX县人民政府办公室  填报时间：2019年3月1日,,,,,,
编号,具体任务,目标要求,责任领导,牵头单位,协办单位,时限要求
一、基础设施,,,,,,
1,农村公路建设,新改建农村公路50公里,张志强(副县长),县交通运输局,各乡镇人民政府,2019/9/30
2,农村安全饮水,巩固提升,张志强(副县长),县水利局,,2019-12-31
,,,,,,
二、产业就业,,,,,,
1,特色产业培育,每村1个主导产业,李明(副县长),县农业农村局,县商务局,2019年12月底前
"""


def test_a_csv_with_category_rows_and_restarting_numbers(tmp_path: Path, sqlite_url: str, units: Path) -> None:
    sheet = tmp_path / "county.csv"
    sheet.write_text(CSV_SIMPLIFIED, encoding="utf-8")
    run(["matrix", "import", str(sheet), "--directory", str(units)], cwd=tmp_path, db_url=sqlite_url)
    stored = _stored(tmp_path, sqlite_url, "county")
    assert stored["plan"]["title"] == "XX县2019年重点任务分解表" and stored["plan"]["start"] == "2019-03-01"
    assert [(t["code"], t["section"], t["milestones"][0]["due"]) for t in stored["tasks"]] == [
        ("1.1", ["一、基础设施"], "2019-09-30"), ("1.2", ["一、基础设施"], "2019-12-31"),
        ("2.1", ["二、产业就业"], "2019-12-31")]


def test_a_deadline_typed_as_an_excel_date_is_that_day(tmp_path: Path, sqlite_url: str, units: Path) -> None:
    # Before: 2019-09-30 00:00:00 was refused as text and shown as 2019-09-3000:00:00.
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(["序號", "任務", "牽頭單位", "時間要求"])
    ws.append([1, "農村公路", "縣交通運輸局", dt.datetime(2019, 9, 30)])
    ws.append([2, "飲水", "縣水利局", dt.date(2019, 10, 8)])
    path = tmp_path / "dates.xlsx"
    wb.save(path)
    run(["matrix", "import", str(path), "--directory", str(units)], cwd=tmp_path, db_url=sqlite_url)
    tasks = _stored(tmp_path, sqlite_url, "dates")["tasks"]
    assert [(t["deadline"], t["milestones"][0]["due"]) for t in tasks] == [
        ("2019年9月30日", "2019-09-30"), ("2019年10月8日", "2019-10-08")]


@pytest.mark.parametrize("script", SCRIPTS)
def test_an_unnumbered_category_column_is_a_section_not_a_code_level(tmp_path: Path, sqlite_url: str, units: Path,
                                                                       script: str) -> None:
    # Before: 1.1.1, 1.1.2, 1.2.3, 2.1.1, 2.2.2, 2.2.3 (the 類別 label counted as a numbered level).
    book = category_column_workbook(tmp_path / "county.xlsx", script)
    run(["matrix", "import", str(book), "--directory", str(units)], cwd=tmp_path, db_url=sqlite_url)
    tasks = _stored(tmp_path, sqlite_url, "county")["tasks"]
    cat1, cat2 = ("一、基礎設施", "二、產業就業") if script == "traditional" else ("一、基础设施", "二、产业就业")
    industry, jobs = ("產業", "就業") if script == "traditional" else ("产业", "就业")
    assert [(t["code"], t["section"]) for t in tasks] == [
        ("1.1", [cat1, "交通"]), ("1.2", [cat1, "交通"]), ("1.3", [cat1, "水利"]),
        ("2.1", [cat2, industry]), ("2.2", [cat2, jobs]), ("2.3", [cat2, jobs])]


def test_a_category_column_enters_the_code_only_where_numbers_restart_within_it(tmp_path: Path, sqlite_url: str,
                                                                                 units: Path) -> None:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(["序号", "类别", "重点任务", "牵头单位", "完成时限"])
    # No numbered headings; 序號 restarts in each 類別 block: the block's place goes in front.
    for number, kind, unit in ((1, "交通", "县交通运输局"), (2, "交通", "县交通运输局"), (1, "水利", "县水利局"),
                               (1, "教育", "县教育局"), (2, "教育", "县教育局")):
        ws.append([number, kind, f"{kind}任务{number}", unit, "2019年底"])
    path = tmp_path / "blocks.xlsx"
    wb.save(path)
    run(["matrix", "import", str(path), "--directory", str(units)], cwd=tmp_path, db_url=sqlite_url)
    tasks = _stored(tmp_path, sqlite_url, "blocks")["tasks"]
    assert [(t["code"], t["section"]) for t in tasks] == [
        ("1.1", ["交通"]), ("1.2", ["交通"]), ("2.1", ["水利"]), ("3.1", ["教育"]), ("3.2", ["教育"])]


@pytest.mark.parametrize("script", SCRIPTS)
def test_a_problem_names_its_sheet_when_the_tasks_come_from_several(tmp_path: Path, sqlite_url: str, units: Path,
                                                                      script: str) -> None:
    # Before: only "row 4", with a warning listing which sheet holds which rows.
    from openpyxl import load_workbook

    book = county_workbook(tmp_path / "county.xlsx", script)
    wb = load_workbook(book)
    sheet2 = "三、社會保障" if script == "traditional" else "三、社会保障"
    wb[sheet2]["F4"] = "縣不存在局"
    wb.save(book)
    proc = run(["matrix", "validate", str(book), "--directory", str(units), "--offline"], cwd=tmp_path,
               db_url=sqlite_url, check=False)
    err = " ".join(proc.stderr.split())
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert f"county.xlsx [{sheet2}] row 4" in err and "tasks read from sheets" not in err
    proc = run(["matrix", "validate", str(book), "--directory", str(units), "--offline", "--json"], cwd=tmp_path,
               db_url=sqlite_url, check=False)
    assert [(p["sheet"], p["row"], p["field"]) for p in json.loads(proc.stdout)["problems"]] == [(sheet2, 4, "lead_unit")]
    # One sheet named: the file's own rows, as for any single-sheet file.
    proc = run(["matrix", "validate", str(book), "--sheet", sheet2, "--directory", str(units), "--offline", "--json"],
               cwd=tmp_path, db_url=sqlite_url, check=False)
    assert [(p.get("sheet"), p["row"]) for p in json.loads(proc.stdout)["problems"]] == [(None, 4)]


@pytest.mark.parametrize("script", SCRIPTS)
def test_a_notes_column_is_kept_compared_exported_and_shown(tmp_path: Path, db_url: str, units: Path, script: str) -> None:
    # Before: 備註 was read and dropped at import (a Task had no note).
    note = "按月報送進度" if script == "traditional" else "按月报送进度"
    book = category_column_workbook(tmp_path / "county.xlsx", script, notes=(note, "", "", "", "", "已完成"))
    run(["matrix", "import", str(book), "--directory", str(units)], cwd=tmp_path, db_url=db_url)
    tasks = _stored(tmp_path, db_url, "county")["tasks"]
    assert [t["note"] for t in tasks] == [note, "", "", "", "", "已完成"]
    shown = run(["matrix", "show", "--plan", "county"], cwd=tmp_path, db_url=db_url).stdout
    assert f"備註：{note}" in shown and shown.count("備註：") == 2
    yaml_text = run(["matrix", "export", "--plan", "county"], cwd=tmp_path, db_url=db_url).stdout
    assert f"note: {note}" in yaml_text and yaml_text.count("note:") == 2
    # A note edited in the sheet is a change the re-import reports; exported as XLSX, it reads back.
    book = category_column_workbook(tmp_path / "county.xlsx", script, notes=(note, "", "", "", "", "延期至明年"))
    proc = run(["matrix", "import", str(book), "--directory", str(units), "--json"], cwd=tmp_path, db_url=db_url)
    assert json.loads(proc.stdout)["changed"] == {"2.3": [{"field": "note", "old": "已完成", "new": "延期至明年"}]}
    out = tmp_path / "out.xlsx"
    run(["matrix", "export", "--plan", "county", "--format", "xlsx", "--out", str(out)], cwd=tmp_path, db_url=db_url)
    proc = run(["matrix", "import", str(out), "--plan", "county", "--directory", str(units), "--json"], cwd=tmp_path,
               db_url=db_url)
    assert json.loads(proc.stdout)["changed"] == {}
    assert [t["note"] for t in _stored(tmp_path, db_url, "county")["tasks"]] == [note, "", "", "", "", "延期至明年"]


# Header words offices use every day (before: 「no header row found」 or columns 「not understood」).
_EVERYDAY = {
    "traditional": (["序", "任務內容", "牽頭部門", "配合部門", "牽頭縣領導", "時間安排", "完成情況"],
                    ["主責部門", "責任部門", "責任人", "重點任務", "工作內容", "進度安排", "落實情況"],
                    "縣水利局", "各鄉鎮人民政府", "縣財政局"),
    "simplified": (["序", "任务内容", "牵头部门", "配合部门", "牵头县领导", "时间安排", "完成情况"],
                   ["主责部门", "责任部门", "责任人", "重点任务", "工作内容", "进度安排", "落实情况"],
                   "县水利局", "各乡镇人民政府", "县财政局"),
}


@pytest.mark.parametrize("script", SCRIPTS)
def test_everyday_header_words_are_understood(tmp_path: Path, sqlite_url: str, units: Path, script: str) -> None:
    header, header2, water, towns, finance = _EVERYDAY[script]
    first = plain_workbook(tmp_path / "words.xlsx", [header, [1, "河道清四亂", water, towns, "張三", "2026年6月底前", "已完成"]])
    proc = run(["matrix", "import", str(first), "--directory", str(units)], cwd=tmp_path, db_url=sqlite_url)
    assert "not understood" not in proc.stdout + proc.stderr
    task = _stored(tmp_path, sqlite_url, "words")["tasks"][0]
    assert (task["code"], task["title"], [o["name"] for o in task["lead_officials"]], task["milestones"][0]["due"], task.get("note", "")) == (
        "1", "河道清四亂", ["張三"], "2026-06-30", "")
    assert (task["lead_unit"], task["supporting_units"]) == ("縣水利局", ["各鄉鎮人民政府"])
    # 責任部門 beside 主責部門 names the supporting units; 工作內容 beside a task column is its target.
    second = plain_workbook(tmp_path / "words2.xlsx", [header2, [water, finance, "李四", "供水改造", "改造管網", "2026年9月底前", ""]])
    run(["matrix", "import", str(second), "--directory", str(units)], cwd=tmp_path, db_url=sqlite_url)
    task = _stored(tmp_path, sqlite_url, "words2")["tasks"][0]
    assert (task["title"], task["target"], task["lead_unit"], task["supporting_units"], task["lead_officials"][0]["name"]) == (
        "供水改造", "改造管網", "縣水利局", ["縣財政局"], "李四")


@pytest.mark.parametrize("script", SCRIPTS)
def test_short_labels_under_a_responsible_group_and_numbers_written_with_marks(tmp_path: Path, sqlite_url: str,
                                                                              units: Path, script: str) -> None:
    header, _header2, water, towns, finance = _EVERYDAY[script]
    t = script == "traditional"
    # 責任單位 merged over 牽頭 | 配合 (before: 「missing lead unit」 on every row).
    group = plain_workbook(tmp_path / "group.xlsx", [
        ["序號" if t else "序号", "重點任務" if t else "重点任务", "責任單位" if t else "责任单位", None, "完成時限" if t else "完成时限"],
        [None, None, "牽頭" if t else "牵头", "配合", None],
        [1, "河道清四亂", water, towns, "2026年6月底前"], [2, "示範段", water, finance, "2026年9月底前"]],
        merges=("A1:A2", "B1:B2", "C1:D1", "E1:E2"))
    run(["matrix", "import", str(group), "--directory", str(units)], cwd=tmp_path, db_url=sqlite_url)
    tasks = _stored(tmp_path, sqlite_url, "group")["tasks"]
    assert [(x["lead_unit"], x["supporting_units"]) for x in tasks] == [
        ("縣水利局", ["各鄉鎮人民政府"]), ("縣水利局", ["縣財政局"])]
    # 序號 written 1、 / 1. / （1） under sub-headings (before: 「duplicate code」 refusals).
    marks = plain_workbook(tmp_path / "marks.xlsx", [
        ["序號" if t else "序号", "重點任務" if t else "重点任务", "牽頭單位" if t else "牵头单位", "完成時限" if t else "完成时限"],
        ["一、基礎設施" if t else "一、基础设施"], ["（一）交通"], ["1、", "公路", water, "2026年6月底前"],
        ["2.", "客運站", water, "2026年9月底前"], ["（二）水利"], ["（1）", "供水", water, "2026年10月底前"]])
    run(["matrix", "import", str(marks), "--directory", str(units)], cwd=tmp_path, db_url=sqlite_url)
    assert [x["code"] for x in _stored(tmp_path, sqlite_url, "marks")["tasks"]] == ["1.1.1", "1.1.2", "1.2.1"]


def test_an_old_xls_workbook_is_refused_with_how_to_save_it(tmp_path: Path, sqlite_url: str) -> None:
    old = tmp_path / "plan.xls"
    old.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 504)
    proc = run(["matrix", "validate", str(old)], cwd=tmp_path, db_url=sqlite_url, check=False)
    assert proc.returncode != 0 and "save it as .xlsx" in proc.stdout + proc.stderr


@pytest.mark.parametrize("script", SCRIPTS)
def test_a_notice_above_the_table_a_cover_sheet_and_unsaved_formulas(tmp_path: Path, sqlite_url: str, units: Path,
                                                                    script: str) -> None:
    t = script == "traditional"
    header, water = (["序號", "重點任務", "牽頭單位", "完成時限"] if t else ["序号", "重点任务", "牵头单位", "完成时限"]), _EVERYDAY[script][2]
    office = "某某縣人民政府辦公室" if t else "某某县人民政府办公室"
    title = "某某縣2026年重點工作任務分解表" if t else "某某县2026年重点工作任务分解表"
    # A covering notice pasted above the header (row 14; before: 「no header row found in the first 10 rows」).
    notice = [[office], ["關於印發" + title + "的通知" if t else "关于印发" + title + "的通知"], ["各鄉鎮：" if t else "各乡镇："]]
    notice += [[f"第{i}段：請認真落實。" if t else f"第{i}段：请认真落实。"] for i in range(1, 9)]
    book = plain_workbook(tmp_path / "notice.xlsx", [*notice, [office], ["2026年2月28日"], header,
                                                     [1, "河道清四亂", water, "2026年6月底前"]])
    run(["matrix", "import", str(book), "--directory", str(units)], cwd=tmp_path, db_url=sqlite_url)
    plan = _stored(tmp_path, sqlite_url, "notice")["plan"]
    assert (plan["title"], plan["start"]) == (title, "2026-02-28")
    # The title on a cover sheet, not the first category sheet's caption (before: 「教育類任務」).
    book = plain_workbook(tmp_path / "cover.xlsx", [], sheets={
        "封面": [[None], [title], [None], [office + " 2026年2月"]],
        "教育": [["教育類任務" if t else "教育类任务"], header, [1, "新建幼兒園", water, "2026年8月底前"]],
        "醫療" if t else "医疗": [["醫療類任務" if t else "医疗类任务"], header, [1, "衛生院", water, "2026年10月底前"]]})
    run(["matrix", "import", str(book), "--directory", str(units)], cwd=tmp_path, db_url=sqlite_url)
    assert _stored(tmp_path, sqlite_url, "cover")["plan"]["title"] == title
    # A row of formulas never calculated is said, not dropped silently; a sheet without a header says where.
    book = plain_workbook(tmp_path / "formula.xlsx", [header, [1, "河道", water, "2026年6月底前"], ["=A2+1", "=B2", "=C2", "=D2"]])
    proc = run(["matrix", "validate", str(book), "--directory", str(units)], cwd=tmp_path, db_url=sqlite_url)
    assert "A3, B3, C3, D3 hold formulas without saved values" in proc.stdout + proc.stderr
    assert "open and save it in Excel/WPS first" in proc.stdout + proc.stderr
    book = plain_workbook(tmp_path / "none.xlsx", [[office]] * 60 + [header, [1, "河道", water, "2026年6月底前"]])
    proc = run(["matrix", "validate", str(book), "--directory", str(units)], cwd=tmp_path, db_url=sqlite_url, check=False)
    assert proc.returncode != 0 and "first 50 rows" in proc.stdout + proc.stderr and "--sheet" in proc.stdout + proc.stderr
