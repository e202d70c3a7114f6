"""Policy files: defaults, per-plan and per-task overrides, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from duban.matrix.errors import ConfigError
from duban.matrix.policy import Policy, load_policy
from tests.support import ROOT

DEFAULT = ROOT / "config" / "policy.yaml"


def test_packaged_default_equals_the_built_in_one() -> None:
    assert load_policy(DEFAULT).default() == Policy()


def test_overrides_per_plan_and_task(tmp_path: Path) -> None:
    office = tmp_path / "policy.yaml"
    office.write_text("""\
chase: {every_working_days: 2}
plans:
  district-2015:
    reminders: {working_days_before: [10, 3, 1]}
    tasks:
      "3.6":
        escalation:
          - {level: 1, colour: 藍, after_working_days: 1, to: [lead_unit_head]}
          - {level: 2, colour: 紅, after_working_days: 2, to: [top_leader], cc: [office]}
""", encoding="utf-8")
    ps = load_policy(DEFAULT, office)
    assert ps.default().chase_every == 2 and ps.default().reminder_days == (5, 1)
    district = ps.for_task("district-2015", "3.1")
    assert district.reminder_days == (10, 3, 1) and district.chase_every == 2
    assert district.ladder == Policy().ladder
    six = ps.for_task("district-2015", "3.6")
    assert [(lv.level, lv.after, lv.to) for lv in six.ladder] == [(1, 1, ("lead_unit_head",)), (2, 2, ("top_leader",))]
    assert ps.for_task("village-2018", "3.6").ladder == Policy().ladder
    assert load_policy(tmp_path / "missing.yaml").default() == Policy()


@pytest.mark.parametrize("text, message", [
    ("chase: {every_working_days: 0}\n", "at least 1"),
    ("chase: {every_working_days: 三}\n", "not a whole number"),
    ("reminder: {working_days_before: [5]}\n", "unknown policy key 'reminder'"),
    ("escalation:\n  - {level: 1, after_working_days: 3, to: [boss]}\n", "unknown recipient role 'boss'"),
    ("escalation:\n  - {level: 1, after_working_days: 9}\n  - {level: 2, after_working_days: 3}\n", "must come after level 1"),
    ("plans:\n  p:\n    tasks:\n      '1': {colour: red}\n", "unknown policy key 'colour'"),
    ("chase: {every: 3}\n", "unknown policy key chase.every"),
    ("chase: {then_every_working_days: 0}\n", "chase.then_every_working_days: '0' must be at least 1"),
    ("chase: {repeats: -1}\n", "chase.repeats: '-1' must be zero or more"),
    ("chase: {stop_after_last_level: sometimes}\n", "chase.stop_after_last_level: 'sometimes' is not true or false"),
    ("chase: {cc_supporting_units: lead}\n", "chase.cc_supporting_units: 'lead' is not one of first, every, none"),
    ("plans:\n  p:\n    chase: {repeat: 1}\n", "unknown policy key chase.repeat"),
    ("status: [5]\n", "status must be a mapping"),
])
def test_bad_policy_files_are_refused_clearly(tmp_path: Path, text: str, message: str) -> None:
    p = tmp_path / "policy.yaml"
    p.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_policy(DEFAULT, p)
    assert message in str(info.value) and str(p) in str(info.value)


def test_the_chase_series_keys_and_old_policy_files(tmp_path: Path) -> None:
    """Old files stay valid: ``every_working_days`` alone sets the first chases' pace (the series still
    decays weekly and ends at the last level unless the file says otherwise); ``cc_supporting_units:
    true`` copies the supporting units on the first chase, ``false`` on none, ``every`` on every chase."""
    default = load_policy(DEFAULT).default()
    assert (default.chase_every, default.chase_repeats, default.chase_then_every, default.chase_stop_after_last_level,
            default.chase_cc_supporting) == (3, 2, 5, True, "first")
    assert [lv.cc for lv in default.ladder] == [(), ("office", "supporting_units"), ("supporting_units",)]
    old = tmp_path / "old.yaml"
    old.write_text("chase: {every_working_days: 2, cc_supporting_units: true}\n"
                   "plans:\n  p: {chase: {cc_supporting_units: false}}\n  q: {chase: {cc_supporting_units: every}}\n",
                   encoding="utf-8")
    ps = load_policy(DEFAULT, old)
    assert (ps.default().chase_every, ps.default().chase_then_every, ps.default().chase_cc_supporting) == (2, 5, "first")
    assert ps.for_task("p", "1").chase_cc_supporting == "none" and ps.for_task("q", "1").chase_cc_supporting == "every"
    forever = tmp_path / "forever.yaml"
    forever.write_text("chase: {every_working_days: 3, repeats: 0, then_every_working_days: 3, stop_after_last_level: false}\n",
                       encoding="utf-8")
    p = load_policy(DEFAULT, forever).default()
    assert (p.chase_repeats, p.chase_then_every, p.chase_stop_after_last_level) == (0, 3, False)
