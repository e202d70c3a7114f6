"""``duban closing`` as a user runs it: a real process, a real database, evidence files on disk."""

from __future__ import annotations

import hashlib
import json
import stat
from pathlib import Path

import pytest

from tests.e2e.test_cli import run
from tests.support import PLANS

PDF = b"%PDF-1.4\n%%EOF\n"


@pytest.fixture
def district(tmp_path: Path, db_url: str) -> str:
    run(["matrix", "import", str(PLANS / "district-2015.yaml"), "--as-of", "2015-07-01"], cwd=tmp_path, db_url=db_url)
    return db_url


def test_request_list_close_return_and_history(tmp_path: Path, district: str) -> None:
    (tmp_path / "驗收報告.pdf").write_bytes(PDF)
    (tmp_path / "說明.txt").write_text("道路硬化25個村完成", encoding="utf-8")
    out = run(["closing", "request", "3.2.1", "--unit", "区交委", "--file", "驗收報告.pdf", "--file", "說明.txt",
               "--note", "25個村完成", "--by", "張三", "--as-of", "2015-12-20"], cwd=tmp_path, db_url=district).stdout
    assert "#1 pending (待複核): 區交委 district-2015 3.2.1 milestone 1 (due 2015-12-31)" in out
    assert "[evidence: 驗收報告.pdf、說明.txt]" in out
    kept = tmp_path / "var" / "evidence" / hashlib.sha256(PDF).hexdigest()[:2] / hashlib.sha256(PDF).hexdigest()
    assert kept.read_bytes() == PDF and stat.S_IMODE(kept.stat().st_mode) == 0o600
    run(["closing", "request", "3.2.2", "--unit", "區水務局", "--file", "驗收報告.pdf", "--as-of", "2015-12-20"],
        cwd=tmp_path, db_url=district)
    assert len([p for p in (tmp_path / "var" / "evidence").rglob("*") if p.is_file()]) == 2  # the pdf once, the txt
    out = run(["closing", "return", "2", "--reason", "缺少水質檢測報告", "--by", "王五", "--as-of", "2015-12-21"],
              cwd=tmp_path, db_url=district).stdout
    assert "#2 returned (已退回)" in out and "returned 2015-12-21 by 王五, reason: 缺少水質檢測報告" in out
    out = run(["closing", "close", "1", "--by", "王五", "--note", "複核通過", "--as-of", "2015-12-21"],
              cwd=tmp_path, db_url=district).stdout
    assert "#1 closed (已辦結)" in out and "closed 2015-12-21 by 王五: 複核通過" in out
    rows = json.loads(run(["closing", "list", "--json"], cwd=tmp_path, db_url=district).stdout)
    assert [(r["id"], r["status"]) for r in rows] == [(2, "returned"), (1, "closed")]
    assert rows[1]["files"][0] == {"name": "驗收報告.pdf", "sha256": hashlib.sha256(PDF).hexdigest(), "size": len(PDF),
                                   "content_type": "application/pdf"}
    assert rows[1]["item"]["closed"] is True
    events = json.loads(run(["history", "3.2.1", "--json"], cwd=tmp_path, db_url=district).stdout)
    assert [e["kind"] for e in events][-3:] == ["closing.requested", "closing.closed", "item.closed"]
    assert [f["name"] for f in events[-3]["data"]["files"]] == ["驗收報告.pdf", "說明.txt"]
    proc = run(["closing", "close", "1", "--by", "王五"], cwd=tmp_path, db_url=district, check=False)
    assert proc.returncode == 2 and "closing request #1 is already closed on 2015-12-21 by 王五" in proc.stderr
    assert "Traceback" not in proc.stderr
    # Both units were told, by the notices `duban deliver` sends (.eml files here: no SMTP server set).
    assert "2 sent" in run(["deliver"], cwd=tmp_path, db_url=district).stdout
    import email
    import email.policy

    mails = [email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
             for p in sorted((tmp_path / "var" / "outbox").rglob("*.eml"))]
    assert sorted(m["Subject"] for m in mails) == ["【办结申请退回】3.2.2 饮水安全", "【办结确认】3.2.1 交通建设"]
    returned = next(m for m in mails if "退回" in m["Subject"])
    assert "shuiwu@example.org" in returned["To"]
    assert "退回理由：“缺少水质检测报告”。" in returned.get_body(("plain",)).get_content()


@pytest.mark.parametrize("name, data, message", [
    ("tool.exe", b"MZ\x90", "evidence file tool.exe: type .exe is not accepted; evidence may be PDF, PNG, JPEG, DOCX"),
    ("fake.pdf", b"MZ\x90", "evidence file fake.pdf: its contents are not a PDF"),
    ("big.pdf", PDF + b"0" * 200, "evidence file big.pdf: is 215 bytes, more than the 100 bytes an evidence file may be"),
])
def test_refused_files_change_nothing(tmp_path: Path, district: str, name: str, data: bytes, message: str) -> None:
    (tmp_path / name).write_bytes(data)
    (tmp_path / "ok.pdf").write_bytes(PDF)
    import os

    os.environ["DUBAN_EVIDENCE_MAX_BYTES"] = "100"
    try:
        proc = run(["closing", "request", "3.2.1", "--unit", "區交委", "--file", "ok.pdf", "--file", name,
                    "--as-of", "2015-12-20"], cwd=tmp_path, db_url=district, check=False)
    finally:
        del os.environ["DUBAN_EVIDENCE_MAX_BYTES"]
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "var" / "evidence").exists()
    assert "no closing requests" in run(["closing", "list"], cwd=tmp_path, db_url=district).stdout


def test_return_needs_a_reason_and_only_the_lead_or_a_co_lead_asks(tmp_path: Path, district: str) -> None:
    proc = run(["closing", "request", "3.2.1", "--unit", "區農委", "--note", "done", "--as-of", "2015-12-20"],
               cwd=tmp_path, db_url=district, check=False)
    assert proc.returncode == 2 and "區農委 is neither" in proc.stderr
    run(["closing", "request", "3.2.1", "--unit", "區交委", "--note", "done", "--as-of", "2015-12-20"],
        cwd=tmp_path, db_url=district)
    proc = run(["closing", "return", "1", "--reason", " ", "--by", "王五"], cwd=tmp_path, db_url=district, check=False)
    assert proc.returncode == 2 and "needs a reason (退回理由)" in proc.stderr
    assert "#1 pending" in run(["closing", "list", "--status", "pending"], cwd=tmp_path, db_url=district).stdout
