"""What duban writes and prints, as a user runs it: reports of sheet-imported plans, data printed
literally, files that carry no formulas and no markup, bounded file names and private file modes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.test_cli import run

UNITS = """\
office:
  name: {office}
  emails: [office@example.org]
units:
  - name: {unit}
    emails: [unit@example.org]
"""


def sheet_plan(tmp_path: Path, *, title: str = "交通建設", unit: str = "區交委", office: str = "辦公室",
               target: str = "道路硬化", official: str = "") -> tuple[Path, Path]:
    """A one-row CSV plan (no issuer: sheets have none) with its unit directory."""
    import csv

    units = tmp_path / "units.yaml"
    units.write_text(UNITS.format(office=json.dumps(office, ensure_ascii=False),
                                  unit=json.dumps(unit, ensure_ascii=False)), encoding="utf-8")
    plan = tmp_path / "plan.csv"
    with plan.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["code", "title", "target", "lead_officials", "lead_unit", "deadline"])
        w.writerow(["1", title, target, official, unit, "2015年11月底"])
    return plan, units


def test_weekly_report_of_a_sheet_plan_without_issuer(tmp_path: Path, sqlite_url: str) -> None:
    """Defect 1: a plan from a sheet has no issuer; the report names the office (read inside its session)."""
    plan, units = sheet_plan(tmp_path)
    run(["matrix", "import", str(plan), "--directory", str(units), "--as-of", "2015-07-01"], cwd=tmp_path, db_url=sqlite_url)
    proc = run(["report", "weekly", "--as-of", "2015-12-04", "--format", "html,md,docx", "--out", "rep"],
               cwd=tmp_path, db_url=sqlite_url, check=False)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    md = (tmp_path / "rep" / "weekly-2015-12-04.md").read_text(encoding="utf-8")
    assert "辦公室" in md or "办公室" in md
    proc = run(["run", "--once", "--as-of", "2015-12-11"], cwd=tmp_path, db_url=sqlite_url, check=False)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stdout + proc.stderr
    assert "weekly_report" in proc.stdout and "files" in proc.stdout, proc.stdout


# Names that Rich would read as markup: closing tags with nothing to close, a style, a link.
PLAN_TITLE = "方案[/i]"
TASK_TITLE = "任務[/bold]"
UNIT = "區交委[/]"
OFFICE = "辦公室[red]甲"
TARGET = "[link=http://x]硬化[/link]"


def test_square_brackets_in_names_are_printed_literally(tmp_path: Path, sqlite_url: str) -> None:
    """Defect 4: every command prints data as text, never as Rich markup (no MarkupError, nothing eaten)."""
    plan, units = sheet_plan(tmp_path, title=TASK_TITLE, unit=UNIT, office=OFFICE, target=TARGET)
    opts = ["--directory", str(units), "--title", PLAN_TITLE]

    def ok(*args: str, expect: tuple[str, ...] = ()) -> str:
        proc = run(list(args), cwd=tmp_path, db_url=sqlite_url, check=False)
        assert proc.returncode == 0 and "Traceback" not in proc.stderr, (args, proc.stdout, proc.stderr)
        text = proc.stdout + proc.stderr
        for e in expect:
            assert e in text, (args, e, text)
        return text

    ok("matrix", "validate", str(plan), *opts, expect=(PLAN_TITLE,))
    ok("matrix", "import", str(plan), *opts, "--as-of", "2015-07-01", expect=(PLAN_TITLE,))
    ok("plans", expect=(PLAN_TITLE,))
    ok("extension", "request", "1", "--unit", UNIT, "--until", "2016-01-29", "--reason", "雨季[/]",
       "--as-of", "2015-11-20", expect=(UNIT,))
    ok("extension", "list", expect=(UNIT,))
    ok("units", expect=(UNIT, OFFICE))
    ok("matrix", "show", expect=(TASK_TITLE, UNIT))
    ok("matrix", "show", "--unit", UNIT, expect=(TASK_TITLE, UNIT))
    ok("status", "--as-of", "2015-12-04", expect=(TASK_TITLE, UNIT))
    ok("sweep", "--as-of", "2015-12-04")
    ok("outbox", expect=(TASK_TITLE, UNIT))
    ok("deliver", "--as-of", "2015-12-04")
    ok("messages", expect=("交委[/]",))  # the subject, in the letters' script
    ok("history", "1", expect=(UNIT,))
    ok("progress", "report", "1", "--unit", UNIT, "--note", "[b]做了[/b]", "--as-of", "2015-12-05", expect=(UNIT,))
    ok("report", "weekly", "--as-of", "2015-12-04", "--out", "rep", expect=(PLAN_TITLE,))
    ok("progress", "close", "1", "--unit", UNIT, "--evidence", "[/]", "--as-of", "2015-12-07", expect=(UNIT,))
    # A refusal that quotes the offending text quotes it literally too.
    bad = tmp_path / "bad.csv"
    bad.write_text("code,title,lead_unit,deadline\n1,a,區不存在[/]局,2015年底\n", encoding="utf-8")
    proc = run(["matrix", "validate", str(bad), "--directory", str(units)], cwd=tmp_path, db_url=sqlite_url, check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr and "區不存在[/]局" in proc.stderr, proc.stderr


def test_xlsx_export_writes_text_never_formulas(tmp_path: Path, sqlite_url: str) -> None:
    """Defect 3: text beginning with = (or an error code such as #N/A) is a typed string cell, never a
    formula; the round trip import → export → import is exact."""
    import zipfile

    import openpyxl

    title, target, unit = '=HYPERLINK("http://evil.example/x","點我")', "=cmd|' /C calc'!A0", "=1+1區"
    official = "=SUM(A1)(區長)"
    plan, units = sheet_plan(tmp_path, title=title, target=target, unit=unit, official=official)
    run(["matrix", "import", str(plan), "--directory", str(units), "--title", "#N/A", "--plan", "p",
         "--as-of", "2015-07-01"], cwd=tmp_path, db_url=sqlite_url)
    before = json.loads(run(["matrix", "export", "--format", "json"], cwd=tmp_path, db_url=sqlite_url).stdout)
    xlsx = tmp_path / "out.xlsx"
    run(["matrix", "export", "--format", "xlsx", "--out", str(xlsx)], cwd=tmp_path, db_url=sqlite_url)
    with zipfile.ZipFile(xlsx) as z:
        sheets = [n for n in z.namelist() if n.startswith("xl/worksheets/")]
        for name in sheets:
            assert "<f>" not in z.read(name).decode() and "<f " not in z.read(name).decode(), name
    ws = openpyxl.load_workbook(xlsx).active
    cells = {c.value: c.data_type for row in ws.iter_rows() for c in row if c.value is not None}
    for text in (title, target, unit, "#N/A"):
        assert cells.get(text) == "s", (text, cells)
    assert any(v == "=SUM(A1)(區長)" or str(v).startswith("=SUM(A1)") for v in cells), cells
    assert all(t == "s" for t in cells.values()), cells
    # Round trip: the exported sheet imported as a second plan gives the same tasks.
    run(["matrix", "import", str(xlsx), "--directory", str(units), "--plan", "q", "--as-of", "2015-07-01"],
        cwd=tmp_path, db_url=sqlite_url)
    after = json.loads(run(["matrix", "export", "--format", "json", "--plan", "q"], cwd=tmp_path, db_url=sqlite_url).stdout)
    assert after["plan"]["title"] == "#N/A"
    assert [{k: v for k, v in t.items()} for t in after["tasks"]] == before["tasks"]


def test_markdown_report_escapes_html_and_markdown_in_names(tmp_path: Path, sqlite_url: str) -> None:
    """Defect 10: every data value in the .md report is text: HTML and Markdown in names stay inert, table
    cells stay cells (checked by rendering the file with markdown-it, CommonMark + tables)."""
    from markdown_it import MarkdownIt

    task, unit, office = "任務a|b*c*[x](y)_d_`e`#", "<b>單位</b>|*", "<i>辦公室</i>"
    plan_title = "<script>alert(1)</script>"
    plan, units = sheet_plan(tmp_path, title=task, unit=unit, office=office, target="<script>t</script>")
    run(["matrix", "import", str(plan), "--directory", str(units), "--title", plan_title, "--as-of", "2015-07-01"],
        cwd=tmp_path, db_url=sqlite_url)
    run(["sweep", "--as-of", "2015-12-18"], cwd=tmp_path, db_url=sqlite_url)
    out = json.loads(run(["report", "weekly", "--as-of", "2015-12-18", "--format", "md", "--out", "rep", "--json"],
                         cwd=tmp_path, db_url=sqlite_url).stdout)
    assert [c["unit"] for c in out["criticised"]] == [unit]  # the unit's name reaches the circulation
    md = (tmp_path / out["files"]["md"]).read_text(encoding="utf-8")
    assert "<script" not in md and "<b>" not in md and "<i>" not in md
    html = MarkdownIt("commonmark").enable("table").render(md)
    for tag in ("<script", "<b>", "<i>", "<a ", "<code>", "<em>", "<h1>任務"):
        assert tag not in html, (tag, html)
    # The names read as written (HTML-escaped once in the rendered page, no backslashes left).
    for text in ("&lt;script&gt;alert(1)&lt;/script&gt;", "任务a|b*c*[x](y)_d_`e`#", "&lt;b&gt;单位&lt;/b&gt;|*",
                 "&lt;i&gt;办公室&lt;/i&gt;"):
        assert text in html, (text, html)
    # Every row of the task table has its five cells.
    rows = [line for line in html.split("<tr>") if "任务a" in line and "<td>" in line]
    assert rows and all(r.count("<td") in (5, 7) for r in rows), rows


def test_long_unit_names_give_bounded_file_names(tmp_path: Path, sqlite_url: str) -> None:
    """Defect 8: a criticised unit's name of 200 Chinese characters (600 bytes) gives a criticism file
    name of at most 255 bytes (the name cut to 120 bytes plus a short hash of the whole name)."""
    unit = "區" + "很長的單位名稱" * 28 + "/../辦"
    plan, units = sheet_plan(tmp_path, unit=unit)
    run(["matrix", "import", str(plan), "--directory", str(units), "--as-of", "2015-07-01"], cwd=tmp_path, db_url=sqlite_url)
    run(["sweep", "--as-of", "2015-12-18"], cwd=tmp_path, db_url=sqlite_url)
    proc = run(["report", "weekly", "--as-of", "2015-12-18", "--out", "rep", "--json"], cwd=tmp_path, db_url=sqlite_url,
               check=False)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    out = json.loads(proc.stdout)
    assert len(out["criticised"]) == 1
    written = sorted(p.name for p in (tmp_path / "rep").iterdir())
    assert len(written) == 6, written  # weekly html/md/svg/docx, criticism html/docx; no temporary left
    for name in written:
        assert len(name.encode()) <= 255 and "/" not in name and ".." not in name, name
    files = [Path(p) for f in out["criticism"].values() for p in f.values()]
    assert all((tmp_path / p).exists() and len(p.name.encode()) <= 180 for p in files), files


def _modes(root: Path) -> dict[str, str]:
    """Permission bits of everything under ``root`` (relative path → '0600')."""
    return {str(p.relative_to(root)): oct(p.stat().st_mode & 0o777)[2:].zfill(4) for p in sorted(root.rglob("*"))}


@pytest.mark.parametrize("configured, file_mode, dir_mode", [(None, "0600", "0700"), ("0640", "0640", "0750")])
def test_data_files_are_private(tmp_path: Path, configured: str | None, file_mode: str, dir_mode: str,
                                monkeypatch) -> None:
    """Defect 15: the database (and its -wal/-shm), the outbox and its .eml files, reports and the config
    folder duban creates are 0600/0700 — or DUBAN_FILE_MODE and the folders' mode derived from it — even
    under a permissive umask (022 here)."""
    import os

    old = os.umask(0o022)
    try:
        if configured:
            monkeypatch.setenv("DUBAN_FILE_MODE", configured)
        else:
            monkeypatch.delenv("DUBAN_FILE_MODE", raising=False)
        work = tmp_path / "work"
        work.mkdir()
        url = f"sqlite:///{work / 'var' / 'duban.db'}"
        run(["init"], cwd=work, db_url=url)
        plan, units = sheet_plan(tmp_path)
        run(["matrix", "import", str(plan), "--directory", str(units), "--as-of", "2015-07-01"], cwd=work, db_url=url)
        run(["sweep", "--as-of", "2015-12-04"], cwd=work, db_url=url)
        run(["deliver", "--as-of", "2015-12-04"], cwd=work, db_url=url)
        run(["report", "weekly", "--as-of", "2015-12-04", "--out", "var/reports"], cwd=work, db_url=url)
        run(["matrix", "export", "--format", "xlsx", "--out", "var/export/plan.xlsx"], cwd=work, db_url=url)
    finally:
        os.umask(old)
    modes = _modes(work)
    assert any(k.endswith(".eml") for k in modes) and any(k.startswith("var/reports/weekly-") for k in modes)
    assert "var/duban.db" in modes and "duban-config/policy.yaml" in modes
    wrong = {k: v for k, v in modes.items() if v != (dir_mode if (work / k).is_dir() else file_mode)}
    assert not wrong, wrong


def test_a_file_mode_duban_cannot_use_is_refused_in_one_line(tmp_path: Path, sqlite_url: str, monkeypatch) -> None:
    monkeypatch.setenv("DUBAN_FILE_MODE", "0400")
    proc = run(["plans"], cwd=tmp_path, db_url=sqlite_url, check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "DUBAN_FILE_MODE='0400'" in proc.stderr and "owner rw" in proc.stderr, proc.stderr
