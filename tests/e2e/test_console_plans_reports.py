"""`duban serve`'s 方案 (plans) and 通報 (reports) pages, through a real server process and HTTP: a plan
uploaded, every problem shown with its row and column and nothing imported, the diff against the stored
plan before a confirmed import (an event with the user); size and type limits; roles and CSRF. The
weekly report archive, its downloads, generating one, and the approval of a draft (console and CLI)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from urllib.parse import quote

import pytest
import yaml

from tests.console import add_user, cli, csrf_of, district, logged_in, served
from tests.support import PLANS


@pytest.fixture
def office(tmp_path: Path, sqlite_url: str) -> tuple[Path, str]:
    district(tmp_path, sqlite_url)
    add_user("lin", "office", cwd=tmp_path, db_url=sqlite_url)
    add_user("wang", "viewer", cwd=tmp_path, db_url=sqlite_url)
    return tmp_path, sqlite_url


def _bad_sheet(path: Path) -> Path:
    """A task sheet whose row 3 has a deadline nobody can read and a unit the directory does not know."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(["序號", "工作任務", "牽頭單位", "完成時限"])
    ws.append([1, "修繕村道", "區交通局", "2016年6月底前"])
    ws.append([2, "建設<b>水窖</b>", "區某某局", "按省市要求"])
    wb.save(path)
    return path


def _edited_district(folder: Path) -> tuple[Path, Path, str, str]:
    """The district plan with one task's title changed: (plan file, units file, task code, new title)."""
    data = yaml.safe_load((PLANS / "district-2015.yaml").read_text(encoding="utf-8"))
    task = data["tasks"][0]
    new_title = task["title"] + "（修訂）"
    task["title"] = new_title
    plan = folder / "district-2015.yaml"
    plan.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    units = folder / "district-2015.units.yaml"
    units.write_bytes((PLANS / "district-2015.units.yaml").read_bytes())
    return plan, units, str(task["code"]), new_title


def _shown(cwd: Path, url: str) -> dict[str, str]:
    rows = json.loads(cli(["matrix", "show", "--plan", "district-2015", "--json"], cwd=cwd, db_url=url).stdout)
    return {r["code"]: r["title"] for r in rows}


def _upload(client, files: dict, data: dict | None = None, token: str | None = None):
    token = token or csrf_of(client.get("/plans").text)
    return client.post("/plans/upload", data={"csrf": token, **(data or {})}, files=files)


def test_a_sheet_with_errors_shows_every_problem_with_its_row_and_column_and_imports_nothing(office) -> None:
    cwd, url = office
    sheet = _bad_sheet(cwd / "county.xlsx")
    with served(cwd, url) as base:
        client = logged_in(base, "lin")
        r = _upload(client, {"plan": ("county.xlsx", sheet.read_bytes())})
        assert r.status_code == 422, r.text
        page = r.text
    assert "未作任何更改" in page and "county.xlsx" in page
    rows = page.split("<tbody>")[1].split("</tbody>")[0].split("<tr>")[1:]
    deadline = next(row for row in rows if "按省市要求" in row)
    assert "第3行" in deadline and ">D 完成時限</td>" in deadline and "cannot read the deadline" in deadline
    unit = next(row for row in rows if "區某某局" in row)
    assert "第3行" in unit and ">C 牽頭單位</td>" in unit and "unknown unit" in unit, "the column as the sheet shows it"
    assert "<b>水窖</b>" not in page
    plans = json.loads(cli(["plans", "--json"], cwd=cwd, db_url=url).stdout)
    assert [p["code"] for p in plans] == ["district-2015"]
    assert not any((cwd / "var" / "uploads").iterdir()), "a refused upload is not kept"


def test_a_good_plan_shows_its_diff_and_is_imported_only_on_confirmation_as_the_user(office) -> None:
    cwd, url = office
    folder = cwd / "edited"
    folder.mkdir()
    plan, units, code, new_title = _edited_district(folder)
    before = _shown(cwd, url)
    with served(cwd, url) as base:
        client = logged_in(base, "lin")
        r = _upload(client, {"plan": (plan.name, plan.read_bytes()), "units": (units.name, units.read_bytes())})
        assert r.status_code == 200, r.text
        assert "校验通过" in r.text and code in r.text and new_title in r.text and before[code] in r.text
        assert "修改 1" in r.text
        assert _shown(cwd, url) == before, "the preview changes nothing"
        token = csrf_of(r.text)
        upload = r.text.split('name="token" value="')[1].split('"')[0]
        unticked = client.post("/plans/confirm", data={"csrf": token, "token": upload})
        assert unticked.status_code == 400 and _shown(cwd, url) == before
        viewer = logged_in(base, "wang")
        forbidden = viewer.post("/plans/confirm", data={"csrf": csrf_of(viewer.get("/plans").text), "token": upload, "confirm": "1"})
        assert forbidden.status_code == 403
        assert client.post("/plans/confirm", data={"token": upload, "confirm": "1"}).status_code == 403
        assert _shown(cwd, url) == before
        done = client.post("/plans/confirm", data={"csrf": token, "token": upload, "confirm": "1"})
        assert done.status_code == 200 and "已导入" in done.text and new_title in done.text
        again = client.post("/plans/confirm", data={"csrf": token, "token": upload, "confirm": "1"})
        assert again.status_code == 404, "an upload is imported once"
    assert _shown(cwd, url)[code] == new_title
    with sqlite3.connect(cwd / "duban.db") as con:
        actors = [a for (a,) in con.execute("SELECT actor FROM event WHERE kind = 'plan.imported' ORDER BY id")]
    assert actors == ["cli", "lin"]


def test_a_word_plan_goes_through_extract_then_the_same_problems_table_diff_and_import(office) -> None:
    from tests.fixtures.table_plans import ROWS, write_docx

    cwd, url = office
    bad = write_docx(cwd / "qinghe.docx")  # task 7's 完成時限 is 按上級要求
    rows = [r if isinstance(r, str) or r[0] != "7" else [*r[:-1], "2025年12月底前"] for r in ROWS]
    (cwd / "good").mkdir()
    good = write_docx(cwd / "good" / "qinghe.docx", rows=rows)
    units = cwd / "good" / "units.yaml"  # the office's directory of the plan's units, a second file
    cli(["units", "template", str(good), "--offline", "-o", str(units)], cwd=cwd, db_url=url)
    with served(cwd, url) as base:
        client = logged_in(base, "lin")
        r = _upload(client, {"plan": ("qinghe.docx", bad.read_bytes())}, data={"allow_new_units": "1"})
        assert r.status_code == 422 and "按上級要求" in r.text and "deadline" in r.text
        row = next(row for row in r.text.split("<tbody>")[1].split("<tr>") if "按上級要求" in row)
        assert "qinghe.docx" in row and f"第{_document_line(bad, '按上級要求')}行" in row, "the document's line, not the YAML's"
        assert "left over" in r.text, "what extract could not place is shown"
        assert "did you mean 區民政局?" in r.text, "the database's units are known: a near miss is named"
        r = _upload(client, {"plan": ("qinghe.docx", good.read_bytes()), "units": ("units.yaml", units.read_bytes())})
        assert r.status_code == 200 and "新方案" in r.text and "縣鄉村振興局" in r.text, r.text
        upload = r.text.split('name="token" value="')[1].split('"')[0]
        done = client.post("/plans/confirm", data={"csrf": csrf_of(r.text), "token": upload, "confirm": "1"})
        assert done.status_code == 200 and "已导入" in done.text
    plans = {p["code"]: p["tasks"] for p in json.loads(cli(["plans", "--json"], cwd=cwd, db_url=url).stdout)}
    assert plans == {"district-2015": 23, "qinghe": 7}


def _document_line(docx: Path, text: str) -> int:
    """The line of ``text`` as `duban matrix extract` numbers a document's lines (its YAML comments)."""
    from duban.workflows.matrix_service import extract_document

    yaml_text = extract_document(docx, base_year=None, plan_code=None).to_yaml()
    line = next(line for line in yaml_text.splitlines() if text in line and "# line " in line)
    return int(line.split("# line ")[1].split()[0].rstrip(","))


def test_oversized_and_unreadable_uploads_are_refused_clearly(office, monkeypatch) -> None:
    cwd, url = office
    monkeypatch.setenv("DUBAN_LIMIT_FILE_BYTES", "3000")
    with served(cwd, url) as base:
        client = logged_in(base, "lin")
        token = csrf_of(client.get("/plans").text)
        big = _upload(client, {"plan": ("big.yaml", b"plan: {}\n" + b"#" * 5000)}, token=token)
        assert big.status_code == 400 and "larger than the 3,000 bytes allowed" in big.text
        huge = _upload(client, {"plan": ("huge.csv", b"x" * 80000)}, token=token)
        assert huge.status_code == 413 and "上传文件过大" in huge.text
        exe = _upload(client, {"plan": ("../../evil.exe", b"MZ")}, token=token)
        assert exe.status_code == 400 and "「evil.exe」: not a file duban reads" in exe.text
        fake = _upload(client, {"plan": ("plan.xlsx", b"not a zip at all")}, token=token)
        assert fake.status_code == 400 and "not an Excel file" in fake.text
        none = _upload(client, {}, data={"plan_code": "x"}, token=token)
        assert none.status_code == 400 and "请选择方案文件" in none.text
    plans = json.loads(cli(["plans", "--json"], cwd=cwd, db_url=url).stdout)
    assert [p["code"] for p in plans] == ["district-2015"]
    assert not list((cwd / "var" / "uploads").iterdir())


def test_viewers_and_forms_without_csrf_cannot_upload(office) -> None:
    cwd, url = office
    sheet = _bad_sheet(cwd / "county.xlsx")
    with served(cwd, url) as base:
        viewer = logged_in(base, "wang")
        page = viewer.get("/plans")
        assert page.status_code == 200 and "district-2015" in page.text and 'action="/plans/upload"' not in page.text
        token = csrf_of(page.text)
        assert viewer.post("/plans/upload", data={"csrf": token}, files={"plan": ("county.xlsx", sheet.read_bytes())}).status_code == 403
        client = logged_in(base, "lin")
        assert client.post("/plans/upload", files={"plan": ("county.xlsx", sheet.read_bytes())}).status_code == 403
    assert not (cwd / "var" / "uploads").exists() or not list((cwd / "var" / "uploads").iterdir())


# --------------------------------------------------------------------------------------------
# 通報 Reports


def _outbox(cwd: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(cwd / "duban.db") as con:
        return list(con.execute("SELECT key, status FROM message WHERE key LIKE 'report:weekly:%' ORDER BY id"))


def _states(cwd: Path) -> list[tuple]:
    with sqlite3.connect(cwd / "duban.db") as con:
        return list(con.execute("SELECT as_of, status, approved_by, mail_status FROM report_state ORDER BY as_of"))


def test_a_report_written_for_a_day_is_shown_and_downloaded_and_only_the_office_may_write_one(office) -> None:
    cwd, url = office
    with served(cwd, url) as base:
        viewer = logged_in(base, "wang")
        token = csrf_of(viewer.get("/reports").text)
        assert viewer.post("/reports/generate", data={"csrf": token, "as_of": "2016-01-15", "confirm": "1"}).status_code == 403
        client = logged_in(base, "lin")
        listing = client.get("/reports")
        assert listing.status_code == 200 and "尚无通报" in listing.text
        assert client.post("/reports/generate", data={"as_of": "2016-01-15", "confirm": "1"}).status_code == 403
        assert not (cwd / "var" / "reports").exists(), "a refused request writes nothing"
        token = csrf_of(listing.text)
        r = client.post("/reports/generate", data={"csrf": token, "as_of": "2016-01-15", "confirm": "1"})
        assert r.status_code == 303 and r.headers["location"] == "/reports/2016-01-15"
        page = client.get("/reports/2016-01-15")
        assert page.status_code == 200 and "<table>" in page.text.split("<article")[1]
        assert "/reports/2016-01-15/file/docx" in page.text and "<script" not in page.text
        docx = client.get("/reports/2016-01-15/file/docx")
        assert docx.status_code == 200 and docx.content[:2] == b"PK"
        assert docx.headers["content-type"] == "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
        assert docx.headers["content-disposition"] == "attachment; filename*=UTF-8''weekly-2016-01-15.docx"
        md = client.get("/reports/2016-01-15/file/md")
        assert md.headers["content-type"].startswith("text/markdown") and md.headers["content-disposition"].startswith("attachment")
        assert "# 《全区扶贫攻坚工作方案》推进情况周通报" in md.text and "<h1>《全区扶贫攻坚工作方案》推进情况周通报</h1>" in page.text
        notices = sorted((cwd / "var" / "reports").glob("criticism-*-2016-01-15.docx"))
        assert notices, "the replay criticises units"
        for notice in notices:
            assert f"/reports/2016-01-15/criticism/{quote(notice.stem)}/docx" in page.text
            got = client.get(f"/reports/2016-01-15/criticism/{notice.stem}/docx")
            assert got.status_code == 200 and got.content == notice.read_bytes()
            assert got.headers["content-disposition"].startswith("attachment")
        assert client.get("/reports/2016-01-15/criticism/..%2F..%2Fduban.db/docx").status_code == 404
        assert client.get("/reports/2016-01-15/file/db").status_code == 404
        assert client.get("/reports/2016-01-16").status_code == 404
        assert "2016-01-15" in viewer.get("/reports").text
    assert _outbox(cwd) == [], "writing a report mails nothing"


def _require_approval(cwd: Path) -> None:
    (cwd / "duban-config").mkdir(exist_ok=True)
    (cwd / "duban-config" / "policy.yaml").write_text("reports:\n  require_approval: true\n", encoding="utf-8")


def test_with_require_approval_the_weekly_job_leaves_a_draft_that_a_supervisor_approves_and_mails(office) -> None:
    cwd, url = office
    _require_approval(cwd)
    add_user("zhao", "supervisor", cwd=cwd, db_url=url)
    out = cli(["run", "--once", "--as-of", "2016-01-15"], cwd=cwd, db_url=url).stdout
    assert "weekly_report" in out
    assert _outbox(cwd) == [], "a draft is not mailed"
    assert _states(cwd) == [("2016-01-15", "draft", None, None)]
    with served(cwd, url) as base:
        office_user = logged_in(base, "lin")
        page = office_user.get("/reports/2016-01-15")
        assert "待审核" in page.text and 'action="/reports/2016-01-15/approve"' not in page.text
        token = csrf_of(page.text)
        assert office_user.post("/reports/2016-01-15/approve", data={"csrf": token, "confirm": "1"}).status_code == 403
        supervisor = logged_in(base, "zhao")
        page = supervisor.get("/reports/2016-01-15")
        assert 'action="/reports/2016-01-15/approve"' in page.text
        assert supervisor.post("/reports/2016-01-15/approve", data={"confirm": "1"}).status_code == 403
        token = csrf_of(page.text)
        assert supervisor.post("/reports/2016-01-15/approve", data={"csrf": token}).status_code == 400
        assert _outbox(cwd) == [] and _states(cwd)[0][1] == "draft"
        r = supervisor.post("/reports/2016-01-15/approve", data={"csrf": token, "confirm": "1"})
        assert r.status_code == 303
        assert "审核通过" in supervisor.get("/reports/2016-01-15").text
        again = supervisor.post("/reports/2016-01-15/approve", data={"csrf": token, "confirm": "1"})
        assert again.status_code == 409 and "approved already by zhao" in again.text
    assert _states(cwd) == [("2016-01-15", "approved", "zhao", "sent")]
    assert [status for _key, status in _outbox(cwd)] == ["sent"]
    with sqlite3.connect(cwd / "duban.db") as con:
        events = list(con.execute("SELECT kind, actor FROM event WHERE kind LIKE 'report.%' ORDER BY id"))
    assert events == [("report.draft", "weekly job"), ("report.approved", "zhao")]


def test_duban_report_approve_mails_a_draft_named_by_its_day_or_week(office) -> None:
    cwd, url = office
    _require_approval(cwd)
    written = cli(["report", "weekly", "--as-of", "2016-01-08", "--email"], cwd=cwd, db_url=url).stdout
    assert "awaiting approval" in written and "duban report approve 2016-01-08" in written
    assert _outbox(cwd) == [] and _states(cwd) == [("2016-01-08", "draft", None, None)]
    bad = cli(["report", "approve", "2016-W09"], cwd=cwd, db_url=url, check=False)
    assert bad.returncode != 0 and "week 2016-W09: no report" in bad.stderr and "Traceback" not in bad.stderr
    done = cli(["report", "approve", "2016-W01"], cwd=cwd, db_url=url)
    assert "approved" in done.stdout and "2016-01-08" in done.stdout
    assert _states(cwd) == [("2016-01-08", "approved", "cli", "sent")]
    assert [status for _key, status in _outbox(cwd)] == ["sent"]
    twice = cli(["report", "approve", "2016-01-08"], cwd=cwd, db_url=url, check=False)
    assert twice.returncode != 0 and "approved already" in twice.stderr and len(_outbox(cwd)) == 1


def test_without_require_approval_the_weekly_job_mails_as_before(office) -> None:
    cwd, url = office
    cli(["run", "--once", "--as-of", "2016-01-15"], cwd=cwd, db_url=url)
    assert [status for _key, status in _outbox(cwd)] == ["sent"] and _states(cwd) == []


@pytest.mark.parametrize(("text", "message"), [
    ("reports: {require: true}\n", "unknown policy key 'require'"),
    ("reports: {require_approval: maybe}\n", "reports.require_approval: 'maybe' is not true or false"),
    ("reports: [1]\n", "reports must be a mapping"),
])
def test_a_bad_reports_policy_is_refused_clearly(tmp_path: Path, text: str, message: str) -> None:
    from duban.matrix.errors import ConfigError
    from duban.matrix.policy import load_policy
    from tests.support import ROOT

    (tmp_path / "policy.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(".", r"\.")):
        load_policy(ROOT / "config" / "policy.yaml", tmp_path / "policy.yaml")
    assert load_policy(ROOT / "config" / "policy.yaml").require_report_approval is False

