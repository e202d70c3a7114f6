"""The console in a real Chromium (Playwright driving Debian's /usr/bin/chromium) against a real `duban
serve` on the district plan replayed to 2016-01-15, at a 1280 px screen and a 375 px phone: log in through
the form and see the overview; open a red task from the overview's red light, its page and its lead
unit's; approve an extension request; upload a sheet with an error and see the problem with its row,
then preview and import a good plan; write the weekly report (a draft: reports.require_approval), have a
supervisor approve it and download its DOCX; log out. Every page is checked for no page-wide horizontal
scroll, every link and button visible and clickable, and no table cell squeezed to a character a line.
Each page is kept as a screenshot under the test's tmp_path (and copied to $DUBAN_SCREENSHOTS when set)
to be looked at; tables wider than the phone are also shot scrolled to their end."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.console import PASSWORD, add_user, cli, district, served

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium (CI installs Debian's chromium)")
WIDTHS = {"desktop": (1280, 800), "phone": (375, 740)}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The district plan swept to 2016-01-15, an office user and a supervisor, `duban serve` on it."""
    cwd = tmp_path_factory.mktemp("console")
    url = f"sqlite:///{cwd / 'duban.db'}"
    district(cwd, url)
    add_user("lin", "office", cwd=cwd, db_url=url)
    add_user("zhao", "supervisor", cwd=cwd, db_url=url)
    (cwd / "duban-config").mkdir()  # a weekly report waits for a supervisor's approval before it is mailed
    (cwd / "duban-config" / "policy.yaml").write_text("reports:\n  require_approval: true\n", encoding="utf-8")
    for task, unit in (("3.2.1", "區交委"), ("3.2.2", "區水務局")):  # two extension requests waiting
        cli(["extension", "request", task, "--unit", unit, "--milestone", "2", "--until", "2017-03-31",
             "--reason", "資金未到位", "--as-of", "2016-01-15"], cwd=cwd, db_url=url)
    with served(cwd, url, "--as-of", "2016-01-15") as base:  # the console as of the replay's day
        yield {"cwd": cwd, "url": url, "base": base, "shots": tmp_path_factory.mktemp("screenshots")}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM))
        yield chromium
        chromium.close()


def open_page(browser: Any, site: dict[str, Any], width: str) -> Any:
    w, h = WIDTHS[width]
    context = browser.new_context(viewport={"width": w, "height": h}, base_url=site["base"], locale="zh-CN")
    return context.new_page()


def shot(page: Any, site: dict[str, Any], name: str) -> Path:
    """A full-page screenshot kept with the test's files (and in $DUBAN_SCREENSHOTS when set)."""
    path = site["shots"] / f"{name}.png"
    page.evaluate(SCROLL_TABLES_BACK)  # assert_fits scrolled tables to reach their links
    page.screenshot(path=str(path), full_page=True)
    paths = [path]
    if page.evaluate(SCROLL_TABLES_TO_THE_END):  # a table wider than the phone: its hidden columns too
        paths.append(site["shots"] / f"{name}-tables-scrolled.png")
        page.screenshot(path=str(paths[-1]), full_page=True)
        page.evaluate(SCROLL_TABLES_BACK)
    if os.environ.get("DUBAN_SCREENSHOTS"):
        target = Path(os.environ["DUBAN_SCREENSHOTS"])
        target.mkdir(parents=True, exist_ok=True)
        for p in paths:
            shutil.copy(p, target / p.name)
    return path


SCROLL_TABLES_BACK = "document.querySelectorAll('.table-wrap').forEach(w => { w.scrollLeft = 0; })"
SCROLL_TABLES_TO_THE_END = """() => {
  let scrolled = false;
  for (const w of document.querySelectorAll(".table-wrap")) {
    if (w.scrollWidth > w.clientWidth) { w.scrollLeft = w.scrollWidth; scrolled = true; }
  }
  return scrolled;
}"""


def log_in(page: Any, name: str) -> None:
    page.goto("/")
    assert "/login" in page.url, "a page without a session sends to the login form"
    page.get_by_label("用户名").fill(name)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(lambda u: "/login" not in u)


def assert_fits(page: Any, what: str) -> None:
    """No page-wide horizontal scroll, and every link and button is visible, inside the window's width
    and clickable (Playwright's actionability checks: visible, stable, enabled, not covered)."""
    width = page.evaluate("window.innerWidth")
    scroll = page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width, f"{what}: the page scrolls sideways ({scroll} px wide in a {width} px window)"
    controls = page.locator("header a, header button, main a, main button, main input[type=submit]")
    assert controls.count() > 0, f"{what}: no links or buttons"
    for i in range(controls.count()):
        control = controls.nth(i)
        label = control.inner_text() or control.get_attribute("href") or "?"
        if control.evaluate("e => e.closest('.table-wrap') !== null"):
            control.scroll_into_view_if_needed()  # inside a table that scrolls on its own
        else:
            box = control.bounding_box()
            assert box and box["x"] >= 0 and box["x"] + box["width"] <= width + 0.5, \
                f"{what}: 「{label.strip()}」 is outside the window ({box})"
        assert control.is_visible(), f"{what}: 「{label.strip()}」 is hidden"
        control.click(trial=True, timeout=5000)
    squeezed = page.evaluate(SQUEEZED)
    assert not squeezed, f"{what}: table cells squeezed narrower than their first few characters: {squeezed}"


# Table cells whose text wraps inside less than 3.5 characters' width (a CJK word stacked one character a
# line) although the text is longer: a wide table should scroll inside its .table-wrap instead. A cell not
# shown at all (display: none) is not squeezed.
SQUEEZED = """() => {
  const bad = [];
  for (const cell of document.querySelectorAll("main td, main th")) {
    if (!cell.getClientRects().length) continue;  // not shown at this width (the reports' header on a phone)
    const s = getComputedStyle(cell);
    const inner = cell.clientWidth - parseFloat(s.paddingLeft) - parseFloat(s.paddingRight);
    const probe = document.createElement("span");
    probe.style.whiteSpace = "nowrap";
    probe.style.font = s.font;
    probe.textContent = cell.textContent.trim();
    document.body.appendChild(probe);
    const natural = probe.getBoundingClientRect().width;
    probe.remove();
    if (inner + 1 < Math.min(natural, 3.5 * parseFloat(s.fontSize))) bad.push(probe.textContent.slice(0, 20));
  }
  return bad;
}"""


@pytest.mark.parametrize("width", list(WIDTHS))
def test_log_in_and_see_the_overview_of_the_district_plan(browser, site, width) -> None:
    page = open_page(browser, site, width)
    page.goto("/login")
    assert_fits(page, f"login at {width}")
    shot(page, site, f"login-{width}")
    log_in(page, "lin")
    assert page.url.rstrip("/") == site["base"]
    text = page.locator("main").inner_text()
    assert "总览" in text and "district-2015" in text
    assert "2016-01-15" in page.locator(".as-of").inner_text(), "the replay's day is said on every page"
    for light in ("红灯", "黄灯", "绿灯", "已办结"):
        assert page.locator(".lights").get_by_text(light).is_visible(), light
    assert page.get_by_role("button", name="退出").is_visible()
    assert_fits(page, f"overview at {width}")
    shot(page, site, f"overview-{width}")
    page.context.close()


def test_logging_out_from_the_phone_menu_ends_the_session(browser, site) -> None:
    page = open_page(browser, site, "phone")
    log_in(page, "zhao")
    assert "zhao" in page.locator("header").inner_text()
    page.get_by_role("button", name="退出").click()
    page.wait_for_url("**/login")
    page.goto("/")
    assert "/login" in page.url
    page.context.close()


def _bad_sheet(path: Path) -> Path:
    """A task sheet whose row 3 has a deadline nobody can read (按省市要求) and a unit nobody knows."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(["序號", "工作任務", "牽頭單位", "完成時限"])
    ws.append([1, "修繕村道", "區交通局", "2016年6月底前"])
    ws.append([2, "建設水窖", "區某某局", "按省市要求"])
    wb.save(path)
    return path


def _edited_district(folder: Path) -> tuple[Path, Path, str]:
    """The district plan with its first task's title changed: (plan file, its units file, the new title)."""
    import yaml

    from tests.support import PLANS

    folder.mkdir(parents=True, exist_ok=True)
    data = yaml.safe_load((PLANS / "district-2015.yaml").read_text(encoding="utf-8"))
    data["tasks"][0]["title"] += "（浏览器修订）"
    plan = folder / "district-2015.yaml"
    plan.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    units = folder / data["directory"]
    units.write_bytes((PLANS / data["directory"]).read_bytes())
    return plan, units, data["tasks"][0]["title"]


def _to_plans(page: Any) -> None:
    page.goto("/")
    page.locator("header nav").get_by_role("link", name="方案").click()
    page.wait_for_url("**/plans")


@pytest.mark.parametrize("width", list(WIDTHS))
def test_a_sheet_with_an_error_shows_the_problem_with_its_row_and_nothing_is_imported(browser, site, width) -> None:
    page = open_page(browser, site, width)
    log_in(page, "lin")
    _to_plans(page)
    assert "district-2015" in page.locator("table.plans").inner_text()
    assert_fits(page, f"plans at {width}")
    shot(page, site, f"plans-{width}")
    page.get_by_label("方案文件").set_input_files(str(_bad_sheet(site["cwd"] / f"county-{width}.xlsx")))
    page.get_by_role("button", name="校验").click()
    page.wait_for_url("**/plans/upload")
    assert "未作任何更改" in page.get_by_role("alert").inner_text()
    row = page.locator("table.problems tbody tr").filter(has_text="按省市要求")
    assert row.count() == 1 and "第3行" in row.inner_text() and "deadline" in row.inner_text()
    assert row.is_visible()
    assert page.locator("table.problems tbody tr").filter(has_text="區某某局").count() == 1
    assert_fits(page, f"plan problems at {width}")
    shot(page, site, f"plan-problems-{width}")
    page.get_by_role("link", name="修改后重新上传").click()
    page.wait_for_url("**/plans")
    assert page.locator("table.plans tbody tr").count() == 1, "nothing was imported"
    page.context.close()


def test_a_good_plan_is_previewed_with_its_diff_and_imported_on_confirmation(browser, site) -> None:
    plan, units, new_title = _edited_district(site["cwd"] / "edited")
    pages = {}
    for width in WIDTHS:  # the preview at both widths (nothing changes until confirmed)
        page = pages[width] = open_page(browser, site, width)
        log_in(page, "lin")
        _to_plans(page)
        page.get_by_label("方案文件").set_input_files(str(plan))
        page.get_by_label("单位名录（可选，.yaml/.csv）").set_input_files(str(units))
        page.get_by_role("button", name="校验").click()
        page.wait_for_url("**/plans/upload")
        assert "校验通过" in page.locator("h1").inner_text()
        assert page.locator("table.diff").get_by_text(new_title).is_visible()
        assert_fits(page, f"plan preview at {width}")
        shot(page, site, f"plan-preview-{width}")
    pages["desktop"].context.close()
    page = pages["phone"]
    assert not page.locator("form.confirm").evaluate("f => f.checkValidity()"), "not sent without the tick"
    page.get_by_label("确认导入").check()
    page.get_by_role("button", name="导入").click()
    page.wait_for_url("**/plans/confirm")
    done = page.get_by_role("status")
    assert "已导入" in done.inner_text() and new_title in done.inner_text()
    assert_fits(page, "plan imported at phone")
    shot(page, site, "plan-imported-phone")
    page.context.close()
    shown = cli(["matrix", "show", "--plan", "district-2015", "--json"], cwd=site["cwd"], db_url=site["url"]).stdout
    assert new_title in shown



@pytest.mark.parametrize("width", list(WIDTHS))
def test_open_a_red_task_from_the_overview_and_its_lead_unit(browser, site, width) -> None:
    page = open_page(browser, site, width)
    log_in(page, "lin")
    page.locator(".lights .red a").click()
    page.wait_for_url("**/tasks?**light=red**")
    rows = page.locator("table.tasks tbody tr")
    assert rows.count() > 0 and all("红灯" in rows.nth(i).inner_text() for i in range(rows.count()))
    assert_fits(page, f"red tasks at {width}")
    shot(page, site, f"tasks-red-{width}")
    first = rows.first.locator("td").first.inner_text().strip()
    rows.first.locator("a").first.click()
    page.wait_for_url(f"**/tasks/district-2015/{first}")
    assert page.locator("h1").inner_text().startswith(first) and "红灯" in page.locator("h1").inner_text()
    assert_fits(page, f"task {first} at {width}")
    shot(page, site, f"task-{width}")
    lead = page.locator("dl.facts a").first
    unit = lead.inner_text().strip()
    lead.click()
    page.wait_for_url("**/units/**")
    assert unit in page.locator("h1").inner_text()
    assert_fits(page, f"unit {unit} at {width}")
    shot(page, site, f"unit-{width}")
    page.context.close()


@pytest.mark.parametrize("width", list(WIDTHS))
def test_the_extension_requests_page_fits(browser, site, width) -> None:
    page = open_page(browser, site, width)
    log_in(page, "lin")
    page.locator("header nav").get_by_role("link", name="延期").click()
    page.wait_for_url("**/extensions")
    assert page.locator("main").get_by_text("資金未到位").count() >= 1
    assert_fits(page, f"extensions at {width}")
    shot(page, site, f"extensions-{width}")
    page.context.close()


def test_approve_an_extension_and_see_it_on_the_task_page(browser, site) -> None:
    page = open_page(browser, site, "phone")
    log_in(page, "lin")
    page.goto("/extensions")
    card = page.locator("section.card").filter(has_text="3.2.2")
    card.get_by_label("审批意见").fill("同意延期")
    card.get_by_label("决定").select_option("approve")
    assert not card.locator("form").evaluate("f => f.checkValidity()"), "not sent without the 确认 tick"
    card.get_by_label("确认").check()
    card.get_by_role("button", name="提交").click()
    page.wait_for_url("**/decide")
    assert "已批准" in page.locator("main").inner_text()
    assert_fits(page, "extension approved at phone")
    shot(page, site, "extension-approved-phone")
    page.get_by_role("link", name="返回延期申请").click()
    page.wait_for_url("**/extensions")
    waiting = page.locator("main").inner_text()
    assert "3.2.1" in waiting and "3.2.2" not in waiting, "the approved request no longer waits"
    page.goto("/tasks/district-2015/3.2.2")
    extensions = page.locator("section.card").filter(has_text="延期申请")
    assert "2017-03-31" in extensions.inner_text() and "同意延期" in extensions.inner_text()
    shot(page, site, "task-extended-phone")
    page.context.close()
    pending = cli(["extension", "list", "--json"], cwd=site["cwd"], db_url=site["url"]).stdout
    assert '"approved"' in pending and '"lin"' in pending


def test_write_a_report_and_a_supervisor_approves_and_downloads_it(browser, site) -> None:
    office = open_page(browser, site, "desktop")
    log_in(office, "lin")
    office.locator("header nav").get_by_role("link", name="通报").click()
    office.wait_for_url("**/reports")
    assert_fits(office, "reports at desktop")
    office.get_by_label("截至日期").fill("2016-01-15")
    assert not office.locator("form.generate").evaluate("f => f.checkValidity()"), "not sent without the tick"
    office.get_by_label("确认生成（同一天的文件将被替换）").check()
    office.get_by_role("button", name="生成").click()
    office.wait_for_url("**/reports/2016-01-15")
    assert "待审核" in office.locator(".report-meta").inner_text()
    assert office.locator("form.approve").count() == 0, "an office user may not approve"
    shot(office, site, "report-draft-desktop")
    office.context.close()
    for width in WIDTHS:
        page = open_page(browser, site, width)
        log_in(page, "zhao")
        page.goto("/reports")
        assert_fits(page, f"reports at {width}")
        page.evaluate(SCROLL_TABLES_BACK)  # every download in the window as the page opens, none scrolled out of sight
        downloads = page.locator("table.reports a[href*='/file/']")
        assert downloads.count() >= 2, "DOCX and MD"
        for box in (downloads.nth(i).bounding_box() for i in range(downloads.count())):
            assert box and box["x"] >= 0 and box["x"] + box["width"] <= WIDTHS[width][0], f"reports at {width}: {box}"
        shot(page, site, f"reports-{width}")
        page.get_by_role("link", name="2016-01-15").first.click()
        page.wait_for_url("**/reports/2016-01-15")
        assert page.locator(".report-body").inner_text().strip()
        assert_fits(page, f"report at {width}")
        shot(page, site, f"report-{width}")
        if width == "phone":
            page.get_by_label("审核通过，发送通报").check()
            page.get_by_role("button", name="审核通过").click()
            page.wait_for_url("**/reports/2016-01-15")
            assert "审核通过" in page.locator(".report-meta").inner_text() and "zhao" in page.locator(".report-meta").inner_text()
            shot(page, site, "report-approved-phone")
            with page.expect_download() as got:
                page.locator(".report-meta").get_by_role("link", name="DOCX").first.click()  # the report's own
            download = got.value
            saved = site["shots"].parent / download.suggested_filename
            download.save_as(saved)
            assert download.suggested_filename.endswith(".docx") and saved.read_bytes()[:2] == b"PK"
        page.context.close()
