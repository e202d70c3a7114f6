"""Writing a plan into the database: one transaction, diffed against what is there.

Re-importing a plan updates it in place, matching each task to the stored one by code and title, then by
title (a renumbered task keeps its identity), then by code, never by row position: new tasks are added,
changed fields are updated (milestones keep their identity by position, so progress recorded against
them survives), tasks missing from the new file are archived, never deleted, tasks the file has but could
not read (``import --skip-invalid``) are kept as stored, and every change is an event. ``ImportResult`` is the
diff a user sees (+ added, ~ changed, - archived).
"""

from __future__ import annotations

import datetime as dt
import difflib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlmodel import col

from duban.matrix.errors import StoreError
from duban.matrix.gcpause import no_cyclic_gc
from duban.matrix.model import Milestone, Official, Plan, Recurrence, Stage, Task, Unit
from duban.matrix.reporting import reporting_json
from duban.matrix.script import fold, unit_key
from duban.store.repository import read_tasks, set_top_leader, upsert_officials, upsert_units
from duban.store.tables import (
    TASK_UNIT_CO_LEAD,
    TASK_UNIT_SUPPORTING,
    EventRow,
    MilestoneRow,
    PlanRow,
    RecurrenceRow,
    StageRow,
    TaskOfficialRow,
    TaskRow,
    TaskUnitRow,
    UnitRow,
)

if TYPE_CHECKING:
    from duban.matrix.directory import UnitDirectory

COMPARED_FIELDS = (
    "title", "target", "section", "lead_unit", "co_lead_units", "supporting_units", "lead_officials",
    "deadline_text", "milestones", "recurrences", "veto", "note",
)


# --------------------------------------------------------------------------------------------
# Diff


@dataclass(slots=True)
class FieldChange:
    field: str
    old: Any
    new: Any


@dataclass(slots=True)
class ImportResult:
    plan_code: str
    created_plan: bool
    added: list[str] = field(default_factory=list)
    changed: dict[str, list[FieldChange]] = field(default_factory=dict)
    archived: list[str] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)
    unchanged: int = 0
    units_added: list[str] = field(default_factory=list)
    units_updated: list[str] = field(default_factory=list)
    header: list[FieldChange] = field(default_factory=list)  # the plan's own fields (title, issuer, start, end …)
    stages: list[str] = field(default_factory=list)  # "+S5", "~S2", "-S3"
    kept: list[str] = field(default_factory=list)  # what the file does not carry and the store keeps (issuer, stages …)
    kept_tasks: list[str] = field(default_factory=list)  # tasks the file could not read, kept as stored (codes)
    supervised_from: dt.date | None = None  # the day what this import created is supervised from

    @property
    def is_noop(self) -> bool:
        return not (self.added or self.changed or self.archived or self.restored or self.units_added or self.units_updated
                    or self.header or self.stages)

    def as_dict(self) -> dict[str, Any]:
        return {
            "plan": self.plan_code,
            "created_plan": self.created_plan,
            "added": self.added,
            "changed": {code: [{"field": c.field, "old": _jsonable(c.old), "new": _jsonable(c.new)} for c in changes]
                        for code, changes in self.changed.items()},
            "archived": self.archived,
            "restored": self.restored,
            "unchanged": self.unchanged,
            "units_added": self.units_added,
            "units_updated": self.units_updated,
            "header": [{"field": c.field, "old": _jsonable(c.old), "new": _jsonable(c.new)} for c in self.header],
            "stages": self.stages,
            "kept": self.kept,
            "kept_tasks": self.kept_tasks,
            "supervised_from": self.supervised_from.isoformat() if self.supervised_from else None,
        }


def _jsonable(value: Any) -> Any:
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral() else float(value)
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


def _milestone_key(m: Milestone) -> tuple:
    q = None if m.quantity is None else Decimal(m.quantity).normalize()
    return (m.due, m.start, q, m.measure or None)


def _recurrence_key(r: Recurrence) -> tuple:
    amount = None if r.min_amount is None else Decimal(r.min_amount).normalize()
    return (r.freq, r.rule, r.anchor, r.min_count, amount, r.amount_unit, r.start, r.until, r.ongoing, r.beneficiary)


def comparable(task: Task) -> dict[str, Any]:
    """The fields of a task that a re-import compares, in a form where equal means unchanged."""
    return {
        "title": task.title,
        "target": task.target,
        "note": task.note,
        "section": tuple(task.section),
        "lead_unit": task.lead_unit,
        "co_lead_units": tuple(task.co_lead_units),
        "supporting_units": tuple(task.supporting_units),
        "lead_officials": tuple(str(o) for o in task.lead_officials),
        "deadline_text": task.deadline_text,
        "milestones": tuple(_milestone_key(m) for m in task.milestones),
        "recurrences": tuple(_recurrence_key(r) for r in task.recurrences),
        "veto": task.veto,
    }


def _shown(name: str, value: Any) -> Any:
    """How a changed field is shown in the diff."""
    if name == "milestones":
        return [f"{d.isoformat()}" + (f" {format(q, 'f')}{m or ''}" if q is not None else "") for d, _s, q, m in value]
    if name == "recurrences":
        return [f"{f} {rule or anchor}" for f, rule, anchor, *_ in value]
    if isinstance(value, tuple):
        return list(value)
    return value


# --------------------------------------------------------------------------------------------
# Import


def import_plan(session: Session, plan: Plan, directory: UnitDirectory, *, now: dt.datetime,
                new_units: Iterable[Unit] = (), actor: str = "", supervised_from: dt.date | None = None,
                keep: Iterable[TaskKey] = ()) -> ImportResult:
    """Write ``plan`` into the store inside the caller's transaction, updating it in place by task code.

    Every task, milestone and recurrence row the import creates is supervised from ``supervised_from``
    (default ``now``'s day); rows that already exist keep theirs. ``keep`` names (code, title, target) the tasks the
    file has but could not read: the stored task each matches is kept as it is, never archived."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    with no_cyclic_gc():
        return _import_plan(session, plan, directory, now=now, new_units=new_units, actor=actor,
                            since=supervised_from or now.date(), keep=list(keep))


def _import_plan(session: Session, plan: Plan, directory: UnitDirectory, *, now: dt.datetime,
                 new_units: Iterable[Unit], actor: str, since: dt.date, keep: list[TaskKey]) -> ImportResult:
    units = [*directory.units, *new_units]
    units_added, units_updated, unit_ids = upsert_units(session, [u for u in units if not u.is_group],
                                                        office=directory.office)
    official_ids = upsert_officials(session, [*directory.officials, *plan.officials,
                                              *(o for t in plan.tasks for o in t.lead_officials)])
    if directory.top_leader is not None and directory.top_leader.name:
        set_top_leader(session, Official(directory.top_leader.name, directory.top_leader.title, directory.top_leader.email))

    plan_row = session.execute(sa.select(PlanRow).where(PlanRow.code == plan.code)).scalar_one_or_none()
    result = ImportResult(plan_code=plan.code, created_plan=plan_row is None, units_added=units_added,
                          units_updated=units_updated, supervised_from=since)
    plan_row = _write_header(session, plan_row, _header(plan, directory, unit_ids, official_ids), now=now, result=result)
    plan_id = plan_row.id
    groups_added, groups_updated, group_ids = upsert_units(session, _own_groups(session, plan, units), plan_id=plan_id)
    unit_ids = {**unit_ids, **group_ids}
    result.units_added += groups_added
    result.units_updated += groups_updated

    def unit_id(name: str) -> int:
        try:
            return unit_ids[name]
        except KeyError:
            raise StoreError(f"unit {name!r} of plan {plan.code} is not in the database") from None

    events: list[dict[str, Any]] = []
    new_tasks, rewrite = _update_tasks(session, plan, plan_id, unit_id, now=now, actor=actor, result=result,
                                       events=events, keep=keep)
    if new_tasks:
        session.execute(sa.insert(TaskRow), [{**_task_values(plan_id, p, t, unit_id), "supervised_from": since}
                                             for p, t in new_tasks])
        ids = dict(session.execute(sa.select(TaskRow.code, TaskRow.id).where(TaskRow.plan_id == plan_id)).all())
        _insert_children(session, [(ids[t.code], t) for _p, t in new_tasks], unit_id, official_ids, since)
        events.extend(_event(now, "task.added", plan_id, ids[t.code], actor, {"code": t.code}) for _p, t in new_tasks)

    for task_id, task, dated_changed in rewrite:
        _rewrite_children(session, task_id, task, unit_id, official_ids, now=now, dated_changed=dated_changed, since=since)

    sheet = bool(plan.tasks) and all(t.source.kind == "row" for t in plan.tasks)  # CSV / XLSX: one row per task
    if sheet and not plan.stages and not result.created_plan:
        result.kept.append("stages")  # a sheet has one row per task and no stages: the stored ones stay
    else:
        result.stages = _write_stages(session, plan_id, plan.stages, now=now)
    events.append(_event(now, "plan.imported", plan_id, None, actor, {
        "created": result.created_plan, "added": len(result.added), "changed": len(result.changed),
        "archived": len(result.archived), "restored": len(result.restored), "unchanged": result.unchanged,
        **({"kept_unreadable": result.kept_tasks} if result.kept_tasks else {}),
        "source": plan.source,
    }))
    session.execute(sa.insert(EventRow), events)
    return result


def _own_groups(session: Session, plan: Plan, units: list[Unit]) -> list[Unit]:
    """The groups that are the plan's own (stored with its id): every group it names, and every group
    its directory defines. A group that only the database knows as a shared unit (from before groups
    belonged to plans) stays as it is unless the plan names it."""
    named = {unit_key(n) for t in plan.tasks for n in t.units}
    named |= {unit_key(n) for st in plan.stages for n in st.units}
    shared = set(session.execute(sa.select(col(UnitRow.key)).where(col(UnitRow.plan_id).is_(None),
                                                                  col(UnitRow.kind) == "group")).scalars())
    return [u for u in units if u.is_group and (unit_key(u.name) in named or unit_key(u.name) not in shared)]


def _header(plan: Plan, directory: UnitDirectory, unit_ids: dict[str, int], official_ids: dict[str, int]) -> dict[str, Any]:
    """The plan row's own fields as the file gives them."""
    header = dict(title=plan.title, issuer=plan.issuer, base_year=plan.base_year, start=plan.start, end=plan.end,
                  timezone=plan.timezone, source=plan.source, reporting=reporting_json(plan.reporting),
                  default_unit=plan.default_unit)
    # The plan's own office and top leader, when its directory names them (several plans, several offices).
    if directory.office is not None and directory.office.name in unit_ids:
        header["office_unit_id"] = unit_ids[directory.office.name]  # (any spelling: see upsert_units)
    if directory.top_leader is not None and directory.top_leader.name:
        header["top_leader_id"] = official_ids.get(unit_key(directory.top_leader.name))
    return header


def _write_header(session: Session, plan_row: PlanRow | None, header: dict[str, Any], *, now: dt.datetime,
                  result: ImportResult) -> PlanRow:
    """Create the plan row, or update it in place noting what changed and what the store keeps."""
    if plan_row is None:
        plan_row = PlanRow(code=result.plan_code, created_at=now, updated_at=now, **header)
        session.add(plan_row)
        session.flush()
        return plan_row
    for k, v in header.items():
        old = getattr(plan_row, k)
        if k in _OPTIONAL_HEADER and v in (None, "") and old not in (None, ""):
            result.kept.append(k)  # a sheet (or a file) that does not say it keeps what the store knows
            continue
        if old != v:
            if k in _COMPARED_HEADER:
                result.header.append(FieldChange(k, old, v))
            setattr(plan_row, k, v)
    plan_row.updated_at = now
    return plan_row


def _task_values(plan_id: int, position: int, task: Task, unit_id: Callable[[str], int]) -> dict[str, Any]:
    return dict(
        plan_id=plan_id, code=task.code, position=position, title=task.title, target=task.target,
        note=task.note, section=list(task.section), lead_unit_id=unit_id(task.lead_unit), deadline_text=task.deadline_text,
        veto=task.veto, source_file=task.source.file, source_line=task.source.line,
        source_sheet=task.source.sheet, archived_at=None,
    )


def _update_tasks(session: Session, plan: Plan, plan_id: int, unit_id: Callable[[str], int], *, now: dt.datetime,
                  actor: str, result: ImportResult, events: list[dict[str, Any]], keep: list[TaskKey],
                  ) -> tuple[list[tuple[int, Task]], list[tuple[int, Task, bool]]]:
    """Update the tasks the store has in place and archive those the file lacks; returns the new tasks
    (with their positions) and the stored tasks whose children change (id, task, dated items changed).

    A task of the file is the stored task it matches (``match_tasks``): by code and title, then by title
    (its code changed: a row inserted above renumbered it), then by code or likeness (it was reworded). A live
    stored task matching one of ``keep`` (tasks the file has but could not read) stays as stored."""
    created = result.created_plan
    old_tasks = {} if created else {t.code: t for t in read_tasks(session, plan_id, include_archived=True)}
    c = TaskRow.__table__.c  # live tasks first: an archived task is matched only when no live one is
    rows = [] if created else list(session.execute(sa.select(TaskRow).where(TaskRow.plan_id == plan_id).order_by(
        c.archived_at.is_not(None), c.position, c.id)).scalars())
    old_codes = [r.code for r in rows]
    stored = [(code, old_tasks[code].title, old_tasks[code].target) for code in old_codes]
    matched = match_tasks([(t.code, t.title, t.target) for t in plan.tasks], stored)
    live = [i for i, r in enumerate(rows) if r.archived_at is None and i not in set(matched.values())]
    kept = {live[j]: keep[k][0] for k, j in match_tasks(keep, [stored[i] for i in live]).items()}
    _recode(session, plan, rows, {row: plan.tasks[p].code for p, row in matched.items()}, kept)
    result.kept_tasks = [rows[i].code for i in sorted(kept)]
    new_tasks: list[tuple[int, Task]] = []
    rewrite: list[tuple[int, Task, bool]] = []
    for position, task in enumerate(plan.tasks):
        if position not in matched:
            new_tasks.append((position, task))
            result.added.append(task.code)
            continue
        row = rows[matched[position]]
        changes = _task_changes(old_tasks[old_codes[matched[position]]], task)
        was_archived = row.archived_at is not None
        for k, v in _task_values(plan_id, position, task, unit_id).items():
            if getattr(row, k) != v:
                setattr(row, k, v)
        if was_archived:
            result.restored.append(task.code)
            events.append(_event(now, "task.restored", plan_id, row.id, actor, {}))
        if changes:
            result.changed[task.code] = changes
            events.append(_event(now, "task.changed", plan_id, row.id, actor,
                                 {"changes": [{"field": c.field, "old": _jsonable(c.old), "new": _jsonable(c.new)} for c in changes]}))
        elif not was_archived:
            result.unchanged += 1
        touched = {c.field for c in changes}
        if touched & {"lead_officials", "co_lead_units", "supporting_units", "milestones", "recurrences"}:
            rewrite.append((row.id, task, bool(touched & {"milestones", "recurrences"})))

    left = set(matched.values()) | set(kept)
    for i, row in enumerate(rows):
        if i not in left and row.archived_at is None:
            row.archived_at = now
            result.archived.append(old_codes[i])
            events.append(_event(now, "task.archived", plan_id, row.id, actor, {"code": old_codes[i]}))
    session.flush()
    return new_tasks, rewrite


def _task_changes(old: Task, new: Task) -> list[FieldChange]:
    """What a re-import changes in a task, as the diff shows it (its code first when it moved)."""
    before, after = comparable(old), comparable(new)
    changes = [FieldChange(f, _shown(f, before[f]), _shown(f, after[f])) for f in COMPARED_FIELDS if before[f] != after[f]]
    if old.code != new.code:
        changes.insert(0, FieldChange("code", old.code, new.code))
    return changes


def _title_key(title: str) -> str:
    """A title as re-import matching compares it: either script, any width, no whitespace."""
    return fold(title)


TaskKey = tuple[str, str, str]  # what identifies a task to re-import matching: code, title, target
# Titles at least this alike (difflib's ratio, folded) are one task reworded: 饮水安全巩固提升 → 农村饮水安全巩固提升.
SIMILAR_TITLES = 0.6
# Tasks matched by likeness only while unmatched new × unmatched stored tasks stay this few (it compares pairs).
SIMILAR_PAIRS = 40_000


def _similar(a: TaskKey, b: TaskKey) -> bool:
    """Two tasks that are one reworded: the same target, or titles alike (one inside the other, or close)."""
    if a[2] and fold(a[2]) == fold(b[2]):
        return True
    x, y = _title_key(a[1]), _title_key(b[1])
    if not x or not y:
        return False
    if x in y or y in x:
        return True
    matcher = difflib.SequenceMatcher(None, x, y, autojunk=False)
    return matcher.quick_ratio() >= SIMILAR_TITLES and matcher.ratio() >= SIMILAR_TITLES


def match_tasks(tasks: list[TaskKey], stored: list[TaskKey]) -> dict[int, int]:
    """Which stored task (index into ``stored``) each task of the file is, by position.

    Never by row position: first code and title both equal; then the title alone (the task was renumbered,
    e.g. by a row inserted above it); then the code, when the two are alike (``_similar``: its title was
    edited); then likeness alone (renumbered and reworded). Titles compare folded (either script, any
    width); several tasks with one title pair up in order. An empty code or title matches nothing.
    Unmatched tasks are new, unmatched stored tasks are archived."""
    matched: dict[int, int] = {}
    free = set(range(len(stored)))
    exact: tuple[Callable[[TaskKey], Any], ...] = (
        lambda k: (k[0], _title_key(k[1])) if k[0] and k[1] else None,
        lambda k: _title_key(k[1]) or None,
    )
    for key in exact:
        by_key: dict[Any, list[int]] = {}
        for i in sorted(free):
            by_key.setdefault(key(stored[i]), []).append(i)
        for position, task in enumerate(tasks):
            wanted = key(task)
            candidates = by_key.get(wanted) if wanted is not None and position not in matched else None
            if candidates:
                matched[position] = candidates.pop(0)
                free.discard(matched[position])
    by_code = {stored[i][0]: i for i in free}
    for position, task in enumerate(tasks):
        i = by_code.get(task[0]) if position not in matched else None
        if i is not None and i in free and _similar(task, stored[i]):
            matched[position] = i
            free.discard(i)
    rest = [p for p in range(len(tasks)) if p not in matched]
    if len(rest) * len(free) <= SIMILAR_PAIRS:
        for position in rest:
            i = next((i for i in sorted(free) if _similar(tasks[position], stored[i])), None)
            if i is not None:
                matched[position] = i
                free.discard(i)
    return matched


def _recode(session: Session, plan: Plan, rows: list[TaskRow], given: dict[int, str], kept: dict[int, str]) -> None:
    """Give each stored task the code it has now, keeping codes unique within the plan while they move.

    ``given``: row index → the code of the file's task it is. ``kept``: row index → the code the file gives
    a task it could not read, kept as stored: it takes that code, else its own, if free. A task the file
    left out keeps its own code unless the file gives that code to another task; a task whose codes are
    all taken becomes ``code~id``. Rows that change code go through a temporary one first (two tasks may
    swap codes)."""
    taken = {t.code for t in plan.tasks}
    final = dict(given)
    rest = [i for i in range(len(rows)) if i not in given and i not in kept]
    for i in [*rest, *kept]:  # the rest first: their own codes are theirs unless the file took them
        row = rows[i]
        wanted = [c for c in (kept.get(i), row.code) if c]
        final[i] = next((c for c in wanted if c not in taken), f"{row.code}~{row.id}"[-100:])
        taken.add(final[i])
    moving = [(rows[i], code) for i, code in final.items() if code != rows[i].code]
    if not moving:
        return
    for row, _code in moving:
        row.code = f"~{row.id}"
    session.flush()
    for row, code in moving:
        row.code = code
    session.flush()


def _event(now: dt.datetime, kind: str, plan_id: int | None, task_id: int | None, actor: str, data: dict) -> dict[str, Any]:
    return {"at": now, "kind": kind, "plan_id": plan_id, "task_id": task_id, "actor": actor, "data": data}


def _milestone_values(task_id: int, seq: int, m: Milestone) -> dict[str, Any]:
    return {"task_id": task_id, "seq": seq, "due": m.due, "start": m.start, "quantity": m.quantity,
            "measure": m.measure, "label": m.label, "archived_at": None}


def _recurrence_values(task_id: int, seq: int, r: Recurrence) -> dict[str, Any]:
    return {"task_id": task_id, "seq": seq, "freq": r.freq, "rule": r.rule, "anchor": r.anchor,
            "min_count": r.min_count, "min_amount": r.min_amount, "amount_unit": r.amount_unit,
            "start": r.start, "until": r.until, "label": r.label, "ongoing": r.ongoing, "beneficiary": r.beneficiary, "archived_at": None}


def _insert_children(session: Session, tasks: list[tuple[int, Task]], unit_id, official_ids: dict[str, int],
                     since: dt.date) -> None:
    officials, supporting, milestones, recurrences = [], [], [], []
    for task_id, task in tasks:
        for pos, o in enumerate(task.lead_officials):
            officials.append({"task_id": task_id, "position": pos, "official_id": official_ids[unit_key(o.name)], "title": o.title})
        supporting.extend(_task_unit_rows(task_id, task, unit_id))
        milestones.extend({**_milestone_values(task_id, seq, m), "supervised_from": since} for seq, m in enumerate(task.milestones))
        recurrences.extend({**_recurrence_values(task_id, seq, r), "supervised_from": since}
                           for seq, r in enumerate(task.recurrences))
    for table, rows in ((TaskOfficialRow, officials), (TaskUnitRow, supporting), (MilestoneRow, milestones), (RecurrenceRow, recurrences)):
        if rows:
            session.execute(sa.insert(table), rows)


def _task_unit_rows(task_id: int, task: Task, unit_id: Callable[[str], int]) -> list[dict[str, Any]]:
    """A task's ``task_unit`` rows: its co-lead units, then its supporting units, each role in order."""
    return [{"task_id": task_id, "unit_id": unit_id(name), "position": pos, "role": role}
            for role, names in ((TASK_UNIT_CO_LEAD, task.co_lead_units), (TASK_UNIT_SUPPORTING, task.supporting_units))
            for pos, name in enumerate(names)]


def _rewrite_children(session: Session, task_id: int, task: Task, unit_id, official_ids: dict[str, int], *,
                      now: dt.datetime, dated_changed: bool, since: dt.date) -> None:
    """Replace a kept task's officials and units; update its milestones in place by position."""
    session.execute(sa.delete(TaskOfficialRow).where(TaskOfficialRow.task_id == task_id))
    session.execute(sa.delete(TaskUnitRow).where(TaskUnitRow.task_id == task_id))
    if task.lead_officials:
        session.execute(sa.insert(TaskOfficialRow), [
            {"task_id": task_id, "position": p, "official_id": official_ids[unit_key(o.name)], "title": o.title}
            for p, o in enumerate(task.lead_officials)])
    if task.co_lead_units or task.supporting_units:
        session.execute(sa.insert(TaskUnitRow), _task_unit_rows(task_id, task, unit_id))
    if not dated_changed:
        return
    _rematch(session, MilestoneRow, task_id, task.milestones, _milestone_values, _MILESTONE_IDENTITY, now=now, since=since)
    _rematch(session, RecurrenceRow, task_id, task.recurrences, _recurrence_values, _RECURRENCE_IDENTITY, now=now, since=since)


# What makes a re-imported milestone or recurrence "the same" as a stored one, strongest first. Its row,
# and with it its progress, closing, frozen ladder and notices, goes to the item it matches.
_MILESTONE_IDENTITY = (("due", "quantity", "measure", "label"), ("due",), ("label",), ("quantity", "measure"))
_RECURRENCE_IDENTITY = (("freq", "rule", "anchor", "label", "beneficiary"), ("freq", "rule", "beneficiary"),
                        ("label", "beneficiary"), ("freq", "rule"), ("label",))


def _rematch(session: Session, model: Any, task_id: int, items: Iterable[Any], values: Any,
             identity: tuple[tuple[str, ...], ...], *, now: dt.datetime, since: dt.date) -> None:
    """Update a kept task's milestones (or recurrences) in place, matching each new item to the stored
    row it is the same as: first by the identities above (a milestone inserted before the others takes
    nobody's progress), then the rest in order (a due date moved by the plan keeps its row). Stored
    rows left over are archived, never deleted; an archived row that matches again comes back. A row
    inserted here (an item the plan gained) is supervised from ``since``."""
    t = model.__table__
    stored = session.execute(sa.select(t).where(t.c.task_id == task_id)
                             .order_by(t.c.archived_at.is_not(None), t.c.seq)).all()
    new = [values(task_id, seq, item) for seq, item in enumerate(items)]
    match: dict[int, Any] = {}  # new position → stored row
    free = list(stored)

    def same(row: Any, v: dict[str, Any], keys: tuple[str, ...]) -> bool:  # equal, and not merely both empty
        return all(getattr(row, k) == v[k] for k in keys) and any(v[k] not in (None, "") for k in keys)

    for keys in identity:
        for i, v in enumerate(new):
            if i not in match:
                row = next((r for r in free if same(r, v, keys)), None)
                if row is not None:
                    match[i] = row
                    free.remove(row)
    live = [r for r in free if r.archived_at is None]
    for i in range(len(new)):
        if i not in match and live:
            match[i] = live.pop(0)
            free.remove(match[i])
    if stored:
        # Out of the way first: (task_id, seq) is unique, and rows are about to trade places.
        session.execute(sa.update(t).where(t.c.task_id == task_id).values(seq=-t.c.seq - 1))
    updates = [{"_id": match[i].id, **v} for i, v in enumerate(new) if i in match]
    updates += [{"_id": r.id, "seq": -1_000_000 - r.id, "archived_at": r.archived_at or now} for r in free]
    for batch in _same_keys(updates):
        keys = [k for k in batch[0] if k != "_id"]
        session.execute(sa.update(t).where(t.c.id == sa.bindparam("_id")).values({k: sa.bindparam(k) for k in keys}), batch)
    inserts = [{**v, "supervised_from": since} for i, v in enumerate(new) if i not in match]
    if inserts:
        session.execute(sa.insert(t), inserts)


def _same_keys(rows: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault(tuple(r), []).append(r)
    return list(groups.values())


# Header fields a file may leave out (a sheet has no place for them): left out, the stored value stays.
_OPTIONAL_HEADER = ("issuer", "start", "end", "office_unit_id", "top_leader_id", "default_unit")
_COMPARED_HEADER = ("title", "issuer", "base_year", "start", "end", "timezone", "reporting", "default_unit")


def _write_stages(session: Session, plan_id: int, stages: Iterable[Stage], *, now: dt.datetime) -> list[str]:
    """Write the plan's stages by code; returns what changed ("+S5", "~S2", "-S3")."""
    changes: list[str] = []
    rows = {r.code: r for r in session.execute(sa.select(StageRow).where(StageRow.plan_id == plan_id)).scalars()}
    new_rows = []
    for position, s in enumerate(stages):
        values = dict(plan_id=plan_id, code=s.code, position=position, kind=s.kind, title=s.title, text=s.text,
                      deadline_text=s.deadline_text,
                      milestones=[{"due": m.due.isoformat(), "start": m.start.isoformat() if m.start else None} for m in s.milestones],
                      units=list(s.units), archived_at=None)
        row = rows.pop(s.code, None)
        if row is None:
            new_rows.append(values)
            changes.append(f"+{s.code}")
        else:
            diff = [k for k, v in values.items() if getattr(row, k) != v]
            for k in diff:
                setattr(row, k, values[k])
            if set(diff) - {"position"}:
                changes.append(f"~{s.code}")
    for row in rows.values():
        if row.archived_at is None:
            row.archived_at = now
            changes.append(f"-{row.code}")
    if new_rows:
        session.execute(sa.insert(StageRow), new_rows)
    return changes


