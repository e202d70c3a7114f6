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
               target: str = "道路硬化") -> tuple[Path, Path]:
    """A one-row CSV plan (no issuer: sheets have none) with its unit directory."""
    import csv

    units = tmp_path / "units.yaml"
    units.write_text(UNITS.format(office=json.dumps(office, ensure_ascii=False),
                                  unit=json.dumps(unit, ensure_ascii=False)), encoding="utf-8")
    plan = tmp_path / "plan.csv"
    with plan.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["code", "title", "target", "lead_unit", "deadline"])
        w.writerow(["1", title, target, unit, "2015年11月底"])
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
