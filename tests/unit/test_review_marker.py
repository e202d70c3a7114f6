"""A plan YAML's ``review:`` marker (written by `matrix extract`) and its ``default_unit`` header field, as load_plan reads them."""

from __future__ import annotations

from pathlib import Path

import pytest

from duban.matrix.errors import ValidationFailed
from duban.matrix.loaders import load_plan

PLAN = """\
plan:
  code: review-test
  title: 西河鎮2021年人居環境整治工作方案
  base_year: 2021
{header}tasks:
  - code: "1"
    title: 垃圾清運
    lead_unit: 鎮環衛所
    deadline: {deadline}
    review: "時間要求「按上級要求」cannot be read"
  - code: "2"
    title: 廁所改造
{lead}    deadline: 2021年10月底前
"""


def _write(tmp_path: Path, *, deadline: str = "2021年6月底前", lead: str = "    lead_unit: 鎮農辦\n",
           header: str = "") -> Path:
    path = tmp_path / "plan.yaml"
    path.write_text(PLAN.format(deadline=deadline, lead=lead, header=header), encoding="utf-8")
    return path


def test_a_readable_task_marked_review_is_a_warning_naming_it(tmp_path: Path) -> None:
    loaded = load_plan(_write(tmp_path), allow_new_units=True)
    assert [t.code for t in loaded.plan.tasks] == ["1", "2"]
    [warning] = [w for w in loaded.warnings if "review" in w]
    assert warning.startswith(f"{tmp_path / 'plan.yaml'}:10: task 1 is marked for review (時間要求「按上級要求」")
    assert "delete its review: line" in warning


def test_an_unreadable_task_marked_review_is_still_a_problem(tmp_path: Path) -> None:
    with pytest.raises(ValidationFailed) as err:
        load_plan(_write(tmp_path, deadline="按上級要求"), allow_new_units=True)
    [problem] = err.value.problems
    assert problem.field == "deadline" and problem.line == 9 and "按上級要求" in problem.text


def test_default_unit_leads_the_tasks_that_name_none(tmp_path: Path) -> None:
    path = _write(tmp_path, lead="", header="  default_unit: 鎮政府辦\n")
    loaded = load_plan(path, allow_new_units=True)
    assert loaded.plan.task("2").lead_unit == "鎮政府辦" and loaded.plan.task("1").lead_unit == "鎮環衛所"
    assert any("default_unit 鎮政府辦: 2" in w for w in loaded.warnings)
    with pytest.raises(ValidationFailed) as err:  # without one, a task with no lead unit is refused as before
        load_plan(_write(tmp_path, lead=""), allow_new_units=True)
    assert [p.field for p in err.value.problems] == ["lead_unit"]
