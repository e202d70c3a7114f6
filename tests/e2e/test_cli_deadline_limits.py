"""`duban matrix validate` and `import` refuse deadline numbers and years the store cannot hold, as a user runs them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from tests.e2e.test_cli import run
from tests.support import PLANS


@pytest.mark.parametrize("deadline, words", [
    ("每月不少於99999999999999999999次", "99999999999999999999"),  # overflowed the INTEGER column at import
    ("2015年底完成99999999999999999999999個村", "99999999999999999999999"),  # was stored rounded
    ("9999年底", "9999"),
])
def test_validate_and_import_refuse_the_plan_and_change_nothing(
    tmp_path: Path, sqlite_url: str, deadline: str, words: str
) -> None:
    shutil.copy(PLANS / "district-2015.units.yaml", tmp_path / "district-2015.units.yaml")
    doc = yaml.safe_load((PLANS / "district-2015.yaml").read_text(encoding="utf-8"))
    doc["tasks"][1]["deadline"] = deadline
    bad = tmp_path / "district-2015.yaml"
    bad.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")

    proc = run(["matrix", "validate", str(bad), "--json"], cwd=tmp_path, db_url=sqlite_url, check=False)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    (problem,) = json.loads(proc.stdout)["problems"]
    assert problem["field"] == "deadline" and problem["text"] == deadline and words in problem["message"]

    proc = run(["matrix", "import", str(bad)], cwd=tmp_path, db_url=sqlite_url, check=False)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and "nothing was changed" in proc.stderr and words in proc.stderr
    assert json.loads(run(["plans", "--json"], cwd=tmp_path, db_url=sqlite_url).stdout) == []
