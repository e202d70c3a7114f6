"""Bad input is refused cleanly: file, line/row, field, a shortened quote of the text and the limit with
the setting that raises it; no traceback, no hang, no memory blow-up (issue 10: defects 5, 7, 9, 14, 17)."""

from __future__ import annotations

from pathlib import Path

import pytest

from matrix.errors import Problem, ValidationFailed, quote
from matrix.loaders import load_plan

DIRECTORY = """\
office:
  name: 區扶貧開發領導小組辦公室
  emails: [office@example.org]
units:
  - name: 區扶貧辦
    emails: [fupin@example.org]
  - name: 區交委
    emails: [jiaowei@example.org]
"""


def plan_yaml(lead_unit: str = "區扶貧辦", deadline: str = "2015年底", extra: str = "") -> str:
    return (
        "plan: {code: demo, title: 演示方案, base_year: 2015}\n"
        "directory: units.yaml\n"
        f"{extra}"
        "tasks:\n"
        '  - code: "1"\n'
        "    title: 扶貧對象精準\n"
        f"    lead_unit: {lead_unit}\n"
        f"    deadline: {deadline}\n"
    )


def write(path: Path, text: str | bytes) -> Path:
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------------------------
# 14: refusals quote at most 80 characters, with an ellipsis and the length


def test_quote_shortens_long_text_and_shows_control_characters() -> None:
    assert quote("區不存在局") == "「區不存在局」"
    assert quote("a" * 5_242_880) == "「" + "a" * 80 + "…」(5,242,880 characters)"
    assert quote("sw@example.org\r\nBcc: x\x00") == "「sw@example.org\\r\\nBcc: x\\u0000」"


def test_a_problem_keeps_a_short_quote_of_a_long_text() -> None:
    problem = Problem("plan.csv", 12, "title", "長" * 30_000, "unknown unit", row_kind="row")
    assert problem.text == "長" * 80 + "…" and problem.length == 30_000
    assert str(problem) == "plan.csv row 12: title: unknown unit — 「" + "長" * 80 + "…」(30,000 characters)"


def test_a_long_unknown_unit_and_deadline_give_a_short_message(tmp_path: Path) -> None:
    """Before: each refusal quoted the whole text (a 5 MB cell gave an 11.6 MB message)."""
    write(tmp_path / "units.yaml", DIRECTORY)
    plan = write(tmp_path / "plan.yaml", plan_yaml(lead_unit="區" * 30_000, deadline="盡快" * 15_000))
    with pytest.raises(ValidationFailed) as info:
        load_plan(plan)
    message = str(info.value)
    assert len(message) < 1_500, len(message)
    assert "(30,000 characters)" in message
    assert all(len(p.text) <= 81 for p in info.value.problems)
