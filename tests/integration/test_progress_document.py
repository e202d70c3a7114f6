"""Answer by document on SQLite and PostgreSQL: a unit's progress report is read into proposals that change
nothing; confirming records progress reports (source ``document``, the sentence in the note) and their events;
bad files and bad choices are refused with one line and change nothing."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from duban.matrix.errors import DubanError, Refused
from duban.workflows.matrix_service import PlanOptions, import_file
from duban.workflows.progress_document_service import choose, confirm, propose, read_paragraphs
from tests.e2e.test_cli import run
from tests.integration.test_progress import milestone, state
from tests.support import FIXTURES, at

PLAN = "county-spiritual"
PLAN_FILE = FIXTURES / "progress_document" / f"{PLAN}.yaml"
SEED_FILE = "seeds/000_60fd9141b206e91e.txt"


def seed_part2(shared: Path) -> str:
    path = shared / SEED_FILE
    if not path.exists():
        pytest.skip(f"the seed file {path} is not there")
    lines = path.read_text(encoding="utf-8").splitlines()
    start = lines.index("第二篇:精神扶貧材料")
    end = next(i for i, line in enumerate(lines) if line.startswith("第三篇"))
    return "\n".join(lines[start + 1:end])


@pytest.fixture
def county(engine):
    import_file(engine, PLAN_FILE, PlanOptions(), now=at(2018, 1, 2))
    return engine


@pytest.fixture
def county_sqlite(sqlite_url: str):
    """The plan on SQLite only, for what does not depend on the database (reading files)."""
    from duban.store.db import open_database

    engine = open_database(sqlite_url)
    import_file(engine, PLAN_FILE, PlanOptions(), now=at(2018, 1, 2))
    yield engine
    engine.dispose()


def test_propose_changes_nothing_and_confirm_records_the_chosen(county, shared: Path, tmp_path: Path) -> None:
    report = tmp_path / "臨潁縣精神扶貧材料.txt"
    report.write_text(seed_part2(shared), encoding="utf-8")
    before = state(county)
    proposed = propose(county, plan=PLAN, unit="县扶贫办", file=report)
    assert state(county) == before  # reading proposes only
    assert proposed["unit"] == "縣扶貧辦" and proposed["cumulative"] is True
    by_task = {p["task"]: p for p in proposed["proposals"]}
    assert (by_task["3"]["quantity"], by_task["3"]["measure"], by_task["3"]["milestone"]) == (160, "名", 1)
    assert "招募160名精神扶貧志" in by_task["3"]["sentence"] and by_task["3"]["role"] == "lead"
    assert (by_task["4"]["quantity"], by_task["4"]["measure"]) == (113, "户")
    assert by_task["1"]["role"] == "supporting" and by_task["1"]["quantity"] == 2800
    assert {u["written"] for u in proposed["unmatched"]} == {"3萬余人", "八十首", "兩篇"}

    chosen = choose(proposed["proposals"], f"{by_task['3']['number']},{by_task['4']['number']}")
    results = confirm(county, plan=PLAN, unit="縣扶貧辦", chosen=chosen, now=at(2018, 6, 1), reported_by="李四",
                      document=proposed["document"])
    assert [(r["task"], r["item"]["done_quantity"], r["item"]["closed"]) for r in results] == [("3", 160, False), ("4", 113, True)]
    after = state(county)
    assert after["counts"]["progress_report"] == before["counts"]["progress_report"] + 2
    assert after["counts"]["event"] > before["counts"]["event"]
    with county.connect() as conn:
        rows = conn.execute(sa.text("SELECT t.code, r.kind, r.done_quantity, r.note, r.source, r.reported_by "
                                    "FROM progress_report r JOIN task t ON t.id = r.task_id ORDER BY r.id")).all()
        kinds = [k for (k,) in conn.execute(sa.text("SELECT kind FROM event WHERE kind LIKE 'progress.%' OR kind LIKE 'item.%' ORDER BY id"))]
    reports = [r for r in rows if r.kind == "report"]
    assert [(r.code, float(r.done_quantity), r.source, r.reported_by) for r in reports] == [
        ("3", 160.0, "document", "李四"), ("4", 113.0, "document", "李四")]
    assert reports[0].note.startswith("「") and "面向全社會招募160名精神扶貧志" in reports[0].note
    assert reports[0].note.endswith("(臨潁縣精神扶貧材料.txt)")
    assert kinds == ["progress.reported", "progress.reported", "item.closed"]  # 113 of 113 closes it (辦結)
    assert float(milestone(county, "3", plan=PLAN).done_quantity) == 160
    assert milestone(county, "1", plan=PLAN).done_quantity is None  # not chosen, not recorded

    # Read again: the closed milestone is no longer proposed; a stale choice of it is refused, nothing changes.
    again = propose(county, plan=PLAN, unit="縣扶貧辦", file=report)
    assert "4" not in {p["task"] for p in again["proposals"]}
    now_state = state(county)
    with pytest.raises(Refused, match="task 4 milestone 1 is not an open milestone 縣扶貧辦 reports on"):
        confirm(county, plan=PLAN, unit="縣扶貧辦", chosen=[by_task["4"]], now=at(2018, 6, 2))
    assert state(county) == now_state


def test_docx_and_gb18030_reports_are_read(county_sqlite) -> None:
    county = county_sqlite
    import docx

    document = docx.Document()
    document.add_paragraph("截至目前,面向全社會招募一百六十名精神扶貧志願者。")
    table = document.add_table(rows=1, cols=2)
    table.cell(0, 0).text = "精神扶貧戶"
    table.cell(0, 1).text = "首批篩選113戶精神扶貧戶"
    data = io.BytesIO()
    document.save(data)
    proposed = propose(county, plan=PLAN, unit="縣扶貧辦", file=("報告.docx", data.getvalue()))
    assert {(p["task"], p["quantity"]) for p in proposed["proposals"]} == {("3", 160), ("4", 113)}
    text = "截至目前，开展各类精神扶贫帮扶活动380余次。".encode("gb18030")
    proposed = propose(county, plan=PLAN, unit="縣扶貧辦", file=("报告.txt", text))
    assert [(p["task"], p["quantity"], p["sentence"]) for p in proposed["proposals"]] == [
        ("5", 380, "截至目前，开展各类精神扶贫帮扶活动380余次。")]


@pytest.mark.parametrize(("file", "message"), [
    (("報告.pdf", b"%PDF-1.4"), "報告.pdf: a progress report must be a .docx or .txt file, not .pdf"),
    (("報告", b"text"), "報告: a progress report must be a .docx or .txt file, not a file without a suffix"),
    (("報告.txt", "招募160名志願者。".encode() * 100), "報告.txt: the file is 2,400 bytes, more than the 1,000 bytes"),
    ("big.txt", "big.txt: the file is 2,400 bytes, more than the 1,000 bytes"),
    ("missing.docx", "missing.docx: no such file"),
    (("報告.docx", b"not a zip"), "報告.docx: not a readable .docx document"),
    (("報告.txt", b"   "), "報告.txt: the document is empty"),
])
def test_a_bad_file_is_refused_with_one_line(tmp_path: Path, monkeypatch, file, message: str) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "big.txt").write_bytes("招募160名志願者。".encode() * 100)
    with pytest.raises(DubanError) as raised:
        read_paragraphs(file, max_bytes=1000)
    assert str(raised.value).startswith(message) and "\n" not in str(raised.value)


def test_a_choice_not_proposed_is_refused(county) -> None:
    proposed = propose(county, plan=PLAN, unit="縣扶貧辦", file=("報告.txt", "招募志願者160名。".encode()))
    with pytest.raises(Refused, match=r"confirm: '7' is not a proposal number \(proposed: 1\)"):
        choose(proposed["proposals"], "1,7")
    before = state(county)
    with pytest.raises(Refused, match="task 3 milestone 1 is not an open milestone 縣委宣傳部 reports on"):
        confirm(county, plan=PLAN, unit="縣委宣傳部", chosen=proposed["proposals"], now=at(2018, 6, 1))
    assert state(county) == before


def test_cli_read_then_confirm(tmp_path: Path, sqlite_url: str) -> None:
    from duban.store.db import open_database

    engine = open_database(sqlite_url)
    import_file(engine, PLAN_FILE, PlanOptions(), now=at(2018, 1, 2))
    engine.dispose()
    report = tmp_path / "report.txt"
    report.write_text("面向全社會招募160名精神扶貧志願者,分組包戶對應首批篩選的113戶精神扶貧戶。\n參加群眾3萬余人。",
                      encoding="utf-8")
    out = json.loads(run(["progress", "read", str(report), "--unit", "縣扶貧辦", "--plan", PLAN, "--confirm", "all",
                          "--as-of", "2018-06-01", "--json"], cwd=tmp_path, db_url=sqlite_url).stdout)
    assert [(p["task"], p["quantity"]) for p in out["proposals"]] == [("3", 160), ("4", 113)]
    assert [(r["task"], r["item"]["done_quantity"]) for r in out["recorded"]] == [("3", 160), ("4", 113)]
    assert out["unmatched"][0]["written"] == "3萬余人"
