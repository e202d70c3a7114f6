"""``duban progress`` and ``duban extension`` as a user runs them: a real process, a real database."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.test_cli import DUBAN, ROOT, run  # noqa: F401 - one way to run the CLI
from tests.support import PLANS

PDF = b"%PDF-1.4\n%%EOF\n"


@pytest.fixture
def district(tmp_path: Path, sqlite_url: str) -> str:
    run(["matrix", "import", str(PLANS / "district-2015.yaml"), "--as-of", "2015-07-01"], cwd=tmp_path, db_url=sqlite_url)
    return sqlite_url


def test_report_close_and_history(tmp_path: Path, district: str) -> None:
    import hashlib

    (tmp_path / "驗收報告.pdf").write_bytes(PDF)
    (tmp_path / "tool.exe").write_bytes(b"MZ\x90\x00")
    proc = run(["progress", "report", "3.2.1", "--unit", "区交委", "--done", "18", "--evidence", "驗收報告.pdf",
                "--evidence", "tool.exe", "--as-of", "2015-11-02"], cwd=tmp_path, db_url=district, check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and proc.stderr.strip().count("\n") == 0
    assert "evidence file tool.exe: type .exe is not accepted; evidence may be PDF" in proc.stderr
    assert not (tmp_path / "var" / "evidence").exists()  # nothing stored (and nothing reported: see the history)
    out = run(["progress", "report", "3.2.1", "--unit", "区交委", "--done", "18", "--note", "18個村完成",
               "--evidence", "驗收報告.pdf", "--by", "張三", "--as-of", "2015-11-02"], cwd=tmp_path, db_url=district).stdout
    assert "區交委 reported 18/25村 on 3.2.1 milestone 1 (due 2015-12-31)" in out and "evidence: 驗收報告.pdf" in out
    sha = hashlib.sha256(PDF).hexdigest()
    assert (tmp_path / "var" / "evidence" / sha[:2] / sha).read_bytes() == PDF
    result = json.loads(run(["progress", "report", "3.2.1", "--unit", "區交委", "--done", "25", "--json",
                             "--as-of", "2015-12-20"], cwd=tmp_path, db_url=district).stdout)
    assert result["item"]["closed"] is True and result["item"]["done_quantity"] == 25 and result["report_id"] == 2
    out = run(["progress", "report", "3.3", "--unit", "區水務局", "--percent", "30", "--as-of", "2015-12-20"],
              cwd=tmp_path, db_url=district).stdout
    assert "區水務局 reported 30% on 3.3 milestone 1 (due 2016-12-31)" in out
    out = run(["progress", "close", "3.3", "--unit", "區審計局", "--evidence", "審計報告", "--as-of", "2015-12-21"],
              cwd=tmp_path, db_url=district).stdout
    assert "區審計局 closed 3.3 milestone 1" in out
    events = json.loads(run(["history", "3.2.1", "--json"], cwd=tmp_path, db_url=district).stdout)
    assert [e["kind"] for e in events] == ["task.added", "progress.reported", "progress.reported", "item.closed"]
    assert events[1]["data"]["files"] == ["驗收報告.pdf"]


@pytest.mark.parametrize("args, message", [
    (["--done", "十八"], "done: '十八' is not a number"),
    (["--percent", "120"], "percent: '120' is more than 100"),
    (["--done", "3", "--on", "2015-12-05"], "reported_on 2015-12-05 is after --as-of 2015-12-04"),
    (["--done", "3", "--milestone", "3"], "milestone 3 does not exist"),
    (["--done", "3", "--unit", "區水務局"], "區水務局 is not responsible for task 3.2.1"),
    (["--done", "3", "--unit", "區不存在局"], "no unit '區不存在局'"),
])
def test_a_bad_report_exits_2_with_one_line(tmp_path: Path, district: str, args: list[str], message: str) -> None:
    base = ["progress", "report", "3.2.1", "--as-of", "2015-12-04"]
    if "--unit" not in args:
        base += ["--unit", "區交委"]
    proc = run([*base, *args], cwd=tmp_path, db_url=district, check=False)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and proc.stdout == ""


def test_import_with_a_bad_row_exits_1_and_lists_the_rows(tmp_path: Path, district: str) -> None:
    bad = tmp_path / "reports.csv"
    bad.write_bytes("编号,单位,完成数量,进展情况\n3.2.1,区交委,18,进展顺利\n3.2.1,区交委,十八,写错了\n9.9,区交委,1,没有此任务\n"
                    .encode("gbk"))
    proc = run(["progress", "import", str(bad), "--as-of", "2015-11-02"], cwd=tmp_path, db_url=district, check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "2 problems" in proc.stderr and "row 3" in proc.stderr and "row 4" in proc.stderr and "十八" in proc.stderr
    proc = run(["progress", "import", str(bad), "--as-of", "2015-11-02", "--json"], cwd=tmp_path, db_url=district, check=False)
    problems = json.loads(proc.stdout)["problems"]
    assert [(p["row"], p["field"], p["text"]) for p in problems] == [(3, "done", "十八"), (4, "code", "9.9")]
    kinds = [e["kind"] for e in json.loads(run(["history", "3.2.1", "--json"], cwd=tmp_path, db_url=district).stdout)]
    assert kinds == ["task.added"]  # nothing was written, not even the good row
    good = tmp_path / "good.csv"
    good.write_text("code,unit,done,note\n3.2.1,區交委,18,ok\n3.2.1,區交委,25,done\n", encoding="utf-8")
    out = run(["progress", "import", str(good), "--as-of", "2015-11-02"], cwd=tmp_path, db_url=district).stdout
    assert "row 3: 區交委 reported 25/25村" in out and "imported 2 rows" in out and "(1 closed)" in out


def test_extension_request_approve_and_list(tmp_path: Path, district: str) -> None:
    req = json.loads(run(["extension", "request", "3.2.1", "--unit", "區交委", "--until", "2016-03-31",
                          "--reason", "雨季施工受阻", "--as-of", "2015-12-30", "--json"], cwd=tmp_path, db_url=district).stdout)
    assert req["status"] == "pending" and req["old_due"] == "2015-12-31" and req["new_due"] == "2016-03-31"
    out = run(["extension", "approve", str(req["id"]), "--by", "辦公室", "--note", "同意", "--as-of", "2015-12-31"],
              cwd=tmp_path, db_url=district).stdout
    assert f"#{req['id']} approved 2015-12-31 by 辦公室" in out
    again = run(["extension", "approve", str(req["id"]), "--as-of", "2016-01-02"], cwd=tmp_path, db_url=district, check=False)
    assert again.returncode == 2 and "already approved" in again.stderr and "Traceback" not in again.stderr
    late = run(["extension", "request", "3.3", "--unit", "區審計局", "--until", "2017-06-30", "--reason", "遲了",
                "--as-of", "2017-01-03"], cwd=tmp_path, db_url=district, check=False)
    assert late.returncode == 2 and "late extension request" in late.stderr
    rows = json.loads(run(["extension", "list", "--json"], cwd=tmp_path, db_url=district).stdout)
    assert [(r["task"], r["status"]) for r in rows] == [("3.2.1", "approved"), ("3.3", "refused")]
    assert rows[0]["item"]["due"] == "2016-03-31" and rows[0]["decided_by"] == "辦公室"
    pending = json.loads(run(["extension", "list", "--status", "pending", "--json"], cwd=tmp_path, db_url=district).stdout)
    assert pending == []


@pytest.mark.postgres
def test_progress_cli_on_postgres(tmp_path: Path, pg_url: str) -> None:
    run(["matrix", "import", str(PLANS / "village-2018.yaml")], cwd=tmp_path, db_url=pg_url)
    result = json.loads(run(["progress", "report", "2.3", "--unit", "工作組", "--count", "1", "--as-of", "2018-03-15",
                             "--json"], cwd=tmp_path, db_url=pg_url).stdout)
    assert result["item"]["kind"] == "instance" and result["item"]["period"] == "2018-03-01"
    assert result["item"]["closed"] is True


def test_import_keeps_to_the_input_limits_in_the_settings(tmp_path: Path, district: str) -> None:
    """The progress sheet is read within the same DUBAN_LIMIT_* settings as a plan: a refusal names the row,
    the limit and the setting, quotes a short part of the text, and writes nothing."""
    sheet = tmp_path / "reports.csv"
    sheet.write_text("code,unit,done,note\n3.2.1,區交委,18," + "進展" * 30 + "\n", encoding="utf-8")
    (tmp_path / ".env").write_text("DUBAN_LIMIT_CELL_CHARS=40\n", encoding="utf-8")
    proc = run(["progress", "import", str(sheet), "--as-of", "2015-11-02"], cwd=tmp_path, db_url=district, check=False)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "row 2" in proc.stderr and "DUBAN_LIMIT_CELL_CHARS" in proc.stderr and "60 characters" in proc.stderr
    kinds = [e["kind"] for e in json.loads(run(["history", "3.2.1", "--json"], cwd=tmp_path, db_url=district).stdout)]
    assert kinds == ["task.added"]
    (tmp_path / ".env").write_text("DUBAN_LIMIT_CELL_CHARS=100\n", encoding="utf-8")
    assert "imported 1 row" in run(["progress", "import", str(sheet), "--as-of", "2015-11-02"], cwd=tmp_path,
                                   db_url=district).stdout
