"""Versions of the rules in force (policy, scoring): their canonical text, hash, and which one a day uses.

The rules of a kind are the packaged file merged with the office's; their *content* is that merged
mapping written as one YAML document (``canonical_text``), so a version changes when a rule changes,
not when a comment or the folder does, and the content read back gives the same rules. A new version
is stored when the content differs from the last stored one of its kind (``needs_version``); it is in
force from ``first_from_date``: the run's as-of day when the kind has no version yet, otherwise the
machine's local day — a replay of history never rewrites which rules were in force in the past. A
report for a day uses the version in force that day (``in_force``: the latest from-date on or before
it; the earliest version when the day precedes them all). Pure: no clock, no database.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

__all__ = ["RULE_KINDS", "RulesVersion", "RulesUsed", "canonical_text", "digest", "policy_mapping",
           "needs_version", "first_from_date", "in_force"]

RULE_KINDS = ("policy", "scoring")


@dataclass(frozen=True, slots=True)
class RulesVersion:
    """A stored version of one kind of rules."""

    kind: str  # policy | scoring
    number: int  # 1, 2 … per kind
    sha256: str
    from_date: dt.date  # in force from this day until the next version's
    stored_at: dt.datetime
    content: str = ""


@dataclass(frozen=True, slots=True)
class RulesUsed:
    """The scoring rules a report used, for its footer: a stored version, or a file given for this report."""

    sha256: str
    number: int | None = None  # the stored version; None for a file given with --rules
    from_date: dt.date | None = None
    file: str | None = None  # the file given with --rules

    @property
    def short(self) -> str:
        return self.sha256[:8]


class _Dumper(yaml.SafeDumper):
    """Plain scalars stay plain: the rules are read back without implicit typing (text, or null)."""


_Dumper.yaml_implicit_resolvers = {}
_Dumper.add_implicit_resolver("tag:yaml.org,2002:null", re.compile(r"^(?:~|null|Null|NULL|)$"),
                              list("~nN"))


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value if value is None or isinstance(value, str) else str(value)


def canonical_text(mapping: Mapping[str, Any]) -> str:
    """The rules as one YAML document, keys in the order the files give them."""
    return yaml.dump(_plain(mapping), Dumper=_Dumper, allow_unicode=True, sort_keys=False, default_flow_style=False,
                     width=120)


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def policy_mapping(base: Mapping[str, Any], plans: Mapping[str, Any]) -> dict[str, Any]:
    """A policy's merged mapping (its default and per-plan overrides), as one policy file would hold it."""
    out = dict(base)
    if plans:
        out["plans"] = dict(plans)
    return out


def needs_version(latest: RulesVersion | None, sha256: str) -> bool:
    """A new version is stored when the content differs from the last stored version of its kind."""
    return latest is None or latest.sha256 != sha256


def first_from_date(latest: RulesVersion | None, *, as_of: dt.date, today: dt.date) -> dt.date:
    """The from-date of a new version: the run's as-of day for a kind's first version, else the machine's day."""
    return as_of if latest is None else today


def in_force(versions: Sequence[RulesVersion], day: dt.date) -> RulesVersion | None:
    """The version in force on ``day``: the latest from-date on or before it (the later-numbered on a tie); the
    earliest version when the day precedes all of them; None when there is none."""
    if not versions:
        return None
    ordered = sorted(versions, key=lambda v: (v.from_date, v.number))
    chosen = [v for v in ordered if v.from_date <= day]
    return chosen[-1] if chosen else ordered[0]
