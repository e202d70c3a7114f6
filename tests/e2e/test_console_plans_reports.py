"""`duban serve`'s 方案 (plans) and 通報 (reports) pages, through a real server process and HTTP: a plan
uploaded, every problem shown with its row and column and nothing imported, the diff against the stored
plan before a confirmed import (an event with the user); size and type limits; roles and CSRF. The
weekly report archive, its downloads, generating one, and the approval of a draft (console and CLI)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

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
    assert "第3行" in deadline and "deadline" in deadline and "cannot read the deadline" in deadline
    unit = next(row for row in rows if "區某某局" in row)
    assert "第3行" in unit and "lead_unit" in unit and "unknown unit" in unit
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
