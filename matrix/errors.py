"""The one error hierarchy of duban: every failure a user can cause is one of these.

    DubanError
    ├── MatrixError                 a plan or directory cannot be read as data
    │   ├── DeadlineError           a 時間要求 text that the deadline language does not cover
    │   ├── SourceError             a file that cannot be read at all (missing, empty, encoding, format)
    │   └── ValidationFailed        one or more Problems found while validating a plan (all of them)
    ├── StoreError                  the database refused or is not at the expected schema
    │   └── NotFound                a plan, task or unit named on the command line does not exist
    ├── Refused                     a request the supervision rules refuse (unit not responsible,
    │                               a report dated after --as-of, a late extension request …)
    ├── ConfigError                 settings, policy or schedule files are wrong
    └── DeliveryError               mail could not be handed over

A user never sees a traceback for any of these: the CLI prints ``str(error)`` (which names the file,
line or row, field and the offending text) and exits with status 2.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any

QUOTE_CHARS = 80  # a refusal quotes at most this many characters of the offending text
PROBLEMS_LISTED = 100  # the message of ValidationFailed lists this many problems, then how many more
REASON_CHARS = 240  # a reason written by duban is shorter; one that quotes a text too long is cut here
PATH_CHARS = 240  # a refusal shows a path whole up to this length (real paths are often over 80 characters)
SOURCE_REASON_CHARS = 1_000  # a file's refusal may list what was tried (encodings …); longer is cut here
# Shown escaped, never written raw to a terminal or a log line: C0/C1 controls, DEL, line and
# paragraph separators, lone surrogates and the non-characters U+FFFE/U+FFFF.
_INVISIBLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff\ufffe\uffff]")


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    return {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(char) or f"\\u{ord(char):04x}"


def shorten(text: Any, limit: int = QUOTE_CHARS) -> str:
    """``text`` as one printable line of at most ``limit`` characters (then "…"): control characters
    and line breaks are shown escaped (``\\n``, ``\\u0000``)."""
    text = "" if text is None else str(text)
    cut = text[:limit]
    shown = _INVISIBLE.sub(_escape, cut)
    return shown + "…" if len(text) > limit else shown


def quote(text: Any, limit: int = QUOTE_CHARS) -> str:
    """How every refusal quotes offending text: 「區不存在局」, or 「aaaa…」(5,242,880 characters) when longer
    than ``limit``, so a 5 MB cell gives a short message, not a 5 MB one."""
    text = "" if text is None else str(text)
    if len(text) <= limit:
        return f"「{shorten(text, limit)}」"
    return f"「{shorten(text, limit)}」({len(text):,} characters)"


def shorten_path(path: Any, limit: int = PATH_CHARS) -> str:
    """A file name (perhaps with ``:line`` or ``row N, field F``) as a refusal shows it: whole when at
    most ``limit`` characters, else its start and its end (where the file name and line are) around
    "…", and its length — a 5,000-character ``directory:`` path gives a short message, not a 5 KB one."""
    path = "" if path is None else str(path)
    if len(path) <= limit:
        return shorten(path, limit)
    half = limit // 2
    return f"{shorten(path[:half], half)}…{shorten(path[-(limit - half):], limit)} ({len(path):,} characters)"


class DubanError(Exception):
    """Base of every error duban raises on purpose."""


class MatrixError(DubanError):
    """A plan, a unit directory or one of their values is wrong."""


class DeadlineError(MatrixError):
    """A deadline text cannot be turned into dates. Quotes the text and, when known, its place."""

    def __init__(self, text: str, reason: str, *, where: str | None = None) -> None:
        self.text = text
        self.reason = reason
        self.where = where
        place = f"{shorten_path(where)}: " if where else ""
        super().__init__(f"{place}cannot read deadline {quote(text)}: {shorten(reason, REASON_CHARS)}")


class SourceError(MatrixError):
    """A file that cannot be read at all: missing, empty, undecodable or of an unknown format."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        # Both are shortened for the message: a path quoted whole could be any length, and so could
        # a reason that quotes a library's error text.
        super().__init__(f"{shorten_path(path)}: {shorten(reason, SOURCE_REASON_CHARS)}")


class LimitExceeded(SourceError):
    """An input over one of the input limits (``matrix.limits.InputLimits``): the message names the
    place, the size found, the limit and the setting that raises it (``DUBAN_LIMIT_…``)."""

    def __init__(self, path: str, reason: str, *, setting: str) -> None:
        self.setting = setting
        super().__init__(path, reason)


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a plan, located as precisely as the source allows."""

    file: str
    line: int | None  # line in a YAML/text file, or row in a sheet (1-based, as Excel shows it)
    field: str
    text: str
    message: str
    hint: str = ""
    row_kind: str = "line"  # "line" for text formats, "row" for CSV/XLSX
    length: int = dataclasses.field(default=0, compare=False)  # the offending text's length before it was shortened
    sheet: str = ""  # the worksheet, when the file's tasks come from several: county.xlsx [任務分解表] row 5
    # A sheet's column of ``field`` as the office sees it, letter and header: "C 牽頭單位" ("" when unknown).
    column: str = dataclasses.field(default="", compare=False)

    def __post_init__(self) -> None:
        # The text is kept shortened (≤ QUOTE_CHARS and "…"): a 5 MB cell must not make a 5 MB message.
        text = "" if self.text is None else str(self.text)
        object.__setattr__(self, "length", len(text))
        if len(text) > QUOTE_CHARS or _INVISIBLE.search(text):
            object.__setattr__(self, "text", shorten(text))
        if len(self.message) > REASON_CHARS:  # e.g. a parser's reason that quotes the whole text
            object.__setattr__(self, "message", shorten(self.message, REASON_CHARS))

    @property
    def where(self) -> str:
        """The file, its sheet when there are several, and the line or row: county.xlsx [任務分解表] row 5."""
        where = f"{self.file} [{self.sheet}]" if self.sheet else self.file
        if self.line is not None:
            where += f":{self.line}" if self.row_kind == "line" else f" row {self.line}"
        return where

    def __str__(self) -> str:
        where = shorten_path(self.where)
        out = f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        if self.text:
            out += f" — 「{self.text}」"
            if self.length > QUOTE_CHARS:
                out += f"({self.length:,} characters)"
        if self.hint:
            out += f" (hint: {self.hint})"
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            self.row_kind: self.line,
            "field": self.field,
            "text": self.text,
            "message": self.message,
            "hint": self.hint,
        } | ({"sheet": self.sheet} if self.sheet else {})


class ValidationFailed(MatrixError):
    """Validation found problems; all of them are in ``problems``, none is left out."""

    def __init__(self, problems: list[Problem], *, warnings: list[str] | tuple[str, ...] = (),
                 readable_tasks: int | None = None, tasks: int | None = None) -> None:
        self.problems = list(problems)
        self.warnings = list(warnings)  # what the file's reading said besides (a column not understood …)
        # When every problem is a task's: how many of the plan's ``tasks`` are readable (what
        # ``import --skip-invalid`` would import); None when a problem is the plan's own.
        self.readable_tasks = readable_tasks
        self.tasks = tasks
        n = len(self.problems)
        lines = "\n".join(f"  {p}" for p in self.problems[:PROBLEMS_LISTED])
        if n > PROBLEMS_LISTED:  # all of them stay in .problems (the CLI's table and --json list every one)
            lines += f"\n  … and {n - PROBLEMS_LISTED:,} more"
        super().__init__(f"{n:,} problem{'s' if n != 1 else ''} found, nothing was changed:\n{lines}")


class StoreError(DubanError):
    """The database refused an operation or is at an unexpected schema."""


class NotFound(StoreError):
    """Something named by the user does not exist in the store."""


class Refused(DubanError):
    """A well-formed request that the rules refuse; says which rule and the offending value."""


class ConfigError(DubanError):
    """A settings, policy or schedule file is wrong."""


class DeliveryError(DubanError):
    """Mail could not be handed over to the SMTP server or the outbox folder."""
