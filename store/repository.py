"""Plans in the database, read back and queried; units and officials written and found.

Rows are converted to and from ``matrix`` objects here and in ``store.plan_import`` (which writes a
plan: one transaction, diffed against what is there) and nowhere else.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlmodel import col

from duban.matrix.directory import did_you_mean, near_misses
from duban.matrix.errors import NotFound
from duban.matrix.model import Milestone, Official, Person, Plan, Recurrence, Robot, SourceRef, Stage, Task, Unit
from duban.matrix.reporting import reporting_from_json
from duban.matrix.script import unit_key
from duban.store.tables import (
    TASK_UNIT_CO_LEAD,
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
        "channels": [{"kind": r.kind, "webhook": r.webhook, "secret_env": r.secret_env} for r in unit.channels],
    }


def upsert_units(session: Session, units: Iterable[Unit], *, office: Unit | None = None,
                 plan_id: int | None = None) -> tuple[list[str], list[str], dict[str, int]]:
    """Insert or update units by their script-folded name; returns added, updated ("name (fields)"),
    and name → id (stored names and the spellings given here alike).

    Named departments are shared by every plan (``plan_id`` None), so a plan's directory adds to a unit
    and never takes away what another plan's directory said: the stored name stays (another spelling
    becomes an alias), aliases and groups are merged, and a head, title or email addresses replace the
    stored ones only when given. The unit's kind changes only when the directory says something other
    than the default (department). With ``plan_id`` the units are that plan's own (its groups): the
    same rules hold within the plan, and no other plan's unit of that name is touched.
    """
    scope = col(UnitRow.plan_id).is_(None) if plan_id is None else col(UnitRow.plan_id) == plan_id
    existing = {row.key: row for row in session.execute(sa.select(UnitRow).where(scope)).scalars()}
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
            new_rows.append({**values, "plan_id": plan_id})
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
    by_key = {key: uid for uid, key in session.execute(sa.select(UnitRow.id, UnitRow.key).where(scope))}
    ids = {name: uid for uid, name in session.execute(sa.select(UnitRow.id, UnitRow.name).where(scope))}
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
        "channels": values["channels"] or list(row.channels or []),  # (like emails: replaced only when given)
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


def _unit_of_row(row: UnitRow) -> Unit:
    head = Person(row.head_name, row.head_title, row.head_email) if (row.head_name or row.head_title or row.head_email) else None
    return Unit(name=row.name, aliases=tuple(row.aliases), kind=row.kind, head=head, emails=tuple(row.emails),
                member_of=tuple(row.member_of),
                channels=tuple(Robot(c["kind"], c["webhook"], c.get("secret_env", "")) for c in row.channels or []))


def load_directory_from_store(session: Session) -> UnitDirectory:
    """Every shared unit and every official the database knows, as a directory (for resolving names on
    import). A plan's own groups are not in it: see ``load_plan_groups``."""
    from duban.matrix.directory import UnitDirectory

    units: list[Unit] = []
    office: Unit | None = None
    for row in session.execute(sa.select(UnitRow).where(col(UnitRow.plan_id).is_(None)).order_by(col(UnitRow.id))).scalars():
        unit = _unit_of_row(row)
        if row.is_office:
            office = unit
        else:
            units.append(unit)
    rows = session.execute(sa.select(OfficialRow)).scalars().all()
    officials = [Official(r.name, r.title, r.email) for r in rows]
    top = next((Person(r.name, r.title, r.email) for r in rows if r.is_top_leader), None)
    return UnitDirectory(units=units, office=office, top_leader=top, officials=officials, source="database")


def load_plan_groups(session: Session) -> dict[str, UnitDirectory]:
    """Each plan's own groups (各鎮人民政府 as its directory defines it), by plan code."""
    from duban.matrix.directory import UnitDirectory

    out: dict[str, UnitDirectory] = {}
    rows = session.execute(sa.select(col(PlanRow.code), UnitRow).join(PlanRow, col(PlanRow.id) == col(UnitRow.plan_id))
                           .order_by(col(UnitRow.id))).all()
    for code, row in rows:
        out.setdefault(code, UnitDirectory(source="database")).add(_unit_of_row(row))
    return out


def upsert_officials(session: Session, officials: Iterable[Official]) -> dict[str, int]:
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


def set_top_leader(session: Session, leader: Official) -> None:
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
    q = sa.select(t.id, t.code, t.title, t.lead_unit_id, t.target, t.note, t.section, t.deadline_text, t.veto,
                  t.source_file, t.source_line, t.source_sheet).where(t.plan_id == plan_id)
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
    co_leads, supporting = task_units(session.connection(), in_plan, unit_names)
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
                                                 start=r.start, until=r.until, label=r.label, ongoing=r.ongoing,
                                                 beneficiary=r.beneficiary))
    return [
        Task(code=r.code, title=r.title, lead_unit=unit_names[r.lead_unit_id], target=r.target, section=tuple(r.section),
             lead_officials=tuple(officials[r.id]), supporting_units=tuple(supporting[r.id]), co_lead_units=tuple(co_leads[r.id]),
             deadline_text=r.deadline_text, milestones=tuple(milestones[r.id]), recurrences=tuple(recurrences[r.id]),
             veto=r.veto, note=r.note, source=SourceRef(file=r.source_file, line=r.source_line, sheet=r.source_sheet))
        for r in rows
    ]


def task_units(conn: Any, task_ids: Any, unit_names: dict[int, str]) -> tuple[dict[int, list[str]], dict[int, list[str]]]:
    """The co-lead units and the supporting units (names, in plan order) of the tasks ``task_ids`` (ids or
    a select of them), by task id."""
    co_leads: dict[int, list[str]] = defaultdict(list)
    supporting: dict[int, list[str]] = defaultdict(list)
    c = TaskUnitRow.__table__.c
    for task_id, uid, role in conn.execute(sa.select(c.task_id, c.unit_id, c.role).where(c.task_id.in_(task_ids))
                                           .order_by(c.task_id, c.role, c.position)):
        (co_leads if role == TASK_UNIT_CO_LEAD else supporting)[task_id].append(unit_names[uid])
    return co_leads, supporting


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
                officials=tuple(officials.values()), reporting=reporting_from_json(row.reporting),
                default_unit=row.default_unit)


def list_plans(session: Session) -> list[dict[str, Any]]:
    """The stored plans; ``supervised_from`` is the earliest day a live task of the plan is supervised
    from (its first import; None: from the start, a plan imported before supervised-from days)."""
    live = TaskRow.archived_at.is_(None)
    counts = dict(session.execute(sa.select(TaskRow.plan_id, sa.func.count()).where(live).group_by(TaskRow.plan_id)).all())
    since = dict(session.execute(sa.select(TaskRow.plan_id, sa.func.min(TaskRow.supervised_from)).where(live)
                                 .group_by(TaskRow.plan_id)).all())
    return [
        {"code": p.code, "title": p.title, "issuer": p.issuer, "base_year": p.base_year,
         "start": p.start.isoformat() if p.start else None, "end": p.end.isoformat() if p.end else None,
         "tasks": counts.get(p.id, 0), "updated_at": p.updated_at.isoformat(),
         "supervised_from": since[p.id].isoformat() if since.get(p.id) else None}
        for p in session.execute(sa.select(PlanRow).order_by(PlanRow.code)).scalars()
    ]


def supervised_from(session: Session, task_ids: list[int]) -> dict[tuple[int, str], dt.date | None]:
    """The day each task is supervised from (None: from the start), by (plan id, task code)."""
    rows = session.execute(sa.select(TaskRow.plan_id, TaskRow.code, TaskRow.supervised_from).where(TaskRow.id.in_(task_ids)))
    return {(plan_id, code): day for plan_id, code, day in rows}


def find_unit(session: Session, name: str, plan_code: str | None = None) -> UnitRow:
    """A unit by name or alias, in either script. A group belongs to its plan: with ``plan_code`` that
    plan's own group of the name comes first; without one, a group name that several plans define
    is refused, naming them (give --plan)."""
    key = unit_key(name)
    # By its key first (an index): the whole directory is read only for an alias or a near miss.
    found = list(session.execute(sa.select(UnitRow).where(UnitRow.key == key).order_by(col(UnitRow.id))).scalars())
    rows: list[UnitRow] = []
    if not found:
        rows = list(session.execute(sa.select(UnitRow).order_by(col(UnitRow.id))).scalars())
        found = [r for r in rows if any(unit_key(a) == key for a in r.aliases)]
    if plan_code is not None and len(found) > 1:
        own = plan_row(session, plan_code).id
        found = [r for r in found if r.plan_id == own] or [r for r in found if r.plan_id is None] or found
    if len(found) == 1:
        return found[0]
    if found:
        codes: dict[int, str] = dict(session.execute(sa.select(col(PlanRow.id), col(PlanRow.code))).all())
        plans = "、".join(sorted(codes.get(r.plan_id, "") if r.plan_id is not None else "shared" for r in found))
        raise NotFound(f"{name!r} is a group of several plans ({plans}): give --plan to say whose")
    near = near_misses(name, ((s, r) for r in rows for s in (r.name, *r.aliases)))
    raise NotFound(f"no unit {name!r} in the directory" + (f"; {did_you_mean(list(dict.fromkeys(r.name for r in near)))}" if near else ""))


def query_task_ids(session: Session, *, plan_code: str | None = None, unit: str | None = None,
                   official: str | None = None, due_before: dt.date | None = None) -> list[tuple[int, int]]:
    """(plan id, task id) of live tasks matching every filter given.

    A unit matches as lead, co-lead or supporting unit, and through the groups it is a member of
    (a task for 各鄉鎮人民政府 shows under each township the directory lists in that group).
    """
    q = sa.select(TaskRow.plan_id, TaskRow.id).where(TaskRow.archived_at.is_(None))
    if plan_code is not None:
        q = q.where(TaskRow.plan_id == plan_row(session, plan_code).id)
    if unit is not None:
        row = find_unit(session, unit, plan_code)
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


def plan_ids(session: Session) -> list[dict[str, Any]]:
    """``{id, code}`` of every stored plan."""
    return [{"id": i, "code": c} for i, c in session.execute(sa.select(col(PlanRow.id), col(PlanRow.code)))]


def list_units(session: Session) -> list[UnitRow]:
    return list(session.execute(sa.select(UnitRow).order_by(UnitRow.id)).scalars())


def history(session: Session, plan_code: str | None, task_code: str) -> list[EventRow]:
    plan = plan_row(session, plan_code)
    task = session.execute(sa.select(TaskRow).where(TaskRow.plan_id == plan.id, TaskRow.code == task_code)).scalar_one_or_none()
    if task is None:
        raise NotFound(f"no task {task_code!r} in plan {plan.code}")
    return list(session.execute(sa.select(EventRow).where(EventRow.task_id == task.id).order_by(EventRow.id)).scalars())

