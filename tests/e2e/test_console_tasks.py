"""The console's 任務 and 單位 pages through a real `duban serve`: the task list's filters (plan, unit in
either script or by alias, light, kind, due dates, the overview's links), sorting and paging; a task's
page (its matrix row, progress, notices with their deliveries, extensions, history); a unit's page; 404
for plans a user may not see; HTML in titles and unit names shown as text; and the statements a page
runs not growing with the rows it shows (in process, counted on the engine).

The district plan is replayed to 2016-01-15 and viewed at the real clock (so every open item is long
overdue): 3.1 is closed, 3.2.1 has a progress report, 3.2.2 an approved extension to 2016-03-31; the
notices are delivered (.eml files). The
village plan (another office, monthly recurrences) is there for the kind filter and the 404s."""

from __future__ import annotations

import html
import re
import shutil
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import httpx
import pytest
import yaml

from tests.console import add_user, cli, logged_in, served
from tests.support import PLANS

DISTRICT, VILLAGE = "district-2015", "village-2018"
DISTRICT_OFFICE = "區扶貧開發領導小組辦公室"
HREF = re.compile(r'href="([^"]+)"')
ROW = re.compile(r'<tr>\s*<td><a href="/tasks/([^/"]+)/([^"]+)">')


def _db(cwd: Path) -> str:
    return f"sqlite:///{cwd / 'duban.db'}"


def _prepare(cwd: Path) -> None:
    url = _db(cwd)

    def run(*args: str) -> None:
        cli(list(args), cwd=cwd, db_url=url)

    run("matrix", "import", str(PLANS / "district-2015.yaml"), "--as-of", "2015-07-01")
    run("progress", "close", "3.1", "--unit", "区扶贫办", "--evidence", "建檔立卡名冊", "--as-of", "2015-07-08")
    run("progress", "report", "3.2.1", "--unit", "區交委", "--done", "10", "--note", "已硬化道路10個村", "--as-of", "2015-11-30")
    run("extension", "request", "3.2.2", "--unit", "區水務局", "--until", "2016-03-31", "--reason", "汛期停工", "--as-of", "2015-12-20")
    run("extension", "approve", "1", "--by", "office", "--as-of", "2015-12-21")
    run("extension", "request", "3.2.1", "--unit", "區交委", "--milestone", "2", "--until", "2017-03-31",
        "--reason", "資金未到位", "--as-of", "2015-12-22")  # pending: on the extensions page
    run("sweep", "--as-of", "2016-01-15")
    run("deliver", "--as-of", "2016-01-15")  # .eml files in var/outbox: every delivery sent
    run("report", "weekly", "--as-of", "2016-01-15")  # the unit pages' score trend: what this report gave
    run("matrix", "import", str(PLANS / "village-2018.yaml"), "--as-of", "2018-01-01")
    add_user("lin", "office", cwd=cwd, db_url=url)
    add_user("wang", "viewer", cwd=cwd, db_url=url, offices=(DISTRICT_OFFICE,))


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    cwd = tmp_path_factory.mktemp("console_tasks")
    _prepare(cwd)
    with served(cwd, _db(cwd)) as url:
        yield url


@pytest.fixture(scope="module")
def lin(base: str) -> Iterator[httpx.Client]:
    client = logged_in(base, "lin")
    yield client
    client.close()


def rows(page: str) -> list[tuple[str, str]]:
    """(plan, code) of the list's rows, in order."""
    return [(html.unescape(p), html.unescape(c)) for p, c in ROW.findall(page)]


def codes(page: str) -> list[str]:
    return [c for _, c in rows(page)]


def counts(page: str) -> tuple[int, int]:
    m = re.search(r'data-tasks="(\d+)" data-items="(\d+)"', page)
    assert m, "the list says how many tasks and items it found"
    return int(m.group(1)), int(m.group(2))


def test_every_link_of_the_overview_opens_a_list_of_what_it_counts(lin: httpx.Client) -> None:
    overview = lin.get("/").text
    links = re.findall(r'<a href="(/tasks\?[^"]+)">(.*?)</a>', overview, flags=re.S)
    kinds = {re.search(r"(light|due|overdue)=", html.unescape(h)).group(1) for h, _ in links}  # type: ignore[union-attr]
    assert kinds == {"light", "due", "overdue"} and len(links) == 2 * (5 + 1 + 3)  # both plans
    for href, text in links:
        shown = int(re.findall(r"\d+", re.sub(r"<[^>]+>", " ", text).split(":")[-1])[-1])
        page = lin.get(html.unescape(href))
        assert page.status_code == 200, href
        tasks, items = counts(page.text)
        if "light=" in href:
            assert tasks == shown, href  # the overview counts tasks by light …
        else:
            assert items == shown, href  # … and items due this week or overdue
    red = lin.get(f"/tasks?plan={DISTRICT}&light=red").text
    assert "3.2.1" in codes(red) and "3.1" not in codes(red)
    assert codes(lin.get(f"/tasks?plan={DISTRICT}&light=closed").text) == ["3.1"]
    # 21+ arrives as "21 " (a + in a query string is a space) and means the same
    assert codes(lin.get(f"/tasks?plan={DISTRICT}&overdue=21+").text) == codes(lin.get(f"/tasks?plan={DISTRICT}&overdue=21%2B").text)
    assert len(codes(lin.get(f"/tasks?plan={DISTRICT}&overdue=21%2B").text)) == 22


def test_a_unit_filters_in_either_script_and_by_its_aliases(lin: httpx.Client) -> None:
    traditional = codes(lin.get("/tasks", params={"plan": DISTRICT, "unit": "區交委"}).text)
    assert "3.2.1" in traditional and "3.1" not in traditional
    assert codes(lin.get("/tasks", params={"plan": DISTRICT, "unit": "区交委"}).text) == traditional
    assert codes(lin.get("/tasks", params={"plan": DISTRICT, "unit": "区交通委员会"}).text) == traditional
    fupin = codes(lin.get("/tasks", params={"unit": "扶贫办"}).text)  # an alias, simplified, as lead and supporting
    assert fupin[0] == "3.1" and "3.2.1" in fupin and "3.2.4" not in fupin
    bad = lin.get("/tasks", params={"unit": "区不存在局"})
    assert bad.status_code == 400 and "no unit" in bad.text and "Traceback" not in bad.text
    assert 'value="区不存在局"' in bad.text  # the form keeps what was typed, to correct it


def test_light_kind_and_due_dates_filter(lin: httpx.Client) -> None:
    recurring = rows(lin.get("/tasks", params={"kind": "recurrence"}).text)
    assert recurring and {p for p, _ in recurring} == {VILLAGE}
    milestones = rows(lin.get("/tasks", params={"kind": "milestone", "per": "200"}).text)
    assert (DISTRICT, "3.2.1") in milestones and not set(recurring) & set(milestones)
    extended = codes(lin.get("/tasks", params={"plan": DISTRICT, "from": "2016-03-01", "to": "2016-03-31"}).text)
    assert extended == ["3.2.2"]  # its first milestone moved there by the approved extension
    assert codes(lin.get("/tasks", params={"plan": DISTRICT, "to": "2015-07-31"}).text) == ["3.5"]  # not 3.1: its item is closed
    for args, says in (({"light": "purple"}, "light='purple'"), ({"from": "2016-13-01"}, "from='2016-13-01'"),
                       ({"page": "0"}, "page='0'"), ({"kind": "weekly"}, "kind='weekly'")):
        page = lin.get("/tasks", params=args)
        assert page.status_code == 400 and says in html.unescape(page.text) and "Traceback" not in page.text


def test_sorting_and_pages_of_ten_keep_the_filters(lin: httpx.Client) -> None:
    everything = codes(lin.get("/tasks", params={"plan": DISTRICT}).text)
    assert len(everything) == 23 and everything[:3] == ["3.1", "3.2.1", "3.2.2"] and everything.index("3.2.10") > everything.index("3.2.9")
    first = lin.get("/tasks", params={"plan": DISTRICT, "light": "red", "per": "10"}).text
    assert len(codes(first)) == 10
    links = [html.unescape(h) for h in HREF.findall(first) if "page=" in h]
    assert links and all(f"plan={DISTRICT}" in h and "light=red" in h and "per=10" in h for h in links)
    pages = [codes(lin.get(f"/tasks?plan={DISTRICT}&light=red&per=10&page={n}").text) for n in (1, 2, 3)]
    assert [len(p) for p in pages] == [10, 10, 2] and sum(pages, []) == [c for c in everything if c != "3.1"]
    by_due = lin.get("/tasks", params={"plan": DISTRICT, "sort": "due", "desc": "1"}).text
    dues = re.findall(r"<td>(\d{4}-\d\d-\d\d|—)</td>", by_due)
    assert dues == sorted(dues[:-1], reverse=True) + ["—"]  # 3.1 (closed) has no next due: last either way
    assert "2016-03-31" in dues  # 3.2.2's first milestone, extended
    by_lead = lin.get("/tasks", params={"plan": DISTRICT, "sort": "lead"}).text
    leads = re.findall(r'<td><a href="/units/[^"]+">([^<]+)</a>', by_lead)
    assert leads == sorted(leads) and len(leads) == 23
    sort_links = [html.unescape(h) for h in HREF.findall(by_lead) if "sort=" in h]
    assert all(f"plan={DISTRICT}" in h for h in sort_links)
    assert "sort=lead&desc=1" in "".join(sort_links)  # the current sort's header reverses it
    by_light = codes(lin.get("/tasks", params={"plan": DISTRICT, "sort": "light", "desc": "1"}).text)
    assert by_light[0] == "3.1"


def test_a_red_task_page_shows_its_row_progress_chases_escalations_and_history(lin: httpx.Client) -> None:
    page = lin.get(f"/tasks/{DISTRICT}/3.2.1").text
    for text in ("交通建設", "貧困村村級道路硬化或油化1條以上", "劉儀", "區人民政府副區長", "2015年底完成25個村、2016年底完成40個村",
                 "25村", "40村", "红灯", "已硬化道路10個村", "催办", "督办 1级", "督办 2级", "notice.chase", "notice.escalation",
                 "item.overdue", "task.added", "progress.reported"):
        assert text in page, text
    assert "head.jiaowei@example.org" in page and "已发送" in page  # each notice's deliveries and their state
    assert 'href="/units/%E5%8D%80%E4%BA%A4%E5%A7%94"' in page  # 區交委, the lead unit's page
    assert 'href="/units/%E5%90%84%E9%84%89%E9%8E%AE%E4%BA%BA%E6%B0%91%E6%94%BF%E5%BA%9C"' in page  # a supporting group
    extended = lin.get(f"/tasks/{DISTRICT}/3.2.2").text
    assert "汛期停工" in extended and "2015-12-31 → 2016-03-31" in extended and "已批准" in extended
    closed = lin.get(f"/tasks/{DISTRICT}/3.1").text
    assert "已办结" in closed and "建檔立卡名冊" in closed
    recurring = lin.get(f"/tasks/{VILLAGE}/2.3").text
    assert "周期性要求" in recurring and "monthly" in recurring


def test_a_pending_extension_names_its_milestone_in_the_pages_language(lin: httpx.Client) -> None:
    pending = lin.get("/extensions").text
    assert "資金未到位" in pending and "第2个节点" in pending and "milestone 2" not in pending


def test_a_unit_page_lists_its_tasks_by_role_letters_and_scores(lin: httpx.Client) -> None:
    page = lin.get("/units/区交委").text  # simplified, as typed
    assert "<h1>區交委" in page
    lead = re.findall(r'<tr class="role-lead">.*?<a href="/tasks/[^/]+/([^"]+)"', page, flags=re.S)
    assert lead == ["3.2.1"]
    assert "每周得分" in page and "<meter" in page
    assert "收到的通知" in page and "催办" in page and "主送" in page and "jiaowei@example.org" in page
    fupin = lin.get("/units/扶贫办").text  # by alias
    assert "<h1>區扶貧辦" in fupin and 'class="role-supporting"' in fupin and "经 區級各部門" in fupin
    group = lin.get("/units/各乡镇人民政府").text
    assert group.count('class="role-supporting"') >= 20


def test_plans_and_tasks_a_user_may_not_see_are_404(base: str) -> None:
    with closing(logged_in(base, "wang")) as wang:  # a viewer of the district's office only
        mine = rows(wang.get("/tasks", params={"per": "200"}).text)
        assert mine and {p for p, _ in mine} == {DISTRICT}
        for path in (f"/tasks?plan={VILLAGE}", f"/tasks/{VILLAGE}/2.3", "/units/局駐村工作組", f"/tasks?plan={VILLAGE}&light=red",
                     "/tasks?plan=nope", f"/tasks/{DISTRICT}/9.9", "/tasks/nope/3.1", "/units/不存在的單位"):
            assert wang.get(path).status_code == 404, path
        assert wang.get(f"/tasks/{DISTRICT}/3.2.1").status_code == 200
    assert httpx.get(base + f"/tasks/{DISTRICT}/3.2.1", follow_redirects=False).status_code == 303  # to the login


def test_html_in_titles_and_unit_names_is_shown_as_text(tmp_path: Path) -> None:
    plan = yaml.safe_load((PLANS / "district-2015.yaml").read_text(encoding="utf-8"))
    evil_unit, evil_title = "<b>區交委</b>", "<script>alert(1)</script>交通建設"
    for task in plan["tasks"]:
        task["lead_unit"] = evil_unit if task["lead_unit"] == "區交委" else task["lead_unit"]
        task["supporting_units"] = [evil_unit if u == "區交委" else u for u in task.get("supporting_units", [])]
        if task["code"] == "3.2.1":
            task["title"] = evil_title
    (tmp_path / "evil.yaml").write_text(yaml.safe_dump(plan, allow_unicode=True), encoding="utf-8")
    units = (PLANS / plan["directory"]).read_text(encoding="utf-8").replace("- name: 區交委\n", f"- name: \"{evil_unit}\"\n")
    (tmp_path / plan["directory"]).write_text(units, encoding="utf-8")
    url = _db(tmp_path)
    cli(["matrix", "import", str(tmp_path / "evil.yaml"), "--as-of", "2015-07-01"], cwd=tmp_path, db_url=url)
    cli(["sweep", "--as-of", "2016-01-15"], cwd=tmp_path, db_url=url)
    add_user("lin", "viewer", cwd=tmp_path, db_url=url)
    with served(tmp_path, url) as base, closing(logged_in(base, "lin")) as client:
        pages = [client.get("/tasks").text, client.get(f"/tasks/{DISTRICT}/3.2.1").text,
                 client.get("/units/" + evil_unit.replace("/", "%2F")).text, client.get("/units/區扶貧辦").text]
    for page in pages:
        assert "<script>alert(1)</script>" not in page and "<b>區交委</b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;交通建設" in pages[0] and "&lt;b&gt;區交委&lt;/b&gt;" in pages[0]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;交通建設" in pages[1] and "&lt;b&gt;區交委&lt;/b&gt;" in pages[1]
    assert "<h1>&lt;b&gt;區交委&lt;/b&gt;" in pages[2] and "3.2.1" in pages[2]


# --------------------------------------------------------------------------------------------
# Statements per page (in process): the same for 10 rows as for 50


class _NoAliases(yaml.SafeDumper):
    """Each task's section written out: duban reads at most 100 YAML aliases (DUBAN_LIMIT_YAML_ALIASES)."""

    def ignore_aliases(self, data: object) -> bool:
        return True


def _big_plan(tmp_path: Path) -> str:
    """The district plan three times over (69 tasks, codes a.3.1 …), imported and swept."""
    plan = yaml.safe_load((PLANS / "district-2015.yaml").read_text(encoding="utf-8"))
    plan["tasks"] = [{**{k: v for k, v in t.items() if k != "source_line"}, "code": f"{p}.{t['code']}"}
                     for p in "abc" for t in plan["tasks"]]
    (tmp_path / "big.yaml").write_text(yaml.dump(plan, Dumper=_NoAliases, allow_unicode=True), encoding="utf-8")
    shutil.copy(PLANS / plan["directory"], tmp_path / plan["directory"])
    url = _db(tmp_path)
    cli(["matrix", "import", str(tmp_path / "big.yaml"), "--as-of", "2015-07-01"], cwd=tmp_path, db_url=url)
    cli(["sweep", "--as-of", "2016-01-15"], cwd=tmp_path, db_url=url)
    return url


def test_the_statements_a_page_runs_do_not_grow_with_its_rows(tmp_path: Path) -> None:
    import datetime as dt
    from zoneinfo import ZoneInfo

    import sqlalchemy as sa

    from duban.matrix.calendar import WorkCalendar
    from duban.matrix.policy import PolicySet
    from duban.store.db import open_database
    from duban.workflows import task_pages_service as pages

    engine = open_database(_big_plan(tmp_path))
    statements: list[str] = []
    sa.event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    now = dt.datetime(2016, 1, 15, 12, tzinfo=ZoneInfo("Asia/Shanghai"))
    common = {"now": now, "policies": PolicySet(), "calendar": WorkCalendar(), "plans": [DISTRICT]}

    def run(call, **kw) -> tuple[int, dict]:  # type: ignore[no-untyped-def]
        call(engine, **common, **kw)  # the stored lights brought up to date (the first call computes them)
        statements.clear()
        result = call(engine, **common, **kw)
        return len(statements), result

    ten, small = run(pages.list_tasks, query=pages.parse_query({"per": "10"}))
    fifty, large = run(pages.list_tasks, query=pages.parse_query({"per": "50"}))
    assert (len(small["rows"]), len(large["rows"]), large["total"]) == (10, 50, 69)
    assert ten == fifty, "the list runs as many statements for 50 rows as for 10"
    few, one = run(pages.unit_page, name="區扶貧辦", letters=10)
    many, all_ = run(pages.unit_page, name="區扶貧辦", letters=50)
    assert (len(one["letters"]), len(all_["letters"])) == (10, 50) and len(all_["tasks"]) == 60
    assert few == many, "the unit page runs as many statements for 50 letters as for 10"
    quiet, closed = run(pages.task_page, plan=DISTRICT, code="a.3.3")  # no notices (green)
    busy, red = run(pages.task_page, plan=DISTRICT, code="a.3.2.1")  # chases and escalations
    assert not closed["notices"] and len(red["notices"]) >= 3
    assert quiet == busy, "the task page runs as many statements for many notices as for none"


def test_the_list_reads_stored_lights_computed_again_only_when_an_event_or_the_day_changes(tmp_path: Path) -> None:
    import datetime as dt
    from zoneinfo import ZoneInfo

    import sqlalchemy as sa

    from duban.matrix.calendar import WorkCalendar
    from duban.matrix.policy import PolicySet
    from duban.store.db import open_database
    from duban.workflows import task_pages_service as pages
    from duban.workflows.progress_service import close_item
    from duban.workflows.user_service import add_user

    engine = open_database(_big_plan(tmp_path))
    statements: list[str] = []
    sa.event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    now = dt.datetime(2016, 1, 15, 12, tzinfo=ZoneInfo("Asia/Shanghai"))
    common = {"policies": PolicySet(), "calendar": WorkCalendar(), "plans": [DISTRICT]}
    closed = pages.parse_query({"light": "closed"})
    assert pages.list_tasks(engine, now=now, query=closed, **common)["total"] == 0
    add_user(engine, name="zhao", password="correct horse battery", role="viewer", offices=[], now=now, actor="test")
    statements.clear()
    assert pages.list_tasks(engine, now=now, query=pages.parse_query({"light": "red"}), **common)["total"] == 63
    written = [s for s in statements if s.lstrip().upper().startswith(("INSERT", "DELETE", "UPDATE"))]
    assert not written, written  # a user's event changes no light: the stored ones are read as they are
    close_item(engine, task="b.3.1", unit="區扶貧辦", now=now, evidence="名冊", plan=DISTRICT)
    assert [r["code"] for r in pages.list_tasks(engine, now=now, query=closed, **common)["rows"]] == ["b.3.1"]
    later = pages.list_tasks(engine, now=now + dt.timedelta(days=365), query=pages.parse_query({"light": "green"}), **common)
    assert later["total"] == 0  # a year on, nothing is on track any more: the day is part of what is stored


def test_the_score_trend_shows_what_the_weekly_reports_gave(tmp_path: Path) -> None:
    """Each week's score as the report written for it gave it (scored with the rules of its day), for the
    weeks up to the newest report; a week with no report is shown as not reported, not rescored."""
    import datetime as dt
    import json
    from zoneinfo import ZoneInfo

    from duban.store.db import open_database
    from duban.workflows import task_pages_service as pages

    url = _big_plan(tmp_path)
    written = json.loads(cli(["report", "weekly", "--as-of", "2016-01-15", "--json"], cwd=tmp_path, db_url=url).stdout)
    given = {r["unit"]: r for r in written["ranking"]}["區扶貧辦"]
    engine = open_database(url)
    now = dt.datetime(2016, 1, 16, 12, tzinfo=ZoneInfo("Asia/Shanghai"))  # the Saturday after
    trend = pages.score_trend(engine, now=now, plans=[DISTRICT], unit="區扶貧辦")
    assert list(trend) == [""]  # the report of every plan (no report of the plan alone was written)
    weeks = trend[""]
    assert len(weeks) == 8 and [w["end"] for w in weeks][-2:] == ["2016-01-08", "2016-01-15"]
    assert weeks[-1] == {"end": "2016-01-15", "score": given["score"], "rank": given["rank"],
                         "units": len(written["ranking"]), "reported": True}
    assert all(not w["reported"] and w["score"] is None for w in weeks[:-1])
    assert pages.score_trend(engine, now=now, plans=[DISTRICT], unit="區交委")[""][-1]["reported"]
    assert pages.score_trend(engine, now=now + dt.timedelta(days=700), plans=[DISTRICT], unit="區扶貧辦") == trend  # the newest report's weeks
    assert pages.score_trend(engine, now=now - dt.timedelta(days=2), plans=[DISTRICT], unit="區扶貧辦") == {}  # none written by then


def test_the_overview_ranks_units_by_the_newest_weekly_reports_scores(base: str, lin: httpx.Client) -> None:
    overview = lin.get("/").text
    section = overview[overview.index('class="card ranking"'):]
    section = section[:section.index("</section>")]
    assert '<a href="/reports/2016-01-15">' in section  # the report the scores come from, a link to it
    ranked = re.findall(r'<tr><td>(\d+)</td><td><a href="(/units/[^"]+)">([^<]+)</a></td><td>([\d.]+)</td></tr>', section)
    assert len(ranked) >= 5, section[:500]
    ranks = [int(r) for r, *_ in ranked]
    assert ranks == sorted(ranks) and ranks[0] == 1
    # the unit page's trend shows the same score for that report (two readings of what the report wrote)
    rank, href, unit, score = ranked[0]
    page = lin.get(html.unescape(href)).text
    assert f"<h1>{unit}" in page and re.search(rf"2016-01-15</td><td><meter[^>]*>{re.escape(score)}</meter>", page), page[:300]
    with closing(logged_in(base, "wang")) as wang:  # one office's viewer: the report of every plan is not theirs
        assert 'class="card ranking"' not in wang.get("/").text
