"""Fuzz duban's inputs: mutated plan files through validate, import and extract, each in a forked child.

Every case starts from a seed (the plans of config/plans/ as YAML, as a CSV and an XLSX sheet with
their unit directory, the seed texts of tests/fixtures/seeds/ as .txt and as a generated .docx),
applies one to three mutations (truncation, random bytes, bit flips, NULs, re-encoding as GBK / Big5 /
UTF-16, huge cells, hostile field values, deadline-grammar noise, YAML alias bombs and deep nesting,
XLSX dimension and merged-range bombs, zip bombs, billion-laughs XML …) and runs the services the CLI
calls:

    yaml, csv, xlsx, dir   matrix_service.validate_file, then (if accepted) import_file into a fresh
                           SQLite file; a refused import must leave that file as it was
    txt, docx              extract.read_document + extract + to_yaml/to_json, then validate_file on
                           the YAML it wrote (new units allowed)

Each case runs in a child forked from this process (which has already imported duban, OpenCC,
openpyxl, python-docx and SQLAlchemy), with setrlimit caps (RLIMIT_CPU 20 s, RLIMIT_AS 2 GB) and a
wall-clock timeout. A case is exactly one of:

    refused      duban's own error (DubanError: what the CLI prints as one message, exit 1 or 2)
    accepted     read, validated (and imported, or extracted) without error
    traceback    any other exception (its type and last frame are recorded)
    half-import  a refused import that left rows in the database
    over 10 s    the case took more than 10 s of wall time (or hit the CPU cap, or the timeout)
    over 1 GB    MemoryError, killed while over the memory cap, or a peak RSS (ru_maxrss) over 1 GB

Usage:
    python bench/fuzz.py [--cases 500] [--seed 1] [--kinds yaml,csv,xlsx,dir,docx,txt] [--jobs N]
                         [--out DIR]        keep every case that is not refused/accepted (input + result)
                         [--case N]         run case N in the foreground and print its traceback
                         [--replay DIR]     run again the cases an earlier run kept in DIR (with --out)
Target (issue 10): --cases 10000 with 0 tracebacks, 0 over 10 s, 0 over 1 GB.
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import io
import json
import os
import random
import re
import resource
import shutil
import signal
import sys
import tempfile
import time
import traceback
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PLANS = ROOT / "config" / "plans"
TEXT_SEEDS = ROOT / "tests" / "fixtures" / "seeds"
KINDS = ("yaml", "dir", "csv", "xlsx", "docx", "txt")

CPU_LIMIT_S = 20
AS_LIMIT = 2 << 30
SLOW_S = 10.0
BIG_RSS = 1 << 30
NOW = dt.datetime(2015, 7, 1, 9, tzinfo=dt.timezone(dt.timedelta(hours=8)))
SHEET_HEADERS = ("序號", "任務", "目標要求", "牽頭領導", "牽頭單位", "配合單位", "時間要求", "所屬部分", "一票否決")

# ------------------------------------------------------------------------------------------------
# Hostile values and the deadline grammar's pieces

HOSTILE = [
    "", " ", "\x00", "a\x00b", "\x1b[31m", "\u202e反轉", "\ufeff", "\u200b", "\ud800", "\udfff孤",
    "[/bold]任務[red]", "[bold]", "[link=https://evil.example]x[/link]", "=cmd|' /C calc'!A0",
    "=HYPERLINK(\"http://evil.example\",\"x\")", "+1+1", "@SUM(A1)", "<script>alert(1)</script>",
    "sw@example.org\r\nBcc: evil@example.com", "a@b", "@", "x" * 300, "區" * 5000, "\n\n\n", "'", "\"",
    "{{ 7*7 }}", "{% raw %}", "${HOME}", "../../../../etc/passwd", "/dev/zero", "NaN", "-1", "1e309",
    "99999999999999999999999", "0", "true", "null", "~", "- a\n- b", "{a: 1}", "&a", "*a", "!!binary AAAA",
    "每月不少於99999999999999999999次", "2015年底完成99999999999999999999999戶", "9999年底", "0000年",
    "2015年13月", "2月30日", "每月31日", "2015年3月至2014年12月", "三年內", "十五年內", "每年2月29日",
]
DEADLINE_PIECES = [
    "2015", "2016", "15", "二〇一五", "９９９９", "０", "1899", "2201", "年", "月", "日", "号", "底", "末", "初",
    "前", "之前", "以前", "內", "上旬", "中旬", "下旬", "每", "每月", "每季度", "每半年", "每年", "每周五",
    "不少於", "不少于", "至少", "次", "場", "元", "萬元", "万", "个", "村", "戶", "%", "完成", "啟動", "至",
    "—", "~", "、", "，", ";", "和", "及", "其中", "第", "季度", "上半年", "春節", "國慶", "十一", "暑期",
    "一", "二", "十", "百", "千", "萬", "兩", "壹", "拾", "〇", "零", "1", "7", "12", "31", "99999999999999999999",
    "0.00001", ".", "(", ")", "（", "）", " ", "\u3000", "\ud800", "\x00", "區(qū)", "5,000",
]


def grammar_noise(rng: random.Random) -> str:
    return "".join(rng.choice(DEADLINE_PIECES) for _ in range(rng.randint(1, 14)))


def hostile(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.45:
        return rng.choice(HOSTILE)
    if roll < 0.8:
        return grammar_noise(rng)
    if roll < 0.9:
        return "".join(chr(rng.randrange(0x20, 0x3000)) for _ in range(rng.randint(1, 40)))
    return "".join(chr(rng.randrange(0, 0x110000)) for _ in range(rng.randint(1, 20)))


def huge(rng: random.Random) -> str:
    size = rng.choice([32_768, 40_000, 131_073, 200_000, 1_000_000, 5_000_000])
    return rng.choice(["x", "區", "2015年底、", "a,b;"]) * (size // 4 + 1)


# ------------------------------------------------------------------------------------------------
# Seeds


@dataclass
class PlanSeed:
    name: str  # district-2015
    yaml_text: str
    units_name: str  # the file the plan's directory: key names
    units_text: str
    csv_text: str
    xlsx: bytes


@dataclass
class Seeds:
    plans: list[PlanSeed]
    texts: list[tuple[str, str]]  # (name, text)
    docx: list[tuple[str, bytes]]
    bombs: dict[str, bytes]


def build_seeds(kinds: set[str]) -> Seeds:
    from duban.matrix.loaders import load_plan
    from duban.workflows.matrix_service import plan_xlsx

    plans = []
    for path in sorted(PLANS.glob("*.yaml")):
        if path.name.endswith(".units.yaml"):
            continue
        text = path.read_text(encoding="utf-8")
        ref = re.search(r"^directory:\s*(\S+)", text, re.M)
        units_name = ref.group(1) if ref else f"{path.stem}.units.yaml"
        units_text = (PLANS / units_name).read_text(encoding="utf-8")
        plan = load_plan(path).plan
        buf = io.StringIO()
        import csv

        writer = csv.writer(buf)
        writer.writerow([plan.title])
        writer.writerow(SHEET_HEADERS)
        for t in plan.tasks:
            writer.writerow([t.code, t.title, t.target, "、".join(str(o) for o in t.lead_officials), t.lead_unit,
                             "、".join(t.supporting_units), t.deadline_text, " / ".join(t.section), "是" if t.veto else ""])
        plans.append(PlanSeed(path.stem, text, units_name, units_text, buf.getvalue(), plan_xlsx(plan)))
    texts = [(p.stem, p.read_text(encoding="utf-8")) for p in sorted(TEXT_SEEDS.glob("*.txt"))]
    docx = [(name, make_docx(text, plans[0] if i == 0 else None)) for i, (name, text) in enumerate(texts)]
    bombs: dict[str, bytes] = {}
    if "xlsx" in kinds:
        bombs["xlsx"] = zip_bomb(plans[0].xlsx, "xl/worksheets/sheet1.xml")
    if "docx" in kinds:
        bombs["docx"] = zip_bomb(docx[0][1], "word/document.xml")
    return Seeds(plans, texts, docx, bombs)


def make_docx(text: str, plan: PlanSeed | None) -> bytes:
    import docx

    document = docx.Document()
    for line in text.splitlines():
        document.add_paragraph(line)
    if plan is not None:  # a matrix table, as offices circulate it
        import csv

        rows = list(csv.reader(io.StringIO(plan.csv_text)))[1:12]
        table = document.add_table(rows=len(rows), cols=len(SHEET_HEADERS))
        for r, row in enumerate(rows):
            for c, value in enumerate(row[: len(SHEET_HEADERS)]):
                table.cell(r, c).text = value
    buf = io.BytesIO()
    document.save(buf)
    return buf.getvalue()


def zip_bomb(archive: bytes, member: str, size: int = 1 << 30) -> bytes:
    """``archive`` with ``member`` padded by ``size`` bytes of whitespace (about 1 MB compressed)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(archive)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            data = source.read(info.filename)
            if info.filename != member:
                target.writestr(info, data)
                continue
            cut = data.rfind(b"</")
            entry = zipfile.ZipInfo(member)
            entry.compress_type = zipfile.ZIP_DEFLATED
            with target.open(entry, "w", force_zip64=True) as stream:
                stream.write(data[:cut])
                chunk = b" " * (1 << 22)
                for _ in range(size // len(chunk)):
                    stream.write(chunk)
                stream.write(data[cut:])
    return out.getvalue()


# ------------------------------------------------------------------------------------------------
# Mutators: bytes → bytes and text → text


def m_truncate(rng, data: bytes) -> bytes:
    return data[: rng.randrange(len(data))] if data else data


def m_bitflip(rng, data: bytes) -> bytes:
    if not data:
        return data
    out = bytearray(data)
    for _ in range(rng.randint(1, 16)):
        i = rng.randrange(len(out))
        out[i] ^= 1 << rng.randrange(8)
    return bytes(out)


def m_random_bytes(rng, data: bytes) -> bytes:
    i = rng.randrange(len(data) + 1)
    n = rng.randint(1, 256)
    return data[:i] + rng.randbytes(n) + data[i + n :]


def m_insert_bytes(rng, data: bytes) -> bytes:
    i = rng.randrange(len(data) + 1)
    return data[:i] + rng.randbytes(rng.randint(1, 64)) + data[i:]


def m_delete_span(rng, data: bytes) -> bytes:
    if not data:
        return data
    i = rng.randrange(len(data))
    return data[:i] + data[i + rng.randint(1, 512) :]


def m_duplicate_span(rng, data: bytes) -> bytes:
    if not data:
        return data
    i = rng.randrange(len(data))
    span = data[i : i + rng.randint(1, 2048)]
    return data[:i] + span * rng.randint(2, 200) + data[i:]


def m_nuls(rng, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        out.insert(rng.randrange(len(out) + 1), 0)
    return bytes(out)


def m_bad_utf8(rng, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        bad = rng.choice([b"\xff", b"\xfe", b"\xed\xa0\x80", b"\xc3", b"\xe4\xb8", b"\xf4\x90\x80\x80", b"\xc0\xaf"])
        i = rng.randrange(len(out) + 1)
        out[i:i] = bad
    return bytes(out)


def m_empty(rng, data: bytes) -> bytes:
    return rng.choice([b"", b"\n", b"\xef\xbb\xbf", b"\xff\xfe", b" \t\r\n"])


def m_reencode(rng, data: bytes) -> bytes:
    text = data.decode("utf-8", "replace")
    encoding = rng.choice(["gbk", "gb18030", "big5", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-8-sig",
                           "shift_jis", "latin-1", "cp1252", "euc-kr"])
    return text.encode(encoding, rng.choice(["replace", "ignore"]))


BYTE_MUTATORS: list[tuple[Callable, int]] = [
    (m_truncate, 6), (m_bitflip, 6), (m_random_bytes, 4), (m_insert_bytes, 3), (m_delete_span, 3),
    (m_duplicate_span, 2), (m_nuls, 4), (m_bad_utf8, 4), (m_empty, 1), (m_reencode, 5),
]


# Unambiguous (no two optional runs of blanks side by side), so a long line of blanks is rejected in linear time.
_KEYED_LINE = re.compile(r"([ \t]*(?:-[ \t]+)?[A-Za-z_]+:[ \t]*)\S")


def t_hostile_line_value(rng, text: str) -> str:
    """Replace the value of a random ``key: value`` line (YAML) with a hostile or huge one."""
    lines = text.split("\n")
    # (lines an earlier mutation made huge are left alone: the pattern would backtrack over them)
    keyed = [i for i, line in enumerate(lines) if len(line) < 10_000 and _KEYED_LINE.match(line)]
    if not keyed:
        return text
    i = rng.choice(keyed)
    key = _KEYED_LINE.match(lines[i]).group(1)
    value = huge(rng) if rng.random() < 0.15 else hostile(rng)
    style = rng.random()
    if style < 0.5:
        value = json.dumps(value, ensure_ascii=rng.random() < 0.5)  # a YAML double-quoted scalar
    lines[i] = key + value
    return "\n".join(lines)


def t_deadline(rng, text: str) -> str:
    """Rewrite one deadline (YAML ``deadline:`` or the deadline column of a sheet) with grammar noise."""
    lines = text.split("\n")
    found = [i for i, line in enumerate(lines) if "deadline:" in line]
    if found:
        i = rng.choice(found)
        lines[i] = lines[i].split("deadline:")[0] + "deadline: " + json.dumps(grammar_noise(rng), ensure_ascii=False)
        return "\n".join(lines)
    return text


def t_csv_cell(rng, text: str) -> str:
    import csv

    try:
        rows = list(csv.reader(io.StringIO(text)))
    except csv.Error:  # an earlier mutation made it unreadable (the limit is not raised: children inherit it)
        return t_insert_text(rng, text)
    if len(rows) < 3:
        return text
    r = rng.randrange(2, len(rows))
    if not rows[r]:
        return text
    c = rng.randrange(len(rows[r]))
    roll = rng.random()
    rows[r][c] = huge(rng) if roll < 0.2 else (grammar_noise(rng) if c == 6 and roll < 0.6 else hostile(rng))
    buf = io.StringIO()
    csv.writer(buf).writerows(rows)
    return buf.getvalue()


def t_csv_shape(rng, text: str) -> str:
    lines = text.split("\n")
    roll = rng.random()
    if roll < 0.25:  # many columns
        width = rng.choice([200, 300, 5000]) if len(text) < 1_000_000 else 200  # not 5,000 × 12,000 rows
        return "\n".join(line + ",x" * width for line in lines)
    if roll < 0.45 and len(text) < 1_000_000:  # many rows (not of a huge cell: the fuzzer's memory, not duban's)
        body = [line for line in lines[2:] if line]
        return "\n".join(lines[:2] + body * (rng.choice([5000, 12000]) // max(1, len(body))))
    if roll < 0.6:  # a quote that never closes
        i = rng.randrange(len(text) + 1)
        return text[:i] + '"' + text[i:]
    if roll < 0.75:
        return text.replace(",", rng.choice([";", "\t", "，", "|"]))
    if roll < 0.85:
        return text.replace("\n", rng.choice(["\r", "\r\n", "\x0b", "\u2028"]))
    return lines[0] + "\n" + lines[1] + "\n"  # header only


def t_lines(rng, text: str) -> str:
    lines = text.split("\n")
    if len(lines) < 2:
        return text
    roll = rng.random()
    i = rng.randrange(len(lines))
    if roll < 0.3:
        del lines[i]
    elif roll < 0.6:
        lines.insert(i, lines[rng.randrange(len(lines))])
    elif roll < 0.8:
        lines[i] = lines[i].replace("  ", "\t")
    else:
        rng.shuffle(lines)
    return "\n".join(lines)


def t_insert_text(rng, text: str) -> str:
    i = rng.randrange(len(text) + 1)
    return text[:i] + (huge(rng) if rng.random() < 0.2 else hostile(rng)) + text[i:]


def t_yaml_alias_bomb(rng, text: str) -> str:
    width, depth = rng.choice([(10, 9), (20, 7), (100, 5)])
    lines = ["x0: &a0 [" + ", ".join(['"lol"'] * width) + "]"]
    for level in range(1, depth):
        lines.append(f"x{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * width) + "]")
    bomb = "\n".join(lines)
    where = rng.random()
    if where < 0.4:  # at the top, before the plan
        return bomb + "\n" + text
    if where < 0.7:  # inside the plan header, then used by a field
        return text.replace("plan:\n", "plan:\n" + "\n".join("  " + line for line in lines) + f"\n  title2: *a{depth - 1}\n", 1)
    return bomb + "\n" + re.sub(r"(\n\s+title: )[^\n]*", rf"\1*a{depth - 1}", text, count=1)


def t_yaml_nesting(rng, text: str) -> str:
    depth = rng.choice([60, 200, 1000, 10_000, 100_000])
    roll = rng.random()
    if roll < 0.5:
        nested = "[" * depth + "]" * depth
    elif roll < 0.8:
        nested = "{a: " * depth + "1" + "}" * depth
    else:
        nested = "".join("\n" + "  " * (i + 1) + "- " for i in range(min(depth, 2000))) + "x"
    return re.sub(r"(\n\s+target: )[^\n]*", lambda m: m.group(1) + nested, text, count=1)


def t_yaml_scalars(rng, text: str) -> str:
    choices = [
        ("base_year:", "base_year: 99999999999999999999999999999"),
        ("base_year:", "base_year: 1e999"),
        ("base_year:", "base_year: -2015"),
        ("start:", "start: 9999-12-31"),
        ("start:", "start: 0001-01-01"),
        ("start:", "start: 2015-02-30"),
        ("end:", "end: 1900-01-01"),
        ("source_line:", "source_line: 99999999999999999999999"),
        ("source_line:", "source_line: -5"),
        ("veto:", "veto: !!binary AAAA"),
        ("title:", "title: !!python/object/apply:os.system ['echo pwned']"),
        ("title:", "title: !custom 1"),
        ("title:", "title: !!timestamp 99999-01-01"),
        ("title:", "title: !!float .nan"),
        ("lead_unit:", "lead_unit: {a: [1, 2]}"),
        ("lead_unit:", "lead_unit: [區扶貧辦, [區交委]]"),
        ("deadline:", "deadline: 2015-12-31"),
        ("deadline:", "deadline: 20151231"),
        ("deadline:", "deadline: [2015年底]"),
        ("code:", "code: 3.10"),
        ("code:", "code: null"),
        ("tasks:", "tasks: 5\nx:"),
        ("plan:", "plan: []\nx:"),
        ("directory:", "directory: /dev/zero"),
        ("directory:", "directory: /dev/urandom"),
        ("directory:", "directory: /proc/self/environ"),
        ("directory:", "directory: ."),
        ("directory:", "directory: fifo.yaml"),
        ("directory:", "directory: missing.units.yaml"),
        ("directory:", "directory: " + "d" * 5000),
        ("directory:", "directory: [a, b]"),
        ("directory:", "directory: loop.yaml"),
    ]
    key, new = rng.choice(choices)
    lines = text.split("\n")
    found = [i for i, line in enumerate(lines) if line.lstrip("- ").startswith(key)]
    if not found:
        return text
    i = rng.choice(found)
    indent = re.match(r"[\s-]*", lines[i]).group(0)
    lines[i] = indent + new
    return "\n".join(lines)


def t_yaml_documents(rng, text: str) -> str:
    roll = rng.random()
    if roll < 0.3:
        return text + "\n---\n" + text
    if roll < 0.5:
        return "%YAML 1.1\n%TAG ! tag:evil.example,2000:\n---\n" + text
    if roll < 0.7:
        return text.replace("officials:\n", "officials: &o\n", 1) + "\nofficials2: *o\n"
    return text.replace("tasks:\n", "defaults: &d {veto: false}\ntasks:\n", 1).replace("  - code:", "  - <<: *d\n    code:", 3)


TEXT_MUTATORS_YAML: list[tuple[Callable, int]] = [
    (t_hostile_line_value, 8), (t_deadline, 6), (t_lines, 3), (t_insert_text, 3), (t_yaml_alias_bomb, 3),
    (t_yaml_nesting, 3), (t_yaml_scalars, 6), (t_yaml_documents, 2),
]
TEXT_MUTATORS_CSV: list[tuple[Callable, int]] = [(t_csv_cell, 10), (t_csv_shape, 5), (t_lines, 2), (t_insert_text, 2)]
TEXT_MUTATORS_TXT: list[tuple[Callable, int]] = [(t_lines, 3), (t_insert_text, 6)]


def pick(rng: random.Random, table: list[tuple[Callable, int]]) -> Callable:
    return rng.choices([f for f, _ in table], weights=[w for _, w in table])[0]


def mutate_text_file(rng: random.Random, text: str, table: list[tuple[Callable, int]], log: list[str]) -> bytes:
    """One to three mutations: text-level ones first, then (sometimes) byte-level ones."""
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        mutator = pick(rng, table)
        log.append(mutator.__name__)
        text = mutator(rng, text)
    data = text.encode("utf-8", "surrogatepass")
    if rng.random() < 0.45:
        for _ in range(rng.choice([1, 1, 2])):
            mutator = pick(rng, BYTE_MUTATORS)
            log.append(mutator.__name__)
            data = mutator(rng, data)
    return data


# ------------------------------------------------------------------------------------------------
# XLSX and DOCX: cell/paragraph mutations through openpyxl/python-docx, then archive-level ones


def _rewrite_zip(archive: bytes, edit: Callable[[str, bytes], bytes | None], extra: dict[str, bytes] | None = None) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(archive)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            data = edit(info.filename, source.read(info.filename))
            if data is not None:
                target.writestr(info.filename, data)
        for name, data in (extra or {}).items():
            target.writestr(name, data)
    return out.getvalue()


def _sheet_edit(fn: Callable[[str], str]) -> Callable[[str, bytes], bytes | None]:
    def edit(name: str, data: bytes) -> bytes | None:
        if name == "xl/worksheets/sheet1.xml":
            return fn(data.decode("utf-8")).encode("utf-8", "surrogatepass")
        return data

    return edit


def _xml_safe(value: str) -> str:
    return re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]", "", value)


def x_cells(rng, data: bytes) -> bytes:
    import openpyxl

    book = openpyxl.load_workbook(io.BytesIO(data))
    ws = book.worksheets[0]
    for _ in range(rng.randint(1, 4)):
        row, col = rng.randint(1, ws.max_row + 2), rng.randint(1, 10)
        value: object = huge(rng) if rng.random() < 0.2 else (grammar_noise(rng) if col == 7 else hostile(rng))
        if rng.random() < 0.15:
            value = rng.choice([1e308, -1, 0, 10**20, True, dt.datetime(1900, 1, 1), dt.date(9999, 12, 31), 3.5])
        # XML 1.0 cannot hold control characters or lone surrogates: openpyxl refuses them
        ws.cell(row, col).value = _xml_safe(value) if isinstance(value, str) else value
    if rng.random() < 0.2:
        ws.merge_cells(start_row=3, start_column=4, end_row=min(ws.max_row, 3 + rng.randint(1, 30)), end_column=4)
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


def x_dimension_bomb(rng, data: bytes) -> bytes:
    cell = rng.choice(["XFD1048576", "A1048576", "XFD3", "ZZ100000"])
    row = re.match(r"[A-Z]+(\d+)", cell).group(1)

    def fn(xml: str) -> str:
        xml = re.sub(r'<dimension ref="[^"]*"/>', f'<dimension ref="A1:{cell}"/>', xml)
        return xml.replace("</sheetData>", f'<row r="{row}"><c r="{cell}" t="inlineStr"><is><t>x</t></is></c></row></sheetData>')

    return _rewrite_zip(data, _sheet_edit(fn))


def x_declared_dimension(rng, data: bytes) -> bytes:
    return _rewrite_zip(data, _sheet_edit(lambda xml: re.sub(r'<dimension ref="[^"]*"/>', '<dimension ref="A1:XFD1048576"/>', xml)))


def x_merged_bomb(rng, data: bytes) -> bytes:
    ref = rng.choice(["A3:XFD1048576", "D3:D1048576", "A1:ZZ50000"])

    def fn(xml: str) -> str:
        merge = f'<mergeCells count="1"><mergeCell ref="{ref}"/></mergeCells>'
        if "<mergeCells" in xml:
            return re.sub(r"<mergeCells[^>]*>", lambda m: m.group(0) + f'<mergeCell ref="{ref}"/>', xml)
        return xml.replace("</sheetData>", "</sheetData>" + merge)

    return _rewrite_zip(data, _sheet_edit(fn))


def x_many_rows(rng, data: bytes) -> bytes:
    n = rng.choice([20_000, 120_000])

    def fn(xml: str) -> str:
        rows = "".join(f'<row r="{r}"><c r="A{r}" t="inlineStr"><is><t>{r}</t></is></c><c r="B{r}" t="inlineStr"><is><t>t</t></is></c>'
                       f'<c r="E{r}" t="inlineStr"><is><t>區扶貧辦</t></is></c><c r="G{r}" t="inlineStr"><is><t>2015年底</t></is></c></row>'
                       for r in range(1000, 1000 + n))
        return xml.replace("</sheetData>", rows + "</sheetData>")

    return _rewrite_zip(data, _sheet_edit(fn))


def x_many_columns(rng, data: bytes) -> bytes:
    n = rng.choice([300, 2000])
    from openpyxl.utils import get_column_letter

    def fn(xml: str) -> str:
        cells = "".join(f'<c r="{get_column_letter(c)}2" t="inlineStr"><is><t>h{c}</t></is></c>' for c in range(20, 20 + n))
        return re.sub(r'(<row r="2"[^>]*>.*?)(</row>)', lambda m: m.group(1) + cells + m.group(2), xml, count=1, flags=re.S)

    return _rewrite_zip(data, _sheet_edit(fn))


def x_bad_xml(rng, data: bytes) -> bytes:
    member = rng.choice(["xl/worksheets/sheet1.xml", "xl/workbook.xml", "[Content_Types].xml", "xl/styles.xml",
                         "xl/_rels/workbook.xml.rels"])
    roll = rng.random()

    def edit(name: str, body: bytes) -> bytes | None:
        if name != member:
            return body
        if roll < 0.2:
            return None  # the member is missing
        if roll < 0.4:
            return body[: rng.randrange(len(body) + 1)]
        if roll < 0.6:
            laughs = '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "lollollollollol">' + "".join(
                f'<!ENTITY {chr(98 + i)} "' + f"&{chr(97 + i)};" * 10 + '">' for i in range(9)) + "]>"
            text = body.decode("utf-8", "replace")
            text = re.sub(r"^<\?xml[^>]*\?>", "", text)
            return (laughs + text.replace("<t>", "<t>&j;", 1)).encode()
        if roll < 0.8:
            return body.replace(b"<", b"<<", 1) if b"<" in body else body
        return body.replace(b'"', b"'\x00", 2)

    return _rewrite_zip(data, edit)


def x_cell_types(rng, data: bytes) -> bytes:
    kind, value = rng.choice([("n", "1e999"), ("n", "abc"), ("d", "9999-99-99"), ("b", "7"), ("e", "#REF!"),
                              ("s", "99999"), ("s", "-1"), ("str", "\x01"), ("n", "NaN")])

    def fn(xml: str) -> str:
        return xml.replace("</sheetData>", f'<row r="900"><c r="G900" t="{kind}"><v>{value}</v></c>'
                                          f'<c r="B900" t="inlineStr"><is><t>t</t></is></c></row></sheetData>')

    return _rewrite_zip(data, _sheet_edit(fn))


def z_bomb(seeds: Seeds, kind: str) -> Callable:
    def bomb(rng, data: bytes) -> bytes:
        return seeds.bombs[kind]

    bomb.__name__ = "z_bomb"
    return bomb


def x_sheets(rng, data: bytes) -> bytes:
    import openpyxl

    book = openpyxl.load_workbook(io.BytesIO(data))
    for i in range(rng.choice([0, 1, 50])):
        book.create_sheet(f"s{i}")
    if rng.random() < 0.5:
        book.move_sheet(book.worksheets[0], offset=len(book.worksheets) - 1)
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()


def d_paragraphs(rng, data: bytes) -> bytes:
    import docx

    document = docx.Document(io.BytesIO(data))
    paragraphs = document.paragraphs
    for _ in range(rng.randint(1, 5)):
        value = huge(rng) if rng.random() < 0.15 else hostile(rng)
        target = rng.choice(paragraphs)
        try:
            target.text = value if rng.random() < 0.5 else target.text + value
        except ValueError:  # lxml refuses control characters and surrogates
            target.text = _xml_safe(value)
    if rng.random() < 0.2:
        import copy

        model = document.add_paragraph("每月不少於3次")._p
        for _ in range(rng.choice([1000, 50_000])):
            model.addnext(copy.deepcopy(model))
    if rng.random() < 0.2:
        table = document.add_table(rows=2, cols=rng.choice([9, 60]))
        for c, label in enumerate(SHEET_HEADERS):
            table.cell(0, c).text = label
        table.cell(1, 1).text = _xml_safe(hostile(rng))
    buf = io.BytesIO()
    document.save(buf)
    return buf.getvalue()


def d_xml(rng, data: bytes) -> bytes:
    roll = rng.random()

    def edit(name: str, body: bytes) -> bytes | None:
        if name != "word/document.xml":
            return body
        text = body.decode("utf-8")
        if roll < 0.25:  # deep nesting
            depth = rng.choice([300, 5000, 100_000])
            return text.replace("<w:body>", "<w:body>" + "<w:sdt><w:sdtContent>" * depth + "</w:sdtContent></w:sdt>" * depth, 1).encode()
        if roll < 0.45:  # billion laughs
            laughs = '<!DOCTYPE x [<!ENTITY a "lollollollollol">' + "".join(
                f'<!ENTITY {chr(98 + i)} "' + f"&{chr(97 + i)};" * 10 + '">' for i in range(9)) + "]>"
            text = re.sub(r"^(<\?xml[^>]*\?>)", lambda m: m.group(1) + laughs, text)
            return text.replace("<w:t>", "<w:t>&j;", 1).encode()
        if roll < 0.6:  # a merged-cell bomb
            return text.replace("<w:tcPr>", '<w:tcPr><w:gridSpan w:val="2147483647"/>', 1).encode()
        if roll < 0.75:
            return text.replace("<w:t>", "<w:t>&#0;", 1).encode()
        if roll < 0.9:
            return None
        return body[: rng.randrange(len(body) + 1)]

    return _rewrite_zip(data, edit)


def archive_mutators(seeds: Seeds, kind: str) -> list[tuple[Callable, int]]:
    if kind == "xlsx":
        return [(x_cells, 10), (x_dimension_bomb, 3), (x_declared_dimension, 2), (x_merged_bomb, 3), (x_many_rows, 2),
                (x_many_columns, 2), (x_bad_xml, 4), (x_cell_types, 3), (x_sheets, 1), (z_bomb(seeds, "xlsx"), 1)]
    return [(d_paragraphs, 10), (d_xml, 6), (z_bomb(seeds, "docx"), 1)]


ARCHIVE_BYTE_MUTATORS: list[tuple[Callable, int]] = [
    (m_truncate, 4), (m_bitflip, 6), (m_random_bytes, 3), (m_delete_span, 2), (m_empty, 1),
]

# ------------------------------------------------------------------------------------------------
# One case


@dataclass
class Case:
    index: int
    kind: str
    seed_name: str
    mutations: list[str]
    files: dict[str, bytes]  # name → content, written into the case folder
    plan_file: str  # the file the services read
    options: dict  # PlanOptions fields (paths relative to the case folder)


def _archive_step(rng: random.Random, data: bytes, table: list[tuple[Callable, int]], log: list[str]) -> bytes:
    """One archive mutation; one that must open the archive and cannot (an earlier one broke it) is skipped.

    Only the first step may open the archive whole (openpyxl, python-docx, reading every member): after a
    bomb or 120,000 rows that would cost the generator what the case is meant to cost duban."""
    if "z_bomb" in log:
        return data
    if log:
        table = [(m, w) for m, w in table if m.__name__ not in _OPENS_WHOLE]
    mutator = pick(rng, table)
    try:
        data = mutator(rng, data)
    except Exception:  # noqa: BLE001 - openpyxl/python-docx/zipfile refusing the fuzzer's own damage
        log.append(mutator.__name__ + "(skipped)")
        return data
    log.append(mutator.__name__)
    return data


_OPENS_WHOLE = {"x_cells", "x_sheets", "d_paragraphs"}  # openpyxl / python-docx load the whole archive


def make_case(index: int, seed: int, kinds: list[str], seeds: Seeds) -> Case:
    rng = random.Random(f"{seed}:{index}")
    kind = kinds[index % len(kinds)]
    log: list[str] = []
    if kind in ("yaml", "dir", "csv", "xlsx"):
        plan = rng.choice(seeds.plans)
        files = {plan.units_name: plan.units_text.encode()}
        if kind == "yaml":
            files["plan.yaml"] = mutate_text_file(rng, plan.yaml_text, TEXT_MUTATORS_YAML, log)
            return Case(index, kind, plan.name, log, files, "plan.yaml", {})
        if kind == "dir":
            files["plan.yaml"] = plan.yaml_text.encode()
            files[plan.units_name] = mutate_text_file(rng, plan.units_text, TEXT_MUTATORS_YAML, log)
            return Case(index, kind, plan.name, log, files, "plan.yaml", {})
        options = {"directory": plan.units_name, "plan_code": plan.name if rng.random() < 0.5 else None}
        if kind == "csv":
            name = f"{plan.name}.csv"
            files[name] = mutate_text_file(rng, plan.csv_text, TEXT_MUTATORS_CSV, log)
            return Case(index, kind, plan.name, log, files, name, options)
        data = plan.xlsx
        for _ in range(rng.choice([1, 1, 2])):
            data = _archive_step(rng, data, archive_mutators(seeds, "xlsx"), log)
        if rng.random() < 0.3:
            mutator = pick(rng, ARCHIVE_BYTE_MUTATORS)
            log.append(mutator.__name__)
            data = mutator(rng, data)
        name = f"{plan.name}.xlsx"
        files[name] = data
        return Case(index, kind, plan.name, log, files, name, options)
    if kind == "txt":
        name, text = rng.choice(seeds.texts)
        roll = rng.random()
        if roll < 0.02:
            log.append("oversize")
            data = (text.encode() * (60_000_000 // max(1, len(text.encode())) + 1))
        else:
            data = mutate_text_file(rng, text, TEXT_MUTATORS_TXT, log)
        return Case(index, kind, name, log, {"plan.txt": data}, "plan.txt", {})
    name, data = rng.choice(seeds.docx)
    for _ in range(rng.choice([1, 1, 2])):
        data = _archive_step(rng, data, archive_mutators(seeds, "docx"), log)
    if rng.random() < 0.3:
        mutator = pick(rng, ARCHIVE_BYTE_MUTATORS)
        log.append(mutator.__name__)
        data = mutator(rng, data)
    return Case(index, kind, name, log, {"plan.docx": data}, "plan.docx", {})


def write_case(case: Case, folder: Path) -> None:
    for name, data in case.files.items():
        (folder / name).write_bytes(data)
    if any("directory: fifo.yaml" in d.decode("utf-8", "replace") for d in case.files.values() if len(d) < 1_000_000):
        os.mkfifo(folder / "fifo.yaml")
    (folder / "loop.yaml").symlink_to("loop.yaml")
    (folder / "case.json").write_text(json.dumps({"index": case.index, "kind": case.kind, "seed": case.seed_name,
                                                  "mutations": case.mutations, "file": case.plan_file,
                                                  "options": case.options}, ensure_ascii=False))


_NOT_INPUT = {"case.json", "result.json", "child.log", "child-error.txt", "extracted.yaml", "generated", "duban.db"}


def load_case(folder: Path) -> Case:
    """A case kept by ``--out`` (its case.json and input files), to run again with ``--replay``."""
    described = json.loads((folder / "case.json").read_text())
    files = {item.name: item.read_bytes() for item in folder.iterdir()
             if item.is_file() and not item.is_symlink() and item.name not in _NOT_INPUT}
    return Case(described["index"], described["kind"], described["seed"], described["mutations"], files,
                described["file"], described["options"])


def _frames(tb) -> tuple[str, str]:
    frames = traceback.extract_tb(tb)
    last = frames[-1] if frames else None
    ours = [f for f in frames if f.filename.startswith(str(ROOT)) and "/bench/" not in f.filename]
    own = ours[-1] if ours else last

    def show(frame) -> str:
        if frame is None:
            return "?"
        path = frame.filename
        path = os.path.relpath(path, ROOT) if path.startswith(str(ROOT)) else "…/" + "/".join(Path(path).parts[-2:])
        return f"{path}:{frame.lineno} in {frame.name}"

    return show(last), show(own)


def run_case(case: Case, folder: Path, template_db: Path | None) -> dict:
    """Run the services on the case's files (in the current process); return its outcome."""
    from duban.matrix.errors import DubanError
    from duban.workflows.matrix_service import PlanOptions, import_file, validate_file

    stage = "start"
    result: dict = {}
    try:
        path = folder / case.plan_file
        if case.kind in ("txt", "docx"):
            from duban.matrix.extract import extract, read_document

            stage = "read_document"
            text, _lines = read_document(path)
            stage = "extract"
            extraction = extract(text, source=str(path))
            stage = "to_yaml"
            out = extraction.to_yaml()
            extraction.to_json()
            (folder / "extracted.yaml").write_text(out, encoding="utf-8", errors="surrogatepass")
            stage = "validate_extracted"
            validate_file(folder / "extracted.yaml", PlanOptions(allow_new_units=True))
            result = {"outcome": "accepted", "stage": stage}
        else:
            options = PlanOptions(
                directory=folder / case.options["directory"] if case.options.get("directory") else None,
                plan_code=case.options.get("plan_code"),
            )
            stage = "validate"
            validate_file(path, options)
            stage = "import"
            db = folder / "duban.db"
            shutil.copyfile(template_db, db)
            from duban.store.db import open_database

            engine = open_database(f"sqlite:///{db}")
            try:
                import_file(engine, path, options, now=NOW, actor="fuzz")
            except DubanError:
                leftover = _rows(engine)
                if leftover:
                    engine.dispose()
                    return {"outcome": "half-import", "stage": stage, "rows": leftover}
                raise
            finally:
                engine.dispose()
            result = {"outcome": "accepted", "stage": stage}
    except DubanError as error:
        message = str(error)
        result = {"outcome": "refused", "stage": stage, "type": type(error).__name__, "length": len(message),
                  "message": message[:300]}
        try:
            message.encode("utf-8")
        except UnicodeEncodeError:
            result["unencodable"] = True
    except MemoryError:
        result = {"outcome": "over 1 GB", "stage": stage, "type": "MemoryError"}
    except RecursionError as error:
        last, own = _frames(error.__traceback__)
        result = {"outcome": "traceback", "stage": stage, "type": "RecursionError", "last": last, "own": own,
                  "message": str(error)[:300]}
    except Exception as error:  # noqa: BLE001 - this is what the fuzzer looks for
        last, own = _frames(error.__traceback__)
        result = {"outcome": "traceback", "stage": stage, "type": type(error).__name__, "last": last, "own": own,
                  "message": str(error)[:300], "traceback": traceback.format_exc()[-4000:]}
    return result


def _rows(engine) -> dict[str, int]:
    import sqlalchemy as sa

    with engine.connect() as conn:
        names = [n for n in sa.inspect(conn).get_table_names() if n != "alembic_version"]
        counts = {n: conn.execute(sa.text(f'SELECT count(*) FROM "{n}"')).scalar() for n in names}
    return {n: c for n, c in counts.items() if c}


# ------------------------------------------------------------------------------------------------
# The parent: fork, cap, wait, classify


def child(index: int, maker: Callable[[int], Case], folder: Path, template_db: Path, timeout: float) -> None:
    """In the forked child: caps, quiet output, make the case, run it, write result.json, exit."""
    code = 0
    try:
        signal.alarm(int(timeout * 3) + 60)  # never outlive a parent that died
        resource.setrlimit(resource.RLIMIT_CPU, (CPU_LIMIT_S, CPU_LIMIT_S + 5))
        resource.setrlimit(resource.RLIMIT_AS, (AS_LIMIT, AS_LIMIT))
        log = os.open(folder / "child.log", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(log, 1)
        os.dup2(log, 2)
        began = time.monotonic()
        try:
            case = maker(index)
            write_case(case, folder)
        except Exception as error:  # noqa: BLE001 - a fuzzer bug: say so, go on
            (folder / "result.json").write_text(json.dumps({
                "outcome": "fuzzer error", "type": type(error).__name__, "message": str(error)[:200],
                "traceback": traceback.format_exc()[-2000:]}))
            os._exit(0)
        generated = time.monotonic() - began
        _reset_peak_rss()  # the case's own peak, not the generator's
        (folder / "generated").write_text(f"{generated:.6f}")  # the case's own clock starts now
        result = run_case(case, folder, template_db)
        result["generated_s"] = round(generated, 3)
        result["peak_rss"] = _peak_rss()
        (folder / "result.json").write_text(json.dumps(result, ensure_ascii=True))
    except BaseException:  # noqa: BLE001 - a child must never return into the parent's loop
        code = 3
        try:
            (folder / "child-error.txt").write_text(traceback.format_exc())
        except BaseException:  # noqa: BLE001
            pass
    finally:
        os._exit(code)


def _reset_peak_rss() -> None:
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")  # Linux ≥ 4.0: resets VmHWM (the peak resident set size)
    except OSError:
        pass


def _peak_rss() -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


@dataclass
class Running:
    pid: int
    index: int
    folder: Path
    forked: float
    ready: float | None = None  # when the child had made its case (the case's clock starts)

    def started(self) -> float | None:
        """When the case itself started (after the child generated it), once the child says so."""
        if self.ready is None:
            marker = self.folder / "generated"
            try:
                self.ready = self.forked + float(marker.read_text())
            except (OSError, ValueError):
                return None
        return self.ready


def classify(run: Running, status: int, usage, timed_out: bool, kinds: list[str]) -> dict:
    started = run.started()
    elapsed = time.monotonic() - (started if started is not None else run.forked)
    rss = usage.ru_maxrss * 1024  # includes what the generator used (and the parent's pages at the fork)
    result_path = run.folder / "result.json"
    try:
        result: dict = json.loads(result_path.read_text()) if result_path.exists() else {}
    except ValueError:
        result = {}
    try:
        described = json.loads((run.folder / "case.json").read_text())
    except (OSError, ValueError):
        described = {"kind": kinds[run.index % len(kinds)], "mutations": ["?"], "seed": "?"}
    if not result:
        if os.WIFSIGNALED(status):
            result = {"outcome": "killed", "signal": signal.Signals(os.WTERMSIG(status)).name}
        else:
            error = run.folder / "child-error.txt"
            result = {"outcome": "traceback", "type": "ChildError", "last": "?", "own": "?",
                      "message": error.read_text()[-300:] if error.exists() else f"exit {status}"}
    if result.get("peak_rss"):  # the case's own peak, measured by the child after generating it
        rss = result["peak_rss"]
    outcome = result["outcome"]
    signalled = result.get("signal")
    if outcome == "fuzzer error":
        pass
    elif started is None:
        outcome = "fuzzer error"
        result.update(type="generation", message=f"the case was not made within the time limit ({signalled or status})")
    elif outcome == "over 1 GB" or rss > BIG_RSS or (signalled in ("SIGKILL", "SIGSEGV", "SIGABRT") and not timed_out):
        outcome = "over 1 GB"
    elif timed_out or elapsed > SLOW_S or signalled == "SIGXCPU":
        outcome = "over 10 s"
    elif outcome == "killed":
        outcome = "traceback"
        result.update(type=f"killed by {signalled}", last="?", own="?")
    result.update(outcome=outcome, elapsed=round(elapsed, 3), rss_mb=round(rss / 2**20, 1), kind=described["kind"],
                  index=run.index, mutations=described["mutations"], seed=described["seed"])
    return result


OUTCOMES = ("refused", "accepted", "traceback", "half-import", "over 10 s", "over 1 GB")


def make_template(work: Path) -> Path:
    from duban.store.db import open_database

    template = work / "template.db"
    engine = open_database(f"sqlite:///{template}")
    engine.dispose()
    return template


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=500)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--kinds", default=",".join(KINDS))
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--timeout", type=float, default=30.0, help="wall-clock seconds before a case is killed")
    parser.add_argument("--out", type=Path, help="keep the cases that are not refused or accepted here")
    parser.add_argument("--case", type=int, help="run this one case in the foreground and print its outcome")
    parser.add_argument("--json", type=Path, help="write every case's outcome to this file (JSON lines)")
    parser.add_argument("--replay", type=Path, help="run again the cases a run kept with --out (a folder of them)")
    args = parser.parse_args()
    replays = sorted((p for p in args.replay.iterdir() if (p / "case.json").exists()), key=lambda p: p.name) if args.replay else []
    if args.replay:
        args.cases = len(replays)
    kinds = [k for k in args.kinds.split(",") if k]
    unknown = set(kinds) - set(KINDS)
    if unknown:
        parser.error(f"unknown kinds {sorted(unknown)}; kinds are {','.join(KINDS)}")

    started = time.monotonic()
    import warnings

    warnings.simplefilter("ignore")
    # Everything a case needs is imported here, once, so that every child starts warm.
    import docx  # noqa: F401
    import openpyxl  # noqa: F401
    import sqlalchemy  # noqa: F401

    import duban.matrix.extract  # noqa: F401
    import duban.matrix.loaders  # noqa: F401
    import duban.store.repository  # noqa: F401
    import duban.workflows.matrix_service  # noqa: F401
    from duban.matrix.script import to_simplified

    to_simplified("區")  # loads OpenCC's dictionaries
    seeds = build_seeds(set(kinds))
    work = Path(tempfile.mkdtemp(prefix="duban-fuzz-"))
    try:
        template = make_template(work)
        if args.case is not None:
            case = make_case(args.case, args.seed, kinds, seeds)
            folder = work / f"case-{args.case}"
            folder.mkdir()
            write_case(case, folder)
            print(json.dumps({"kind": case.kind, "seed": case.seed_name, "mutations": case.mutations}, ensure_ascii=False))
            result = run_case(case, folder, template)
            print(result.pop("traceback", ""))
            print(json.dumps(result, ensure_ascii=False, indent=2))
            if args.out:
                args.out.mkdir(parents=True, exist_ok=True)
                shutil.copytree(folder, args.out / f"{case.kind}-{case.index}", dirs_exist_ok=True, symlinks=True)
            return
        print(f"fuzz: {args.cases} cases{' replayed from ' + str(args.replay) if replays else ''}, seed {args.seed}, kinds {','.join(kinds)}, {args.jobs} jobs; "
              f"setup {time.monotonic() - started:.1f} s", flush=True)
        if args.json:
            args.json.write_text("")
        if replays:
            kinds = sorted({json.loads((folder / "case.json").read_text())["kind"] for folder in replays})
            results = run_all(args, kinds, lambda i: load_case(replays[i]), work, template)
        else:
            results = run_all(args, kinds, lambda i: make_case(i, args.seed, kinds, seeds), work, template)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report(results, kinds, time.monotonic() - started)
    bad = sum(1 for r in results if r["outcome"] not in ("refused", "accepted"))
    sys.exit(1 if bad else 0)


def run_all(args, kinds: list[str], maker: Callable[[int], Case], work: Path, template: Path) -> list[dict]:
    results: list[dict] = []
    running: dict[int, Running] = {}
    next_index = 0
    last_note = time.monotonic()

    def stop(signum, _frame) -> None:  # ^C or kill: take the children down too
        for run in running.values():
            try:
                os.kill(run.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while next_index < args.cases or running:
        while next_index < args.cases and len(running) < args.jobs:
            folder = work / f"case-{next_index}"
            folder.mkdir()
            pid = os.fork()
            if pid == 0:
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                child(next_index, maker, folder, template, args.timeout)
            running[pid] = Running(pid, next_index, folder, time.monotonic())
            next_index += 1
        pid, status, usage = os.wait4(-1, os.WNOHANG)
        if pid == 0:
            now = time.monotonic()
            for run in list(running.values()):
                started = run.started()
                limit = (started + args.timeout) if started is not None else (run.forked + max(60.0, args.timeout))
                if now > limit:
                    os.kill(run.pid, signal.SIGKILL)
                    _, status, usage = os.wait4(run.pid, 0)
                    finish(args, results, running.pop(run.pid), status, usage, timed_out=True, kinds=kinds)
            time.sleep(0.005)
        else:
            finish(args, results, running.pop(pid), status, usage, timed_out=False, kinds=kinds)
        if time.monotonic() - last_note > 30:
            last_note = time.monotonic()
            counts = collections.Counter(r["outcome"] for r in results)
            print(f"  {len(results)}/{args.cases} " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())), flush=True)
    return sorted(results, key=lambda r: r["index"])


def finish(args, results: list[dict], run: Running, status: int, usage, *, timed_out: bool, kinds: list[str]) -> None:
    result = classify(run, status, usage, timed_out, kinds)
    results.append(result)
    if args.json:  # as they come: an interrupted run keeps what it measured
        with args.json.open("a", encoding="utf-8") as out:
            out.write(json.dumps(result, ensure_ascii=False) + "\n")
    if args.out and result["outcome"] not in ("refused", "accepted"):
        target = args.out / f"{result['kind']}-{run.index}-{result['outcome'].replace(' ', '')}"
        target.mkdir(parents=True, exist_ok=True)
        for item in run.folder.iterdir():
            if item.is_file() and not item.is_symlink() and item.name != "duban.db" and item.stat().st_size < 100_000_000:
                shutil.copy(item, target / item.name)
        (target / "result.json").write_text(json.dumps(result, ensure_ascii=False, indent=2))
    shutil.rmtree(run.folder, ignore_errors=True)


def report(results: list[dict], kinds: list[str], seconds: float) -> None:
    def row(label: str, rs: list[dict]) -> str:
        counts = collections.Counter(r["outcome"] for r in rs)
        return f"{label:<8} {len(rs):>7} " + " ".join(f"{counts.get(o, 0):>11}" for o in OUTCOMES)

    print()
    print(f"{'kind':<8} {'cases':>7} " + " ".join(f"{o:>11}" for o in OUTCOMES))
    for kind in kinds:
        print(row(kind, [r for r in results if r.get("kind") == kind]))
    print(row("all", results))
    errors = [r for r in results if r["outcome"] == "fuzzer error"]
    if errors:
        print(f"fuzzer errors (cases not run): {len(errors)}: " + "; ".join(f"case {r['index']} {r['type']}: {r['message'][:80]}" for r in errors[:5]))
    slow = [r for r in results if r.get("elapsed") is not None]
    if slow:
        times = sorted(r["elapsed"] for r in slow)
        rss = sorted(r["rss_mb"] for r in slow)
        print(f"time per case: median {times[len(times) // 2]:.2f} s, max {times[-1]:.2f} s; "
              f"peak RSS: median {rss[len(rss) // 2]:.0f} MB, max {rss[-1]:.0f} MB; total {seconds:.0f} s")
    long = [r for r in results if r["outcome"] == "refused" and r.get("length", 0) > 2000]
    if long:
        print(f"refusals with a message over 2,000 characters: {len(long)} (longest {max(r['length'] for r in long):,})")
    unencodable = [r for r in results if r.get("unencodable")]
    if unencodable:
        print(f"refusals whose message cannot be written as UTF-8 (lone surrogates): {len(unencodable)}")

    signatures: collections.Counter = collections.Counter()
    example: dict[str, dict] = {}
    for r in results:
        if r["outcome"] == "traceback":
            key = f"{r.get('type')} at {r.get('own')} [{r['kind']}, {r.get('stage', '?')}]"
            signatures[key] += 1
            example.setdefault(key, r)
    if signatures:
        print("\ntop traceback signatures (type at the innermost duban frame [kind, stage]; last frame; a case):")
        for key, n in signatures.most_common(15):
            r = example[key]
            print(f"  {n:>5}  {key}\n         last: {r.get('last')}; case {r['index']} {'+'.join(r['mutations'])}: "
                  f"{r.get('message', '')[:120]!r}")
    for outcome in ("over 10 s", "over 1 GB", "half-import"):
        hits = [r for r in results if r["outcome"] == outcome]
        if hits:
            print(f"\n{outcome}: {len(hits)}")
            by = collections.Counter(f"{r['kind']} {'+'.join(r['mutations'])} [{r.get('stage', r.get('signal', '?'))}]" for r in hits)
            for key, n in by.most_common(10):
                print(f"  {n:>5}  {key}")


if __name__ == "__main__":
    main()
