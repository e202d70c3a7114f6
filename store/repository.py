"""Plans in the database: import (one transaction, diffed against what is there), read back, query.

Rows are converted to and from ``matrix`` objects here and nowhere else. Re-importing a plan updates
it in place by task code: new tasks are added, changed fields are updated (milestones keep their
identity by position, so progress recorded against them survives), tasks missing from the new file
are archived, never deleted, and every change is an event.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Iterable

import sqlalchemy as sa
from sqlalchemy.orm import Session

from duban.matrix.errors import NotFound, StoreError
from duban.matrix.gcpause import no_cyclic_gc
from duban.matrix.model import Milestone, Official, Person, Plan, Recurrence, SourceRef, Stage, Task, Unit
from duban.matrix.script import unit_key
from duban.store.tables import (
    EventRow,
    MilestoneRow,
    OfficialRow,
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
    "title", "target", "section", "lead_unit", "supporting_units", "lead_officials",
    "deadline_text", "milestones", "recurrences", "veto",
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
    return (r.freq, r.rule, r.anchor, r.min_count, amount, r.amount_unit, r.start, r.until)


def comparable(task: Task) -> dict[str, Any]:
    """The fields of a task that a re-import compares, in a form where equal means unchanged."""
    return {
        "title": task.title,
        "target": task.target,
        "section": tuple(task.section),
        "lead_unit": task.lead_unit,
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
# Units and officials


def _unit_values(unit: Unit, *, is_office: bool = False) -> dict[str, Any]:
    head = unit.head or Person(name="")
    return {
        "name": unit.name,
        "key": unit_key(unit.name),
        "kind": unit.kind,
        "aliases": list(unit.aliases),
        "head_name": head.name,
        "head_title": head.title,
        "head_email": head.email,
        "emails": list(unit.emails),
        "member_of": list(unit.member_of),
        "is_office": is_office,
    }


def upsert_units(session: Session, units: Iterable[Unit], *, office: Unit | None = None) -> tuple[list[str], list[str], dict[str, int]]:
    """Insert or update units by their script-folded name; returns added, updated ("name (fields)"),
    and name → id (stored names and the spellings given here alike).

    Units are shared by every plan in the database, so a plan's directory adds to a unit and never
    takes away what another plan's directory said: the stored name stays (another spelling becomes an
    alias), aliases and groups are merged, and a head, title or email addresses replace the stored
    ones only when given. The unit's kind changes only when the directory says something other than
    the default (department).
    """
    existing = {row.key: row for row in session.execute(sa.select(UnitRow)).scalars()}
    added: list[str] = []
    updated: list[str] = []
    wanted = [(u, False) for u in units]
    if office is not None:
        wanted.append((office, True))
    new_rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    spellings: dict[str, str] = {}  # a name as given → its key
    for unit, is_office in wanted:
        values = _unit_values(unit, is_office=is_office)
        spellings[unit.name] = values["key"]
        if values["key"] in seen:
            continue
        seen.add(values["key"])
        row = existing.get(values["key"])
        if row is None:
            new_rows.append(values)
            added.append(unit.name)
            continue
        merged = _merged_unit(row, values)
        changed = [k for k, v in merged.items() if getattr(row, k) != v]
        for k in changed:
            setattr(row, k, merged[k])
        if changed:
            updated.append(f"{row.name} ({', '.join(changed)})")
    if new_rows:
        session.execute(sa.insert(UnitRow), new_rows)
    session.flush()
    by_key = {key: uid for uid, key in session.execute(sa.select(UnitRow.id, UnitRow.key))}
    ids = {name: uid for uid, name in session.execute(sa.select(UnitRow.id, UnitRow.name))}
    ids.update({name: by_key[key] for name, key in spellings.items() if key in by_key})
    return added, updated, ids


def _merged_unit(row: UnitRow, values: dict[str, Any]) -> dict[str, Any]:
    """What a stored unit becomes when a directory describes it again (see upsert_units)."""
    def union(old: list, new: list) -> list:
        return list(dict.fromkeys([*old, *new]))

    aliases = union(row.aliases, values["aliases"])
    if values["name"] != row.name:
        aliases = union(aliases, [values["name"]])
    return {
        "kind": values["kind"] if values["kind"] != "department" else row.kind,
        "aliases": [a for a in aliases if a != row.name],
        "head_name": values["head_name"] or row.head_name,
        "head_title": values["head_title"] or row.head_title,
        "head_email": values["head_email"] or row.head_email,
        "emails": values["emails"] or list(row.emails),
        "member_of": union(row.member_of, values["member_of"]),
        "is_office": row.is_office or values["is_office"],
    }


def office_of(session: Session, plan_code: str | None = None) -> UnitRow | None:
    """The leadership-group office running ``plan_code`` (or, with no plan, the one every plan
    shares); else the database-wide office flagged in the directory."""
    q = sa.select(PlanRow.office_unit_id)
    if plan_code is not None:
        q = q.where(PlanRow.code == plan_code)
    ids = set(session.execute(q).scalars())
    if len(ids) == 1 and None not in ids:
        return session.get(UnitRow, ids.pop())
    return session.execute(sa.select(UnitRow).where(UnitRow.is_office.is_(True)).order_by(UnitRow.id).limit(1)).scalar_one_or_none()


def load_directory_from_store(session: Session) -> UnitDirectory:
    """Every unit and official the database knows, as a directory (for resolving names on import)."""
    from duban.matrix.directory import UnitDirectory

    units: list[Unit] = []
    office: Unit | None = None
    for row in session.execute(sa.select(UnitRow).order_by(UnitRow.id)).scalars():
        unit = Unit(
            name=row.name, aliases=tuple(row.aliases), kind=row.kind,
            head=Person(row.head_name, row.head_title, row.head_email) if (row.head_name or row.head_title or row.head_email) else None,
            emails=tuple(row.emails), member_of=tuple(row.member_of),
        )
        if row.is_office:
            office = unit
        else:
            units.append(unit)
    rows = session.execute(sa.select(OfficialRow)).scalars().all()
    officials = [Official(r.name, r.title, r.email) for r in rows]
    top = next((Person(r.name, r.title, r.email) for r in rows if r.is_top_leader), None)
    return UnitDirectory(units=units, office=office, top_leader=top, officials=officials, source="database")


def _upsert_officials(session: Session, officials: Iterable[Official]) -> dict[str, int]:
    existing = {row.key: row for row in session.execute(sa.select(OfficialRow)).scalars()}
    new_rows = []
    for o in officials:
        key = unit_key(o.name)
        row = existing.get(key)
        if row is None:
            if key not in {r["key"] for r in new_rows}:
                new_rows.append({"name": o.name, "key": key, "title": o.title, "email": o.email})
        else:
            if o.email and row.email != o.email:
                row.email = o.email
            if o.title and not row.title:
                row.title = o.title
    if new_rows:
        session.execute(sa.insert(OfficialRow), new_rows)
    session.flush()
    return {key: oid for oid, key in session.execute(sa.select(OfficialRow.id, OfficialRow.key))}


def _set_top_leader(session: Session, leader: Official) -> None:
    """The directory's top leader (主要領導), who receives level-3 escalations; one at a time."""
    key = unit_key(leader.name)
    row = session.execute(sa.select(OfficialRow).where(OfficialRow.key == key)).scalar_one_or_none()
    if row is None:
        row = OfficialRow(name=leader.name, key=key, title=leader.title, email=leader.email)
        session.add(row)
    row.is_top_leader = True
    if leader.email:
        row.email = leader.email
    if leader.title and not row.title:
        row.title = leader.title
    session.flush()
    session.execute(sa.update(OfficialRow).where(OfficialRow.key != key, OfficialRow.is_top_leader).values(is_top_leader=False))


# --------------------------------------------------------------------------------------------
# Import


def import_plan(session: Session, plan: Plan, directory: UnitDirectory, *, now: dt.datetime,
                new_units: Iterable[Unit] = (), actor: str = "") -> ImportResult:
    """Write ``plan`` into the store inside the caller's transaction, updating it in place by task code."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    with no_cyclic_gc():
        return _import_plan(session, plan, directory, now=now, new_units=new_units, actor=actor)


def _import_plan(session: Session, plan: Plan, directory: UnitDirectory, *, now: dt.datetime,
                 new_units: Iterable[Unit], actor: str) -> ImportResult:
    units_added, units_updated, unit_ids = upsert_units(session, [*directory.units, *new_units], office=directory.office)
    official_ids = _upsert_officials(session, [*directory.officials, *plan.officials,
                                               *(o for t in plan.tasks for o in t.lead_officials)])
    if directory.top_leader is not None and directory.top_leader.name:
        _set_top_leader(session, Official(directory.top_leader.name, directory.top_leader.title, directory.top_leader.email))

    plan_row = session.execute(sa.select(PlanRow).where(PlanRow.code == plan.code)).scalar_one_or_none()
    created = plan_row is None
    header = dict(title=plan.title, issuer=plan.issuer, base_year=plan.base_year, start=plan.start, end=plan.end,
                  timezone=plan.timezone, source=plan.source)
    # The plan's own office and top leader, when its directory names them (several plans, several offices).
    if directory.office is not None and directory.office.name in unit_ids:
        header["office_unit_id"] = unit_ids[directory.office.name]  # (any spelling: see upsert_units)
    if directory.top_leader is not None and directory.top_leader.name:
        header["top_leader_id"] = official_ids.get(unit_key(directory.top_leader.name))
    result = ImportResult(plan_code=plan.code, created_plan=created, units_added=units_added, units_updated=units_updated)
    sheet = bool(plan.tasks) and all(t.source.kind == "row" for t in plan.tasks)  # CSV / XLSX: one row per task
    if plan_row is None:
        plan_row = PlanRow(code=plan.code, created_at=now, updated_at=now, **header)
        session.add(plan_row)
        session.flush()
    else:
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
    plan_id = plan_row.id

    old_tasks = {} if created else {t.code: t for t in read_tasks(session, plan_id, include_archived=True)}
    old_rows = {} if created else {r.code: r for r in session.execute(sa.select(TaskRow).where(TaskRow.plan_id == plan_id)).scalars()}
    events: list[dict[str, Any]] = []
    new_task_rows: list[dict[str, Any]] = []
    new_tasks: list[Task] = []
    rewrite_children: list[tuple[int, Task, bool]] = []  # (task id, task, milestones/recurrences changed)

    def unit_id(name: str) -> int:
        try:
            return unit_ids[name]
        except KeyError:
            raise StoreError(f"unit {name!r} of plan {plan.code} is not in the database") from None

    for position, task in enumerate(plan.tasks):
        values = dict(
            plan_id=plan_id, code=task.code, position=position, title=task.title, target=task.target,
            section=list(task.section), lead_unit_id=unit_id(task.lead_unit), deadline_text=task.deadline_text,
            veto=task.veto, source_file=task.source.file, source_line=task.source.line, archived_at=None,
        )
        row = old_rows.get(task.code)
        if row is None:
            new_task_rows.append(values)
            new_tasks.append(task)
            result.added.append(task.code)
            continue
        old = old_tasks[task.code]
        before, after = comparable(old), comparable(task)
        changes = [FieldChange(f, _shown(f, before[f]), _shown(f, after[f])) for f in COMPARED_FIELDS if before[f] != after[f]]
        was_archived = row.archived_at is not None
        for k, v in values.items():
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
        if touched & {"lead_officials", "supporting_units", "milestones", "recurrences"}:
            rewrite_children.append((row.id, task, bool(touched & {"milestones", "recurrences"})))

    new_codes = {t.code for t in plan.tasks}
    for code, row in old_rows.items():
        if code not in new_codes and row.archived_at is None:
            row.archived_at = now
            result.archived.append(code)
            events.append(_event(now, "task.archived", plan_id, row.id, actor, {"code": code}))
    session.flush()

    if new_task_rows:
        session.execute(sa.insert(TaskRow), new_task_rows)
        ids = dict(session.execute(sa.select(TaskRow.code, TaskRow.id).where(TaskRow.plan_id == plan_id)).all())
        _insert_children(session, [(ids[t.code], t) for t in new_tasks], unit_id, official_ids)
        events.extend(_event(now, "task.added", plan_id, ids[t.code], actor, {"code": t.code}) for t in new_tasks)

    for task_id, task, dated_changed in rewrite_children:
        _rewrite_children(session, task_id, task, unit_id, official_ids, now=now, dated_changed=dated_changed)

    if sheet and not plan.stages and not created:
        result.kept.append("stages")  # a sheet has one row per task and no stages: the stored ones stay
    else:
        result.stages = _write_stages(session, plan_id, plan.stages, now=now)
    events.append(_event(now, "plan.imported", plan_id, None, actor, {
        "created": created, "added": len(result.added), "changed": len(result.changed),
        "archived": len(result.archived), "restored": len(result.restored), "unchanged": result.unchanged,
        "source": plan.source,
    }))
    session.execute(sa.insert(EventRow), events)
    return result


def _event(now: dt.datetime, kind: str, plan_id: int | None, task_id: int | None, actor: str, data: dict) -> dict[str, Any]:
    return {"at": now, "kind": kind, "plan_id": plan_id, "task_id": task_id, "actor": actor, "data": data}


def _milestone_values(task_id: int, seq: int, m: Milestone) -> dict[str, Any]:
    return {"task_id": task_id, "seq": seq, "due": m.due, "start": m.start, "quantity": m.quantity,
            "measure": m.measure, "label": m.label, "archived_at": None}


def _recurrence_values(task_id: int, seq: int, r: Recurrence) -> dict[str, Any]:
    return {"task_id": task_id, "seq": seq, "freq": r.freq, "rule": r.rule, "anchor": r.anchor,
            "min_count": r.min_count, "min_amount": r.min_amount, "amount_unit": r.amount_unit,
            "start": r.start, "until": r.until, "label": r.label, "archived_at": None}


def _insert_children(session: Session, tasks: list[tuple[int, Task]], unit_id, official_ids: dict[str, int]) -> None:
    officials, supporting, milestones, recurrences = [], [], [], []
    for task_id, task in tasks:
        for pos, o in enumerate(task.lead_officials):
            officials.append({"task_id": task_id, "position": pos, "official_id": official_ids[unit_key(o.name)], "title": o.title})
        for pos, name in enumerate(task.supporting_units):
            supporting.append({"task_id": task_id, "unit_id": unit_id(name), "position": pos})
        milestones.extend(_milestone_values(task_id, seq, m) for seq, m in enumerate(task.milestones))
        recurrences.extend(_recurrence_values(task_id, seq, r) for seq, r in enumerate(task.recurrences))
    for table, rows in ((TaskOfficialRow, officials), (TaskUnitRow, supporting), (MilestoneRow, milestones), (RecurrenceRow, recurrences)):
        if rows:
            session.execute(sa.insert(table), rows)


def _rewrite_children(session: Session, task_id: int, task: Task, unit_id, official_ids: dict[str, int], *,
                      now: dt.datetime, dated_changed: bool) -> None:
    """Replace a kept task's officials and units; update its milestones in place by position."""
    session.execute(sa.delete(TaskOfficialRow).where(TaskOfficialRow.task_id == task_id))
    session.execute(sa.delete(TaskUnitRow).where(TaskUnitRow.task_id == task_id))
    if task.lead_officials:
        session.execute(sa.insert(TaskOfficialRow), [
            {"task_id": task_id, "position": p, "official_id": official_ids[unit_key(o.name)], "title": o.title}
            for p, o in enumerate(task.lead_officials)])
    if task.supporting_units:
        session.execute(sa.insert(TaskUnitRow), [
            {"task_id": task_id, "unit_id": unit_id(n), "position": p} for p, n in enumerate(task.supporting_units)])
    if not dated_changed:
        return
    _rematch(session, MilestoneRow, task_id, task.milestones, _milestone_values, _MILESTONE_IDENTITY, now=now)
    _rematch(session, RecurrenceRow, task_id, task.recurrences, _recurrence_values, _RECURRENCE_IDENTITY, now=now)


# What makes a re-imported milestone or recurrence "the same" as a stored one, strongest first. Its row,
# and with it its progress, closing, frozen ladder and notices, goes to the item it matches.
_MILESTONE_IDENTITY = (("due", "quantity", "measure", "label"), ("due",), ("label",), ("quantity", "measure"))
_RECURRENCE_IDENTITY = (("freq", "rule", "anchor", "label"), ("freq", "rule"), ("label",))


def _rematch(session: Session, model: Any, task_id: int, items: Iterable[Any], values: Any,
             identity: tuple[tuple[str, ...], ...], *, now: dt.datetime) -> None:
    """Update a kept task's milestones (or recurrences) in place, matching each new item to the stored
    row it is the same as: first by the identities above (a milestone inserted before the others takes
    nobody's progress), then the rest in order (a due date moved by the plan keeps its row). Stored
    rows left over are archived, never deleted; an archived row that matches again comes back."""
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
    inserts = [v for i, v in enumerate(new) if i not in match]
    if inserts:
        session.execute(sa.insert(t), inserts)


def _same_keys(rows: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault(tuple(r), []).append(r)
    return list(groups.values())


# Header fields a file may leave out (a sheet has no place for them): left out, the stored value stays.
_OPTIONAL_HEADER = ("issuer", "start", "end", "office_unit_id", "top_leader_id")
_COMPARED_HEADER = ("title", "issuer", "base_year", "start", "end", "timezone")


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


# --------------------------------------------------------------------------------------------
# Reading back


def plan_row(session: Session, code: str | None) -> PlanRow:
    """The plan named ``code``, or the only plan when ``code`` is None."""
    if code is None:
        rows = session.execute(sa.select(PlanRow).order_by(PlanRow.id)).scalars().all()
        if len(rows) == 1:
            return rows[0]
        if not rows:
            raise NotFound("no plan has been imported yet; run `duban matrix import PLAN.yaml`")
        raise NotFound("several plans are loaded (" + ", ".join(r.code for r in rows) + "); choose one with --plan")
    row = session.execute(sa.select(PlanRow).where(PlanRow.code == code)).scalar_one_or_none()
    if row is None:
        known = [r for (r,) in session.execute(sa.select(PlanRow.code))]
        raise NotFound(f"no plan {code!r}" + (f"; plans are {', '.join(known)}" if known else ""))
    return row


def read_tasks(session: Session, plan_id: int, *, include_archived: bool = False,
               task_ids: Iterable[int] | None = None) -> list[Task]:
    """Tasks of a plan as matrix objects, in plan order, with a handful of queries whatever the size."""
    # Plain columns, not ORM entities: this runs for every `matrix show` and every re-import, and
    # building mapped objects only to copy them into matrix objects costs more than the query.
    t = TaskRow.__table__.c
    q = sa.select(t.id, t.code, t.title, t.lead_unit_id, t.target, t.section, t.deadline_text, t.veto,
                  t.source_file, t.source_line).where(t.plan_id == plan_id)
    if not include_archived:
        q = q.where(t.archived_at.is_(None))
    if task_ids is not None:
        q = q.where(t.id.in_(list(task_ids)))
    rows = session.execute(q.order_by(t.position, t.id)).all()
    if not rows:
        return []
    unit_names = dict(session.execute(sa.select(UnitRow.id, UnitRow.name)).all())
    ids = [r.id for r in rows]
    in_plan = sa.select(t.id).where(t.plan_id == plan_id)
    if task_ids is not None:
        in_plan = in_plan.where(t.id.in_(ids))
    officials: dict[int, list[Official]] = defaultdict(list)
    for task_id, title, name, email in session.execute(
        sa.select(TaskOfficialRow.task_id, TaskOfficialRow.title, OfficialRow.name, OfficialRow.email)
        .join(OfficialRow, OfficialRow.id == TaskOfficialRow.official_id)
        .where(TaskOfficialRow.task_id.in_(in_plan)).order_by(TaskOfficialRow.task_id, TaskOfficialRow.position)
    ):
        officials[task_id].append(Official(name=name, title=title, email=email))
    supporting: dict[int, list[str]] = defaultdict(list)
    for task_id, uid in session.execute(
        sa.select(TaskUnitRow.task_id, TaskUnitRow.unit_id).where(TaskUnitRow.task_id.in_(in_plan))
        .order_by(TaskUnitRow.task_id, TaskUnitRow.position)
    ):
        supporting[task_id].append(unit_names[uid])
    milestones: dict[int, list[Milestone]] = defaultdict(list)
    m = MilestoneRow.__table__.c
    for task_id, due, start, quantity, measure, label in session.execute(
        sa.select(m.task_id, m.due, m.start, m.quantity, m.measure, m.label)
        .where(m.task_id.in_(in_plan), m.archived_at.is_(None)).order_by(m.task_id, m.seq)
    ):
        milestones[task_id].append(Milestone(due=due, start=start, quantity=_dec(quantity), measure=measure, label=label))
    recurrences: dict[int, list[Recurrence]] = defaultdict(list)
    for r in session.execute(
        sa.select(RecurrenceRow).where(RecurrenceRow.task_id.in_(in_plan), RecurrenceRow.archived_at.is_(None))
        .order_by(RecurrenceRow.task_id, RecurrenceRow.seq)
    ).scalars():
        recurrences[r.task_id].append(Recurrence(freq=r.freq, rule=r.rule, anchor=r.anchor, min_count=r.min_count,
                                                 min_amount=_dec(r.min_amount), amount_unit=r.amount_unit,
                                                 start=r.start, until=r.until, label=r.label))
    return [
        Task(code=r.code, title=r.title, lead_unit=unit_names[r.lead_unit_id], target=r.target, section=tuple(r.section),
             lead_officials=tuple(officials[r.id]), supporting_units=tuple(supporting[r.id]),
             deadline_text=r.deadline_text, milestones=tuple(milestones[r.id]), recurrences=tuple(recurrences[r.id]),
             veto=r.veto, source=SourceRef(file=r.source_file, line=r.source_line))
        for r in rows
    ]


def _dec(value: Any) -> Decimal | None:
    if value is None:
        return None
    d = Decimal(str(value))
    return d.quantize(Decimal(1)) if d == d.to_integral() else d.normalize()


def read_plan(session: Session, code: str | None = None) -> Plan:
    row = plan_row(session, code)
    stages = [
        Stage(code=s.code, title=s.title, kind=s.kind, text=s.text, deadline_text=s.deadline_text,
              milestones=tuple(Milestone(due=dt.date.fromisoformat(m["due"]),
                                         start=dt.date.fromisoformat(m["start"]) if m.get("start") else None)
                               for m in s.milestones),
              units=tuple(s.units))
        for s in session.execute(sa.select(StageRow).where(StageRow.plan_id == row.id, StageRow.archived_at.is_(None))
                                 .order_by(StageRow.position)).scalars()
    ]
    tasks = read_tasks(session, row.id)
    officials = {o.name: o for t in tasks for o in t.lead_officials}
    return Plan(code=row.code, title=row.title, base_year=row.base_year, issuer=row.issuer, start=row.start,
                end=row.end, timezone=row.timezone, source=row.source, tasks=tuple(tasks), stages=tuple(stages),
                officials=tuple(officials.values()))


def list_plans(session: Session) -> list[dict[str, Any]]:
    counts = dict(session.execute(
        sa.select(TaskRow.plan_id, sa.func.count()).where(TaskRow.archived_at.is_(None)).group_by(TaskRow.plan_id)).all())
    return [
        {"code": p.code, "title": p.title, "issuer": p.issuer, "base_year": p.base_year,
         "start": p.start.isoformat() if p.start else None, "end": p.end.isoformat() if p.end else None,
         "tasks": counts.get(p.id, 0), "updated_at": p.updated_at.isoformat()}
        for p in session.execute(sa.select(PlanRow).order_by(PlanRow.code)).scalars()
    ]


def find_unit(session: Session, name: str) -> UnitRow:
    """A unit by name or alias, in either script."""
    key = unit_key(name)
    row = session.execute(sa.select(UnitRow).where(UnitRow.key == key)).scalar_one_or_none()
    if row is not None:
        return row
    for candidate in session.execute(sa.select(UnitRow)).scalars():
        if any(unit_key(a) == key for a in candidate.aliases):
            return candidate
    raise NotFound(f"no unit {name!r} in the directory")


def query_task_ids(session: Session, *, plan_code: str | None = None, unit: str | None = None,
                   official: str | None = None, due_before: dt.date | None = None) -> list[tuple[int, int]]:
    """(plan id, task id) of live tasks matching every filter given.

    A unit matches as lead or supporting unit, and through the groups it is a member of
    (a task for 各鄉鎮人民政府 shows under each township the directory lists in that group).
    """
    q = sa.select(TaskRow.plan_id, TaskRow.id).where(TaskRow.archived_at.is_(None))
    if plan_code is not None:
        q = q.where(TaskRow.plan_id == plan_row(session, plan_code).id)
    if unit is not None:
        row = find_unit(session, unit)
        group_keys = [unit_key(g) for g in row.member_of]
        unit_ids = [row.id]
        if group_keys:
            unit_ids += [i for (i,) in session.execute(sa.select(UnitRow.id).where(UnitRow.key.in_(group_keys)))]
        q = q.where(sa.or_(
            TaskRow.lead_unit_id.in_(unit_ids),
            TaskRow.id.in_(sa.select(TaskUnitRow.task_id).where(TaskUnitRow.unit_id.in_(unit_ids))),
        ))
    if official is not None:
        key = unit_key(official)
        off = session.execute(sa.select(OfficialRow.id).where(OfficialRow.key == key)).scalar_one_or_none()
        if off is None:
            raise NotFound(f"no official {official!r}")
        q = q.where(TaskRow.id.in_(sa.select(TaskOfficialRow.task_id).where(TaskOfficialRow.official_id == off)))
    if due_before is not None:
        q = q.where(TaskRow.id.in_(sa.select(MilestoneRow.task_id).where(
            MilestoneRow.due <= due_before, MilestoneRow.archived_at.is_(None))))
    return list(session.execute(q.order_by(TaskRow.plan_id, TaskRow.position)).all())


def list_units(session: Session) -> list[UnitRow]:
    return list(session.execute(sa.select(UnitRow).order_by(UnitRow.id)).scalars())


def history(session: Session, plan_code: str | None, task_code: str) -> list[EventRow]:
    plan = plan_row(session, plan_code)
    task = session.execute(sa.select(TaskRow).where(TaskRow.plan_id == plan.id, TaskRow.code == task_code)).scalar_one_or_none()
    if task is None:
        raise NotFound(f"no task {task_code!r} in plan {plan.code}")
    return list(session.execute(sa.select(EventRow).where(EventRow.task_id == task.id).order_by(EventRow.id)).scalars())
