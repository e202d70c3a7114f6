"""`duban demo` — the README's main job — as a newcomer runs it."""

from __future__ import annotations

import email
import email.policy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import ROOT

pytestmark = pytest.mark.slow  # a minute or more: `pytest -m "not slow"` leaves it out


def test_demo_replays_the_district_plan(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "120",
           "DUBAN_DATABASE_URL": f"sqlite:///{tmp_path / 'untouched.db'}"}
    proc = subprocess.run([sys.executable, "-m", "duban.workflows.cli", "demo"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = tmp_path / "demo-out"
    assert "通報批評 區金融辦" in proc.stdout  # the unit that never reports is criticised
    assert "督辦 escalations" in proc.stdout and "messages delivered" in proc.stdout
    # Per unit: letters received and criticisms, as a table, a totals line and stats.json.
    assert "letters and criticisms per unit" in proc.stdout and "\nletters: " in proc.stdout
    # It ends by saying how to open its database in the console.
    assert "duban serve --as-of 2016-12-31" in proc.stdout and "DUBAN_DATABASE_URL=sqlite:///" in proc.stdout and "demo.db" in proc.stdout
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
