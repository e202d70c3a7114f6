"""Who a notice goes to: recipient roles resolved to addresses from the unit directory and officials.

Roles (as the planner writes them): ``unit`` (the unit's contact addresses; a group unit expands to
its members where the directory lists them, else the group's own address), ``unit_head`` (the head's
address), ``official``, ``office`` (the office's addresses), ``office_head``, ``top_leader``. A role
that resolves to nobody with an address is *held*: recorded with why, shown, never blocking, and
resolved again at every delivery run (workflows.delivery_service) until the directory has an address.
The office and the top leader are the notice's plan's own (several plans, several offices), else
the database-wide ones flagged in the directory.

Addresses come from an *address book* per kind, the kind a channel carries (``Channel.address_kind``,
notifications.channels): whom a role means is decided once, here, and the book says where that
unit or person is reached by that kind of channel. Two kinds:

- ``email``: the unit directory's ``emails:`` and ``head_email:``, the officials' ``email:``;
- ``robot``: the group robots of a unit's ``channels:`` (DingTalk, WeCom, Feishu; ``unit.channels``).
  A robot is a unit's group chat, not a person's: only the ``unit`` and ``office`` roles reach one
  (a group unit through its members' robots), and a unit without a robot is simply not reached that
  way — nothing is held for it, its mail goes as before. A robot's address is ``robot_address``:
  ``dingtalk:oapi.dingtalk.com/3f9a…`` (the kind, the host and a digest of the webhook URL), never the
  URL, whose token is a credential; ``robot_targets`` maps it back to the URL when a message is built.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from email.errors import HeaderParseError
from email.headerregistry import Address
from functools import lru_cache
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlmodel import col

from duban.matrix.script import unit_key
from duban.store.tables import OfficialRow, PlanRow, UnitRow


@dataclass(frozen=True, slots=True)
class Resolved:
    role: str
    name: str  # the role's name as the notice has it (unit or official), "" for office roles
    display_name: str  # who the mail is for, as a person reads it
    address: str  # "" when nobody has one (the delivery is held)
    reason: str = ""  # why there is no address


@lru_cache(maxsize=65536)  # a delivery run meets the same few thousand addresses tens of thousands of times
def clean_address(address: str) -> str | None:
    """The address if it is a single valid mailbox with no header tricks (CR, LF, <, >, commas); else None."""
    if not address or any(c in address for c in "\r\n<>,;\"'") or address.count("@") != 1:
        return None
    try:
        Address(addr_spec=address)
    except (HeaderParseError, ValueError, IndexError):
        return None
    return address


class AddressBook(Protocol):
    """Where units and people are reached by one kind of channel; "" / None / [] when they are not."""

    kind: str
    missing: dict[str, str]  # role -> why nobody of that role can be reached (a held delivery's reason)

    def unit(self, unit: UnitRow) -> list[str]: ...
    def head(self, unit: UnitRow) -> str | None: ...
    def person(self, official: OfficialRow) -> str | None: ...


class EmailBook:
    """Email addresses from the unit directory and officials; each checked by ``clean_address``."""

    kind = "email"
    # Why a role has nobody to reach, by role (the office's own addresses read as a unit's).
    missing = {"unit": "no email address in the unit directory", "unit_head": "no head email in the unit directory",
               "official": "no email for this official", "office_head": "no head email for the office",
               "top_leader": "no email for the top leader"}

    def unit(self, unit: UnitRow) -> list[str]:
        return [a for a in (clean_address(e) for e in unit.emails) if a]

    def head(self, unit: UnitRow) -> str | None:
        return clean_address(unit.head_email)

    def person(self, official: OfficialRow) -> str | None:
        return clean_address(official.email)


ROBOT_KINDS = ("dingtalk", "wecom", "feishu")  # (matrix.directory.ROBOT_KINDS)


@dataclass(frozen=True, slots=True)
class RobotTarget:
    """Where a robot address posts: its kind, webhook URL and the environment variable of its secret."""

    kind: str
    webhook: str
    secret_env: str = ""


def robot_address(kind: str, webhook: str) -> str:
    """A robot's address in the outbox: ``<kind>:<host>/<digest>`` — stable for one webhook URL (two units
    sharing one group robot share it, and a notice reaches that group once), and free of the URL's token."""
    import hashlib
    from urllib.parse import urlsplit

    host = urlsplit(webhook).hostname or "robot"
    return f"{kind}:{host}/{hashlib.sha256(webhook.encode()).hexdigest()[:12]}"


def robot_kind(address: str) -> str | None:
    """The robot kind of an outbox address (``dingtalk:…``), None for an email address."""
    kind, colon, _rest = address.partition(":")
    return kind if colon and kind in ROBOT_KINDS and "@" not in address else None


class RobotBook:
    """Group robots from the unit directory's ``channels:``; persons have none."""

    kind = "robot"
    missing = {"unit": "", "unit_head": "", "official": "", "office_head": "", "top_leader": ""}

    def unit(self, unit: UnitRow) -> list[str]:
        return list(dict.fromkeys(robot_address(c["kind"], c["webhook"]) for c in unit.channels or []
                                  if c.get("kind") in ROBOT_KINDS and c.get("webhook")))

    def head(self, unit: UnitRow) -> str | None:
        return None

    def person(self, official: OfficialRow) -> str | None:
        return None


def robot_targets(session: Session) -> dict[str, RobotTarget]:
    """Every robot address the stored directory knows → where it posts."""
    out: dict[str, RobotTarget] = {}
    for channels in session.execute(sa.select(UnitRow.channels)).scalars():
        for c in channels or []:
            if c.get("kind") in ROBOT_KINDS and c.get("webhook"):
                out.setdefault(robot_address(c["kind"], c["webhook"]),
                               RobotTarget(c["kind"], c["webhook"], c.get("secret_env", "")))
    return out


# Address kind → its book; a channel's ``address_kind`` is a key here.
ADDRESS_BOOKS: dict[str, AddressBook] = {"email": EmailBook(), "robot": RobotBook()}


class PlanRoles:
    """Whose office and top leader a plan's notices name: the plan's own when its directory gave it
    an office (then its top leader, or none), else the database-wide ones flagged in the directory.
    ``plans`` are (id, office_unit_id, top_leader_id) rows; units and officials by id."""

    def __init__(self, plans: Iterable[Any], units_by_id: dict[int, Any], officials_by_id: dict[int, Any],
                 office: Any, top_leader: Any) -> None:
        self.office, self.top_leader = office, top_leader
        self.plan_office = {p.id: units_by_id[p.office_unit_id] for p in plans if p.office_unit_id in units_by_id}
        self.plan_leader = {p.id: officials_by_id[p.top_leader_id] for p in plans if p.top_leader_id in officials_by_id}

    def of(self, plan_id: int | None) -> tuple[Any, Any]:
        """(office, top leader) for a notice of ``plan_id``."""
        if plan_id in self.plan_office:
            return self.plan_office[plan_id], self.plan_leader.get(plan_id)
        return self.office, self.top_leader


def plan_rows(session: Session) -> list[Any]:
    return session.execute(sa.select(PlanRow.id, PlanRow.office_unit_id, PlanRow.top_leader_id)).all()


class UnitIndex:
    """Stored units by name and alias in either script, a group by its plan: a name a plan's notice
    gives is that plan's own group when it has one of that name (a group belongs to the plan whose
    directory defines it), else the shared unit of that name."""

    def __init__(self, units: Iterable[Any]) -> None:
        self.by_id: dict[int, Any] = {}
        self.shared: dict[str, Any] = {}  # by name, then by every spelling's key
        self.own: dict[tuple[int, str], Any] = {}  # (plan id, spelling key) → that plan's group
        for u in units:
            self.by_id[u.id] = u
            if getattr(u, "plan_id", None) is not None:
                for spelling in (u.name, *u.aliases):
                    self.own.setdefault((u.plan_id, unit_key(spelling)), u)
                continue
            self.shared.setdefault(u.name, u)
        for u in self.by_id.values():
            if getattr(u, "plan_id", None) is None:
                for spelling in (u.name, *u.aliases):
                    self.shared.setdefault(unit_key(spelling), u)
        self.members: dict[str, list[Any]] = {}  # a group's spelling key → the shared units listing it
        for u in self.by_id.values():
            if getattr(u, "plan_id", None) is None:
                for group in u.member_of:
                    self.members.setdefault(unit_key(group), []).append(u)

    def find(self, name: str, plan_id: int | None = None) -> Any:
        if not name:
            return None
        key = unit_key(name)
        return ((self.own.get((plan_id, key)) if plan_id is not None else None)
                or self.shared.get(name) or self.shared.get(key))

    def members_of(self, group: Any) -> list[Any]:
        """The units listing ``group`` (by its name or an alias) under member_of, each once."""
        found = {id(m): m for s in (group.name, *group.aliases) for m in self.members.get(unit_key(s), ())}
        return list(found.values())


class Directory:
    """The stored unit directory and officials, loaded once per delivery run, resolving to the
    addresses of one ``kind`` (an ``ADDRESS_BOOKS`` key: the delivering channel's)."""

    def __init__(self, session: Session, kind: str = "email") -> None:
        self.book = ADDRESS_BOOKS[kind]
        self.index = UnitIndex(session.execute(sa.select(UnitRow).order_by(col(UnitRow.id))).scalars())
        self.office: UnitRow | None = None
        for u in self.index.by_id.values():
            if u.is_office:
                self.office = u
        self.officials = {o.name: o for o in session.execute(sa.select(OfficialRow)).scalars()}
        self.top_leader = next((o for o in self.officials.values() if o.is_top_leader), None)
        self.roles = PlanRoles(plan_rows(session), self.index.by_id,
                               {o.id: o for o in self.officials.values()}, self.office, self.top_leader)

    def for_kind(self, kind: str) -> Directory:
        """The same stored directory resolving to the addresses of another kind (no second load)."""
        other = object.__new__(Directory)
        other.__dict__.update(self.__dict__)
        other.book = ADDRESS_BOOKS[kind]
        return other

    def _unit_addresses(self, unit: UnitRow, role: str, name: str) -> list[Resolved]:
        good = self.book.unit(unit)
        if not good:
            return [Resolved(role, name, unit.name, "", self.book.missing["unit"])]
        return [Resolved(role, name, unit.name, a) for a in good]

    def resolve(self, role: str, name: str, plan_id: int | None = None) -> list[Resolved]:
        """Addresses for one role of a notice (``plan_id``: the notice's plan, for its office and leader)."""
        office, top_leader = self.roles.of(plan_id)
        if role == "unit":
            unit = self.index.find(name, plan_id)
            if unit is None:
                return [Resolved(role, name, name, "", "unit not in the directory")]
            members = self.index.members_of(unit) if unit.kind == "group" else []
            if members:
                out: list[Resolved] = []
                for member in members:
                    out.extend(self._unit_addresses(member, role, name))
                return out
            return self._unit_addresses(unit, role, name)
        if role == "unit_head":
            unit = self.index.find(name, plan_id)
            if unit is None:
                return [Resolved(role, name, f"{name}負責人", "", "unit not in the directory")]
            who = " ".join(filter(None, (unit.name, unit.head_title or "負責人", unit.head_name)))
            address = self.book.head(unit)
            return [Resolved(role, name, who, address or "", "" if address else self.book.missing["unit_head"])]
        if role == "official":
            o = self.officials.get(name)
            who = f"{name}{o.title and '(' + o.title + ')' if o else ''}" if o else name
            address = self.book.person(o) if o else None
            return [Resolved(role, name, who, address or "", "" if address else self.book.missing["official"])]
        if role == "office":
            if office is None:
                return [Resolved(role, "", "領導小組辦公室", "", "no office in the unit directory")]
            return self._unit_addresses(office, role, "")
        if role == "office_head":
            o = office
            if o is None:
                return [Resolved(role, "", "領導小組辦公室主任", "", "no office in the unit directory")]
            who = " ".join(filter(None, (o.name, o.head_title or "主任", o.head_name)))
            address = self.book.head(o)
            return [Resolved(role, "", who, address or "", "" if address else self.book.missing["office_head"])]
        if role == "top_leader":
            t = top_leader
            if t is None:
                return [Resolved(role, "", "主要領導", "", "no top_leader in the unit directory")]
            address = self.book.person(t)
            return [Resolved(role, "", f"{t.name}({t.title})" if t.title else t.name, address or "",
                             "" if address else self.book.missing["top_leader"])]
        return [Resolved(role, name, name or role, "", f"unknown recipient role {role!r}")]
