"""Fields inside lines: ``label:value`` pieces (also several per line, 【label】value and closing ``(責任單位:…)`` notes)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from duban.matrix.extract.cleaning import _unbalanced
from duban.matrix.extract.vocabulary import _label_kind, _vocabulary


@dataclass(slots=True)
class _Fields:
    """What a line (or the text after a heading number) holds besides its leading text."""

    lead: str  # the text before the first field (original)
    lead_norm: str
    fields: list[tuple[str, str, str]]  # (kind, label, value)
    trailer: bool  # the fields came from a closing (責任單位:…) note
    inner_notes: list[str]  # (責任單位:…) notes in the middle of the text, left in it


def _closing_note(norm: str) -> tuple[int, int] | None:
    """The span of a closing (責任單位:…) note: from its ( to its ), when the text ends with it."""
    end = len(norm.rstrip().rstrip("。.;；,， "))
    if end == 0 or norm[end - 1] != ")":
        return None
    depth = 0
    for i in range(end - 1, -1, -1):
        c = norm[i]
        if c == ")":
            depth += 1
        elif c == "(":
            depth -= 1
            if depth == 0:
                return (i, end) if _vocabulary().line_label.match(norm[i + 1 : end - 1]) else None
    return None


def _labelled(raw: str, norm: str, matches: list[re.Match[str]]) -> list[tuple[str, str, str]]:
    out = []
    for k, m in enumerate(matches):
        end = matches[k + 1].start() if k + 1 < len(matches) else len(raw)
        value = raw[m.end() : end].strip()
        if k + 1 < len(matches):  # the separator before the next label is not part of this value
            value = value.rstrip(";；,，。 ")
        kind, label = _label_kind(m.group(1))
        out.append((kind, label, value))
    return out


def _fields_in(raw: str, norm: str, *, at_start: bool) -> _Fields:
    """Split text into its leading text and its fields: label:value at the start, inline, in a closing note."""
    vocab = _vocabulary()
    trailer_fields: list[tuple[str, str, str]] = []
    note = _closing_note(norm)
    if note:
        a, b = note
        inner_raw, inner_norm = raw[a + 1 : b - 1], norm[a + 1 : b - 1]
        first = vocab.line_label.match(inner_norm)
        inner = [first] if first else []
        inner += [m for m in vocab.inline_label.finditer(inner_norm, first.end() if first else 0)]
        trailer_fields = _labelled(inner_raw, inner_norm, inner)
        raw, norm = raw[:a].rstrip() + raw[b:].strip(), norm[:a].rstrip() + norm[b:].strip()
    matches: list[re.Match[str]] = []
    inner_notes: list[str] = []
    pos = 0
    m = vocab.line_label.match(norm) if at_start else None
    if m:
        matches.append(m)
        pos = m.end()
    for m2 in vocab.inline_label.finditer(norm, pos):
        if m2.start() < pos:
            continue
        if _unbalanced(norm[pos : m2.start()]):
            # A (責任單位:…) note inside the text, not at its end: left in the text, reported.
            close = norm.find(")", m2.end())
            open_ = norm.rfind("(", 0, m2.start() + 1)
            inner_notes.append(raw[open_ : close + 1] if close != -1 else raw[open_:])
            pos = close + 1 if close != -1 else len(norm)
            continue
        matches.append(m2)
        pos = m2.end()
    lead_end = matches[0].start() if matches else len(raw)
    fields = _labelled(raw, norm, matches) + trailer_fields
    return _Fields(raw[:lead_end].strip(), norm[:lead_end].strip(), fields, bool(trailer_fields), inner_notes)
