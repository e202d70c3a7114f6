"""Bad input is refused cleanly: file, line/row, field, a shortened quote of the text and the limit with
the setting that raises it; no traceback, no hang, no memory blow-up (issue 10: defects 5, 7, 9, 14, 17)."""

from __future__ import annotations

from pathlib import Path

import pytest

from duban.matrix.errors import Problem, SourceError, ValidationFailed, quote
from duban.matrix.loaders import load_plan

DIRECTORY = """\
office:
  name: 區扶貧開發領導小組辦公室
  emails: [office@example.org]
units:
  - name: 區扶貧辦
    emails: [fupin@example.org]
  - name: 區交委
    emails: [jiaowei@example.org]
"""


def plan_yaml(lead_unit: str = "區扶貧辦", deadline: str = "2015年底", extra: str = "") -> str:
    return (
        "plan: {code: demo, title: 演示方案, base_year: 2015}\n"
        "directory: units.yaml\n"
        f"{extra}"
        "tasks:\n"
        '  - code: "1"\n'
        "    title: 扶貧對象精準\n"
        f"    lead_unit: {lead_unit}\n"
        f"    deadline: {deadline}\n"
    )


def write(path: Path, text: str | bytes) -> Path:
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------------------------
# 14: refusals quote at most 80 characters, with an ellipsis and the length


def test_quote_shortens_long_text_and_shows_control_characters() -> None:
    assert quote("區不存在局") == "「區不存在局」"
    assert quote("a" * 5_242_880) == "「" + "a" * 80 + "…」(5,242,880 characters)"
    assert quote("sw@example.org\r\nBcc: x\x00") == "「sw@example.org\\r\\nBcc: x\\u0000」"


def test_a_problem_keeps_a_short_quote_of_a_long_text() -> None:
    problem = Problem("plan.csv", 12, "title", "長" * 30_000, "unknown unit", row_kind="row")
    assert problem.text == "長" * 80 + "…" and problem.length == 30_000
    assert str(problem) == "plan.csv row 12: title: unknown unit — 「" + "長" * 80 + "…」(30,000 characters)"


@pytest.mark.parametrize("directory", ["d" * 5_000, "x/" * 3_000 + "units.yaml", "../" * 2_000 + "units.yaml"])
def test_a_refusal_quotes_a_long_path_short_with_its_length(tmp_path: Path, directory: str) -> None:
    """Before: a SourceError quoted a 5,000-character directory: path whole (a 5,074-character message)."""
    plan = write(tmp_path / "plan.yaml", plan_yaml().replace("directory: units.yaml", f"directory: {directory}"))
    with pytest.raises(SourceError) as info:
        load_plan(plan)
    message = str(info.value)
    assert len(message) < 300, message
    assert "…" in message and f"({len(str(tmp_path / directory)):,} characters)" in message


def test_a_problem_and_a_deadline_error_shorten_a_long_file_name() -> None:
    from duban.matrix.errors import DeadlineError

    name = "計" * 500 + ".yaml"
    problem = Problem(name, 3, "title", "x", "unknown unit")
    assert str(problem).startswith("計" * 120 + "…" + "計" * 113 + ".yaml:3 (507 characters): title: ")
    assert len(str(DeadlineError("盡快", "not a date", where=f"{name}:3 deadline"))) < 400


def test_a_long_unknown_unit_and_deadline_give_a_short_message(tmp_path: Path) -> None:
    """Before: each refusal quoted the whole text (a 5 MB cell gave an 11.6 MB message)."""
    write(tmp_path / "units.yaml", DIRECTORY)
    plan = write(tmp_path / "plan.yaml", plan_yaml(lead_unit="區" * 30_000, deadline="盡快" * 15_000))
    with pytest.raises(ValidationFailed) as info:
        load_plan(plan)
    message = str(info.value)
    assert len(message) < 1_500, len(message)
    assert "(30,000 characters)" in message
    assert all(len(p.text) <= 81 for p in info.value.problems)


# --------------------------------------------------------------------------------------------
# Running a loader where a defect would hang or eat memory: a child process with a time limit and
# an address-space cap, so the test fails (not the machine) on the code before the fix.

ROOT = Path(__file__).resolve().parents[2]
CHILD = """\
import resource, sys, time
resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
from duban.matrix.errors import DubanError
from duban.matrix.loaders import load_plan
started = time.monotonic()
try:
    load_plan(sys.argv[1], allow_new_units=True, base_year=2015)
except DubanError as error:
    print("REFUSED", round(time.monotonic() - started, 2), error)
else:
    print("LOADED", round(time.monotonic() - started, 2))
"""


def load_in_child(path: Path, timeout: float = 30) -> tuple[str, float, str]:
    """("REFUSED" or "LOADED", seconds, message) of load_plan(path) in a child; fails on a traceback,
    a crash or when it takes longer than ``timeout``."""
    import subprocess
    import sys

    try:
        proc = subprocess.run([sys.executable, "-c", CHILD, str(path)], cwd=ROOT, capture_output=True, text=True,
                              timeout=timeout, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    except subprocess.TimeoutExpired:
        pytest.fail(f"loading {path.name} took more than {timeout} s")
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    outcome, seconds, *message = proc.stdout.strip().split(" ", 2)
    return outcome, float(seconds), (message[0] if message else "")


# --------------------------------------------------------------------------------------------
# 5: a tiny .xlsx with one cell at XFD1048576, a lying dimension, a merged-range bomb, a zip bomb

HEADER = ["序號", "任務", "牽頭單位", "時間要求"]


def workbook(path: Path, *, far_cell: str | None = None, merge: str | None = None) -> Path:
    import openpyxl

    book = openpyxl.Workbook()
    ws = book.active
    ws.append(HEADER)
    ws.append(["1", "扶貧對象精準", "區扶貧辦", "2015年底"])
    ws.append(["2", "交通建設", "區交委", "2016年底"])
    if far_cell:
        ws[far_cell] = "x"
    if merge:
        ws.merge_cells(merge)
    book.save(path)
    return path


def rewrite_member(path: Path, name: str, change) -> None:
    """Rewrite one member of a zip archive (e.g. the sheet XML) with ``change(bytes) -> bytes``."""
    import zipfile

    with zipfile.ZipFile(path) as old:
        members = [(info, old.read(info)) for info in old.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as new:
        for info, data in members:
            new.writestr(info.filename, change(data) if info.filename == name else data, zipfile.ZIP_DEFLATED)


SHEET = "xl/worksheets/sheet1.xml"


def test_an_xlsx_with_a_value_at_XFD1048576_is_refused_at_once(tmp_path: Path) -> None:
    """Before: the loader walked 17 billion cells (3.3 GB after 100 s)."""
    path = workbook(tmp_path / "bomb.xlsx", far_cell="XFD1048576")
    assert path.stat().st_size < 10_000
    outcome, seconds, message = load_in_child(path)
    assert outcome == "REFUSED" and seconds < 5, message
    assert "1,048,576 rows (A1:XFD1048576)" in message and "DUBAN_LIMIT_ROWS" in message


def test_an_xlsx_whose_dimension_lies_is_walked_only_where_it_has_cells(tmp_path: Path) -> None:
    path = workbook(tmp_path / "liar.xlsx", far_cell="XFD1048576")
    rewrite_member(path, SHEET, lambda xml: xml.replace(b'ref="A1:XFD1048576"', b'ref="A1:D3"'))
    outcome, seconds, message = load_in_child(path)
    assert outcome == "REFUSED" and seconds < 5, message
    assert "cell XFD1048576" in message and "a value in row 1,048,576 exceeds the limit of 100,000" in message


def test_an_xlsx_with_a_value_in_column_300_is_refused_naming_the_column_limit(tmp_path: Path) -> None:
    path = workbook(tmp_path / "wide.xlsx", far_cell="KN2")  # column 300
    rewrite_member(path, SHEET, lambda xml: xml.replace(b'ref="A1:KN3"', b'ref="A1:D3"'))
    outcome, _seconds, message = load_in_child(path)
    assert outcome == "REFUSED" and "cell KN2" in message and "DUBAN_LIMIT_COLUMNS" in message, message


def test_an_xlsx_with_a_merged_range_to_the_last_cell_is_refused_before_it_is_built(tmp_path: Path) -> None:
    """openpyxl makes one object per merged cell: A5:XFD1048576 would be 17 billion of them."""
    path = workbook(tmp_path / "merged.xlsx", merge="A5:B6")
    rewrite_member(path, SHEET, lambda xml: xml.replace(b'ref="A5:B6"', b'ref="A5:XFD1048576"'))
    outcome, seconds, message = load_in_child(path)
    assert outcome == "REFUSED" and seconds < 5, message
    assert "merged range" in message and "DUBAN_LIMIT_ROWS" in message


def test_an_xlsx_with_many_merged_cells_within_the_limits_is_refused(tmp_path: Path) -> None:
    path = workbook(tmp_path / "merged.xlsx", merge="A5:B6")
    rewrite_member(path, SHEET, lambda xml: xml.replace(b'ref="A5:B6"', b'ref="A5:GR99999"'))  # 20 million cells
    outcome, seconds, message = load_in_child(path)
    assert outcome == "REFUSED" and seconds < 5, message
    assert "merged ranges covering more than 1,000,000 cells" in message and "DUBAN_LIMIT_ROWS" in message


def test_an_xlsx_that_unpacks_beyond_the_file_limit_is_refused(tmp_path: Path) -> None:
    """A zip bomb: 60 MB of padding in the sheet XML packs into a few hundred KB."""
    path = workbook(tmp_path / "zipbomb.xlsx")
    rewrite_member(path, SHEET, lambda xml: xml.replace(b"</worksheet>", b" " * 60_000_000 + b"</worksheet>"))
    assert path.stat().st_size < 1_000_000
    outcome, _seconds, message = load_in_child(path)
    assert outcome == "REFUSED", message
    assert "unpacks to 60,0" in message and "DUBAN_LIMIT_FILE_BYTES" in message


def test_an_xlsx_within_the_limits_still_fills_merged_cells_down(tmp_path: Path) -> None:
    import openpyxl

    from duban.matrix.sheets import sheet_rows

    path = tmp_path / "plan.xlsx"
    book = openpyxl.Workbook()
    ws = book.active
    ws.append(["序號", "任務", "牽頭領導", "牽頭單位", "時間要求"])
    ws.append(["1", "甲", "林光(副區長)", "區扶貧辦", "2015年底"])
    ws.append(["2", "乙", None, "區交委", "2016年底"])
    ws.merge_cells("C2:C3")
    ws.cell(row=40, column=9).font = openpyxl.styles.Font(bold=True)  # formatted, empty: not a row of the plan
    book.save(path)
    rows = list(sheet_rows(path))
    assert rows[1] == (2, ["1", "甲", "林光(副區長)", "區扶貧辦", "2015年底"])
    assert rows[2] == (3, ["2", "乙", "林光(副區長)", "區交委", "2016年底"])
    assert len(rows) == 3


def test_sheet_rows_and_columns_are_bounded_by_the_limits(tmp_path: Path) -> None:
    from duban.matrix.errors import LimitExceeded
    from duban.matrix.limits import InputLimits
    from duban.matrix.sheets import load_task_sheet

    body = "序號,任務,牽頭單位,時間要求\n" + "".join(f"{i},任務{i},區交委,2015年底\n" for i in range(1, 10))
    path = write(tmp_path / "plan.csv", body)
    with pytest.raises(LimitExceeded) as info:
        load_task_sheet(path, limits=InputLimits(rows=5))
    assert str(info.value) == (f"{path} row 6: a sheet of more than 5 rows exceeds the limit of 5 (DUBAN_LIMIT_ROWS)")
    wide = write(tmp_path / "wide.csv", "序號,任務,牽頭單位,時間要求\n1,甲,區交委,2015年底" + ",x" * 300 + "\n")
    with pytest.raises(LimitExceeded, match=r"row 2: a row of 304 columns exceeds the limit of 200 \(DUBAN_LIMIT_COLUMNS\)"):
        load_task_sheet(wide)
    trailing = write(tmp_path / "trailing.csv", "序號,任務,牽頭單位,時間要求" + "," * 300 + "\n1,甲,區交委,2015年底\n")
    assert len(load_task_sheet(trailing).tasks) == 1  # empty trailing cells are no columns


# --------------------------------------------------------------------------------------------
# 9: `directory:` may not point at a device, a pipe or a folder; every input file is size-capped


def test_a_plan_whose_directory_is_dev_zero_is_refused_at_once(tmp_path: Path) -> None:
    """Before: reading /dev/zero grew until the OOM killer."""
    plan = write(tmp_path / "plan.yaml", plan_yaml().replace("directory: units.yaml", "directory: /dev/zero"))
    outcome, seconds, message = load_in_child(plan)
    assert outcome == "REFUSED" and seconds < 5, message
    assert message == "/dev/zero: is not a regular file (a device, pipe or socket); give the path of a file"


def test_a_plan_whose_directory_is_a_pipe_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    import os

    os.mkfifo(tmp_path / "units.yaml")
    plan = write(tmp_path / "plan.yaml", plan_yaml())
    outcome, seconds, message = load_in_child(plan, timeout=15)
    assert outcome == "REFUSED" and seconds < 5 and "is not a regular file" in message, message


def test_the_directory_is_found_relative_to_the_plan_file_not_the_working_folder(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "plans").mkdir()
    write(tmp_path / "plans" / "units.yaml", DIRECTORY)
    write(tmp_path / "plans" / "plan.yaml", plan_yaml())
    monkeypatch.chdir(tmp_path)
    assert load_plan(Path("plans/plan.yaml")).plan.tasks[0].lead_unit == "區扶貧辦"
    folder = write(tmp_path / "plans" / "p2.yaml", plan_yaml().replace("directory: units.yaml", "directory: ."))
    with pytest.raises(SourceError, match="is a folder, not a file"):
        load_plan(folder)
    listed = write(tmp_path / "plans" / "p3.yaml", plan_yaml().replace("directory: units.yaml", "directory: [a, b]"))
    with pytest.raises(SourceError, match=r"p3.yaml:2: directory: is the path of one unit directory file"):
        load_plan(listed)


@pytest.mark.parametrize("name", ["plan.yaml", "units.yaml", "plan.csv", "plan.xlsx", "plan.docx", "plan.txt"])
def test_every_input_file_over_the_file_limit_is_refused_before_it_is_read(tmp_path: Path, name: str) -> None:
    from duban.matrix.directory import load_directory
    from duban.matrix.errors import LimitExceeded
    from duban.matrix.extract import read_document
    from duban.matrix.limits import InputLimits

    limits = InputLimits(file_bytes=1_000)
    big = tmp_path / name
    big.write_bytes(b"x" * 1_001)
    with pytest.raises(LimitExceeded) as info:
        if name.endswith((".docx", ".txt")):
            read_document(big, limits)
        elif name == "units.yaml":
            load_directory(big, limits=limits)
        else:
            load_plan(big, limits=limits)
    assert str(info.value) == f"{big}: a file of 1,001 bytes exceeds the limit of 1,000 (DUBAN_LIMIT_FILE_BYTES)"
    assert info.value.setting == "DUBAN_LIMIT_FILE_BYTES"


# --------------------------------------------------------------------------------------------
# 7: tracebacks instead of file:line messages — huge cells, NULs, corrupt workbooks and documents


def test_a_csv_cell_over_131072_characters_is_refused_naming_row_field_and_limit(tmp_path: Path) -> None:
    """Before: the csv module's own field limit (131,072) raised _csv.Error, a traceback."""
    from duban.matrix.errors import LimitExceeded

    target = "甲" * 140_000
    path = write(tmp_path / "plan.csv", f"序號,任務,目標要求,牽頭單位,時間要求\n1,扶貧,{target},區扶貧辦,2015年底\n")
    with pytest.raises(LimitExceeded) as info:
        load_plan(path, allow_new_units=True)
    assert str(info.value) == (f"{path} row 2, field 目標要求: a cell of 140,000 characters exceeds the limit of "
                               f"32,767 (DUBAN_LIMIT_CELL_CHARS) — 「{'甲' * 20}…」")


def test_a_cell_within_the_csv_modules_limit_but_over_ours_is_refused_too(tmp_path: Path) -> None:
    from duban.matrix.errors import LimitExceeded

    path = write(tmp_path / "plan.csv", f"序號,任務,牽頭單位,時間要求\n1,{'乙' * 40_000},區扶貧辦,2015年底\n")
    with pytest.raises(LimitExceeded, match=r"row 2, field 任務: a cell of 40,000 characters"):
        load_plan(path, allow_new_units=True)


def test_a_control_character_in_a_csv_cell_is_refused_with_row_and_field(tmp_path: Path) -> None:
    path = write(tmp_path / "plan.csv", "序號,任務,牽頭單位,時間要求\n1,扶貧\x00對象,區扶貧辦,2015年底\n")
    with pytest.raises(SourceError) as info:
        load_plan(path, allow_new_units=True)
    assert str(info.value).startswith(f"{path} row 2, field 任務: control character U+0000 at character 3 of "
                                      "「扶貧\\u0000對象」")


@pytest.mark.parametrize("text, where, what", [
    ('plan: {code: demo}\ntasks:\n  - title: "扶貧\x00"\n', ":3", "control character U+0000"),
    ("plan: {code: demo}\ntasks:\n  - title: 扶\x07貧\n", ":3", "control character U+0007"),
    ('plan: {code: demo}\ntasks:\n  - title: "扶貧\\u0000"\n', ":3, field title", "control character U+0000"),
    ('plan: {code: demo}\ntasks:\n  - title: "\\x85"\n', ":3, field title", "control character U+0085"),
])
def test_control_characters_in_yaml_are_refused_at_their_line(tmp_path: Path, text: str, where: str, what: str) -> None:
    """Before: a NUL gave PyYAML's ReaderError, a traceback."""
    path = write(tmp_path / "plan.yaml", text)
    with pytest.raises(SourceError) as info:
        load_plan(path)
    assert str(info.value).startswith(f"{path}{where}: {what}"), str(info.value)


BILLION_LAUGHS = """\
plan: {code: lol, base_year: 2015}
tasks:
  - code: "1"
    title: lol
    lead_unit: 區交委
    deadline: 2015年底
    note:
      a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
      b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
      c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
      d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
      e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
      f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
      g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
      h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]
    supporting_units: *h
"""


def test_a_billion_laughs_alias_bomb_is_refused_fast_without_expanding_it(tmp_path: Path) -> None:
    """63 alias uses (under the limit of 100) that stand for 43 million units: refused on the count of
    values they stand for, as they are read. Before: splitting the supporting units walked them all."""
    path = write(tmp_path / "plan.yaml", BILLION_LAUGHS)
    outcome, seconds, message = load_in_child(path)
    assert outcome == "REFUSED" and seconds < 2, message
    assert ":13: aliases standing for" in message and "DUBAN_LIMIT_YAML_ALIASES" in message


def test_yaml_alias_uses_depth_values_and_self_reference_are_limited(tmp_path: Path) -> None:
    from duban.matrix.errors import LimitExceeded
    from duban.matrix.limits import InputLimits
    from duban.matrix.sources import load_yaml

    aliases = write(tmp_path / "a.yaml", "x: &x 1\ny: [" + ", ".join(["*x"] * 101) + "]\n")
    with pytest.raises(LimitExceeded, match=r"a.yaml:2: using aliases 101 times \(here \*x\) exceeds the limit of 100 "
                                            r"\(DUBAN_LIMIT_YAML_ALIASES\)"):
        load_yaml(aliases)
    assert load_yaml(aliases, limits=InputLimits(yaml_aliases=101))["y"][100] == "1"
    deep = write(tmp_path / "d.yaml", "x: " + "[" * 60 + "]" * 60 + "\n")
    with pytest.raises(LimitExceeded, match=r"d.yaml:1: nesting 51 levels deep exceeds the limit of 50 \(DUBAN_LIMIT_YAML_DEPTH\)"):
        load_yaml(deep)
    very_deep = write(tmp_path / "dd.yaml", "[" * 1_000_000 + "]" * 1_000_000)
    with pytest.raises(SourceError, match="dd.yaml:1: .*(DUBAN_LIMIT_YAML_DEPTH|maximum nesting depth)"):
        load_yaml(very_deep)  # libyaml's own cap (1,000) may come first
    long = write(tmp_path / "l.yaml", "tasks:\n  - title: " + "長" * 40_000 + "\n")
    with pytest.raises(LimitExceeded, match=r"l.yaml:2, field title: a value of 40,000 characters exceeds the limit "
                                            r"of 32,767 \(DUBAN_LIMIT_CELL_CHARS\)"):
        load_yaml(long)
    selfish = write(tmp_path / "s.yaml", "x: &x [1, *x]\n")
    with pytest.raises(SourceError, match=r"s.yaml:1: the alias \*x is used inside its own anchor"):
        load_yaml(selfish)
    many = write(tmp_path / "m.yaml", "x:\n" + "  - 1\n" * 12)
    with pytest.raises(LimitExceeded, match=r"m.yaml:12: a list of more than 10 entries exceeds the limit of 10 \(DUBAN_LIMIT_ROWS\)"):
        load_yaml(many, limits=InputLimits(rows=10))


def damage(path: Path, name: str) -> None:
    """Flip bytes in the middle of one member's compressed data (zlib.error or a bad CRC when read)."""
    import zipfile

    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(name)
    data = bytearray(path.read_bytes())
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    for i in range(start + 10, start + min(info.compress_size, 60)):
        data[i] ^= 0x5A
    path.write_bytes(bytes(data))


def docx_file(path: Path) -> Path:
    import docx

    document = docx.Document()
    for line in ("區扶貧攻堅實施方案", "一、扶貧對象精準", "牽頭單位：區扶貧辦", "時間要求：2015年底"):
        document.add_paragraph(line)
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text = "甲"
    document.save(path)
    return path


@pytest.mark.parametrize("kind", ["xlsx", "docx"])
@pytest.mark.parametrize("how", ["truncated", "damaged", "no content types", "garbage"])
def test_a_corrupt_workbook_or_document_is_refused_naming_the_file(tmp_path: Path, kind: str, how: str) -> None:
    """Before: zlib.error (.xlsx) and OSError/KeyError (.docx) came out as tracebacks."""
    from duban.matrix.extract import read_document

    path = workbook(tmp_path / "plan.xlsx") if kind == "xlsx" else docx_file(tmp_path / "plan.docx")
    member = SHEET if kind == "xlsx" else "word/document.xml"
    if how == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size * 2 // 3])
    elif how == "damaged":
        damage(path, member)
    elif how == "no content types":
        rewrite_member(path, "[Content_Types].xml", lambda xml: b"<Types/>")
    else:
        import random

        path.write_bytes(b"PK\x03\x04" + random.Random(5).randbytes(3000))
    with pytest.raises(SourceError) as info:
        load_plan(path, allow_new_units=True) if kind == "xlsx" else read_document(path)
    assert str(info.value).startswith(f"{path}: "), str(info.value)
    assert len(str(info.value)) < 400


def test_extract_drops_control_characters_so_its_output_passes_validate(tmp_path: Path) -> None:
    """Before: NULs in a .txt went through extract into the YAML, which validate then refused."""
    from duban.matrix.extract import extract, read_document
    from duban.matrix.sources import load_yaml

    source = write(tmp_path / "plan.txt", "區扶貧攻堅實施方案\n一、扶貧\x00對象\x01精準\x0b\n牽頭單位：區扶貧辦\x7f\n"
                   "時間要求：2015年底\x85\n")
    text, _lines = read_document(source)
    result = extract(text, source=str(source), base_year=2015)
    out = write(tmp_path / "plan.yaml", result.to_yaml())
    assert "\\u00" not in out.read_text(encoding="utf-8")
    data = load_yaml(out)
    assert data["tasks"][0]["title"] == "扶貧對象精準"


@pytest.mark.parametrize("suffix", [".yaml", ".csv", ".xlsx"])
def test_binary_garbage_truncation_and_bit_flips_give_only_duban_refusals(tmp_path: Path, suffix: str) -> None:
    """A small fuzz run in the test suite: each mutated file is accepted or refused, never a traceback."""
    import random

    from duban.matrix.errors import DubanError

    write(tmp_path / "units.yaml", DIRECTORY)
    if suffix == ".yaml":
        seed = plan_yaml().encode()
    elif suffix == ".csv":
        seed = "序號,任務,牽頭單位,時間要求\n1,扶貧對象精準,區扶貧辦,2015年底\n2,交通,區交委,2016年底\n".encode("gb18030")
    else:
        seed = workbook(tmp_path / "seed.xlsx").read_bytes()
    rng = random.Random(20151204)
    for case in range(60):
        data = bytearray(seed)
        mode = case % 4
        if mode == 0:
            data = data[: rng.randrange(len(data))]
        elif mode == 1:
            for _ in range(rng.randint(1, 8)):
                data[rng.randrange(len(data))] = rng.randrange(256)
        elif mode == 2:
            data = bytearray(rng.randbytes(rng.randint(1, 2000)))
        else:
            at = rng.randrange(len(data))
            data[at:at] = rng.choice([b"\x00", b"&a [*a]", b"\xff\xfe", b"'", b'"', b"\r", b"{", b"- ", b"*x"])
        path = tmp_path / f"case{case}{suffix}"
        path.write_bytes(bytes(data))
        try:
            load_plan(path, allow_new_units=True, base_year=2015)
        except DubanError as error:
            assert len(str(error)) < 5_000


# --------------------------------------------------------------------------------------------
# 17: addresses are checked on import (email-validator, syntax only), never split at a line break


def test_an_address_with_a_line_break_is_refused_not_split_into_two(tmp_path: Path) -> None:
    """Before: "sw@example.org\\r\\nBcc: evil@example.com" was split and stored as two addresses."""
    from duban.matrix.directory import load_directory

    path = write(tmp_path / "units.yaml", 'units:\n  - name: 區水務局\n    emails: ["sw@example.org\\r\\nBcc: evil@example.com"]\n')
    with pytest.raises(ValidationFailed) as info:
        load_directory(path)
    (problem,) = info.value.problems
    assert (problem.line, problem.field, problem.message) == (3, "emails", "not an email address")
    assert problem.text == "sw@example.org\\r\\nBcc: evil@example.com" and "line break" in problem.hint
    sheet = write(tmp_path / "units.csv", '單位,郵箱\n區水務局,"sw@example.org\r\nBcc: evil@example.com"\n')
    with pytest.raises(ValidationFailed) as info:
        load_directory(sheet)
    assert [(p.line, p.field, p.row_kind) for p in info.value.problems] == [(2, "emails", "row")]


@pytest.mark.parametrize("field, value", [
    ("emails", "Bcc: evil@example.com"),
    ("emails", "sw@example"),
    ("emails", "王五 <sw@example.org>"),
    ("head_email", "a@example.org, b@example.org"),
    ("head_email", "a@example.org;b@example.org"),
    ("head", {"name": "張三", "email": "zhang at example.org"}),
])
def test_a_unit_address_that_is_not_one_is_refused_with_its_line(tmp_path: Path, field: str, value) -> None:
    import yaml

    from duban.matrix.directory import load_directory

    unit = {"name": "區水務局", "head": "張三", field: value} if field != "head" else {"name": "區水務局", field: value}
    path = write(tmp_path / "units.yaml", yaml.safe_dump({"units": [unit]}, allow_unicode=True))
    with pytest.raises(ValidationFailed) as info:
        load_directory(path)
    assert [p.message for p in info.value.problems] == ["not an email address"]
    assert info.value.problems[0].field.startswith(field) and info.value.problems[0].line is not None


def test_good_addresses_are_kept_several_per_cell_and_internationalised(tmp_path: Path) -> None:
    from duban.matrix.directory import load_directory

    path = write(tmp_path / "units.yaml", """\
office: {name: 辦公室, emails: "office@example.org、duty@example.org"}
top_leader: {name: 王五, email: wang@example.org}
officials:
  - {name: 林光, email: 林光@政府.中国}
units:
  - {name: 區水務局, emails: [sw@example.org, 用户@例子.广告], head: {name: 張三, email: zhang.san+duban@sub.example.org}}
""")
    directory = load_directory(path)
    assert directory.office.emails == ("office@example.org", "duty@example.org")
    assert directory.resolve("區水務局").emails == ("sw@example.org", "用户@例子.广告")
    assert directory.resolve("區水務局").head.email == "zhang.san+duban@sub.example.org"
    assert directory.officials[0].email == "林光@政府.中国" and directory.top_leader.email == "wang@example.org"


@pytest.mark.parametrize("where, bad", [
    ("top_leader", "top_leader: {name: 王五, email: \"wang@example.org\\nBcc: evil@example.com\"}\n"),
    ("officials", "officials:\n  - {name: 林光, email: lin@example.org;evil@example.com}\n"),
])
def test_the_directory_top_leader_and_officials_addresses_are_checked(tmp_path: Path, where: str, bad: str) -> None:
    from duban.matrix.directory import load_directory

    path = write(tmp_path / "units.yaml", bad + "units:\n  - {name: 區水務局, emails: [sw@example.org]}\n")
    with pytest.raises(ValidationFailed) as info:
        load_directory(path)
    assert [(p.field, p.message) for p in info.value.problems] == [("email", "not an email address")]


def test_a_plans_officials_addresses_are_checked(tmp_path: Path) -> None:
    write(tmp_path / "units.yaml", DIRECTORY)
    extra = "officials:\n  - {name: 林光, title: 副區長, email: \"lin@example.org, evil@example.com\"}\n"
    text = plan_yaml(extra=extra).replace(
        "    lead_unit:", "    lead_officials: [{name: 劉儀, email: \"liu@example.org\\r\\nBcc: x@example.com\"}]\n    lead_unit:")
    plan = write(tmp_path / "plan.yaml", text)
    with pytest.raises(ValidationFailed) as info:
        load_plan(plan)
    assert [(p.line, p.field, p.message) for p in info.value.problems] == [
        (4, "email", "not an email address"), (8, "lead_officials", "not an email address")]
    good = write(tmp_path / "good.yaml", plan_yaml(extra="officials:\n  - {name: 林光, email: lin@example.org}\n"))
    assert load_plan(good).plan.officials[0].email == "lin@example.org"


def test_an_xlsx_holding_more_rows_than_its_dimension_says_is_refused_before_it_is_built(tmp_path: Path) -> None:
    import time

    from duban.matrix.errors import LimitExceeded

    path = workbook(tmp_path / "rows.xlsx")
    rows = "".join(f'<row r="{r}"><c r="A{r}" t="inlineStr"><is><t>{r}</t></is></c></row>' for r in range(4, 100_010))
    rewrite_member(path, SHEET, lambda xml: xml.replace(b"</sheetData>", rows.encode() + b"</sheetData>"))
    started = time.monotonic()
    with pytest.raises(LimitExceeded, match=r"a sheet of 100,009 rows in xl/worksheets/sheet1.xml exceeds the limit of "
                                            r"100,000 \(DUBAN_LIMIT_ROWS\)"):
        load_plan(path, allow_new_units=True)
    assert time.monotonic() - started < 3


def test_a_validation_message_lists_the_first_hundred_problems_and_counts_the_rest() -> None:
    problems = [Problem("plan.csv", row, "lead_unit", "區不存在局", "unknown unit", row_kind="row") for row in range(2, 16_792)]
    error = ValidationFailed(problems)
    assert len(error.problems) == 16_790
    assert str(error).startswith("16,790 problems found, nothing was changed:\n  plan.csv row 2: lead_unit")
    assert str(error).endswith("\n  … and 16,690 more") and len(str(error)) < 10_000
