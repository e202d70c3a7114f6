"""The console's task list and unit page read the stored lights in SQL (``task_pages_service``), on SQLite
and PostgreSQL: every filter, sort and page gives what the in-memory list over ``duban status`` gave (a
reference written here as that list was), and the statements a list runs are the same for 10 rows as for
200 and for a plan of 50 tasks as for one of 500."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml

from bench.synthetic import write_synthetic
from duban.matrix.calendar import WorkCalendar
from duban.matrix.errors import NotFound
from duban.matrix.scoring.board import task_order
from duban.workflows import task_pages_service as pages
from duban.workflows.lights_service import order_key
from duban.workflows.matrix_service import PlanOptions, import_file
from duban.workflows.progress_service import close_item
from duban.workflows.status_service import status
from tests.support import PLANS, POLICY, at

DISTRICT, VILLAGE = "district-2015", "village-2018"
CAL = WorkCalendar()
NOW = at(2018, 2, 28)  # a Wednesday, the village's February period due: the district long overdue


@pytest.fixture
def plans(engine, tmp_path: Path):
    """The district plan (3.2.1 with a co-lead unit, 3.1 closed) and the village plan (recurrences)."""
    plan = yaml.safe_load((PLANS / "district-2015.yaml").read_text(encoding="utf-8"))
    for task in plan["tasks"]:
        if task["code"] == "3.2.1":
            task["co_lead_units"] = ["區水務局"]
    (tmp_path / "district.yaml").write_text(yaml.safe_dump(plan, allow_unicode=True), encoding="utf-8")
    shutil.copy(PLANS / plan["directory"], tmp_path / plan["directory"])
    import_file(engine, tmp_path / "district.yaml", PlanOptions(), now=at(2015, 7, 1))
    close_item(engine, task="3.1", unit="區扶貧辦", now=at(2015, 7, 8), evidence="名冊", plan=DISTRICT)
    import_file(engine, PLANS / "village-2018.yaml", PlanOptions(), now=at(2018, 1, 1))
    return engine


_STATUS: dict[tuple[Any, ...], list[dict[str, Any]]] = {}


def _reference(engine, q: pages.TaskQuery, visible: list[str]) -> dict[str, Any]:
    """The list as it was computed before the lights were stored: ``status`` filtered, sorted, paged in memory."""
    today = NOW.date()
    key = (id(engine), q.plan, q.unit)
    if key not in _STATUS:
        _STATUS[key] = status(engine, now=NOW, policies=POLICY, plan=q.plan, unit=q.unit, calendar=CAL)
    rows = _STATUS[key]
    low, high = q.due_from, q.due_to
    if q.due == "week":
        start = today - dt.timedelta(days=today.weekday())
        low, high = max(low or start, start), min(high or start + dt.timedelta(days=6), start + dt.timedelta(days=6))
    least, most = pages.OVERDUE[q.overdue] if q.overdue else (0, None)
    item_test = low is not None or high is not None or q.overdue is not None
    kind = pages.KINDS[q.kind] if q.kind else None
    chosen = []
    for task in rows:
        open_items = [i for i in task["items"] if i["light"] != "closed"]
        row = {"plan": task["plan"], "code": task["code"], "title": task["title"], "lead_unit": task["lead_unit"],
               "co_lead_units": task["co_lead_units"], "light": pages.shown_light(task),
               "next_due": min((i["due"] for i in open_items), default=None),
               "overdue_days": max((i["working_days_overdue"] for i in open_items), default=0), "items": len(task["items"])}
        if task["plan"] not in visible or (q.light and row["light"] != q.light):
            continue
        if kind and kind not in {i["kind"] for i in task["items"]}:
            continue
        items = [i for i in open_items if i["kind"] == kind] if kind else open_items
        if item_test:
            items = [i for i in items if (low is None or i["due"] >= low.isoformat())
                     and (high is None or i["due"] <= high.isoformat()) and i["working_days_overdue"] >= least
                     and (most is None or i["working_days_overdue"] <= most)]
            if not items:
                continue
        chosen.append({**row, "matched": len(items)})
    order = {"code": lambda r: (r["plan"], task_order(r["code"])),
             "due": lambda r: (r["next_due"] or "", r["plan"], task_order(r["code"])),
             "light": lambda r: (pages.LIGHT_ORDER[r["light"]], -r["overdue_days"], r["plan"], task_order(r["code"])),
             "lead": lambda r: (r["lead_unit"], r["plan"], task_order(r["code"]))}[q.sort]
    chosen.sort(key=order, reverse=q.desc)
    if q.sort == "due":
        chosen = [r for r in chosen if r["next_due"]] + [r for r in chosen if not r["next_due"]]
    pages_ = max(1, -(-len(chosen) // q.per_page))
    page = min(q.page, pages_)
    return {"rows": chosen[(page - 1) * q.per_page:page * q.per_page], "total": len(chosen),
            "item_count": sum(r["matched"] for r in chosen), "page": page, "pages": pages_}


QUERIES = [
    {}, {"plan": DISTRICT}, {"plan": VILLAGE}, {"light": "red"}, {"light": "closed"}, {"light": "green"},
    {"light": "ongoing"}, {"light": "yellow"}, {"kind": "milestone"}, {"kind": "recurrence"},
    {"from": "2015-12-01", "to": "2016-06-30"}, {"to": "2015-07-31"}, {"from": "2018-02-01"}, {"due": "week"},
    {"due": "week", "from": "2018-02-28"}, {"overdue": "1-5"}, {"overdue": "6-20"}, {"overdue": "21+"},
    {"unit": "区交委"}, {"unit": "區交通委員會"}, {"unit": "扶贫办"}, {"unit": "各乡镇人民政府"}, {"unit": "區水務局"},
    {"plan": DISTRICT, "unit": "區交委", "light": "red"}, {"kind": "milestone", "overdue": "21+", "sort": "due"},
    {"kind": "recurrence", "from": "2018-02-01", "to": "2018-02-28"}, {"sort": "due"}, {"sort": "due", "desc": "1"},
    {"sort": "light"}, {"sort": "light", "desc": "1"}, {"sort": "lead"}, {"sort": "lead", "desc": "1"},
    {"desc": "1"}, {"per": "5", "page": "3"}, {"per": "7", "page": "99"}, {"plan": DISTRICT, "per": "10", "page": "2", "sort": "light"},
]


def test_every_filter_sort_and_page_lists_what_the_status_lights_list(plans) -> None:
    common = {"now": NOW, "policies": POLICY, "calendar": CAL}
    visible = [DISTRICT, VILLAGE]
    _STATUS.clear()
    for args in QUERIES:
        q = pages.parse_query(args)
        got = pages.list_tasks(plans, plans=visible, query=q, **common)
        want = _reference(plans, q, visible)
        assert {k: got[k] for k in ("total", "item_count", "page", "pages")} == \
            {k: want[k] for k in ("total", "item_count", "page", "pages")}, args
        assert got["rows"] == want["rows"], args
    everything = pages.list_tasks(plans, plans=visible, query=pages.parse_query({"per": "200"}), **common)
    assert {r["light"] for r in everything["rows"]} >= {"red", "closed"} and {r["plan"] for r in everything["rows"]} == set(visible)
    (co_led,) = [r for r in everything["rows"] if r["code"] == "3.2.1"]
    assert co_led["co_lead_units"] == ["區水務局"]
    for args in ({"kind": "recurrence"}, {"overdue": "21+"}, {"due": "week"}, {"light": "closed"}):
        assert pages.list_tasks(plans, plans=visible, query=pages.parse_query(args), **common)["total"] > 0, args
    assert [r["code"] for r in pages.list_tasks(plans, plans=visible, query=pages.parse_query(
        {"plan": DISTRICT, "per": "200"}), **common)["rows"]][:11] == ["3.1", *(f"3.2.{n}" for n in range(1, 11))]


def test_the_unit_page_lists_its_tasks_by_role_and_a_user_sees_only_their_plans(plans) -> None:
    common = {"now": NOW, "policies": POLICY, "calendar": CAL, "plans": [DISTRICT, VILLAGE]}
    water = pages.unit_page(plans, name="区水务局", **common)
    roles = {r["code"]: r["role"] for r in water["tasks"]}
    assert roles["3.2.1"] == "co_lead" and roles["3.2.2"] == "lead"
    assert [r["role"] for r in water["tasks"]] == sorted((r["role"] for r in water["tasks"]),
                                                       key=("lead", "co_lead", "supporting").index)
    listed = {r["code"]: r for r in pages.list_tasks(plans, query=pages.parse_query({"unit": "区水务局", "per": "200"}),
                                                      **common)["rows"]}
    assert set(listed) == set(roles)  # the list's unit filter and the page agree (lead, co-lead, supporting)
    for r in water["tasks"]:
        assert {k: v for k, v in r.items() if k not in ("role", "via")} == listed[r["code"]]
    township = pages.unit_page(plans, name="各乡镇人民政府", **common)
    assert township["tasks"] and {r["role"] for r in township["tasks"]} <= {"lead", "supporting"}
    assert sum(township["lights"].values()) == len(township["tasks"])
    view = {"now": NOW, "policies": POLICY, "calendar": CAL}  # as a user of the district's office only
    mine = pages.list_tasks(plans, plans=[DISTRICT], query=pages.parse_query({"per": "200"}), **view)
    assert mine["total"] == 23 and {r["plan"] for r in mine["rows"]} == {DISTRICT}
    with pytest.raises(NotFound):
        pages.list_tasks(plans, plans=[DISTRICT], query=pages.parse_query({"plan": VILLAGE}), **view)
    with pytest.raises(pages.BadQuery, match="unit='区不存在局'"):
        pages.list_tasks(plans, plans=[DISTRICT], query=pages.parse_query({"unit": "区不存在局"}), **view)
    assert pages.list_tasks(plans, plans=[], query=pages.TaskQuery(), **view)["total"] == 0


def test_task_codes_sort_as_the_plan_numbers_them() -> None:
    codes = ["3.2.10", "3.2.9", "3.2", "3.10", "3.2.1", "10", "2", "3.a", "3.b.1", "3.ab", "3.2.01", "（一）", "3"]
    assert sorted(codes, key=order_key) == sorted(codes, key=task_order)


def _synthetic(engine, folder: Path, tasks: int, code: str) -> None:
    path = write_synthetic(folder, tasks=tasks, units=30, milestones=2)
    plan = yaml.safe_load(path.read_text(encoding="utf-8"))
    plan["plan"]["code"] = code
    path.write_text(yaml.safe_dump(plan, allow_unicode=True, sort_keys=False), encoding="utf-8")
    import_file(engine, path, PlanOptions(), now=at(2015, 7, 1))


def test_the_statements_a_list_runs_do_not_grow_with_its_rows_or_the_tasks(engine, tmp_path: Path) -> None:
    _synthetic(engine, tmp_path / "small", 50, "small")
    _synthetic(engine, tmp_path / "large", 500, "large")
    statements: list[str] = []
    sa.event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    common = {"now": at(2016, 1, 15), "policies": POLICY, "calendar": CAL, "plans": ["small", "large"]}

    def count(**args: str) -> tuple[int, dict[str, Any]]:
        query = pages.parse_query(args)
        pages.list_tasks(engine, query=query, **common)  # the stored lights brought up to date first
        statements.clear()
        result = pages.list_tasks(engine, query=query, **common)
        return len(statements), result

    for extra in ({}, {"light": "red", "sort": "lead"}, {"kind": "milestone", "overdue": "21+", "sort": "due"},
                  {"from": "2015-06-01", "to": "2016-12-31", "unit": "第6區環保局", "sort": "light"}):
        runs = {(plan, per): count(plan=plan, per=per, **extra) for plan in ("small", "large") for per in ("10", "200")}
        shown = {key: len(result["rows"]) for key, (_, result) in runs.items()}
        assert shown[("large", "200")] > shown[("large", "10")] and shown[("large", "200")] > shown[("small", "200")], (extra, shown)
        assert len({n for n, _ in runs.values()}) == 1, (extra, {key: n for key, (n, _) in runs.items()})
