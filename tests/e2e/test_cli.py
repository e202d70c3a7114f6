"""The ``duban`` command as a user runs it: a real process, a real database, exit codes and output."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.support import PLANS

DUBAN = [sys.executable, "-m", "duban.workflows.cli"]
ROOT = Path(__file__).resolve().parents[2]


def run(args: list[str], *, cwd: Path, db_url: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "DUBAN_DATABASE_URL": db_url, "COLUMNS": "200", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([*DUBAN, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    if check and proc.returncode != 0:
        raise AssertionError(f"duban {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def test_help_is_fast_to_import(tmp_path: Path) -> None:
    """`duban --help` must not load Prefect, SQLAlchemy or the loaders (speed is measured in bench/)."""
    code = (
        "import sys\n"
        "sys.argv = ['duban', '--help']\n"
        "from duban.workflows.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('prefect', 'sqlalchemy', 'sqlmodel', 'duban.matrix.loaders', 'openpyxl') if m in sys.modules]\n"
        "sys.stderr.write('HEAVY=' + ','.join(heavy))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert "Usage" in proc.stdout
    assert proc.stderr.strip().endswith("HEAVY="), proc.stderr



def test_the_collector_is_paused_for_imports_only(tmp_path: Path) -> None:
    """`main` pauses garbage collection while a command imports its modules; the command's own work
    runs with it on (checked from inside a real command), and it is on again when main returns."""
    code = (
        "import gc, sys\n"
        "import duban.workflows.matrix_service as svc\n"
        "real = svc.show\n"
        "def show(*a, **kw):\n"
        "    sys.stderr.write('DURING=%s ' % gc.isenabled())\n"
        "    return real(*a, **kw)\n"
        "svc.show = show\n"
        "from duban.workflows.cli import main\n"
        "for argv in (['duban', 'matrix', 'show', '--json'], ['duban', 'no-such-command']):\n"
        "    sys.argv = argv\n"
        "    try:\n        main()\n    except SystemExit:\n        pass\n"
        "    sys.stderr.write('AFTER=%s ' % gc.isenabled())\n"
    )
    env = {**os.environ, "DUBAN_DATABASE_URL": f"sqlite:///{tmp_path / 'd.db'}"}
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60, env=env)
    assert "DURING=True AFTER=True" in proc.stderr and proc.stderr.count("AFTER=True") == 2, proc.stderr

def test_init_import_show_export(tmp_path: Path, sqlite_url: str) -> None:
    out = run(["init"], cwd=tmp_path, db_url=sqlite_url).stdout
    assert "created" in out
    plan = tmp_path / "duban-config" / "plans" / "district-2015.yaml"
    assert plan.exists()
    assert "23 tasks" in run(["matrix", "validate", str(plan)], cwd=tmp_path, db_url=sqlite_url).stdout
    out = run(["matrix", "import", str(plan), "--as-of", "2015-07-01"], cwd=tmp_path, db_url=sqlite_url).stdout
    assert "imported new plan district-2015" in out and "+23" in out
    rows = json.loads(run(["matrix", "show", "--unit", "区交委", "--json"], cwd=tmp_path, db_url=sqlite_url).stdout)
    assert rows[0]["code"] == "3.2.1" and rows[0]["lead_unit"] == "區交委"
    assert rows[0]["milestones"][0] == {"due": "2015-12-31", "start": None, "quantity": 25, "measure": "村"}
    table = run(["matrix", "show", "--official", "粟永特"], cwd=tmp_path, db_url=sqlite_url).stdout
    assert "3.2.9" in table and "教育" in table
    exported = json.loads(run(["matrix", "export", "--format", "json"], cwd=tmp_path, db_url=sqlite_url).stdout)
    assert len(exported["tasks"]) == 23
    xlsx = tmp_path / "out" / "district.xlsx"
    run(["matrix", "export", "--format", "xlsx", "--out", str(xlsx)], cwd=tmp_path, db_url=sqlite_url)
    assert xlsx.stat().st_size > 5000
    plans = json.loads(run(["plans", "--json"], cwd=tmp_path, db_url=sqlite_url).stdout)
    assert plans[0]["code"] == "district-2015" and plans[0]["tasks"] == 23
    units = json.loads(run(["units", "--json"], cwd=tmp_path, db_url=sqlite_url).stdout)
    assert any(u["name"] == "區扶貧辦" and u["emails"] for u in units)
    history = json.loads(run(["history", "3.2.1", "--json"], cwd=tmp_path, db_url=sqlite_url).stdout)
    assert [e["kind"] for e in history] == ["task.added"]


def test_reimport_prints_the_diff(tmp_path: Path, sqlite_url: str) -> None:
    plans = tmp_path / "plans"
    shutil.copytree(PLANS, plans)
    plan = plans / "district-2015.yaml"
    run(["matrix", "import", str(plan)], cwd=tmp_path, db_url=sqlite_url)
    doc = yaml.safe_load(plan.read_text(encoding="utf-8"))
    doc["tasks"][1]["deadline"] = "2015年底完成30個村、2016年底完成35個村"
    doc["tasks"] = [t for t in doc["tasks"] if t["code"] != "3.5"]
    plan.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    dry = run(["matrix", "import", str(plan), "--dry-run", "--json"], cwd=tmp_path, db_url=sqlite_url).stdout
    assert json.loads(dry)["archived"] == ["3.5"]
    out = run(["matrix", "import", str(plan)], cwd=tmp_path, db_url=sqlite_url).stdout
    assert "~ 3.2.1" in out and "30個村" in out and "- 3.5" in out and "archived" in out
    assert "0 added, 1 changed, 1 archived" in out
    again = run(["matrix", "import", str(plan)], cwd=tmp_path, db_url=sqlite_url).stdout
    assert "no changes" in again


def test_validation_errors_are_listed_without_traceback(tmp_path: Path, sqlite_url: str) -> None:
    shutil.copy(PLANS / "district-2015.units.yaml", tmp_path / "district-2015.units.yaml")
    doc = yaml.safe_load((PLANS / "district-2015.yaml").read_text(encoding="utf-8"))
    doc["tasks"][0]["deadline"] = "2015年13月"
    doc["tasks"][2]["lead_unit"] = "區不存在局"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    proc = run(["matrix", "import", str(bad)], cwd=tmp_path, db_url=sqlite_url, check=False)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert "2 problems" in proc.stderr and "2015年13月" in proc.stderr and "區不存在局" in proc.stderr
    proc = run(["matrix", "validate", str(bad), "--json"], cwd=tmp_path, db_url=sqlite_url, check=False)
    problems = json.loads(proc.stdout)["problems"]
    assert [(p["field"], p["text"]) for p in problems] == [("deadline", "2015年13月"), ("lead_unit", "區不存在局")]
    assert all(p["line"] and p["file"] == str(bad) for p in problems)
    plans = json.loads(run(["plans", "--json"], cwd=tmp_path, db_url=sqlite_url).stdout)
    assert plans == []  # nothing was imported


@pytest.mark.parametrize("args, message", [
    (["matrix", "import", "missing.yaml"], "missing.yaml: no such file"),
    (["matrix", "show", "--unit", "區不存在局"], "no unit '區不存在局'"),
    (["matrix", "export", "--plan", "nope"], "no plan 'nope'"),
    (["history", "9.9"], "no plan has been imported yet"),
])
def test_user_errors_exit_2_with_one_line(tmp_path: Path, sqlite_url: str, args: list[str], message: str) -> None:
    proc = run(args, cwd=tmp_path, db_url=sqlite_url, check=False)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.postgres
def test_cli_on_postgres(tmp_path: Path, pg_url: str) -> None:
    run(["matrix", "import", str(PLANS / "district-2015.yaml")], cwd=tmp_path, db_url=pg_url)
    rows = json.loads(run(["matrix", "show", "--unit", "區扶貧辦", "--json"], cwd=tmp_path, db_url=pg_url).stdout)
    assert len(rows) >= 15


def test_input_over_the_limits_is_refused_in_one_line_and_the_setting_raises_the_limit(tmp_path: Path, sqlite_url: str) -> None:
    """A CSV cell over 131,072 characters, a plan whose directory is /dev/zero: one line naming the
    file, row and field, the limit and its setting; no traceback, nothing imported. Raising
    DUBAN_LIMIT_CELL_CHARS lets the same sheet through."""
    shutil.copy(PLANS / "district-2015.units.yaml", tmp_path / "units.yaml")
    sheet = tmp_path / "plan.csv"
    sheet.write_text(f"序號,任務,目標要求,牽頭單位,時間要求\n1,扶貧,{'甲' * 140_000},區扶貧辦,2015年底\n", encoding="utf-8")
    proc = run(["matrix", "import", str(sheet), "--directory", "units.yaml"], cwd=tmp_path, db_url=sqlite_url, check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.startswith(f"duban: error: {sheet} row 2, field 目標要求: a cell of 140,000 characters exceeds "
                                  "the limit of 32,767 (DUBAN_LIMIT_CELL_CHARS)") and len(proc.stderr) < 300
    assert json.loads(run(["plans", "--json"], cwd=tmp_path, db_url=sqlite_url).stdout) == []
    env = {**os.environ, "DUBAN_DATABASE_URL": sqlite_url, "DUBAN_LIMIT_CELL_CHARS": "200000", "PYTHONPATH": str(ROOT)}
    raised = subprocess.run([*DUBAN, "matrix", "validate", str(sheet), "--directory", "units.yaml", "--offline"],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert raised.returncode == 0, raised.stderr
    zero = tmp_path / "zero.yaml"
    zero.write_text((PLANS / "district-2015.yaml").read_text(encoding="utf-8").replace(
        "directory: district-2015.units.yaml", "directory: /dev/zero"), encoding="utf-8")
    assert "directory: /dev/zero" in zero.read_text(encoding="utf-8")
    proc = run(["matrix", "validate", str(zero)], cwd=tmp_path, db_url=sqlite_url, check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr == "duban: error: /dev/zero: is not a regular file (a device, pipe or socket); give the path of a file\n"


def test_extract_from_a_text_with_nuls_writes_a_plan_that_validates(tmp_path: Path, sqlite_url: str) -> None:
    source = tmp_path / "plan.txt"
    source.write_text("區扶貧攻堅實施方案\n一、扶貧\x00對象精準\n牽頭單位：區扶貧辦\x00\n時間要求：2015年底\n", encoding="utf-8")
    out = tmp_path / "plan.yaml"
    run(["matrix", "extract", str(source), "--out", str(out), "--base-year", "2015"], cwd=tmp_path, db_url=sqlite_url,
        check=False)
    assert "\x00" not in out.read_text(encoding="utf-8") and "\\u0000" not in out.read_text(encoding="utf-8")
    proc = run(["matrix", "validate", str(out), "--allow-new-units", "--offline"], cwd=tmp_path, db_url=sqlite_url, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
