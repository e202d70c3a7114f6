"""The vocabulary: one definition of each word, and a notice-kind registry the templates must match."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from duban.matrix import vocabulary as v
from duban.matrix.vocabulary import NOTICE_KIND_SPECS, KindSpec, NoticeKind, registry_gaps

TEMPLATES = Path(v.__file__).resolve().parent.parent / "notifications" / "templates"
_MACRO = re.compile(r"{%-?\s*macro\s+(\w+)\s*\(")


def _template_folders() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """File names per language folder, and the subject macros its _subjects.j2 defines."""
    files: dict[str, set[str]] = {}
    subjects: dict[str, set[str]] = {}
    for lang in v.TEMPLATE_LANGUAGES:
        folder = TEMPLATES / lang
        files[lang] = {p.name for p in folder.iterdir() if p.is_file()}
        source = (folder / "_subjects.j2").read_text(encoding="utf-8") if (folder / "_subjects.j2").exists() else ""
        subjects[lang] = set(_MACRO.findall(source))
    return files, subjects


def test_every_kind_has_its_templates_subject_and_labels():
    files, subjects = _template_folders()
    assert registry_gaps(NOTICE_KIND_SPECS, files, subjects) == []


def test_every_kind_template_in_the_folders_is_registered():
    """A <kind>.txt.j2 / .html.j2 in a language folder belongs to a registered kind (or is a known
    non-kind page: the weekly report, partials starting with _)."""
    files, _ = _template_folders()
    pages = {"weekly_report", "weekly_macros"}
    for lang, names in files.items():
        stems = {n.split(".")[0] for n in names if not n.startswith("_")}
        assert stems - pages == {k.value for k in NOTICE_KIND_SPECS}, lang


def test_the_checker_reports_a_kind_without_templates_or_labels():
    """The check can fail: a registry copy with a fake kind (no templates, one label, no subject macro)."""
    files, subjects = _template_folders()
    fake = KindSpec(NoticeKind.REMINDER, v.Family.NOTICE, "summons", {"zh-Hans": "传唤"})
    fake = dataclasses.replace(fake, kind="summons")  # type: ignore[arg-type] - a kind the enum does not have
    specs = {**NOTICE_KIND_SPECS, "summons": fake}
    gaps = registry_gaps(specs, files, subjects)  # type: ignore[arg-type]
    assert "summons: no en label" in gaps
    assert "summons: no template zh-Hans/summons.txt.j2" in gaps
    assert "summons: no template en/summons.html.j2" in gaps
    assert "summons: no subject macro 'summons' in en/_subjects.j2" in gaps
    # … and a registered kind whose template went missing is caught too.
    files["en"] = files["en"] - {"chase.html.j2"}
    assert registry_gaps(NOTICE_KIND_SPECS, files, subjects) == ["chase: no template en/chase.html.j2"]


@pytest.mark.parametrize("enum, values", [
    (v.NoticeKind, {"reminder", "chase", "escalation", "digest", "criticism", "praise", "closing_returned",
                    "closing_closed", "part_refused"}),
    (v.Light, {"closed", "green", "yellow", "red"}),
    (v.RecipientRole, {"unit", "unit_head", "official", "office", "office_head", "top_leader"}),
    (v.LadderRole, {"lead_unit", "supporting_units", "lead_unit_head", "lead_officials", "office", "office_head",
                    "top_leader"}),
    (v.Role, {"lead", "supporting"}),
    (v.ItemKind, {"milestone", "instance"}),
])
def test_members_are_the_stored_strings(enum, values):
    assert {m.value for m in enum} == values
    assert all(m == m.value and str(m) == m.value and f"{m}" == m.value for m in enum)


def test_the_copies_are_gone():
    """One definition: the modules that had their own copies now hold the vocabulary's."""
    from duban.matrix import policy, scoring
    from duban.notifications import render

    assert v.NOTICE_KINDS == ("reminder", "chase", "escalation")
    assert v.CIRCULATION_KINDS == ("criticism", "praise")
    assert render.NOTICE_KINDS is v.NOTICE_KINDS and render.LEVEL_COLOURS is v.LEVEL_COLOURS
    assert not hasattr(scoring, "LEVEL_COLOURS") and not hasattr(scoring.lines, "LEVEL_COLOURS")  # words: _lines.j2
    assert tuple(v.LadderRole) == policy.ROLES
    assert v.LEVEL_COLOURS == {1: "藍", 2: "橙", 3: "紅"}
    assert [c.key for c in v.LevelColour] == ["blue", "orange", "red"]
    assert v.ACK_KINDS == ("chase", "escalation")  # scoring's default acknowledgements.kinds
    assert v.SUPERSEDABLE_KINDS == ("reminder", "chase")  # what delivery marks superseded


def test_a_day_is_yyyy_mm_dd_or_yyyymmdd_never_a_timestamp() -> None:
    import datetime as dt

    from duban.matrix.vocabulary import parse_day

    assert parse_day("2019-07-15") == parse_day("20190715") == parse_day(" 2019-07-15 ") == dt.date(2019, 7, 15)
    for text in ("2019-7-5", "15/07/2019", "1563148800", "2019-02-30", "", "２０１９０７１５", "2019-07-15T00:00"):
        with pytest.raises(ValueError, match="is not a date; use YYYY-MM-DD"):
            parse_day(text)


def test_a_flow_reads_its_as_of_as_the_cli_does() -> None:
    """The Prefect flows' ``as_of``: the same days as ``--as-of`` (20190715 too), a date-time as before."""
    pytest.importorskip("prefect")
    from duban.matrix.errors import ConfigError
    from duban.workflows.flows import moment, run_name

    assert moment("20190715", "Asia/Shanghai").isoformat() == "2019-07-15T00:00:00+08:00"
    assert run_name("sweep", "20190715", timezone="Asia/Shanghai") == "sweep 2019-07-15"
    assert moment("2015-12-04T21:05", "Asia/Shanghai").isoformat() == "2015-12-04T21:05:00+08:00"
    for text in ("2019-7-5", "1563148800"):
        with pytest.raises(ConfigError, match=f'as_of: "{text}" is not a date; use YYYY-MM-DD'):
            moment(text, "Asia/Shanghai")
