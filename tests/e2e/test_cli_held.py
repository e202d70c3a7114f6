"""Notices held rather than lost or mailed by accident (issue 12), as a user meets them through the CLI:
a replay's notices held from a real mail server unless DUBAN_ALLOW_REPLAY_MAIL=1; a recipient with no
address held until the directory has one; a notice whose 主送 got nothing is not `sent` because a 抄送
copy went out; every run summary counts sent / held / failed / undeliverable."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from tests.support import PLANS, ROOT

DUBAN = [sys.executable, "-m", "duban.workflows.cli"]


@pytest.fixture(autouse=True)
def chasing_policy(tmp_path: Path) -> None:
    """The office's policy here chases every 3 working days for as long as an item is open and copies every
    chase (the series before issue 12; the shipped one ends at level 3 and copies the first chase only), so
    that 3.1 — past level 3 on 2015-12-04 — still has chases to 主送 區扶貧辦 and 抄送 the townships."""
    (tmp_path / "cfg").mkdir(exist_ok=True)
    (tmp_path / "cfg" / "policy.yaml").write_text(
        "chase: {then_every_working_days: 3, stop_after_last_level: false, cc_supporting_units: every}\n", encoding="utf-8")


def duban(args: list[str], *, cwd: Path, db_url: str, smtp_port: int | None = None, allow_replay: bool = False,
          **env: str) -> subprocess.CompletedProcess:
    """One `duban` command; DUBAN_ALLOW_REPLAY_MAIL set only when ``allow_replay`` says so."""
    environ = {k: v for k, v in os.environ.items() if k != "DUBAN_ALLOW_REPLAY_MAIL"}
    environ.update({"DUBAN_DATABASE_URL": db_url, "COLUMNS": "250", "PYTHONPATH": str(ROOT),
                    "DUBAN_OUTBOX_DIR": str(cwd / "outbox"), "DUBAN_CONFIG_DIR": str(cwd / "cfg"), **env})
    if smtp_port:
        environ["DUBAN_SMTP_URL"] = f"smtp://127.0.0.1:{smtp_port}"
    if allow_replay:
        environ["DUBAN_ALLOW_REPLAY_MAIL"] = "1"
    proc = subprocess.run([*DUBAN, *args], cwd=cwd, env=environ, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, f"duban {args}: {proc.stdout}\n{proc.stderr}"
    return proc


def swept(tmp_path: Path, db_url: str, plan: Path = PLANS / "district-2015.yaml", as_of: str | None = "2015-12-04") -> None:
    duban(["matrix", "import", str(plan), "--as-of", "2015-07-01"], cwd=tmp_path, db_url=db_url)
    duban(["sweep", *(["--as-of", as_of] if as_of else [])], cwd=tmp_path, db_url=db_url)


def deliver_json(tmp_path: Path, db_url: str, **kw) -> dict:
    return json.loads(duban(["deliver", "--as-of", "2015-12-04", "--json"], cwd=tmp_path, db_url=db_url, **kw).stdout)


def today() -> str:
    return dt.datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()


# --------------------------------------------------------------------------------------------
# A replay never mails real people by accident


def test_a_replay_is_held_from_the_mail_server_until_the_office_allows_it(tmp_path: Path, sqlite_url: str,
                                                                         recorder) -> None:
    swept(tmp_path, sqlite_url)  # 2015-12-04, swept today: a replay
    first = deliver_json(tmp_path, sqlite_url, smtp_port=recorder.port)
    assert recorder.messages == [], "a replay's notices went to a real mail server"
    assert first["sent"] == 0 and first["failed"] == 0 and first["held"] > 0 and first["planned_messages"] > 0
    assert first["summary"].startswith(f"0 sent, {first['held']} held, 0 failed, 0 undeliverable")
    reason = f"held: planned by a replay (as of 2015-12-04, swept {today()}); set DUBAN_ALLOW_REPLAY_MAIL=1 to send"
    messages = json.loads(duban(["messages", "--json"], cwd=tmp_path, db_url=sqlite_url).stdout)
    assert messages and {(m["status"], m["last_error"], m["attempts"]) for m in messages} == {("held", reason, 0)}
    table = duban(["messages"], cwd=tmp_path, db_url=sqlite_url).stdout
    assert "held" in table and "planned by a replay (as of 2015-12-04" in table
    notices = json.loads(duban(["outbox", "--json"], cwd=tmp_path, db_url=sqlite_url).stdout)
    assert {(n["status"], n["reason"]) for n in notices} == {("held", reason)}
    assert "held: planned by a replay" in duban(["outbox"], cwd=tmp_path, db_url=sqlite_url).stdout
    text = duban(["deliver", "--as-of", "2015-12-04"], cwd=tmp_path, db_url=sqlite_url, smtp_port=recorder.port).stdout
    assert recorder.messages == [] and "planned by a replay; set DUBAN_ALLOW_REPLAY_MAIL=1 to send" in text

    # The office says so: the held messages go out with the next deliver, each once.
    again = deliver_json(tmp_path, sqlite_url, smtp_port=recorder.port, allow_replay=True)
    assert again["sent"] == len(messages) == len(recorder.messages) and again["held"] == 0
    assert {m["status"] for m in json.loads(duban(["messages", "--json"], cwd=tmp_path, db_url=sqlite_url).stdout)} == {"sent"}
    assert {n["status"] for n in json.loads(duban(["outbox", "--json"], cwd=tmp_path, db_url=sqlite_url).stdout)} == {"sent"}


def test_the_eml_outbox_always_takes_a_replay(tmp_path: Path, sqlite_url: str) -> None:
    swept(tmp_path, sqlite_url)
    result = deliver_json(tmp_path, sqlite_url)  # no SMTP, no DUBAN_ALLOW_REPLAY_MAIL
    files = list((tmp_path / "outbox").glob("*.eml"))
    assert result["sent"] == len(files) > 0 and result["held"] == 0


def test_a_sweep_as_of_today_is_mailed_without_the_setting(tmp_path: Path, sqlite_url: str, recorder) -> None:
    swept(tmp_path, sqlite_url, as_of=None)  # today: the 2015 plan's items are long overdue
    result = json.loads(duban(["deliver", "--json"], cwd=tmp_path, db_url=sqlite_url, smtp_port=recorder.port).stdout)
    assert result["sent"] == len(recorder.messages) > 0 and result["held"] == 0


# --------------------------------------------------------------------------------------------
# Held, not failed, when there is no address


def _plan_without(tmp_path: Path, unit: str) -> Path:
    """A copy of the district plan whose directory has no address for ``unit``."""
    folder = tmp_path / "plan"
    shutil.copytree(PLANS, folder)
    units_file = folder / "district-2015.units.yaml"
    units = yaml.safe_load(units_file.read_text(encoding="utf-8"))
    for u in units["units"]:
        if u["name"] == unit:
            u["emails"] = []
    units_file.write_text(yaml.safe_dump(units, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return folder / "district-2015.yaml"


def test_no_address_is_held_and_sent_once_the_directory_has_it(tmp_path: Path, sqlite_url: str, recorder) -> None:
    plan = _plan_without(tmp_path, "區扶貧辦")  # 3.1's lead unit (主送 of its chase; 區級各鄉鎮 is 抄送)
    swept(tmp_path, sqlite_url, plan=plan)
    text = duban(["deliver", "--as-of", "2015-12-04"], cwd=tmp_path, db_url=sqlite_url, smtp_port=recorder.port,
                 allow_replay=True).stdout
    assert ", 0 failed, 0 undeliverable" in text and " held, " in text and "recipients held" in text
    assert "no address in the directory (no email address in the unit directory): task 3.1 → 區扶貧辦 (unit)" in text
    assert not any("fupin@example.org" in rs for _, rs, _ in recorder.messages)
    copies = [rs for _, rs, _ in recorder.messages if "townships@example.org" in rs]
    assert copies, "the 抄送 copy goes out"
    held = json.loads(duban(["outbox", "--status", "held", "--json"], cwd=tmp_path, db_url=sqlite_url).stdout)
    chase = [n for n in held if n["task"] == "3.1" and n["kind"] == "chase"]
    # 主送 got nothing: held (not sent because the 抄送 copy went out), with why; the copy is recorded as sent.
    assert chase and all(n["reason"] == "held: no address for 區扶貧辦 (unit) in the directory" for n in chase)
    assert all(n["cc"] for n in chase)
    assert _delivery_states(sqlite_url, [n["id"] for n in chase]) == {(False, "held"), (True, "sent")}
    assert "held: no address for 區扶貧辦 (unit) in the directory" in duban(
        ["outbox", "--status", "held"], cwd=tmp_path, db_url=sqlite_url).stdout
    assert "held: no address for 區扶貧辦 (unit) in the directory" in duban(["messages"], cwd=tmp_path, db_url=sqlite_url).stdout
    still = deliver_json(tmp_path, sqlite_url, smtp_port=recorder.port, allow_replay=True)  # nothing changed: still held
    assert still["sent"] == 0 and still["held"] >= len(chase) and still["failed"] == 0

    # The office adds the address to the directory and imports the plan again: the next deliver sends it.
    shutil.copy(PLANS / "district-2015.units.yaml", plan.parent / "district-2015.units.yaml")
    duban(["matrix", "import", str(plan), "--as-of", "2015-12-04"], cwd=tmp_path, db_url=sqlite_url)
    after = deliver_json(tmp_path, sqlite_url, smtp_port=recorder.port, allow_replay=True)
    assert after["sent"] >= 1 and after["held"] == 0 and after["failed"] == 0
    assert any("fupin@example.org" in rs for _, rs, _ in recorder.messages)
    notices = json.loads(duban(["outbox", "--json"], cwd=tmp_path, db_url=sqlite_url).stdout)
    assert {n["status"] for n in notices} == {"sent"} and all(n["reason"] == "" for n in notices)


def _delivery_states(db_url: str, notice_ids: list[int]) -> set[tuple[bool, str]]:
    """(is 抄送, state) of the notices' deliveries, as stored."""
    import sqlalchemy as sa

    from duban.store.db import open_database
    from duban.store.tables import DeliveryRow

    engine = open_database(db_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.select(DeliveryRow.is_cc, DeliveryRow.status).where(DeliveryRow.notice_id.in_(notice_ids)))
            return {(bool(cc), state) for cc, state in rows}
    finally:
        engine.dispose()


def test_a_lead_unit_refused_for_good_leaves_its_notice_failed_though_the_copy_went(tmp_path: Path, sqlite_url: str,
                                                                                   recorder) -> None:
    """A 5xx for the 主送 address while the 抄送 got the message: the recipient is undeliverable, the
    notice failed (not sent), and that is what every summary counts."""
    recorder.refuse["fupin@example.org"] = "550 5.1.1 no such user"
    swept(tmp_path, sqlite_url)
    result = deliver_json(tmp_path, sqlite_url, smtp_port=recorder.port, allow_replay=True,
                          DUBAN_DELIVERY_MODE="per_notice")
    assert result["held"] == 0 and result["failed"] == 0 and result["sent"] == len(recorder.messages)
    refused = [u for u in result["undeliverable"] if u["name"] == "區扶貧辦"]
    assert refused and refused[0]["task"] == "3.1" and refused[0]["reason"].startswith("550")
    assert f", {len(result['undeliverable'])} undeliverable" in result["summary"]
    notices = json.loads(duban(["outbox", "--task", "3.1", "--json"], cwd=tmp_path, db_url=sqlite_url).stdout)
    chases = [n for n in notices if n["kind"] == "chase"]
    assert chases and {n["status"] for n in chases} == {"failed"}
    assert _delivery_states(sqlite_url, [n["id"] for n in chases]) == {(False, "failed"), (True, "sent")}
    assert any("townships@example.org" in rs for _, rs, _ in recorder.messages)


def test_run_once_counts_sent_held_failed_and_undeliverable(tmp_path: Path, sqlite_url: str, recorder) -> None:
    plan = _plan_without(tmp_path, "區扶貧辦")
    duban(["matrix", "import", str(plan), "--as-of", "2015-07-01"], cwd=tmp_path, db_url=sqlite_url)
    out = duban(["run", "--once", "--as-of", "2015-12-04"], cwd=tmp_path, db_url=sqlite_url, smtp_port=recorder.port,
                allow_replay=True).stdout
    line = next(x for x in out.splitlines() if x.startswith("deliver"))
    assert re.search(r"deliver +[1-9]\d* sent, [1-9]\d* held, 0 failed, 0 undeliverable", line), out


def test_a_unit_without_an_address_gets_the_newest_chase_not_every_one_held(tmp_path: Path, sqlite_url: str,
                                                                            recorder) -> None:
    """Chases held for days for want of an address: when the address comes, the unit gets the newest
    one (today's numbers), not the whole pile; the older ones are superseded."""
    plan = _plan_without(tmp_path, "區扶貧辦")
    duban(["matrix", "import", str(plan), "--as-of", "2015-07-01"], cwd=tmp_path, db_url=sqlite_url)
    for day in ("2015-12-04", "2015-12-10", "2015-12-16", "2015-12-22"):
        duban(["sweep", "--as-of", day], cwd=tmp_path, db_url=sqlite_url)
        duban(["deliver", "--as-of", day], cwd=tmp_path, db_url=sqlite_url, smtp_port=recorder.port, allow_replay=True)
    chases = json.loads(duban(["outbox", "--task", "3.1", "--kind", "chase", "--json"], cwd=tmp_path, db_url=sqlite_url).stdout)
    assert len(chases) >= 2 and [n["status"] for n in chases].count("held") == 1, chases
    shutil.copy(PLANS / "district-2015.units.yaml", plan.parent / "district-2015.units.yaml")
    duban(["matrix", "import", str(plan), "--as-of", "2015-12-22"], cwd=tmp_path, db_url=sqlite_url)
    before = len(recorder.messages)
    duban(["deliver", "--as-of", "2015-12-22"], cwd=tmp_path, db_url=sqlite_url, smtp_port=recorder.port, allow_replay=True)
    chases = json.loads(duban(["outbox", "--task", "3.1", "--kind", "chase", "--json"], cwd=tmp_path, db_url=sqlite_url).stdout)
    assert [n["status"] for n in chases] == ["superseded"] * (len(chases) - 1) + ["sent"], chases
    to_fupin = [raw for _, rs, raw in recorder.messages[before:] if "fupin@example.org" in rs]
    assert len(to_fupin) == 1
