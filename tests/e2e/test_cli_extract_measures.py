"""A village plan whose measures do not all name a (責任單位:…): the subject its text names leads, else the
plan's default unit (named by its opening, or --default-unit), marked review: for the office; through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.e2e.test_cli_extract import duban  # noqa: F401 - the fixture that runs `duban …` as a process
from tests.fixtures.table_plans import to_simplified

PLAN = """\
東坪村2024年人居環境整治工作計劃
為持續改善東坪村人居環境，根據鎮黨委、鎮政府統一部署，本計劃由鎮人民政府牽頭組織實施，結合本村實際制定。
一、工作目標
全年完成農村戶廁改造120戶，村莊保潔覆蓋所有村民小組。
二、主要措施
（一）推進農村戶廁改造。鎮農業農村辦要摸清改廁底數，逐戶建立台賬，2024年10月底前完成改造120戶。
（二）開展村莊清潔行動。每月組織村民集中清掃不少於2次，清理房前屋後和河塘溝渠積存垃圾。
（三）規範生活垃圾收運。完善村收集、鎮轉運、縣處理體系，確保日產日清。（責任單位：鎮環衛所、村委會）
三、保障措施
（一）加強組織領導。村“兩委”要把人居環境整治列入重要議事日程，主要負責人親自抓。
"""


def _s(text: str, script: str) -> str:
    return to_simplified(text) if script == "simplified" else text


@pytest.mark.parametrize("script", ["traditional", "simplified"])
def test_measures_without_a_unit_take_their_subject_or_the_default_unit(duban, tmp_path: Path,  # noqa: F811
                                                                       script: str) -> None:
    (tmp_path / "plan.txt").write_text(_s(PLAN, script), encoding="utf-8")
    proc = duban("matrix", "extract", "plan.txt", "--out", "plan.yaml")
    assert proc.returncode == 1 and "extracted 3 tasks" in proc.stderr, proc.stderr  # 工作目標, 保障 left over
    written = (tmp_path / "plan.yaml").read_text("utf-8")
    data = yaml.safe_load(written)
    assert data["plan"]["default_unit"] == _s("鎮人民政府", script)  # 由鎮人民政府牽頭 in the opening
    tasks = {t["code"]: t for t in data["tasks"]}
    assert list(tasks) == ["2.1", "2.2", "2.3"]
    assert tasks["2.1"]["lead_unit"] == _s("鎮農業農村辦", script) and "review" not in tasks["2.1"]  # its subject
    assert tasks["2.2"]["lead_unit"] == _s("鎮人民政府", script)  # no subject: the default unit, to be confirmed
    assert tasks["2.2"]["review"].startswith("no 責任單位 named: the plan's default unit")
    assert tasks["2.2"]["deadline"] == "每月不少於2次"
    assert tasks["2.3"]["lead_unit"] == _s("鎮環衛所", script) and "review" not in tasks["2.3"]

    proc = duban("matrix", "import", "plan.yaml", "--allow-new-units", "--as-of", "2024-03-01", "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(proc.stdout)
    assert result["ok"] and result["added"] == ["2.1", "2.2", "2.3"]
    proc = duban("matrix", "validate", "plan.yaml", "--allow-new-units")
    assert "task 2.2 is marked for review" in proc.stdout.replace("\n", "")

    # --default-unit names the unit instead; a task left without a lead unit in the YAML takes the header's
    proc = duban("matrix", "extract", "plan.txt", "--default-unit", _s("鎮農業農村辦", script), "--out", "b.yaml")
    again = yaml.safe_load((tmp_path / "b.yaml").read_text("utf-8"))
    assert again["plan"]["default_unit"] == _s("鎮農業農村辦", script)
    assert again["tasks"][1]["lead_unit"] == _s("鎮農業農村辦", script)
    lines = [ln for ln in (tmp_path / "b.yaml").read_text("utf-8").splitlines()
             if not ln.startswith("    lead_unit: " + _s("鎮農業農村辦", script))]
    (tmp_path / "b.yaml").write_text("\n".join(lines) + "\n", "utf-8")
    proc = duban("matrix", "validate", "b.yaml", "--allow-new-units", "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert any("led by the plan's default_unit" in w and "2.1、2.2" in w for w in json.loads(proc.stdout)["warnings"])


def test_seed_part3_goes_in_with_its_seven_measures(duban, tmp_path: Path) -> None:  # noqa: F811
    import shutil

    from tests.support import FIXTURES, PLANS

    shutil.copy(FIXTURES / "seeds" / "part3.txt", tmp_path / "plan.txt")
    shutil.copy(PLANS / "village-2018.units.yaml", tmp_path / "units.yaml")
    proc = duban("matrix", "extract", "plan.txt", "--out", "plan.yaml", "--plan", "village-2018")
    assert "extracted 13 tasks" in proc.stderr, proc.stderr  # 6 before: the 7 measures naming no unit were lost
    proc = duban("matrix", "import", "plan.yaml", "--directory", "units.yaml", "--as-of", "2018-03-01", "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(proc.stdout)
    assert len(result["added"]) == 13
    shown = json.loads(duban("matrix", "show", "--unit", "局駐村工作組", "--json").stdout)
    assert {"2.1", "2.6", "3.2"} <= {t["code"] for t in shown}
