"""Writing an extraction as the canonical plan YAML, each field followed by its source line as a comment."""

from __future__ import annotations

import json
import re
from typing import Any

from duban.matrix.extract.results import Extraction
from duban.matrix.extract.vocabulary import _HAN

_YAML_PRINTABLE = re.compile("[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]|[\x85\u2028\u2029\ufeff]")
_PLAIN_WORD = re.compile(r"^(?!(?:y|n|yes|no|on|off|true|false|null)$)[A-Za-z][A-Za-z_]*$", re.I)
_PLAIN = re.compile(rf"^[{_HAN}“‘《(（][^\s:#,\[\]{{}}'\"&*!|>%@`]*$")


def _q(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    s = str(value)
    if s and (_PLAIN.match(s) or _PLAIN_WORD.match(s)) and not s.endswith(("?", "-")):
        return s
    s = s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    s = _YAML_PRINTABLE.sub(lambda m: f"\\u{ord(m.group()):04x}" if ord(m.group()) <= 0xFFFF else f"\\U{ord(m.group()):08x}", s)
    return f'"{s}"'


def _flow(values: list[Any]) -> str:
    return "[" + ", ".join(_q(v) for v in values) + "]"


def _comment(text: str) -> str:
    text = text.replace("\n", " ")
    return f"  # {text}" if text else ""


def _write_yaml(ex: Extraction, directory: str | None) -> str:
    out: list[str] = []
    plan = ex.plan
    header = plan["plan"]
    src = header.get("source", "")
    out.append(f"# Extracted by `duban matrix extract`{' from ' + src if src else ''} — review it, then "
               "`duban matrix validate` and `duban matrix import`.")
    if ex.leftovers:
        out.append(f"# {len(ex.leftovers)} line(s) could not be placed: they are listed at the end of this file.")
    else:
        out.append("# Every line of the document was placed.")
    for note in ex.notes:
        where = f"line {note.line}: " if note.line else ""
        out.append(f"# note: {where}{note.text}".replace("\n", " "))
    out.append("plan:")
    for key in ("code", "title", "issuer", "base_year", "start", "end", "timezone", "source", "default_unit"):
        if key in header and header[key] is not None:
            value = header[key]
            shown = value if key in ("base_year", "start", "end", "timezone") else _q(value)
            if key == "code":
                shown = json.dumps(str(value), ensure_ascii=False)
            out.append(f"  {key}: {shown}{_comment(ex.header_comments.get(key, ''))}")
    if directory:
        out.append(f"directory: {_q(directory)}")
    out.append("tasks:" if plan["tasks"] else "tasks: []")
    comments = ex.field_comments.get("tasks", [])
    for i, task in enumerate(plan["tasks"]):
        c = comments[i] if i < len(comments) else {}
        out.append("")
        first = True
        for key, value in task.items():
            prefix = "  - " if first else "    "
            first = False
            if key == "code":
                shown = json.dumps(value, ensure_ascii=False)
            elif isinstance(value, list):
                shown = _flow(value)
            else:
                shown = _q(value)
            out.append(f"{prefix}{key}: {shown}{_comment(c.get(key, ''))}")
    out.append("stages:" if plan["stages"] else "stages: []")
    comments = ex.field_comments.get("stages", [])
    for i, stage in enumerate(plan["stages"]):
        c = comments[i] if i < len(comments) else {}
        first = True
        for key, value in stage.items():
            prefix = "  - " if first else "    "
            first = False
            shown = _flow(value) if isinstance(value, list) else _q(value)
            out.append(f"{prefix}{key}: {shown}{_comment(c.get(key, ''))}")
    if ex.leftovers:
        out.append("")
        out.append("# Left over — not placed in the matrix; review each line of the document:")
        for lo in ex.leftovers:
            where = f"line {lo.line}" if lo.line else "document"
            text = f" — {lo.text}" if lo.text else ""
            out.append(f"#   {where}: {lo.reason}{text}".replace("\n", " "))
    return "\n".join(out) + "\n"
