"""`duban demo` — the README's main job — as a newcomer runs it (once for the module: every test reads that run)."""

from __future__ import annotations

import email
import email.policy
import json
import os
import re
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import ROOT

pytestmark = pytest.mark.slow  # a minute or more: `pytest -m "not slow"` leaves it out


@dataclass(frozen=True)
class Demo:
    home: Path  # where it ran
    out: Path  # ./demo-out
    stdout: str

    def query(self, sql: str, *args: object) -> list[tuple]:
        with sqlite3.connect(self.out / "demo.db") as db:
            return db.execute(sql, args).fetchall()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    home = tmp_path_factory.mktemp("demo")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "120",
           "DUBAN_DATABASE_URL": f"sqlite:///{home / 'untouched.db'}"}
    env.pop("DUBAN_SECRET_KEY", None)
    proc = subprocess.run([sys.executable, "-m", "duban.workflows.cli", "demo"], cwd=home, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return Demo(home=home, out=home / "demo-out", stdout=proc.stdout)


def test_demo_replays_the_district_plan(demo: Demo) -> None:
    tmp_path, out, stdout = demo.home, demo.out, demo.stdout
    assert "通報批評 區金融辦" in stdout  # the unit that never reports is criticised
    assert "督辦 escalations" in stdout and "messages delivered" in stdout
    # Per unit: letters received and criticisms, as a table, a totals line and stats.json.
    assert "letters and criticisms per unit" in stdout and "\nletters: " in stdout
    # It ends by saying how to open its database in the console.
    assert "duban serve --as-of 2016-12-31" in stdout and "DUBAN_DATABASE_URL=sqlite:///" in stdout and "demo.db" in stdout
    stats = json.loads((out / "stats.json").read_text(encoding="utf-8"))
    assert stats["summary"]["letters"] > 0 and stats["working_weeks"] == 79
    assert max(u["streak"] for u in stats["units"]) == stats["summary"]["longest_streak"]
    index = (out / "index.html").read_text(encoding="utf-8")
    weekly = sorted((out / "reports").glob("weekly-*.html"))
    assert len(weekly) == 79  # every Friday from 2015-07-03 to 2016-12-30
    assert weekly[0].name in index and weekly[-1].name in index
    mails = sorted((out / "mail").glob("*.eml"))
    assert mails
    first = email.message_from_bytes(mails[0].read_bytes(), policy=email.policy.default)
    assert first["Message-ID"] and "督办" in first["Subject"] or "提醒" in first["Subject"]
    assert not (tmp_path / "untouched.db").exists()  # the demo keeps to its own database


def _link_units(demo: Demo) -> list[str]:
    index = (demo.out / "index.html").read_text(encoding="utf-8")
    found = re.search(r"Answering through their links: ([^<]+)</p>", index)
    assert found, "the index names the units that answer through their links"
    return found.group(1).split("、")


def _links_in_mail(demo: Demo) -> set[str]:
    """The link ids (plan-unit-day) the delivered letters carry, read from the mail sink."""
    ids: set[str] = set()
    for path in (demo.out / "mail").glob("*.eml"):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        body = message.get_body(("plain",))
        assert body is not None
        ids.update(re.findall(r"http://127\.0\.0\.1:8000/u/([0-9]+-[0-9]+-[0-9]{8})\.", body.get_content()))
    return ids


def test_a_share_of_units_answer_through_the_links_of_their_letters(demo: Demo) -> None:
    linked = _link_units(demo)
    assert 5 <= len(linked) <= 9 and "區金融辦" not in linked  # about half the lead units; never the silent one
    uses = demo.query("SELECT actor, json_extract(data, '$.unit'), json_extract(data, '$.link'), "
                      "json_extract(data, '$.action') FROM event WHERE kind = 'link.used'")
    assert {unit for _, unit, _, _ in uses} == set(linked)  # each link unit, and no other
    assert {action for *_, action in uses} >= {"acknowledge", "report", "request_closing"}
    for actor, unit, link, _ in uses:
        assert actor == f"{unit}（链接 {link}）"  # the actor says it came through that link
    assert {link for _, _, link, _ in uses} <= _links_in_mail(demo)  # each link a delivered letter carried
    # The services' own records name the link too: progress through a link, closing requests, 簽收.
    reports = demo.query("SELECT reported_by FROM progress_report WHERE source = 'link'")
    assert reports and all("（链接 " in by for (by,) in reports)
    assert all("（链接 " in by for (by,) in demo.query("SELECT requested_by FROM closing_request"))
    acks = demo.query("SELECT actor FROM event WHERE kind = 'notice.acknowledged'")
    assert acks and all("（链接 " in actor for (actor,) in acks)
    # The other units answer on paper, typed in by the office.
    paper = {unit for (unit,) in demo.query("SELECT DISTINCT u.name FROM progress_report p JOIN unit u ON u.id = p.unit_id "
                                            "WHERE p.reported_by = 'demo'")}
    assert paper - set(linked) and "區金融辦" not in paper


def test_the_office_returns_a_closing_request_once_then_closes_it(demo: Demo) -> None:
    rows = demo.query("SELECT id, milestone_id, status, decision_note, requested_at, decided_at FROM closing_request "
                      "ORDER BY id")
    returned = [r for r in rows if r[2] == "returned"]
    assert len(returned) == 1 and returned[0][3]  # once, with a reason
    again = [r for r in rows if r[1] == returned[0][1] and r[0] > returned[0][0]]
    assert len(again) == 1 and again[0][2] == "closed" and again[0][4] > returned[0][5]  # asked again after it
    assert {r[2] for r in rows} == {"closed", "returned"}  # every request decided
    closed_at, = demo.query("SELECT closed_at FROM milestone WHERE id = ?", returned[0][1])[0]
    assert closed_at == again[0][5]
    kinds = [k for (k,) in demo.query("SELECT kind FROM notice WHERE milestone_id = ? AND kind LIKE 'closing_%' "
                                      "ORDER BY id", returned[0][1])]
    assert kinds == ["closing_returned", "closing_closed"]  # the unit was told each time


def test_weekly_reports_praise_as_well_as_criticise(demo: Demo) -> None:
    both = [p for p in sorted((demo.out / "reports").glob("weekly-*.html"))
            if re.search(r"通报批评[1-9][0-9]*个单位，通报表扬[1-9][0-9]*个单位", p.read_text(encoding="utf-8"))]
    assert both, "some week names units praised and units criticised"
    praised = re.findall(r"通報表揚 (\S+)\s*│\s*(\d+) weeks", demo.stdout)
    assert praised and set(_link_units(demo)) & {unit for unit, _ in praised}  # link units answering on time are praised


def test_the_counts_printed_match_the_database(demo: Demo) -> None:
    by_link = re.search(r"answers through units' links \((\d+) units\)\s*│\s*(\d+)", demo.stdout)
    by_office = re.search(r"answers on paper, typed in by the office\s*│\s*(\d+)", demo.stdout)
    closings = re.search(r"closing requests closed / returned\s*│\s*(\d+) / (\d+)", demo.stdout)
    assert by_link and by_office and closings, demo.stdout[-3000:]
    assert int(by_link.group(1)) == len(_link_units(demo))
    (uses,), = demo.query("SELECT count(*) FROM event WHERE kind = 'link.used'")
    assert int(by_link.group(2)) == uses > 0
    for action, label in (("acknowledge", "簽收"), ("report", "報送進展"), ("request_closing", "申請辦結")):
        (n,), = demo.query("SELECT count(*) FROM event WHERE kind = 'link.used' AND json_extract(data, '$.action') = ?",
                           action)
        assert re.search(rf"{label} {action}\s*│\s*{n}\b", demo.stdout) and n > 0
    (typed,), = demo.query("SELECT (SELECT count(*) FROM progress_report WHERE reported_by = 'demo') + "
                           "(SELECT count(*) FROM extension WHERE requested_by = 'demo')")
    assert int(by_office.group(1)) == typed > 0
    (closed,), = demo.query("SELECT count(*) FROM closing_request WHERE status = 'closed'")
    assert (int(closings.group(1)), int(closings.group(2))) == (closed, 1)
    index = (demo.out / "index.html").read_text(encoding="utf-8")
    assert f"{uses} answers through the units' signed links" in index and f"{typed} answers on paper" in index
