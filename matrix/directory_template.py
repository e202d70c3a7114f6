"""The unit directory skeleton a plan gives (``duban units template``): every unit the plan names, as
the directory and the database already know it, for the office to fill with heads and emails.

The plan is read as it is (any format, through ``loaders.read_source``), without resolving its units:
a plan whose units are not known yet is exactly the one that needs a directory. Pure: the known units
come in as a ``UnitDirectory``; the text goes out as YAML, or as rows for a CSV/XLSX sheet.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from duban.matrix.columns import DIRECTORY_SHEET
from duban.matrix.directory import UnitDirectory, guess_kind, split_list
from duban.matrix.model import Official, Unit
from duban.matrix.officials import read_officials
from duban.matrix.script import unit_key
from duban.matrix.sources import Source

# The task fields that name units (co_lead_units: the 共同牽頭 units, where the plan has them).
TASK_UNIT_FIELDS = ("lead_unit", "co_lead_units", "supporting_units")
SHEET_FIELDS = ("name", "aliases", "kind", "head", "head_title", "head_email", "emails", "member_of")


@dataclass(slots=True)
class DirectoryTemplate:
    """The units a plan names (known ones as known), its lead officials, and the office if known."""

    units: list[Unit] = field(default_factory=list)
    officials: list[Official] = field(default_factory=list)
    office: Unit | None = None
    new: set[str] = field(default_factory=set)  # names of units neither the directory nor the database knows


def named_units(src: Source) -> list[str]:
    """Every unit name the plan's tasks and stages give, in order of first mention, each spelling once."""
    names: list[str] = []
    for rec in src.tasks:
        for f in TASK_UNIT_FIELDS:
            names.extend(split_list(rec.get(f)))
    for rec in src.stages:
        names.extend(split_list(rec.get("units")))
    return list(dict.fromkeys(names))


def named_officials(src: Source) -> list[Official]:
    """The plan's own officials list, then the lead officials its tasks name (one per name)."""
    found: dict[str, Official] = {}
    for rec in src.officials:
        name = str(rec.get("name") or "").strip()
        if name:
            found.setdefault(unit_key(name), Official(name, str(rec.get("title") or "").strip()))
    for rec in src.tasks:
        raw = rec.get("lead_officials")
        for item in raw if isinstance(raw, list) else [raw]:
            if isinstance(item, dict):
                item = item.get("name")
            if item in (None, ""):
                continue
            for off in read_officials(str(item), cell=True).officials:
                found.setdefault(unit_key(off.name), off)
    return list(found.values())


def directory_template(src: Source, known: UnitDirectory) -> DirectoryTemplate:
    """The skeleton for ``src``: a unit the directory or database knows appears as known (its name,
    aliases, head, addresses); a group's known members follow it, since they are the ones mail reaches;
    an unknown name is a new unit of the kind its name suggests (各鄉鎮… a group)."""
    out = DirectoryTemplate(office=known.office)
    seen: set[str] = set()

    def add(unit: Unit) -> None:
        if unit_key(unit.name) not in seen:
            seen.add(unit_key(unit.name))
            out.units.append(unit)

    for name in named_units(src):
        unit = known.resolve(name)
        if unit is None:
            out.new.add(name)
            add(Unit(name=name, kind=guess_kind(name)))
            continue
        if known.office is not None and unit.name == known.office.name:
            continue  # the office has its own key
        add(unit)
        if unit.is_group:
            for member in known.members(unit.name):
                add(member)
    for off in named_officials(src):
        ref = known.official(off.name)
        out.officials.append(Official(off.name, off.title or (ref.title if ref else ""), ref.email if ref else ""))
    return out


def _unit_mapping(unit: Unit) -> dict[str, Any]:
    head = unit.head
    out: dict[str, Any] = {"name": unit.name}
    if unit.aliases:
        out["aliases"] = list(unit.aliases)
    out["kind"] = unit.kind
    out["head"] = {"name": head.name if head else "", "title": head.title if head else "",
                   "email": head.email if head else ""}
    out["emails"] = list(unit.emails)
    if unit.member_of:
        out["member_of"] = list(unit.member_of)
    return out


def template_yaml(template: DirectoryTemplate, *, plan_file: str) -> str:
    """The skeleton as a unit directory file (the form ``load_directory`` reads)."""
    import yaml

    doc: dict[str, Any] = {}
    if template.office is not None:
        doc["office"] = _unit_mapping(template.office)
    doc["units"] = [_unit_mapping(u) for u in template.units]
    doc["officials"] = [{"name": o.name, "title": o.title, "email": o.email} for o in template.officials]
    lines = [
        f"# Unit directory for {plan_file}: every unit the plan names, with what is already known of it.",
        "# Fill in each unit's head (name, title, email) and its emails (several: a list); add aliases for",
        "# other spellings the plans use (区扶贫办 matches 區扶貧辦 by itself). kind: group marks a collective",
        "# name (各鄉鎮人民政府) that keeps its own address, or reaches the units listing it under member_of.",
        "# officials: the lead officials (牽頭領導) and their addresses, for escalations.",
    ]
    if template.office is None:
        lines.append("# office: {name: …, kind: office, emails: [...]}  — the office that runs supervision")
    if template.new:
        lines.append("# New (not yet in the directory or the database): " + "、".join(
            u.name for u in template.units if u.name in template.new))
    body = yaml.safe_dump(doc, allow_unicode=True, sort_keys=False, width=120, default_flow_style=None)
    return "\n".join(lines) + "\n" + body


def template_rows(template: DirectoryTemplate) -> list[list[str]]:
    """The skeleton as a directory sheet: the header duban reads back, then one row per unit (the
    office first, kind office). Lists are joined with 、; officials have no place in a unit sheet."""
    rows = [list(DIRECTORY_SHEET.written(SHEET_FIELDS))]
    for unit in ([template.office] if template.office else []) + template.units:
        head = unit.head
        rows.append([unit.name, "、".join(unit.aliases), unit.kind, head.name if head else "",
                     head.title if head else "", head.email if head else "", "、".join(unit.emails),
                     "、".join(unit.member_of)])
    return rows
