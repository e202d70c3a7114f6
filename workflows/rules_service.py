"""The rules in force, versioned in the database: record the current policy and scoring, list and show
versions, and pick the scoring a weekly report uses.

Every sweep and every weekly report (the CLI's, `duban run`'s jobs, the Prefect flows, the demo) calls
``record_rules`` first: the policy and scoring in use — the packaged files merged with the office's, as
one YAML document each (``matrix.rules``) — are stored as a new version when they differ from the last
stored one of their kind. The first version of a kind is in force from the run's as-of day; a later one
from the machine's local day, so that replaying history never rewrites which rules were in force then.

A report for a day scores with the scoring version in force that day (``report_scoring``), unless a
file is given for it (``--rules FILE``: that file over the packaged defaults, used for this report and
not stored); the report's footer names what it used (``matrix.rules.RulesUsed``).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Any

from duban.matrix.errors import ConfigError, NotFound
from duban.matrix.rules import RULE_KINDS, RulesUsed, RulesVersion, canonical_text, digest, in_force, policy_mapping
from duban.store import rules as stored

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from duban.matrix.policy import PolicySet
    from duban.matrix.scoring import ScoringConfig
    from duban.workflows.bootstrap import App

__all__ = ["current_texts", "record_rules", "record_for", "list_rules", "show_rules", "report_scoring",
           "scoring_for_app"]


class _Kept:
    """The last policy's text (a policy set is kept by the App until its files change: dumped once) and the
    scoring rules read from stored versions, by sha256."""

    policy: tuple[Any, str] | None = None
    scoring: dict[str, ScoringConfig] = {}  # noqa: RUF012 - one cache per process


def current_texts(policies: PolicySet, scoring: ScoringConfig) -> dict[str, str]:
    """The content of each kind of rules in use: the merged policy and scoring as YAML documents."""
    kept = _Kept.policy
    if kept is None or kept[0] is not policies:
        kept = _Kept.policy = (policies, canonical_text(policy_mapping(policies.base, policies.plans)))
    return {"policy": kept[1], "scoring": scoring.text}


def record_rules(engine: Engine, *, policies: PolicySet, scoring: ScoringConfig, as_of: dt.date, today: dt.date,
                 now: dt.datetime) -> list[RulesVersion]:
    """Store the rules in use as a new version of each kind whose content changed; the versions stored.
    (A ScoringConfig built in code, not read from files, has no text: nothing to version.)"""
    texts = {kind: text for kind, text in current_texts(policies, scoring).items() if text}
    return stored.record(engine, texts, as_of=as_of, today=today, now=now)


def record_for(app: App, as_of: dt.date) -> list[RulesVersion]:
    """``record_rules`` with a process's wiring: its rules, and the machine's day in the office's zone."""
    clock = app.clock()
    return record_rules(app.engine, policies=app.policies, scoring=app.scoring, as_of=as_of, today=clock.date(),
                        now=clock)


def _kind(kind: str) -> str:
    if kind not in RULE_KINDS:
        raise ConfigError(f"rules kind {kind!r}: use {' or '.join(RULE_KINDS)}")
    return kind


def list_rules(engine: Engine, kind: str | None = None) -> list[dict[str, Any]]:
    """Every stored version (of ``kind``), oldest first, as JSON-able rows."""
    return [{"kind": v.kind, "number": v.number, "sha256": v.sha256, "from": v.from_date.isoformat(),
             "stored_at": v.stored_at.isoformat(timespec="seconds")}
            for v in stored.versions(engine, _kind(kind) if kind else None)]


def show_rules(engine: Engine, kind: str, number: int) -> RulesVersion:
    """One stored version with its content; ``NotFound`` naming what exists."""
    found = stored.version(engine, _kind(kind), number)
    if found is None:
        have = [v.number for v in stored.versions(engine, kind)]
        raise NotFound(f"no {kind} rules version {number}; stored: {', '.join(map(str, have)) or 'none yet'}")
    return found


def report_scoring(engine: Engine, *, day: dt.date, rules_file: Path | None = None) -> tuple[ScoringConfig, RulesUsed]:
    """The scoring a report for ``day`` uses: ``rules_file`` (over the packaged defaults, not stored) if given,
    else the stored version in force that day (the current rules must have been recorded first)."""
    from duban.config.settings import PACKAGE_DIR
    from duban.matrix.scoring import load_scoring, load_scoring_text

    if rules_file is not None:
        path = Path(rules_file)
        if not path.is_file():
            raise ConfigError(f"--rules: no such file {str(path)!r}")
        scoring = load_scoring(PACKAGE_DIR / "scoring.yaml", path)
        return scoring, RulesUsed(sha256=digest(scoring.text), file=str(path))
    chosen = in_force(stored.versions(engine, "scoring", content=True), day)
    if chosen is None:
        raise NotFound("no scoring rules are stored yet")
    kept = _Kept.scoring.get(chosen.sha256)
    if kept is None:
        kept = _Kept.scoring[chosen.sha256] = load_scoring_text(chosen.content, f"scoring rules version {chosen.number}")
    return kept, RulesUsed(sha256=chosen.sha256, number=chosen.number, from_date=chosen.from_date)


def scoring_for_app(app: App, day: dt.date, rules_file: Path | None = None) -> tuple[ScoringConfig, RulesUsed]:
    """For a report of ``day`` run by ``app``: record the rules in use, then ``report_scoring``."""
    record_for(app, day)
    return report_scoring(app.engine, day=day, rules_file=rules_file)
