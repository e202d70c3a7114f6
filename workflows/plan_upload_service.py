"""A plan uploaded through the console: staged in a private folder, validated, previewed, then imported.

The console's 方案 page calls these, the same services as ``duban matrix validate|import``
(``matrix_service.validate_file`` and ``import_file``): the preview is an import run with ``dry_run``
(the diff computed inside the transaction and rolled back), the confirmation the same import for real,
with the console user as the events' actor. An upload is kept under the data folder's ``uploads/`` in a
folder of its own (0700, a random name, the token the console keeps in the session) until it is
imported or a day old. The file's own name is never a path: only its letters, digits and CJK
characters are kept (the plan code defaults to the file's name, as in the CLI), its suffix must be one
duban reads, and a sheet or Word file must be a zip archive.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import IO, TYPE_CHECKING, Any

from duban.matrix.errors import Problem, Refused

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from duban.config.settings import Settings

PLAN_SUFFIXES = (".xlsx", ".csv", ".yaml", ".yml", ".docx")
UNIT_SUFFIXES = (".yaml", ".yml", ".csv")
ZIPPED = (".xlsx", ".docx")
TOKEN = re.compile(r"^[A-Za-z0-9_-]{20,64}$")
KEEP_FOR = 24 * 3600  # seconds an unconfirmed upload is kept
_UNSAFE = re.compile(r"[^\w.\-（）()]+")
_DOCUMENT_LINE = re.compile(r"#.*?\bline (\d+)")  # an extracted YAML line's comment: the document's line


@dataclass(slots=True)
class Staged:
    """An upload in its folder: the plan file (a .docx already extracted to YAML), the units file, options."""

    token: str
    folder: Path
    plan_file: Path
    original: str
    units_file: Path | None = None
    options: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # what extracting a document left over


def uploads_dir(settings: Settings) -> Path:
    return Path(settings.outbox_dir).parent / "uploads"


def safe_name(name: str, suffixes: tuple[str, ...], what: str) -> str:
    """The upload's file name reduced to a plain one (no folder, no dot first), with a suffix duban reads."""
    base = PureWindowsPath(PurePosixPath(name or "").name).name
    stem, dot, suffix = base.rpartition(".")
    suffix = ("." + suffix.lower()) if dot else ""
    if suffix not in suffixes:
        raise Refused(f"{what} 「{base or '?'}」: not a file duban reads; upload {', '.join(suffixes)}")
    stem = _UNSAFE.sub("_", stem).strip("._")[:80] or "plan"
    return stem + suffix


def _copy(source: IO[bytes], target: Path, limit: int, shown: str) -> None:
    """Copy an upload in chunks into a new private file, refusing it past ``limit`` bytes."""
    import os

    written = 0
    fd = os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    with os.fdopen(fd, "wb") as out:
        while chunk := source.read(1 << 16):
            written += len(chunk)
            if written > limit:
                raise Refused(f"{shown}: larger than the {limit:,} bytes allowed (DUBAN_LIMIT_FILE_BYTES)")
            out.write(chunk)
    if written == 0:
        raise Refused(f"{shown}: the file is empty")
    if target.suffix in ZIPPED:
        with target.open("rb") as f:
            if f.read(4) != b"PK\x03\x04":
                raise Refused(f"{shown}: not an {'Excel' if target.suffix == '.xlsx' else 'Word'} file "
                              f"({target.suffix} saved by Excel, WPS or Word; a .xls/.doc must be saved as {target.suffix})")


def stage(settings: Settings, *, plan: tuple[str, IO[bytes]], units: tuple[str, IO[bytes]] | None,
          options: dict[str, Any]) -> Staged:
    """Keep an upload (and its optional units file) in a new private folder; a bad one leaves nothing."""
    root = uploads_dir(settings)
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    _forget_old(root)
    plan_name = safe_name(plan[0], PLAN_SUFFIXES, "plan file")
    units_name = safe_name(units[0], UNIT_SUFFIXES, "units file") if units else None
    if units_name is not None and units_name == plan_name:
        units_name = "units-" + units_name
    token = secrets.token_urlsafe(24)
    folder = root / token
    folder.mkdir(mode=0o700)
    try:
        limit = settings.limit_file_bytes
        _copy(plan[1], folder / plan_name, limit, plan_name)
        if units is not None and units_name is not None:
            _copy(units[1], folder / units_name, limit, units_name)
        meta = {"original": plan_name, "units": units_name, "options": options}
        (folder / "upload.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
        return load_staged(settings, token)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


def load_staged(settings: Settings, token: str) -> Staged:
    """The upload kept under ``token`` (made by ``stage``), a .docx extracted to its plan YAML."""
    folder = uploads_dir(settings) / token if TOKEN.match(token or "") else None
    if folder is None or not (folder / "upload.json").is_file():
        raise Refused("this upload is no longer kept (imported, or more than a day old): upload the file again")
    meta = json.loads((folder / "upload.json").read_text(encoding="utf-8"))
    units = folder / meta["units"] if meta.get("units") else None
    staged = Staged(token=token, folder=folder, plan_file=folder / meta["original"], original=meta["original"],
                    units_file=units, options=meta.get("options") or {})
    if staged.plan_file.suffix == ".docx":
        _extracted(settings, staged)
    return staged


def _extracted(settings: Settings, staged: Staged) -> None:
    """A Word plan read as `duban matrix extract` reads it, into a YAML plan beside it."""
    from duban.workflows.matrix_service import extract_document

    opts = staged.options
    result = extract_document(staged.plan_file, base_year=opts.get("base_year"), plan_code=opts.get("plan_code") or None,
                              limits=settings.input_limits())
    target = staged.plan_file.with_suffix(".yaml")
    target.write_text(result.to_yaml(directory=staged.units_file.name if staged.units_file else None), encoding="utf-8")
    staged.notes = [(f"line {lo.line}: " if lo.line else "") + f"left over: {lo.reason}" + (f" — {lo.text[:60]}" if lo.text else "")
                    for lo in result.leftovers]
    staged.plan_file = target


def plan_options(settings: Settings, staged: Staged) -> Any:
    from duban.workflows.matrix_service import PlanOptions

    opts = staged.options
    return PlanOptions(directory=staged.units_file, allow_new_units=bool(opts.get("allow_new_units")),
                       plan_code=opts.get("plan_code") or None, base_year=opts.get("base_year"),
                       sheet=opts.get("sheet") or None, limits=settings.input_limits())


def preview(engine: Engine, settings: Settings, staged: Staged, *, now: dt.datetime, user: dict[str, Any]) -> tuple[Any, Any]:
    """What importing the upload would change (a dry run, rolled back), or ``ValidationFailed``."""
    from duban.workflows.matrix_service import import_file

    loaded, result = import_file(engine, staged.plan_file, plan_options(settings, staged), now=now, actor=user["name"],
                                 dry_run=True)
    _check_office(engine, user, loaded, result)
    return loaded, result


def confirm(engine: Engine, settings: Settings, staged: Staged, *, now: dt.datetime, user: dict[str, Any]) -> tuple[Any, Any]:
    """Import the upload for real (validated again: the store may have changed), then forget it."""
    from duban.workflows.matrix_service import import_file

    preview(engine, settings, staged, now=now, user=user)
    loaded, result = import_file(engine, staged.plan_file, plan_options(settings, staged), now=now, actor=user["name"])
    discard(staged)
    return loaded, result


def _check_office(engine: Engine, user: dict[str, Any], loaded: Any, result: Any) -> None:
    """A user of some offices imports only their offices' plans."""
    from duban.workflows.user_service import visible_plans

    if not user.get("offices"):
        return
    if not result.created_plan and result.plan_code not in visible_plans(engine, user):
        raise Refused(f"plan {result.plan_code} is another office's: you may not import it")
    office = loaded.directory.office
    if result.created_plan and (office is None or office.name not in user["offices"]):
        raise Refused(f"the plan's office 「{office.name if office else '?'}」 is not one of yours ({'、'.join(user['offices'])})")


def problem_rows(problems: list[Problem], staged: Staged) -> list[dict[str, Any]]:
    """Each problem placed as the office sees its own file: a sheet's row and column (letter and header,
    "C 牽頭單位"), a Word document's line (the extracted YAML's line comment names it; the YAML is duban's,
    not the office's), a YAML or text file's line and field. ``where`` says which of the three ``line`` is."""
    extracted = staged.original.lower().endswith(".docx")
    yaml_lines = staged.plan_file.read_text(encoding="utf-8").splitlines() if extracted else []
    rows = []
    for p in problems:
        name, line, kind = Path(p.file).name, p.line, p.row_kind
        if extracted and name == staged.plan_file.name:
            name, line, kind = staged.original, _document_line(yaml_lines, p.line), "line"
        rows.append({"file": name, "sheet": p.sheet, "kind": kind, "line": line, "column": p.column or p.field,
                     "field": p.field, "text": p.text, "message": p.message.replace(str(staged.folder) + "/", ""),
                     "hint": p.hint})
    return rows


def _document_line(yaml_lines: list[str], line: int | None) -> int | None:
    """The Word document's line an extracted YAML line came from: its own comment, else the nearest one
    above it within its task (the task's first line names where the task starts); None when none says."""
    if line is None or not 1 <= line <= len(yaml_lines):
        return None
    for number in range(line, 0, -1):
        text = yaml_lines[number - 1]
        if found := _DOCUMENT_LINE.search(text):
            return int(found.group(1))
        if text.lstrip().startswith("- ") or not text.startswith(" "):
            return None  # the task's (or section's) first line, without a comment
    return None


def discard(staged: Staged) -> None:
    shutil.rmtree(staged.folder, ignore_errors=True)


def _forget_old(root: Path) -> None:
    cutoff = time.time() - KEEP_FOR
    for folder in root.iterdir():
        try:
            if folder.is_dir() and folder.stat().st_mtime < cutoff:
                shutil.rmtree(folder, ignore_errors=True)
        except OSError:
            continue
