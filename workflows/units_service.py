"""``duban units template``: the unit directory skeleton a plan gives, merged with what the plan's own
directory and the database already know, written as YAML, CSV or XLSX for the office to fill in."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import TYPE_CHECKING

from duban.store.db import transaction
from duban.workflows.matrix_service import FORMULA_TRIGGERS, _text_row

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from duban.matrix.directory_template import DirectoryTemplate
    from duban.matrix.limits import InputLimits
    from duban.matrix.sources import Source

TEMPLATE_FORMATS = ("yaml", "csv", "xlsx")


def template_format(fmt: str | None, out: Path | None) -> str:
    """The format asked for, else the one --out's suffix names (.yml/.yaml, .csv, .xlsx), else YAML."""
    if fmt:
        return fmt.lower()
    suffix = out.suffix.lower().lstrip(".") if out is not None else ""
    return {"yml": "yaml"}.get(suffix, suffix) if suffix in (*TEMPLATE_FORMATS, "yml") else "yaml"


def unit_template(path: Path, *, directory: Path | None = None, sheet: str | None = None, plan_code: str | None = None,
                  engine: Engine | None = None, limits: InputLimits | None = None) -> DirectoryTemplate:
    """The skeleton for the plan at ``path``: its units as ``directory`` (default: the one the plan
    names) and the database (when an engine is given) know them: the shared units, and the plan's own
    groups when the plan (``plan_code``, else the file's own code or name) is stored. The plan's units
    need not be known."""
    from duban.matrix.directory import UnitDirectory, load_directory
    from duban.matrix.directory_template import directory_template
    from duban.matrix.limits import DEFAULT_LIMITS

    limits = limits or DEFAULT_LIMITS
    src, directory_ref = _plan_source(path, sheet=sheet, plan_code=plan_code, limits=limits)
    if directory is None and directory_ref:
        directory = path.parent / directory_ref
    known = load_directory(directory, limits=limits) if directory is not None else UnitDirectory()
    if engine is not None:
        from duban.store import repository as repo

        code = plan_code or str(src.header.get("code") or "").strip() or path.stem
        with transaction(engine) as session:
            own = repo.load_plan_groups(session).get(code)  # the plan's own groups, once it is stored
            known = (known.merged_with(own) if own is not None else known).merged_with(repo.load_directory_from_store(session))
    return directory_template(src, known)


DOCUMENT_SUFFIXES = (".docx", ".doc", ".txt")


def _plan_source(path: Path, *, sheet: str | None, plan_code: str | None, limits: InputLimits) -> tuple[Source, str | None]:
    """The plan at ``path`` as a source: a plan file (YAML, CSV, XLSX) as read, a plan document (.docx,
    .txt) as ``duban matrix extract`` reads it (what it leaves over is not needed for the units)."""
    from duban.matrix.loaders import read_source, yaml_plan_source

    if path.suffix.lower() not in DOCUMENT_SUFFIXES:
        return read_source(path, sheet=sheet, limits=limits)
    from duban.matrix.sources import yaml_text
    from duban.workflows.matrix_service import extract_document

    extraction = extract_document(path, plan_code=plan_code, limits=limits)
    return yaml_plan_source(yaml_text(extraction.to_yaml(), str(path), limits), path)


def render_template(template: DirectoryTemplate, fmt: str, *, plan_file: str) -> bytes:
    """The skeleton as a directory file: YAML (with the officials), or a directory sheet (CSV, XLSX)
    whose cells a spreadsheet never reads as a formula."""
    from duban.matrix.directory_template import template_rows, template_yaml

    if fmt == "yaml":
        return template_yaml(template, plan_file=plan_file).encode()
    rows = template_rows(template)
    if fmt == "csv":
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerows([[csv_cell(v) for v in row] for row in rows])
        return buf.getvalue().encode("utf-8-sig")  # with a BOM: Excel then opens it as UTF-8
    if fmt == "xlsx":
        from openpyxl import Workbook

        wb = Workbook()
        ws = wb.active
        ws.title = "單位名錄"
        for row in rows:
            _text_row(ws, row)
        out = io.BytesIO()
        wb.save(out)
        return out.getvalue()
    raise ValueError(f"unknown template format {fmt!r}; use yaml, csv or xlsx")


def csv_cell(value: str) -> str:
    """A CSV cell a spreadsheet shows as the text it is: one beginning with = + - @ (or a tab or carriage
    return) would be a formula when opened, so it gets a leading ' as Excel's own text prefix."""
    return "'" + value if value.startswith(FORMULA_TRIGGERS) else value
