"""Use cases of the matrix: validate a plan file, import it, show and export what is stored.

Plain functions over an engine; the CLI and (later) flows call them. ``now`` is always a parameter.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from duban.matrix.columns import TASK_SHEET
from duban.matrix.gcpause import no_cyclic_gc
from duban.matrix.model import Milestone, Plan, Recurrence, Reporting, Task
from duban.matrix.reporting import cadence_words, due_text, reporting_json
from duban.matrix.script import to_traditional
from duban.matrix.vocabulary import ONGOING_MARK
from duban.store import plan_import
from duban.store import repository as repo
from duban.store.db import transaction

if TYPE_CHECKING:  # the loaders (YAML, OpenCC, the deadline language) load only when a file is read
    from sqlalchemy.engine import Engine

    from duban.matrix.directory import UnitDirectory
    from duban.matrix.limits import InputLimits
    from duban.matrix.loaders import LoadedPlan


@dataclass(slots=True)
class PlanOptions:
    """How to read a plan file: what the file itself may not say."""

    directory: Path | None = None
    allow_new_units: bool = False
    plan_code: str | None = None
    base_year: int | None = None
    title: str | None = None
    start: dt.date | None = None
    sheet: str | None = None
    limits: InputLimits | None = None  # the input limits (settings' DUBAN_LIMIT_…); None: the defaults
    skip_invalid: bool = False  # leave out the tasks that cannot be read (LoadedPlan.skipped) instead of refusing


def _directory(options: PlanOptions) -> UnitDirectory | None:
    from duban.matrix.directory import load_directory
    from duban.matrix.limits import DEFAULT_LIMITS

    return load_directory(options.directory, limits=options.limits or DEFAULT_LIMITS) if options.directory else None


def validate_file(path: Path, options: PlanOptions, *, engine: Engine | None = None) -> LoadedPlan:
    """Read and validate; units already in the database (when an engine is given) count as known."""
    from duban.matrix.limits import DEFAULT_LIMITS
    from duban.matrix.loaders import load_plan

    known = groups = None
    with no_cyclic_gc():
        if engine is not None:
            with transaction(engine) as session:
                known, groups = repo.load_directory_from_store(session), repo.load_plan_groups(session)
        return load_plan(
            path, directory=_directory(options), known_units=known, plan_groups=groups,
            allow_new_units=options.allow_new_units,
            plan_code=options.plan_code, base_year=options.base_year, title=options.title, start=options.start,
            sheet=options.sheet, limits=options.limits or DEFAULT_LIMITS, skip_invalid=options.skip_invalid,
        )


def import_file(engine: Engine, path: Path, options: PlanOptions, *, now: dt.datetime, actor: str = "",
                dry_run: bool = False, supervise_from: dt.date | None = None) -> tuple[LoadedPlan, plan_import.ImportResult]:
    """Validate, then import in one transaction: on any error nothing changes.

    What the import creates (tasks, milestones, recurrences) is supervised from ``supervise_from``,
    default ``now``'s day (``now`` in the office's time zone): a sweep on or after that day counts what
    was already overdue then from that day (see ``matrix.planner``). With ``dry_run`` the diff is
    computed inside the transaction and then rolled back. With ``options.skip_invalid`` the tasks that
    cannot be read are left out (``loaded.skipped``) and a stored task each matches is kept as stored.
    """
    loaded = validate_file(path, options, engine=engine)
    with transaction(engine) as session:
        result = plan_import.import_plan(session, loaded.plan, loaded.directory, now=now, new_units=loaded.new_units,
                                         actor=actor, supervised_from=supervise_from or now.date(),
                                         keep=[(s.code, s.title, s.target) for s in loaded.skipped])
        if dry_run:
            session.rollback()
    if loaded.plan.start is None and "start" not in result.kept:  # the stored start, if any, stays
        day = supervise_from or now.date()
        loaded.warnings.append(f"{path}: the plan names no start date (no start: in its header, no 填報 date row, no "
                               f"covering notice date) and no --start was given: supervision starts on {day.isoformat()}, "
                               "the import day; give --start YYYY-MM-DD if the plan began earlier")
    return loaded, result


def show(engine: Engine, *, plan: str | None = None, unit: str | None = None, official: str | None = None,
         due_before: dt.date | None = None) -> list[dict[str, Any]]:
    """Tasks matching the filters as rows with stable keys (the ``--json`` form of ``matrix show``)."""
    with transaction(engine) as session:
        ids = repo.query_task_ids(session, plan_code=plan, unit=unit, official=official, due_before=due_before)
        by_plan: dict[int, list[int]] = {}
        for plan_id, task_id in ids:
            by_plan.setdefault(plan_id, []).append(task_id)
        codes = {p.id: p.code for p in session.execute(repo.sa.select(repo.PlanRow)).scalars()}
        since = repo.supervised_from(session, [task_id for _plan, task_id in ids])
        rows: list[dict[str, Any]] = []
        for plan_id, task_ids in by_plan.items():
            for task in repo.read_tasks(session, plan_id, task_ids=task_ids):
                day = since.get((plan_id, task.code))
                rows.append({"plan": codes[plan_id], **task_json(task), "supervised_from": day.isoformat() if day else None})
    return rows


def export_plan(engine: Engine, *, plan: str | None, fmt: str) -> bytes:
    with transaction(engine) as session:
        stored = repo.read_plan(session, plan)
    if fmt == "json":
        return (json.dumps(plan_json(stored), ensure_ascii=False, indent=2) + "\n").encode()
    if fmt == "yaml":
        return plan_yaml(stored).encode()
    if fmt == "xlsx":
        return plan_xlsx(stored)
    raise ValueError(f"unknown export format {fmt!r}")


# --------------------------------------------------------------------------------------------
# Serialisations (stable keys; documented in README)


def extract_document(path: Path, *, base_year: int | None = None, plan_code: str | None = None,
                     part: int | None = None, limits: InputLimits | None = None, default_unit: str | None = None):
    """The matrix of a plan written as a document (.txt in UTF-8 or GBK, .docx), with every line it could
    not place (``ExtractResult``: ``to_yaml()``, ``to_json()``, ``leftovers``)."""
    from duban.matrix.extract import extract, read_document

    text, _lines = read_document(path, limits) if limits is not None else read_document(path)
    return extract(text, source=str(path), base_year=base_year, plan_code=plan_code, part=part,
                   default_unit=default_unit, **({"limits": limits} if limits is not None else {}))


def write_export(path: Path, data: bytes) -> None:
    """Write an export where the user asked: 0600 in a 0700 folder unless DUBAN_FILE_MODE says otherwise."""
    from duban.store.files import write_file

    write_file(path, data)


def list_plans(engine: Engine) -> list[dict[str, Any]]:
    """The stored plans: ``{code, title, base_year, start, end, tasks}`` each."""
    with transaction(engine) as session:
        return repo.list_plans(session)


def plan_codes(engine: Engine) -> list[str]:
    """The codes of the stored plans (what a sweep or a report covers), sorted."""
    return sorted(p["code"] for p in list_plans(engine))


def list_units(engine: Engine) -> list[dict[str, Any]]:
    """The unit directory as stored: ``{name, aliases, kind, is_office, head: {name, title, email}, emails,
    member_of, plan}`` each; ``plan`` is the code of the plan a group belongs to, None for a shared unit."""
    with transaction(engine) as session:
        codes = {p["id"]: p["code"] for p in repo.plan_ids(session)}
        return [{"name": u.name, "aliases": list(u.aliases), "kind": u.kind, "is_office": u.is_office,
                 "head": {"name": u.head_name, "title": u.head_title, "email": u.head_email},
                 "emails": list(u.emails), "member_of": list(u.member_of), "plan": codes.get(u.plan_id)}
                for u in repo.list_units(session)]


def _quantity(q) -> int | float | None:
    if q is None:
        return None
    return int(q) if q == q.to_integral() else float(q)


def milestone_json(m: Milestone) -> dict[str, Any]:
    return {"due": m.due.isoformat(), "start": m.start.isoformat() if m.start else None,
            "quantity": _quantity(m.quantity), "measure": m.measure}


def recurrence_json(r: Recurrence) -> dict[str, Any]:
    return {"freq": r.freq, "rule": r.rule, "anchor": r.anchor, "min_count": r.min_count,
            "min_amount": _quantity(r.min_amount), "amount_unit": r.amount_unit,
            "start": r.start.isoformat() if r.start else None, "until": r.until.isoformat() if r.until else None,
            "ongoing": r.ongoing, "beneficiary": r.beneficiary}


def period_words(recurrence: dict[str, Any]) -> str:
    """A recurrence (as ``recurrence_json`` writes it) in a table: its period (monthly …), or for ongoing
    work 持續 and its cadence, 持續（每月5日前報送進展）."""
    if not recurrence.get("ongoing"):
        return str(recurrence["freq"])
    words = cadence_words(recurrence["freq"], recurrence["rule"])
    return ONGOING_MARK["zh-Hant"] + (f"（{to_traditional(words)}）" if words else "")


def task_json(t: Task) -> dict[str, Any]:
    return {
        "code": t.code,
        "title": t.title,
        "section": list(t.section),
        "target": t.target,
        "lead_officials": [{"name": o.name, "title": o.title} for o in t.lead_officials],
        "lead_unit": t.lead_unit,
        "co_lead_units": list(t.co_lead_units),
        "supporting_units": list(t.supporting_units),
        "deadline": t.deadline_text,
        "milestones": [milestone_json(m) for m in t.milestones],
        "recurrence": [recurrence_json(r) for r in t.recurrences],
        "veto": t.veto,
        "note": t.note,
    }


def plan_json(plan: Plan) -> dict[str, Any]:
    return {
        "plan": {"code": plan.code, "title": plan.title, "issuer": plan.issuer, "base_year": plan.base_year,
                 "start": plan.start.isoformat() if plan.start else None,
                 "end": plan.end.isoformat() if plan.end else None, "timezone": plan.timezone, "source": plan.source,
                 "reporting": {"every": plan.reporting.every, "due": due_text(plan.reporting)},
                 "default_unit": plan.default_unit},
        "tasks": [task_json(t) for t in plan.tasks],
        "stages": [{"code": s.code, "kind": s.kind, "title": s.title, "deadline": s.deadline_text,
                    "milestones": [milestone_json(m) for m in s.milestones], "units": list(s.units), "text": s.text}
                   for s in plan.stages],
    }


def _reporting_yaml(reporting: Reporting) -> dict[str, Any] | None:
    """The header's ``reporting:`` as a file writes it (None for the default: the key is left out)."""
    stored = reporting_json(reporting)
    return None if stored is None else {"every": reporting.every, "due": due_text(reporting)}


def plan_yaml(plan: Plan) -> str:
    """The canonical YAML of a stored plan; importing it again changes nothing."""
    import yaml

    doc: dict[str, Any] = {"plan": plan_header(plan)}
    if plan.officials:
        doc["officials"] = plan_officials(plan)
    doc["tasks"] = []
    for t in plan.tasks:
        item: dict[str, Any] = {"code": t.code}
        if t.section:
            item["section"] = list(t.section)
        item["title"] = t.title
        if t.target:
            item["target"] = t.target
        if t.lead_officials:
            item["lead_officials"] = [str(o) for o in t.lead_officials]
        item["lead_unit"] = t.lead_unit
        if t.co_lead_units:
            item["co_lead_units"] = list(t.co_lead_units)
        if t.supporting_units:
            item["supporting_units"] = list(t.supporting_units)
        item["deadline"] = t.deadline_text
        owed = task_beneficiaries(t)
        if owed:  # the task's own list: its every recurrence is owed to each (as the plan's 每戶 ones were)
            item["beneficiaries"] = owed
        if t.veto:
            item["veto"] = True
        if t.note:
            item["note"] = t.note
        doc["tasks"].append(item)
    if plan.stages:
        doc["stages"] = plan_stages(plan)
    return "# exported by duban from the database\n" + yaml.safe_dump(doc, allow_unicode=True, sort_keys=False, width=120)


def task_beneficiaries(task: Task) -> list[str]:
    """The households or villages a task's obligations are owed to (its ``beneficiaries:``), in order."""
    return list(dict.fromkeys(r.beneficiary for r in task.recurrences if r.beneficiary))


def plan_header(plan: Plan) -> dict[str, Any]:
    """The plan's ``plan:`` mapping as the YAML export writes it (and the XLSX export's 方案信息 sheet):
    every header key with a value. A header field added here round-trips through both."""
    return {k: v for k, v in {
        "code": plan.code, "title": plan.title, "issuer": plan.issuer, "base_year": plan.base_year,
        "start": plan.start, "end": plan.end, "timezone": plan.timezone, "source": plan.source,
        "reporting": _reporting_yaml(plan.reporting), "default_unit": plan.default_unit,
    }.items() if v not in (None, "")}


def plan_officials(plan: Plan) -> list[dict[str, Any]]:
    """The plan's ``officials:`` list (name, title, email each, as far as known)."""
    return [{k: v for k, v in (("name", o.name), ("title", o.title), ("email", o.email)) if v} for o in plan.officials]


def plan_stages(plan: Plan) -> list[dict[str, Any]]:
    """The plan's ``stages:`` list."""
    return [{k: v for k, v in (("code", s.code), ("kind", s.kind), ("title", s.title), ("deadline", s.deadline_text),
                               ("text", s.text), ("units", list(s.units))) if v not in (None, "", [])}
            for s in plan.stages]


# The exported sheet's header: the task sheet's own words, so that it reads back (duban.matrix.columns).
XLSX_HEADERS = TASK_SHEET.written(("code", "title", "target", "lead_officials", "lead_unit", "supporting_units",
                                   "deadline", "section", "veto"))


# Text a spreadsheet would read as a formula (or a DDE command) when typed in: such a cell also gets Excel's
# quote prefix, so editing it in Excel keeps it text.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def _text_row(ws: Any, values: list[Any]) -> None:
    """Append a row whose every value is a typed string cell (``t="inlineStr"``/``"s"``), never a formula or
    an error value: openpyxl would otherwise turn text beginning with ``=`` into a live formula and
    ``#N/A`` into an error. What duban writes reads back exactly."""
    ws.append([None if v is None or v == "" else str(v) for v in values])
    for cell in ws[ws.max_row]:
        if cell.value is None:
            continue
        cell.data_type = "s"
        if cell.value.startswith(FORMULA_TRIGGERS):
            cell.quotePrefix = True


def plan_xlsx(plan: Plan) -> bytes:
    """The sheet offices circulate (a title row, the header, one row per task) and, beside it, the
    方案信息 sheet with what a task sheet cannot carry (``_facts_sheet``): the workbook imports back whole."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font

    wb = Workbook()
    ws = wb.active
    ws.title = "責任分解"
    _text_row(ws, [plan.title])
    ws["A1"].font = Font(bold=True, size=14)
    owed = [task_beneficiaries(t) for t in plan.tasks]
    noted = any(t.note for t in plan.tasks)  # 備註 only where a task has one
    _text_row(ws, list(XLSX_HEADERS) + (list(TASK_SHEET.written(("beneficiaries",))) if any(owed) else [])
              + (list(TASK_SHEET.written(("note",))) if noted else []))
    for cell in ws[2]:
        cell.font = Font(bold=True)
    for t, beneficiaries in zip(plan.tasks, owed, strict=True):
        _text_row(ws, [t.code, t.title, t.target, "、".join(str(o) for o in t.lead_officials),
                       "；".join((t.lead_unit, *t.co_lead_units)),  # 共同牽頭 as offices write it: the first leads
                       "、".join(t.supporting_units), t.deadline_text, " / ".join(t.section), "是" if t.veto else "",
                       *(["、".join(beneficiaries)] if any(owed) else []), *([t.note] if noted else [])])
    for col, width in zip("ABCDEFGHIJ", (8, 18, 50, 30, 16, 40, 30, 30, 8, 30)):
        ws.column_dimensions[col].width = width
    for row in ws.iter_rows(min_row=3):
        for cell in row:
            cell.alignment = Alignment(wrap_text=True, vertical="top")
    _facts_sheet(wb, plan)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _facts_sheet(wb: Any, plan: Plan) -> None:
    """The 方案信息 sheet: the YAML export's ``plan:`` mapping as key/value rows, then its stages and officials
    as small tables (``duban.matrix.plan_facts``), so a new header field needs no code of its own here."""
    from openpyxl.styles import Font

    from duban.matrix.plan_facts import PLAN_FACTS_SHEET, TABLE_BLOCKS, facts_rows

    ws = wb.create_sheet(PLAN_FACTS_SHEET)
    tables = {"stages": plan_stages(plan), "officials": plan_officials(plan)}
    for values in facts_rows(plan_header(plan), tables):
        _text_row(ws, values)
        if len(values) == 1 and values[0] in ("plan", *TABLE_BLOCKS):
            ws.cell(row=ws.max_row, column=1).font = Font(bold=True)
    for col, width in zip("ABCDEF", (16, 40, 30, 20, 50, 30)):
        ws.column_dimensions[col].width = width
