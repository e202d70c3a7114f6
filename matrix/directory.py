"""The unit directory: who the units are, how they may be spelled, who heads them, where mail goes.

A unit matches across scripts and aliases: 區扶貧辦, 区扶贫办 and 扶贫办 are one unit when the directory
lists 扶貧辦 as an alias. Group units (各鄉鎮人民政府, 區級各部門) expand to their members where the
directory lists members (units with ``member_of``), else they stay one recipient with the group's
own address.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from duban.matrix.errors import Problem, SourceError, ValidationFailed
from duban.matrix.limits import DEFAULT_LIMITS, InputLimits
from duban.matrix.model import Official, Person, Robot, Unit
from duban.matrix.script import unit_key
from duban.matrix.sheets import load_directory_sheet
from duban.matrix.sources import Located, Record, Source, load_yaml, yaml_record, yaml_records

LIST_SEPARATORS = "、，,；;\n"
_SEPARATORS = re.compile("[" + LIST_SEPARATORS + "]")
_T = TypeVar("_T")


def near_miss_distance(name: str) -> int:
    """How many edits still make a near miss of ``name`` (folded): 1 up to 4 characters, else 2."""
    return 1 if len(unit_key(name)) <= 4 else 2


def near_misses(name: str, spellings: Iterable[tuple[str, _T]]) -> list[_T]:
    """The things whose spelling is a near miss of ``name``: both folded first (script, width, spaces),
    then at most ``near_miss_distance(name)`` edits (Levenshtein, rapidfuzz), nearest first; an exact
    match (distance 0) is not a miss. Each thing once, in the order of its nearest spelling."""
    from rapidfuzz.distance import Levenshtein  # only an unknown name pays for the import

    key = unit_key(name)
    limit = near_miss_distance(name)
    best: dict[int, tuple[int, int, _T]] = {}  # id(thing) → (distance, order, thing)
    for order, (spelling, thing) in enumerate(spellings):
        d = Levenshtein.distance(key, unit_key(spelling), score_cutoff=limit)
        prev = best.get(id(thing))
        if 0 < d <= limit and (prev is None or d < prev[0]):
            best[id(thing)] = (d, order, thing)
    return [thing for _, _, thing in sorted(best.values(), key=lambda b: (b[0], b[1]))]


def guess_kind(name: str) -> str:
    """The kind a unit's name suggests: a collective name (各鄉鎮人民政府, 全區各單位, 區級各部門) is a
    group, anything else a department."""
    return "group" if name.startswith(("各", "全")) or "各" in name[:3] else "department"


def did_you_mean(names: list[str]) -> str:
    """「did you mean 區交委?」 for one name, 「did you mean 區交委 or 縣交委?」 for several."""
    return "did you mean " + " or ".join(names[:3]) + "?" if names else ""


def split_list(value: Any) -> list[str]:
    """A list field may be a YAML list or one string separated by 、 ， , ； ; or newlines."""
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        out: list[str] = []
        for v in value:
            out.extend(split_list(v))
        return out
    text = str(value)
    if not any(c in text for c in "(（"):
        parts = _SEPARATORS.split(text)
    else:
        parts = split_outside_parentheses(text, LIST_SEPARATORS)
    return [p for p in (part.strip().rstrip("。.") for part in parts) if p]


def split_outside_parentheses(text: str, separators: str) -> list[str]:
    """Split at separators that are not inside parentheses: 區紀委(監察局、審計)、區財政局 → two items.

    Returns the raw pieces (not stripped), empty ones included.
    """
    parts: list[str] = []
    buf: list[str] = []
    depth = 0
    for ch in text:
        if ch in "(（":
            depth += 1
        elif ch in ")）":
            depth = max(0, depth - 1)
        if ch in separators and depth == 0:
            parts.append("".join(buf))
            buf = []
        else:
            buf.append(ch)
    parts.append("".join(buf))
    return parts


# A unit marked as leading (縣水利局（牽頭）, 縣水利局牽頭) or supporting (各鄉鎮配合): the marker is no part
# of the unit's name. 主責/負總責 lead as 牽頭 does; 協辦/參與 support as 配合 does.
_LEAD_MARK = re.compile(r"\s*[(（]?(?:牽頭|牵头|主責|主责|負總責|负总责)(?:單位|单位)?[)）]?$")
_SUPPORT_MARK = re.compile(r"\s*[(（]?(?:配合|協辦|协办|參與|参与)(?:單位|单位)?[)）]?$")
# Whitespace between two units written side by side (縣財政局 縣發改局, full-width space too): a
# Chinese unit's name has no space, so a run of spaces between two CJK names separates them.
_CJK_GAP = re.compile(r"(?<=[\u3400-\u9fff)）])\s+(?=[\u3400-\u9fff])")


@dataclass(frozen=True, slots=True)
class UnitCell:
    """The units one cell names, in order, and those it marks as leading (牽頭) or supporting (配合)."""

    names: tuple[str, ...]
    leads: tuple[str, ...] = ()
    supports: tuple[str, ...] = ()


def split_units(value: Any) -> UnitCell:
    """縣水利局（牽頭）、縣公安局 / 縣水利局牽頭，縣公安局、各鄉鎮配合 / 縣財政局 縣發改局 / 縣財政局/縣發改局 →
    the unit names without their markers. Units are separated as ``split_list`` separates a list, and
    also by / ／ and by spaces between two Chinese names (each part at least two characters; an
    English name such as Bank of China stays whole). 配合 closing a phrase marks every unit since the
    last lead as supporting."""
    names: list[str] = []
    leads: list[str] = []
    supports: list[str] = []
    pending: list[str] = []  # the units since the last lead: 配合 at the end of one makes them all supporting
    for piece in split_list(value):
        for part in _unit_parts(piece):
            lead, support = bool(_LEAD_MARK.search(part)), bool(_SUPPORT_MARK.search(part))
            name = _SUPPORT_MARK.sub("", _LEAD_MARK.sub("", part)).strip() if lead or support else part
            if not name:
                continue
            names.append(name)
            if lead:
                leads.append(name)
                pending = []
                continue
            pending.append(name)
            if support:
                supports.extend(pending)
                pending = []
    return UnitCell(tuple(names), tuple(leads), tuple(supports))


def _unit_parts(piece: str) -> list[str]:
    """One list item split at / ／ (outside parentheses) and at spaces between two Chinese names."""
    out: list[str] = []
    for part in _slash_parts(piece):
        spaced = [p for p in _CJK_GAP.split(part.strip()) if p]
        out.extend(spaced if len(spaced) > 1 and all(len(p) >= 2 for p in spaced) else [part.strip()])
    return [p for p in out if p]


def _slash_parts(piece: str) -> list[str]:
    """A piece split at / ／ outside parentheses, only where a Chinese name ends and another begins
    (縣發改局/縣財政局): a slash elsewhere belongs to the name (<b>單位</b>, a path such as 名稱/../辦)."""
    parts = split_outside_parentheses(piece, "/／")
    out = parts[:1]
    for part in parts[1:]:
        before, after = out[-1].rstrip(), part.lstrip()
        if before and after and _CJK_END.search(before) and _CJK_START.match(after):
            out.append(part)
        else:
            out[-1] = f"{out[-1]}/{part}"
    return out if len(out) > 1 else [piece]  # unsplit: the name exactly as written (／ kept)


_CJK_END = re.compile(r"[\u3400-\u9fff)）]$")
_CJK_START = re.compile(r"[\u3400-\u9fff]")


@dataclass(slots=True)
class UnitDirectory:
    """Units by name and alias, the office that runs supervision, and officials' addresses."""

    units: list[Unit] = field(default_factory=list)
    office: Unit | None = None
    top_leader: Person | None = None
    officials: list[Official] = field(default_factory=list)
    source: str = ""
    warnings: list[str] = field(default_factory=list)  # e.g. the file was read as Big5, not UTF-8
    _index: dict[str, Unit] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._index = {}
        for unit in self.all_units():
            self._add_to_index(unit)

    def all_units(self) -> list[Unit]:
        if self.office is not None and all(u.name != self.office.name for u in self.units):
            return [*self.units, self.office]
        return list(self.units)

    def _add_to_index(self, unit: Unit) -> None:
        for spelling in (unit.name, *unit.aliases):
            self._index.setdefault(unit_key(spelling), unit)

    def add(self, unit: Unit) -> None:
        self.units.append(unit)
        self._add_to_index(unit)

    def resolve(self, name: str) -> Unit | None:
        """The unit a name or alias stands for, in either script; None if unknown."""
        return self._index.get(unit_key(name))

    def near_misses(self, name: str) -> list[Unit]:
        """The known units one of whose spellings is a near miss of ``name`` (see ``near_misses``)."""
        return near_misses(name, ((s, u) for u in self.all_units() for s in (u.name, *u.aliases)))

    def __contains__(self, name: str) -> bool:
        return self.resolve(name) is not None

    def members(self, group: str) -> list[Unit]:
        unit = self.resolve(group)
        if unit is None:
            return []
        keys = {unit_key(s) for s in (unit.name, *unit.aliases)}
        return [u for u in self.units if any(unit_key(m) in keys for m in u.member_of)]

    def expand(self, name: str) -> list[Unit]:
        """The units that receive mail addressed to ``name``: a group's members, else the unit itself."""
        unit = self.resolve(name)
        if unit is None:
            return []
        if unit.is_group:
            members = self.members(unit.name)
            if members:
                return members
        return [unit]

    def official(self, name: str) -> Official | None:
        key = unit_key(name)
        for o in self.officials:
            if unit_key(o.name) == key:
                return o
        return None

    def merged_with(self, other: UnitDirectory) -> UnitDirectory:
        """This directory plus the units of ``other`` that it does not know; ours win on conflict.

        A directory with an office of its own keeps its own top leader too, or none: a plan run by its
        own office never borrows another plan's leader (other's office stays a known unit)."""
        own = self.office is not None
        merged = UnitDirectory(
            units=list(self.units),
            office=self.office or other.office,
            top_leader=self.top_leader if own else (self.top_leader or other.top_leader),
            officials=list(self.officials),
            source=self.source or other.source,
        )
        for unit in other.all_units():
            if merged.resolve(unit.name) is None:
                merged.add(unit)
        known = {unit_key(o.name) for o in merged.officials}
        merged.officials.extend(o for o in other.officials if unit_key(o.name) not in known)
        return merged


# --------------------------------------------------------------------------------------------
# Loading


# --------------------------------------------------------------------------------------------
# Email addresses: checked on import with email-validator (syntax only, never DNS)

_ADDRESS_SEPARATORS = re.compile("[、，,；;]")
_NOT_IN_AN_ADDRESS = re.compile("[\r\n、，,；;]")
_ONE_ADDRESS_HINT = "write one address such as name@example.org"
_ADDRESSES_HINT = "write addresses such as name@example.org, several separated by 、 or , (or as a YAML list)"


def address_problem(text: str) -> str | None:
    """Why ``text`` is not one email address, or None when it is one. The syntax only (email-validator,
    no DNS lookup); internationalised addresses (用户@例子.广告) are addresses. A line break, comma or
    semicolon inside is refused, never split: "a@x.org\r\nBcc: b@y.org" is not two addresses."""
    if not text:
        return "no address"
    bad = _NOT_IN_AN_ADDRESS.search(text)
    if bad:
        what = "a line break" if bad.group() in "\r\n" else f"a separator ({bad.group()})"
        return f"{what} inside one address"
    from email_validator import EmailNotValidError, validate_email  # only a file with addresses pays for it

    try:
        validate_email(text, check_deliverability=False)
    except EmailNotValidError as e:
        return str(e)
    return None


def _address_refusal(path: str, line: int | None, field_name: str, text: str, reason: str, hint: str, kind: str) -> Problem:
    return Problem(path, line, field_name, text, "not an email address", f"{reason.rstrip('.')}; {hint}", row_kind=kind)


def email_list(value: Any, *, path: str, field_name: str, line: int | None, kind: str, problems: list[Problem]) -> list[str]:
    """The addresses of a list field (a YAML list, or one text separated by 、 ， , ； ;), each checked.
    A value with a line break in it is refused whole: a list is never split at a line break."""
    if value is None:
        return []
    out: list[str] = []
    for item in value if isinstance(value, (list, tuple)) else [value]:
        text = "" if item is None else str(item)
        if "\r" in text or "\n" in text:
            problems.append(_address_refusal(path, line, field_name, text, "a line break inside the addresses",
                                             _ADDRESSES_HINT, kind))
            continue
        for piece in _ADDRESS_SEPARATORS.split(text):
            piece = piece.strip()
            if not piece:
                continue
            reason = address_problem(piece)
            if reason:
                problems.append(_address_refusal(path, line, field_name, piece, reason, _ADDRESSES_HINT, kind))
            else:
                out.append(piece)
    return out


def one_email(value: Any, *, path: str, field_name: str, line: int | None, kind: str, problems: list[Problem]) -> str:
    """One address (a head's, an official's), checked; "" when none is given or it is refused."""
    text = "" if value is None else str(value).strip()
    if not text:
        return ""
    reason = address_problem(text)
    if reason:
        problems.append(_address_refusal(path, line, field_name, text, reason, _ONE_ADDRESS_HINT, kind))
        return ""
    return text


def _person(value: Any, *, where: str, field_name: str, problems: list[Problem], line: int | None,
            kind: str = "line") -> Person | None:
    if value in (None, ""):
        return None
    if isinstance(value, str):
        return Person(name=value)
    if isinstance(value, dict):
        unknown = set(value) - {"name", "title", "email"}
        if unknown:
            problems.append(Problem(where, line, field_name, str(sorted(unknown)), "unknown keys", "use name, title, email"))
        email = one_email(value.get("email"), path=where, field_name=f"{field_name}.email", line=line, kind=kind,
                          problems=problems)
        return Person(name=str(value.get("name") or ""), title=str(value.get("title") or ""), email=email)
    problems.append(Problem(where, line, field_name, type(value).__name__, "must be a name or a mapping with name, title, email"))
    return None


UNIT_FIELDS = {"name", "aliases", "kind", "head", "head_title", "head_email", "emails", "email", "member_of", "channels"}

# --------------------------------------------------------------------------------------------
# Group robots (channels:): DingTalk, WeCom and Feishu custom robots beside the mail

ROBOT_KINDS = ("dingtalk", "wecom", "feishu")
ROBOT_FIELDS = ("kind", "webhook", "secret_env")
SIGNED_ROBOTS = ("dingtalk", "feishu")  # WeCom's group robot has no signature: its key is in the URL
_ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]{0,127}")
_LOOPBACK = ("127.0.0.1", "localhost", "::1")  # http:// only for a robot on this machine (a relay, a test receiver)
_CHANNELS_HINT = ("write channels as a list such as [{kind: dingtalk, webhook: https://oapi.dingtalk.com/robot/send?"
                  "access_token=…, secret_env: DUBAN_DINGTALK_SECRET_UNIT}]")


def robot_problem(kind: str, webhook: str, secret_env: str) -> tuple[str, str, str] | None:
    """Why one ``channels:`` entry cannot be used: (field, message, hint), or None when it can. Pure:
    the secret's environment variable is looked up when a message goes, not here."""
    from urllib.parse import urlsplit

    if kind not in ROBOT_KINDS:
        return "kind", "unknown channel kind", "use " + ", ".join(ROBOT_KINDS)
    if not webhook:
        return "webhook", "no webhook URL", "copy the robot's webhook URL from the group's robot settings"
    if any(c.isspace() or ord(c) < 32 for c in webhook):
        return "webhook", "a space or line break inside the URL", "write the webhook URL on one line, as the robot gives it"
    try:
        parts = urlsplit(webhook)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - a bad port raises here
    except ValueError:
        return "webhook", "not a URL", "write the webhook URL as the robot gives it (https://…)"
    if parts.scheme != "https" and not (parts.scheme == "http" and host in _LOOPBACK):
        return ("webhook", f"URL scheme {parts.scheme or '(none)'!r} is not allowed",
                "use the robot's https:// URL (http:// only for 127.0.0.1 or localhost)")
    if not host:
        return "webhook", "no host in the URL", "write the webhook URL as the robot gives it (https://…)"
    if parts.username or parts.password:
        return "webhook", "a user or password in the URL", "write the webhook URL as the robot gives it"
    if secret_env and kind not in SIGNED_ROBOTS:
        return ("secret_env", f"a {kind} robot is not signed",
                "leave secret_env out: the key in the webhook URL is its credential")
    if secret_env and not _ENV_NAME.fullmatch(secret_env):
        return ("secret_env", "not an environment variable's name",
                "write the NAME of the variable holding the secret (A-Z, 0-9, _), never the secret itself")
    return None


def robots(value: Any, *, unit: str, path: str, line: int | None, kind: str, problems: list[Problem]) -> tuple[Robot, ...]:
    """A unit's ``channels:``: a list of mappings {kind, webhook, secret_env}, each checked (a YAML
    list; in a sheet, one cell of JSON-like YAML flow text such as ``[{kind: wecom, webhook: …}]``).
    A signing secret written into the directory is refused: it names the variable that holds it."""
    if value is None or value == "" or value == []:
        return ()
    if isinstance(value, str):
        import yaml

        try:
            value = yaml.safe_load(value)
        except yaml.YAMLError:
            problems.append(Problem(path, line, f"{unit}: channels", value, "not a list of robots", _CHANNELS_HINT,
                                    row_kind=kind))
            return ()
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list):
        problems.append(Problem(path, line, f"{unit}: channels", str(value), "not a list of robots", _CHANNELS_HINT,
                                row_kind=kind))
        return ()
    out: list[Robot] = []
    for n, item in enumerate(value, 1):
        where = f"{unit}: channels[{n}]"
        item_line = getattr(item, "line", None) or line
        if not isinstance(item, dict):
            problems.append(Problem(path, item_line, where, str(item), "not a mapping", _CHANNELS_HINT, row_kind=kind))
            continue
        unknown = sorted(str(k) for k in item if k not in ROBOT_FIELDS)
        if unknown:
            secret = any("secret" in k or "token" in k or "key" in k for k in unknown)
            problems.append(Problem(path, item_line, f"{where}.{unknown[0]}", unknown[0], "unknown field of a channel",
                                    "the signing secret never goes in the directory: set it in the environment and "
                                    "name the variable with secret_env" if secret else
                                    "fields are " + ", ".join(ROBOT_FIELDS), row_kind=kind))
            continue
        robot = Robot(kind=str(item.get("kind") or "").strip().lower(), webhook=str(item.get("webhook") or "").strip(),
                      secret_env=str(item.get("secret_env") or "").strip())
        problem = robot_problem(robot.kind, robot.webhook, robot.secret_env)
        if problem is not None:
            field_name, message, hint = problem
            text = {"kind": robot.kind, "webhook": robot.webhook, "secret_env": robot.secret_env}[field_name]
            problems.append(Problem(path, item_line, f"{where}.{field_name}", text, message, hint, row_kind=kind))
            continue
        if robot not in out:
            out.append(robot)
    return tuple(out)


def unit_from_record(rec: Record, *, path: str, kind: str, problems: list[Problem], default_kind: str = "department") -> Unit | None:
    name = rec.get("name")
    if not name or not str(name).strip():
        problems.append(Problem(path, rec.line, "name", "", "a unit needs a name", row_kind=kind))
        return None
    for key in rec.cells:
        if key not in UNIT_FIELDS:
            problems.append(Problem(path, rec.line_of(key), key, str(rec.get(key)), "unknown field of a unit",
                                    "fields are " + ", ".join(sorted(UNIT_FIELDS)), row_kind=kind))
    head = _person(rec.get("head"), where=path, field_name="head", problems=problems, line=rec.line_of("head"), kind=kind)
    if rec.get("head_title") or rec.get("head_email"):
        head_email = one_email(rec.get("head_email"), path=path, field_name="head_email", line=rec.line_of("head_email"),
                               kind=kind, problems=problems)
        head = Person(
            name=head.name if head else "",
            title=str(rec.get("head_title") or (head.title if head else "")),
            email=head_email or (head.email if head else ""),
        )
    emails = [
        *email_list(rec.get("emails"), path=path, field_name="emails", line=rec.line_of("emails"), kind=kind, problems=problems),
        *email_list(rec.get("email"), path=path, field_name="email", line=rec.line_of("email"), kind=kind, problems=problems),
    ]
    return Unit(
        name=str(name).strip(),
        aliases=tuple(split_list(rec.get("aliases"))),
        kind=str(rec.get("kind") or default_kind).strip(),
        head=head,
        emails=tuple(emails),
        member_of=tuple(split_list(rec.get("member_of"))),
        channels=robots(rec.get("channels"), unit=str(name).strip(), path=path, line=rec.line_of("channels"), kind=kind, problems=problems),
    )


def _directory_source(path: Path, limits: InputLimits) -> Source:
    if path.suffix.lower() in (".csv", ".tsv", ".xlsx", ".xlsm"):
        return load_directory_sheet(path, limits)
    warnings: list[str] = []
    data = load_yaml(path, warnings=warnings, limits=limits)
    if not isinstance(data, Located):  # load_yaml reads every mapping as one
        raise SourceError(str(path), "a unit directory must be a mapping with a 'units' list")
    unknown = set(data) - {"office", "top_leader", "units", "officials"}
    if unknown:
        raise SourceError(f"{path}:{data.lines[sorted(unknown)[0]]}", f"unknown top-level key(s) {sorted(unknown)}; "
                          "a directory has office, top_leader, units, officials")
    src = Source(path=str(path), kind="line", header=yaml_record(data, path=str(path), what="the directory"),
                 warnings=warnings)
    src.units = yaml_records(data.get("units"), path=str(path), what="units", line=data.lines.get("units"))
    src.officials = yaml_records(data.get("officials"), path=str(path), what="officials", line=data.lines.get("officials"))
    if data.get("office") is not None:
        src.extra["office"] = yaml_record(data["office"], path=str(path), what="office")
    if data.get("top_leader") is not None:
        src.extra["top_leader"] = yaml_record(data["top_leader"], path=str(path), what="top_leader")
    return src


def load_directory(path: str | Path, *, limits: InputLimits = DEFAULT_LIMITS) -> UnitDirectory:
    """Read a unit directory (YAML or CSV/XLSX); every problem is reported at once.

    Only a regular file within ``limits`` is read (never a device, pipe or folder)."""
    path = Path(path)
    src = _directory_source(path, limits)
    problems: list[Problem] = []
    units: list[Unit] = []
    seen: dict[str, int | None] = {}
    for rec in src.units:
        unit = unit_from_record(rec, path=src.path, kind=src.kind, problems=problems)
        if unit is None:
            continue
        # One unit may list the same name in both scripts; two units may not share a spelling.
        for key, spelling in {unit_key(s): s for s in (unit.aliases[::-1] + (unit.name,))}.items():
            if key in seen:
                problems.append(Problem(src.path, rec.line, "name" if spelling == unit.name else "aliases", spelling,
                                        f"spelled the same as a unit at {src.kind} {seen[key]}",
                                        "each name and alias may belong to one unit only", row_kind=src.kind))
            seen[key] = rec.line
        units.append(unit)
    office = None
    if "office" in src.extra:
        office = unit_from_record(src.extra["office"], path=src.path, kind=src.kind, problems=problems, default_kind="office")
    top_leader = None

    def email_of(r: Record) -> str:
        return one_email(r.get("email"), path=src.path, field_name="email", line=r.line_of("email"), kind=src.kind,
                         problems=problems)

    if "top_leader" in src.extra:
        r = src.extra["top_leader"]
        top_leader = Person(name=str(r.get("name") or ""), title=str(r.get("title") or ""), email=email_of(r))
    officials = [
        Official(name=str(r.get("name") or ""), title=str(r.get("title") or ""), email=email_of(r))
        for r in src.officials
    ]
    if problems:
        raise ValidationFailed(problems)
    return UnitDirectory(units=units, office=office, top_leader=top_leader, officials=officials, source=src.path,
                         warnings=src.warnings)
