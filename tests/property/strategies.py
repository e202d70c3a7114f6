"""Hypothesis strategies: deadline texts built from the grammar's pieces, hostile values, mutated plans."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

import yaml
from hypothesis import strategies as st

from tests.support import PLANS, SHANGHAI

IMPORTED_AT = dt.datetime(2015, 7, 1, 9, tzinfo=SHANGHAI)  # when the property tests import their plans

# Pieces of the deadline language (and its near misses), in both scripts and widths.
DEADLINE_PIECES = (
    "2015", "2016", "15", "1899", "2201", "9999", "0000", "二〇一五", "２０１５", "１２", "０",
    "年", "年度", "月", "日", "号", "號", "底", "末", "初", "份", "前", "之前", "以前", "內", "内", "以內",
    "上旬", "中旬", "下旬", "季度", "第", "上半年", "下半年", "年中", "至", "到", "—", "~", "-", "/", ".",
    "每", "每月", "每季度", "每半年", "每年", "每周", "每週五", "每星期", "不少於", "不少于", "至少", "不低於",
    "次", "場次", "回", "元", "萬元", "万", "個", "个", "村", "戶", "人", "%", "完成", "建成", "啟動", "開始",
    "、", "，", ",", ";", "；", "和", "及", "以及", "其中", "。", "(", ")", "（", "）", " ", "\u3000",
    "一", "二", "三", "十", "十二", "三十一", "百", "千", "萬", "兩", "壹", "貳", "拾", "佰", "〇", "零",
    "1", "3", "7", "12", "29", "30", "31", "99", "5,000", "1.5", "0.00001", "99999999999999999999",
    "春節", "元旦", "清明", "五一", "端午", "中秋", "國慶", "十一", "暑期", "寒假", "區(qū)",
    "持續推進", "長期堅持", "常態化", "長效", "長期", "並", "此後", "後", "起", "按季度", "按月", "累計",
    "新改建農村公路", "公里", "見效", "全面", "第3批", "左右",
)  # fmt: skip

# Values that have broken, or could break, a reader or a writer of plans.
HOSTILE = (
    "", " ", "\x00", "a\x00b", "\ud800", "\udfff", "\x1b[31m", "\u202e", "\ufeff", "[/bold]", "[bold]x",
    "=cmd|' /C calc'!A0", "<script>", "sw@example.org\r\nBcc: evil@example.com", "x" * 300, "區" * 2000,
    "每月不少於99999999999999999999次", "2015年底完成99999999999999999999999戶", "9999年底", "2015年13月",
)  # fmt: skip

# Any character, lone surrogates and control characters included.
any_char = st.one_of(
    st.characters(), st.characters(categories=["Cs"]), st.characters(categories=["Cc"]),
    st.characters(min_codepoint=0x3000, max_codepoint=0x9FFF),
)
any_text = st.text(any_char, max_size=40)


def deadline_texts(max_pieces: int = 12) -> st.SearchStrategy[str]:
    """Text made of the deadline grammar's pieces, with now and then a stray character."""
    piece = st.one_of(st.sampled_from(DEADLINE_PIECES), st.sampled_from(DEADLINE_PIECES), any_char)
    return st.lists(piece, max_size=max_pieces).map("".join)


field_text = st.one_of(deadline_texts(), st.sampled_from(HOSTILE), any_text)
field_value: st.SearchStrategy[Any] = st.one_of(
    field_text,
    field_text,
    st.integers(min_value=-(10**25), max_value=10**25),
    st.floats(),
    st.booleans(),
    st.none(),
    st.dates(min_value=dt.date(1, 1, 1)),
    st.lists(field_text, max_size=3),
    st.dictionaries(st.sampled_from(["name", "title", "x"]), field_text, max_size=2),
)

TASK_FIELDS = ("code", "title", "target", "lead_officials", "lead_unit", "supporting_units", "deadline", "veto",
               "section", "source_line", "unknown")
HEADER_FIELDS = ("code", "title", "issuer", "base_year", "start", "end", "timezone", "source", "reporting")

DISTRICT = PLANS / "district-2015.yaml"
DISTRICT_UNITS = PLANS / "district-2015.units.yaml"
_SEED = yaml.safe_load(DISTRICT.read_text(encoding="utf-8"))
# A small plan (the district plan's first four tasks and its stages): quick to import per example.
SMALL_PLAN: dict[str, Any] = {**_SEED, "tasks": _SEED["tasks"][:4]}
SHEET_HEADER = ("序號", "任務", "目標要求", "牽頭領導", "牽頭單位", "配合單位", "時間要求", "所屬部分", "一票否決")


def _copy(doc: Any) -> Any:
    return yaml.safe_load(yaml.safe_dump(doc, allow_unicode=True))


@st.composite
def plan_documents(draw) -> dict[str, Any]:
    """The small plan with one to four fields replaced, removed or added."""
    doc = _copy(SMALL_PLAN)
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        where = draw(st.sampled_from(["task", "task", "task", "header", "stage", "official"]))
        if where == "task":
            task = doc["tasks"][draw(st.integers(min_value=0, max_value=len(doc["tasks"]) - 1))]
            target, key = task, draw(st.sampled_from(TASK_FIELDS))
        elif where == "header":
            target, key = doc["plan"], draw(st.sampled_from(HEADER_FIELDS))
        elif where == "stage" and doc.get("stages"):
            target, key = draw(st.sampled_from(doc["stages"])), draw(st.sampled_from(["deadline", "units", "code", "title"]))
        elif doc.get("officials"):
            target, key = draw(st.sampled_from(doc["officials"])), draw(st.sampled_from(["name", "title", "email"]))
        else:
            continue
        if draw(st.integers(min_value=0, max_value=9)) == 0:
            target.pop(key, None)
        else:
            target[key] = draw(deadline_texts() if key == "deadline" else field_value)
    return doc


def _yaml_bytes(doc: dict[str, Any]) -> bytes:
    return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False).encode("utf-8", "surrogatepass")


@st.composite
def byte_damage(draw, data: bytes) -> bytes:
    """Nothing, most of the time; else a truncation, a few flipped bits or inserted bytes."""
    kind = draw(st.sampled_from(["none", "none", "none", "truncate", "flip", "insert"]))
    if kind == "none" or not data:
        return data
    at = draw(st.integers(min_value=0, max_value=len(data) - 1))
    if kind == "truncate":
        return data[:at]
    if kind == "flip":
        return data[:at] + bytes([data[at] ^ (1 << draw(st.integers(min_value=0, max_value=7)))]) + data[at + 1 :]
    return data[:at] + draw(st.binary(min_size=1, max_size=8)) + data[at:]


@st.composite
def plan_files(draw) -> tuple[str, bytes]:
    """(file name, content): the small plan as YAML, or its tasks as a CSV sheet, mutated."""
    doc = draw(plan_documents())
    if draw(st.booleans()):
        return "district-2015.yaml", draw(byte_damage(_yaml_bytes(doc)))
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow([doc["plan"].get("title", "")])
    writer.writerow(SHEET_HEADER)
    for task in doc["tasks"]:
        writer.writerow([_cell(task.get(k)) for k in ("code", "title", "target", "lead_officials", "lead_unit",
                                                       "supporting_units", "deadline", "section", "veto")])
    return "district-2015.csv", draw(byte_damage(buf.getvalue().encode("utf-8", "surrogatepass")))


def _cell(value: Any) -> str:
    if isinstance(value, list):
        return "、".join(map(str, value))
    return "" if value is None else str(value)
