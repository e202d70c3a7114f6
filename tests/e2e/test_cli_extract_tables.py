"""A county's 重點任務分工方案 whose matrix is a Word table, as a .docx and pasted into a .txt, in both scripts:
`duban matrix extract` → `matrix validate` → `matrix import`, through the CLI (tests/fixtures/table_plans.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.e2e.test_cli_extract import duban  # noqa: F401 - the fixture that runs `duban …` as a process
from tests.fixtures import table_plans
from tests.fixtures.table_plans import pasted_text, to_simplified, write_docx

pytest.importorskip("docx")

CASES = [("traditional", "docx"), ("traditional", "txt"), ("simplified", "docx"), ("simplified", "txt")]


def _write(tmp_path: Path, script: str, kind: str) -> Path:
    path = tmp_path / f"plan.{kind}"
    if kind == "docx":
        return write_docx(path, script)
    path.write_text(pasted_text(script), encoding="utf-8")
    return path


def _s(text: str, script: str) -> str:
    return to_simplified(text) if script == "simplified" else text


@pytest.mark.parametrize(("script", "kind"), CASES)
def test_a_word_table_plan_is_read_as_its_table(duban, tmp_path: Path, script: str, kind: str) -> None:  # noqa: F811
    path = _write(tmp_path, script, kind)
    proc = duban("matrix", "extract", path.name, "--out", "plan.yaml")
    # the preface, the 工作要求 and the unreadable 完成時限 are reported; the YAML is written anyway
    assert proc.returncode == 1, proc.stderr
    assert f"extracted {table_plans.TASKS} tasks" in proc.stderr
    data = yaml.safe_load((tmp_path / "plan.yaml").read_text("utf-8"))
    header = data["plan"]
    assert header["title"] == _s(table_plans.TITLE, script)
    assert header["issuer"] == _s(table_plans.ISSUER, script)  # from the notice: 清河縣人民政府辦公室關於印發…
    assert str(header["start"]) == "2025-03-12"  # the notice's date
    tasks = {t["code"]: t for t in data["tasks"]}
    assert list(tasks) == ["1", "2", "3", "4", "5", "6", "7"]  # the 序號, not the section's number before it
    # a category row merged across, then the 類別 column (merged down over two tasks): the task's section
    assert tasks["2"]["section"] == [_s("一、鞏固拓展脫貧攻堅成果", script), _s("防止返貧監測", script)]
    assert tasks["5"]["section"] == [_s("二、扎實推進鄉村建設", script), _s("基礎設施", script)]
    # 責任領導 merged down over three tasks
    assert tasks["3"]["lead_officials"] == [_s("李建國（副縣長）", script)]
    # a cell's paragraphs join; the 責任單位 of a unit's cell, another paragraph, becomes a unit of its own
    assert tasks["1"]["target"] == _s("對脫貧不穩定戶、邊緣易致貧戶開展常態化排查。發現一戶、幫扶一戶，確保動態清零。",
                                      script)
    assert tasks["3"]["supporting_units"] == [_s("縣財政局", script), _s("各鄉鎮人民政府", script)]
    assert tasks["3"]["deadline"] == _s("2025年4月底前啟動，11月底前完成", script)
    # 牽頭單位 spanning the 責任單位 column: the unit leads, nobody supports, the deadline stays in its column
    assert tasks["5"]["lead_unit"] == _s("縣水務局", script) and tasks["5"]["supporting_units"] == []
    assert tasks["5"]["deadline"] == _s("2025年10月底前", script)
    assert tasks["7"]["deadline"] == _s("按上級要求", script)
    assert "按上" in proc.stderr and "工作要求" in proc.stderr  # reported with their lines


def test_the_pasted_table_gives_the_same_plan_as_the_docx(tmp_path: Path) -> None:
    from duban.matrix.extract import extract, read_document

    plans = []
    for kind in ("docx", "txt"):
        text, _lines = read_document(_write(tmp_path, "traditional", kind))
        plan = extract(text, plan_code="p").plan
        plan["plan"].pop("source", None)
        plans.append([{k: v for k, v in t.items() if k != "source_line"} for t in plan["tasks"]] + [plan["plan"]])
    assert plans[0] == plans[1]


@pytest.mark.parametrize(("script", "kind"), [("simplified", "docx"), ("traditional", "txt")])
def test_extract_validate_import(duban, tmp_path: Path, script: str, kind: str) -> None:  # noqa: F811
    path = _write(tmp_path, script, kind)
    duban("matrix", "extract", path.name, "--out", "plan.yaml")
    yaml_file = tmp_path / "plan.yaml"
    written = yaml_file.read_text("utf-8")
    # the unreadable 完成時限 does not lose the task: it is written with a review: marker and the reason
    task7 = yaml.safe_load(written)["tasks"][6]
    assert task7["review"].startswith("時間要求「" + _s("按上級要求", script) + "」cannot be read")
    assert sum(line.lstrip().startswith("review:") for line in written.splitlines()) == 1
    proc = duban("matrix", "import", "plan.yaml", "--allow-new-units", "--as-of", "2025-03-20")
    assert proc.returncode != 0 and "按上" in proc.stdout + proc.stderr  # still refused while unreadable
    # the office writes the date it was told: import takes it and lists the task still marked review:
    yaml_file.write_text(written.replace(_s("deadline: 按上級要求", script), "deadline: 2025年12月底前"), "utf-8")
    proc = duban("matrix", "import", "plan.yaml", "--allow-new-units", "--as-of", "2025-03-20", "--dry-run")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "task 7 is marked for review" in proc.stdout.replace("\n", "")
    # the office confirms it by deleting the marker
    yaml_file.write_text("\n".join(line for line in yaml_file.read_text("utf-8").splitlines()
                                   if not line.lstrip().startswith("review:")) + "\n", "utf-8")
    proc = duban("matrix", "import", "plan.yaml", "--allow-new-units", "--as-of", "2025-03-20", "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(proc.stdout)
    assert result["ok"] and result["added"] == ["1", "2", "3", "4", "5", "6", "7"]
    assert "review" not in proc.stdout


RESTARTING = "\n".join([
    "西河鎮2024年重點工作任務分解表",
    "序號\t重點任務\t具體措施\t牽頭單位\t責任單位\t完成時限",
    "一\t產業發展",  # the section's number in the 序號 column, its name beside it, the rest merged
    "1\t發展特色種植\t新建蔬菜大棚50個。\t鎮農業辦\t各村委會\t2024年6月底前",
    "\t\t\t\t\t",  # an empty row
    "2\t培育經營主體\t新培育家庭農場5家。",  # a cell of two paragraphs breaks the row
    "培育合作社2家。\t鎮經管站\t\t2024年12月底前",
    "二\t基礎設施",
    "1\t道路建設\t硬化村組道路10公里。\t鎮建設辦\t各村委會\t2024年10月底前",
    "\t\t新建橋梁2座。\t鎮交管站\t\t2024年11月底前",  # 序號 and 重點任務 merged down over two measures
]) + "\n"


@pytest.mark.parametrize("script", ["traditional", "simplified"])
def test_a_pasted_table_whose_numbers_restart_under_each_section(duban, tmp_path: Path, script: str) -> None:  # noqa: F811
    (tmp_path / "plan.txt").write_text(_s(RESTARTING, script), encoding="utf-8")
    proc = duban("matrix", "extract", "plan.txt", "--out", "plan.yaml")
    assert proc.returncode == 0 and "every line was placed" in proc.stderr, proc.stderr
    tasks = yaml.safe_load((tmp_path / "plan.yaml").read_text("utf-8"))["tasks"]
    # the 序號 restart: the section's number prefixes them (a code used twice gets -2, with a note)
    assert [(t["code"], t["section"], t["title"], t["lead_unit"], t["deadline"]) for t in tasks] == [
        ("1.1", [_s("一、產業發展", script)], _s("發展特色種植", script), _s("鎮農業辦", script), "2024年6月底前"),
        ("1.2", [_s("一、產業發展", script)], _s("培育經營主體", script), _s("鎮經管站", script), "2024年12月底前"),
        ("2.1", [_s("二、基礎設施", script)], _s("道路建設", script), _s("鎮建設辦", script), "2024年10月底前"),
        ("2.1-2", [_s("二、基礎設施", script)], _s("道路建設", script), _s("鎮交管站", script), "2024年11月底前"),
    ]
    assert tasks[1]["target"] == _s("新培育家庭農場5家。培育合作社2家。", script)
    proc = duban("matrix", "validate", "plan.yaml", "--allow-new-units")
    assert proc.returncode == 0, proc.stdout + proc.stderr


TWO_ROW_ROWS = [["1", "壓縮審批時限", "企業開辦時間壓縮至1個工作日。", "縣市場監管局", "縣政務服務中心", "2024年6月底前"],
                ["2", "推進一網通辦", "政務服務事項網上可辦率達到95%。", "縣政務服務中心", "縣直各部門", "2024年12月底前"]]


def _two_row_header(tmp_path: Path, script: str, kind: str) -> Path:
    """責任單位 over 牽頭單位 | 配合單位, the other header cells merged down over both header rows."""
    title = _s("北山縣2024年優化營商環境重點任務分工方案", script)
    if kind == "txt":
        lines = [title, "序號\t重點任務\t具體措施\t責任單位\t完成時限", "\t\t\t牽頭單位\t配合單位\t",
                 *("\t".join(r) for r in TWO_ROW_ROWS)]
        path = tmp_path / "plan.txt"
        path.write_text(_s("\n".join(lines) + "\n", script), encoding="utf-8")
        return path
    import docx

    document = docx.Document()
    document.add_paragraph(title)
    table = document.add_table(rows=2 + len(TWO_ROW_ROWS), cols=6)
    grid = [list(row.cells) for row in table.rows]
    for r, values in enumerate([["序號", "重點任務", "具體措施", "責任單位", "", "完成時限"],
                                ["", "", "", "牽頭單位", "配合單位", ""], *TWO_ROW_ROWS]):
        for c, value in enumerate(values):
            grid[r][c].text = _s(value, script)
    for c in (0, 1, 2, 5):
        grid[0][c].merge(grid[1][c])
    grid[0][3].merge(grid[0][4])
    path = tmp_path / "plan.docx"
    document.save(str(path))
    return path


@pytest.mark.parametrize(("script", "kind"), CASES)
def test_a_header_of_two_rows(duban, tmp_path: Path, script: str, kind: str) -> None:  # noqa: F811
    path = _two_row_header(tmp_path, script, kind)
    proc = duban("matrix", "extract", path.name, "--out", "plan.yaml")
    assert proc.returncode == 0, proc.stderr  # before: the lower header row was a task of its own
    tasks = yaml.safe_load((tmp_path / "plan.yaml").read_text("utf-8"))["tasks"]
    assert [(t["code"], t["lead_unit"], t["supporting_units"]) for t in tasks] == [
        ("1", _s("縣市場監管局", script), [_s("縣政務服務中心", script)]),
        ("2", _s("縣政務服務中心", script), [_s("縣直各部門", script)]),
    ]


@pytest.mark.parametrize("script", ["traditional", "simplified"])
@pytest.mark.parametrize("gap", ["    ", "  ", "\u3000\u3000", "\u3000"])
def test_a_table_pasted_with_spaces_between_its_cells(duban, tmp_path: Path, script: str, gap: str) -> None:  # noqa: F811
    (tmp_path / "plan.txt").write_text(table_plans.spaced_text(script, gap), encoding="utf-8")
    proc = duban("matrix", "extract", "plan.txt", "-o", "plan.yaml")
    assert f"extracted {len(table_plans.SPACED_ROWS)} tasks" in proc.stderr, proc.stderr
    tasks = yaml.safe_load((tmp_path / "plan.yaml").read_text("utf-8"))["tasks"]
    assert [(t["code"], t["title"], t["lead_unit"], t["supporting_units"], t["deadline"]) for t in tasks] == [
        (code, _s(title, script), _s(lead, script), [_s(u, script) for u in units.split("、")], deadline)
        for code, title, lead, units, deadline in table_plans.SPACED_ROWS
    ]  # the single space inside 開展河道“清四亂” 專項行動 stays in its cell
    proc = duban("matrix", "validate", "plan.yaml", "--allow-new-units")
    assert proc.returncode == 0, proc.stdout + proc.stderr
