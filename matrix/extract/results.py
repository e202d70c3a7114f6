"""What an extraction returns: the plan, its leftovers (lines not placed) and notes (what was cleaned or assumed)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Leftover:
    """A line (or part of one) the extractor could not place; ``line`` is 1-based in the text."""

    line: int | None
    text: str
    reason: str
    kind: str = "text"  # text | heading | field | deadline | official | encoding | part | header

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "text": self.text, "reason": self.reason, "kind": self.kind}


@dataclass(frozen=True, slots=True)
class Note:
    """Something cleaned or assumed while extracting (not a leftover: nothing was lost)."""

    line: int | None
    text: str
    kind: str  # pinyin | page_number | joined | deadline_default | official | unit | veto | code | title

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "text": self.text, "kind": self.kind}


@dataclass(frozen=True, slots=True)
class Part:
    """One document of a file that holds several (a 第N篇 heading starts each)."""

    number: int
    title: str
    first_line: int
    last_line: int
    tasks: int


@dataclass(slots=True)
class Extraction:
    """The extracted plan (the canonical YAML document as a dict), what was left over, what was assumed."""

    plan: dict[str, Any]
    leftovers: list[Leftover] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    part: int | None = None
    parts: list[Part] = field(default_factory=list)
    # For the YAML comments: per task / stage, field → "line 12" or "lines 12–13; page number 3 removed".
    field_comments: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    header_comments: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when every line was placed (the CLI exits 0), False when something was left over."""
        return not self.leftovers

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.plan,
            "leftovers": [x.as_dict() for x in self.leftovers],
            "notes": [x.as_dict() for x in self.notes],
            "part": self.part,
            "parts": [{"number": p.number, "title": p.title, "first_line": p.first_line,
                       "last_line": p.last_line, "tasks": p.tasks} for p in self.parts],
        }

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), ensure_ascii=False, indent=2) + "\n"

    def to_yaml(self, *, directory: str | None = None) -> str:
        """The canonical plan YAML, each field followed by ``# line N``; leftovers listed at the end."""
        from duban.matrix.extract.yaml_writer import _write_yaml  # here: the writer imports Extraction

        return _write_yaml(self, directory)
