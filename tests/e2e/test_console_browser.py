"""The console in a real Chromium (Playwright driving Debian's /usr/bin/chromium) against a real `duban
serve` on the district plan replayed to 2016-01-15: logging in through the form, the overview at a 1280 px
screen and a 375 px phone with no page-wide horizontal scroll and every link and button visible and
clickable. Each page is kept as a screenshot under the test's tmp_path (and copied to $DUBAN_SCREENSHOTS
when set) to be looked at."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.console import PASSWORD, add_user, district, served

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
    with served(cwd, url) as base:
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
    page.screenshot(path=str(path), full_page=True)
    if os.environ.get("DUBAN_SCREENSHOTS"):
        target = Path(os.environ["DUBAN_SCREENSHOTS"])
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target / path.name)
    return path


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
