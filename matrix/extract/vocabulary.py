"""The extractor's character classes and vocabulary: headings, field labels, title and unit suffixes, header lines, dates.

Field labels are written once in traditional script; each character also matches its simplified form.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from duban.matrix.officials import HAN, TITLE_SUFFIXES
from duban.matrix.script import fold, to_simplified, to_traditional

_HAN = HAN  # the officials reader's, one definition
_HAN_RE = re.compile(f"[{_HAN}]")
_TONES = "āáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜüńňǹḿ"
# 區(qū) → 區: only a parenthesised Latin run with a tone mark, right after a character.
_PINYIN = re.compile(
    rf"(?<=[{_HAN}])[(（](?=[a-zA-Z{_TONES}]*[{_TONES}])[a-zA-Z{_TONES}]{{1,8}}[)）]"
)
# Full-width ASCII → ASCII, ideographic space → space: same length, so indices stay valid.
_WIDTH = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)} | {0x3000: 0x20, 0xA0: 0x20, 0x09: 0x20}
_INVISIBLE: dict[int, str | None] = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"), None)
# Control characters no plan text holds (and YAML does not allow): dropped, so that what extract
# writes passes validate. A vertical tab or a line/paragraph separator stands for a space.
_INVISIBLE.update(dict.fromkeys((c for c in range(0x20) if chr(c) not in "\t\n\r\f"), None))
_INVISIBLE.update(dict.fromkeys([*range(0x7F, 0xA0), *range(0xD800, 0xE000), 0xFFFE, 0xFFFF], None))
_INVISIBLE.update({0x0B: " ", 0x2028: " ", 0x2029: " "})

_CN_DIGITS = "〇零一二三四五六七八九十百两兩"
_TERMINAL = "。！？!?；;…"

# A page number inside a line: 戰 3 斗力, 要精準、1 清晰. Not when a measure word follows (25 個村,
# 3 人) unless it continues the document's page sequence (委員會、4 村莊 after page 3).
_PAGE_IN_LINE = re.compile(rf"(?:(?<=[{_HAN}])[ ]+|(?<=[、,;:。]) *)(\d{{1,3}})[ ]+(?=[{_HAN}])")
_MEASURE_WORDS = set(
    "個个戶户人村畝亩元萬万名項项條条次場场年月日號号天周週千百億亿米噸吨頭头支所家座間间套台臺輛辆"
    "批期件份歲岁分倍類类種种處处棟栋級级公里平方小時时多余餘以之位輪轮門门本冊册張张篇部"
)
_PAGE_LINE = re.compile(r"^[-—–_·~\s]*(?:第\s*)?(\d{1,3})\s*(?:[頁页])?(?:\s*[/共]\s*\d{1,3}\s*[頁页]?)?[-—–_·~\s]*$")
_PART = re.compile(r"^\s*第\s*([一二三四五六七八九十\d]+)\s*篇\s*[:：、.．]?\s*(.*)$")

# Headings, matched on the width-folded text. (kind, rank, pattern)
_HEADINGS: tuple[tuple[str, int, re.Pattern[str]], ...] = (
    ("chapter", -1, re.compile(r"^第\s*([一二三四五六七八九十百\d]+)\s*(?:部分|章|節|节)\s*[:、.,]?\s*")),
    ("cn", 0, re.compile(r"^([一二三四五六七八九十百〇零]{1,4})\s*[、.,]\s*")),
    ("step", 1, re.compile(r"^第\s*([一二三四五六七八九十\d]+)\s*(?:階段|阶段|步)\s*[:、.,]?\s*")),
    ("paren_cn", 1, re.compile(r"^\(\s*([一二三四五六七八九十]{1,3})\s*\)\s*[、.,]?\s*")),
    ("dotted", 2, re.compile(rf"^(\d{{1,2}}(?:\.\d{{1,2}}){{2,3}}(?=[{_HAN}])|\d{{1,2}}(?:\.\d{{1,2}}){{1,3}}(?=\s|、|\.\D))[\s、.]*(?=[^\d\s])")),
    ("num", 2, re.compile(r"^(\d{1,2})\s*[.、,)]\s*(?!\d+(?:\.\d+)?(?![\d]*\s*[年月日號号]))")),
    ("paren_num", 3, re.compile(r"^\(\s*(\d{1,2})\s*\)\s*[、.,]?\s*")),
    ("circled", 4, re.compile(r"^([①②③④⑤⑥⑦⑧⑨⑩⑪⑫⑬⑭⑮⑯⑰⑱⑲⑳])\s*")),
)
_CIRCLED = "①②③④⑤⑥⑦⑧⑨⑩⑪⑫⑬⑭⑮⑯⑰⑱⑲⑳"

# Field labels, written once in traditional script; each character also matches its simplified
# form (see _script_class), so 牵头领导, 牽頭領導 and mixtures such as 牵頭领導 all match.
_LABELS: dict[str, tuple[str, ...]] = {
    "target": (
        "目標要求", "目標任務", "任務目標", "工作目標", "具體目標", "目標", "工作內容", "主要內容", "具體內容",
        "任務內容", "任務要求", "工作要求", "建設內容", "實施內容", "工作標準", "完成標準", "具體要求",
        "工作措施", "具體措施", "主要措施", "推進措施",
    ),
    "title": ("任務名稱", "事項名稱", "項目名稱", "工作事項", "任務事項", "事項", "任務", "工作任務",
              "重點任務", "具體任務", "主要任務", "項目"),
    "lead_officials": tuple(
        f"{who}{level}領導"
        for who in ("牽頭", "責任", "分管", "包抓", "包保", "聯繫", "聯系", "掛帥", "負責", "主管", "督辦", "掛鉤", "主抓")
        for level in ("", "區", "縣", "市", "鎮", "鄉", "州", "旗", "區級", "縣級", "市級", "鎮級", "鄉級", "校", "院")
    ) + ("責任人", "負責人", "牽頭負責人", "責任領導人"),
    "lead_unit": (
        "牽頭單位", "主責單位", "主辦單位", "牽頭部門", "主責部門", "主辦部門", "負責單位", "負責部門", "承辦單位",
        "牽頭科室", "主管部門", "主抓單位", "牽頭責任單位", "牽頭責任部門", "責任牽頭單位", "主體責任單位",
    ),
    "responsible": ("責任單位", "責任部門", "實施單位", "落實單位", "責任主體", "責任科室", "承擔單位", "責任股室"),
    "supporting_units": (
        "配合單位", "協辦單位", "參與單位", "配合部門", "協辦部門", "協助單位", "協同單位", "參加單位", "配合科室",
        "參與部門", "協作單位", "協同部門", "協助部門", "配合責任單位",
    ),
    "deadline": (
        "時間要求", "完成時限", "完成時間", "時限要求", "時間節點", "時間安排", "時限", "完成期限", "辦結時限",
        "截止時間", "進度要求", "時間進度", "推進時限", "完成時間節點", "時間", "進度安排", "完成時限要求",
    ),
    "veto": ("一票否決",),
    "note": ("備註", "備注", "說明"),
    "category": ("類別", "任務類別", "分類"),  # a matrix table's 類別 column: the task's section
}
# Short, generic labels are only read at the start of a line (never inline inside prose).
_LINE_START_ONLY = {"類別", "分類", "目標", "時間", "時限", "事項", "任務", "項目", "說明", "工作任務", "主要任務", "重點任務",
                    "具體任務", "工作要求", "具體要求", "工作措施", "具體措施", "主要措施", "推進措施", "負責人", "責任人"}
# Labels that name a title when the value is short and a description when it is long.
_AMBIGUOUS_TITLE = {"工作任務", "重點任務", "具體任務", "主要任務", "任務", "項目"}
# An unknown label at the start of a line (聯繫電話:…) is a leftover when it ends like a field label.
_UNKNOWN_LABEL = re.compile(
    rf"^\s*[【\[]?([{_HAN}]{{2,8}}?(?:要求|領導|领导|單位|单位|部門|部门|時限|时限|時間|时间|目標|目标|任務|任务|內容|内容"
    rf"|措施|責任人|责任人|負責人|负责人|標準|标准|方式|節點|节点|成果|形式|依據|依据|指標|指标|分值|考核|備註|备注|電話|电话|聯繫人|联系人))"
    r"\s*(?:[:：]|[】\]])"
)

_TITLE_SUFFIXES = TITLE_SUFFIXES
_UNIT_SUFFIXES = (
    "辦", "办", "委", "局", "部", "府", "處", "处", "會", "会", "所", "院", "站", "室", "司", "行", "隊", "队", "組",
    "组", "中心", "公司", "社", "館", "馆", "校", "廳", "厅", "支行", "分行", "分局", "黨委", "党委", "工委", "街道",
)
_UNIT_STARTS = set("區区縣县市鎮镇鄉乡各街省州局村")

_DOC_TYPES = re.compile(
    r"(方案|計劃|计划|規劃|规划|意見|意见|通知|辦法|办法|細則|细则|要點|要点|清單|清单|分解表|任務表|任务表|安排|決定|决定"
    r"|報告|报告|總結|总结|責任書|责任书|工作表|台賬|台账|一覽表|一览表)$"
)
_ORG_SUFFIX = re.compile(
    r"(政府|辦公室|办公室|委員會|委员会|領導小組|领导小组|黨委|党委|黨支部|党支部|支部|黨組|党组|局|廳|厅|委|辦|办|院|學院|学院"
    r"|大學|大学|中心|公司|處|处|部|會|会|所|站|街道|鄉|乡|鎮|镇|村)$"
)
_DATE_LINE = re.compile(
    r"^[(（]?\s*(?:(\d{4})|([〇零一二三四五六七八九]{4}))\s*年\s*[\d一二三四五六七八九十]{1,3}\s*月"
    r"\s*[\d一二三四五六七八九十]{1,3}\s*[日号號]\s*[)）]?$"
)
_DOC_NUMBER = re.compile(r"[〔\[【(（]\s*\d{4}\s*[〕\]】)）]\s*\d+\s*[號号]")
_YEAR_4 = re.compile(r"(?<!\d)(\d{4})\s*年")
_YEAR_CN = re.compile(r"([〇零一二三四五六七八九]{4})年")
_ADDRESSEES = re.compile(rf"^[{_HAN}、,，()]{{4,80}}:$")


def _is_addressees(norm: str) -> bool:
    """各鄉鎮人民政府，縣政府各部門： — the bodies a notice is sent to, each an organisation."""
    if not _ADDRESSEES.match(norm):
        return False
    names = [p for p in re.split(r"[、,，]", norm[:-1]) if p]
    return all(_ORG_SUFFIX.search(p) or p.endswith(_ADDRESSEE_GROUPS) for p in names)


# How notices address whole groups of bodies: 區政府各部門, 縣級有關部門, 各相關單位, 直屬機構.
_ADDRESSEE_GROUPS = tuple(f"{q}{what}" for q in ("各", "有關", "有关", "相關", "相关")
                          for what in ("部門", "部门", "單位", "单位")) + ("直屬機構", "直属机构")


_ATTACHMENT = re.compile(r"^附\s*件\s*[\d一二三四五六七八九十]*\s*[:：]?$")
# 現將《…》印發給你們 / 《…》已經縣政府同意，現印發給你們，請認真貫徹落實。
_COVER_LETTER = re.compile(r"^(?:現將|现将|今將|今将|《).{0,100}(?:印發|印发|轉發|转发)給?给?你們?们?")
_NOTICE_ISSUER = re.compile(r"^(.{2,40}?)(?:關於|关于)(?:印發|印发|轉發|转发)")
_ISSUED_TITLE = re.compile(r"印發\s*《(.+?)》|印发\s*《(.+?)》|《(.+?)》的通知")

_STEPS_SECTION = re.compile(
    r"步骤|工作安排|时间安排|进度安排|实施阶段|阶段安排|推进安排|时间节点|推进计划|进度计划|实施进度|工作进度|实施计划安排"
)
_CURRENT_SECTION = re.compile(r"当前工作|近期工作|当前重点|近期重点|下步工作|下一步工作|近期安排|当前任务|近期任务|下步打算|下一步打算|近期主要工作")
_STAGE_TITLE = re.compile(r"(阶段|階段)$")

# A date phrase inside free text (for current-work items): 7月17日, 于7月20日前, 2015年底前,
# 2015年7月—8月, 3月1日至3月15日. Verified with the deadline language before it is used.
_D = r"(?:\d{1,2}|[一二三四五六七八九十]{1,3})"
_Y = r"(?:\d{4}|[〇零一二三四五六七八九]{4})\s*年"
_ONE_DATE = rf"(?:(?:{_Y})?{_D}\s*月(?:{_D}\s*[日號号]|上旬|中旬|下旬|初|底|末)?|{_Y}(?:底|末|年底)?|(?:{_Y})?(?:上半年|下半年|年底|年末|第[一二三四]季度))"
_DATE_PHRASE = re.compile(
    rf"(?:于|於|在|截至|截止|到)?({_ONE_DATE}(?:\s*(?:至|到|—{{1,2}}|-|~|–)\s*{_ONE_DATE})?(?:之前|以前|底前|前)?)"
)

_TRUE_WORDS = {"是", "√", "✓", "yes", "y", "true", "1", "實行", "实行"}


def _script_class(ch: str) -> str:
    """A regex for one character in either script: 頭 → [頭头]."""
    if not _HAN_RE.match(ch):
        return re.escape(ch)
    forms = {ch}
    for f in (to_simplified(ch), to_traditional(ch)):
        if len(f) == 1:
            forms.add(f)
    extra = {"於": "于", "于": "於", "系": "係繫", "繫": "系係", "係": "系繫", "注": "註", "註": "注"}.get(ch, "")
    forms.update(extra)
    return "[" + "".join(sorted(forms)) + "]" if len(forms) > 1 else ch


@dataclass(frozen=True, slots=True)
class _Vocabulary:
    line_label: re.Pattern[str]
    inline_label: re.Pattern[str]
    kind_of: dict[str, tuple[str, str]]  # fold(label) → (kind, canonical label)


@lru_cache(maxsize=1)
def _vocabulary() -> _Vocabulary:
    """Label patterns, built once (OpenCC is loaded on first use, not at import)."""
    kind_of: dict[str, tuple[str, str]] = {}
    everything: list[str] = []
    inline: list[str] = []
    for kind, labels in _LABELS.items():
        for label in labels:
            kind_of.setdefault(fold(label), (kind, label))
            everything.append(label)
            if label not in _LINE_START_ONLY:
                inline.append(label)

    def alternation(labels: list[str]) -> str:
        labels = sorted(set(labels), key=len, reverse=True)
        return "|".join("".join(_script_class(c) for c in label) for label in labels)

    qualifier = r"(?:\s*\([^()]{1,8}\))?"  # 牽頭單位(部門):
    line_label = re.compile(
        rf"^\s*(?:[●■◆▲★☆◇○•·\-—*>]\s*)?(?:\[|【)?\s*({alternation(everything)}){qualifier}\s*(?::|[】\]]\s*:?)\s*"
    )
    inline_label = re.compile(
        rf"(?:^|(?<=[\s;。,、()]))\s*(?:\[|【)?({alternation(inline)}){qualifier}\s*(?::|[】\]]\s*:?)\s*"
    )
    return _Vocabulary(line_label=line_label, inline_label=inline_label, kind_of=kind_of)


def _label_kind(label: str) -> tuple[str, str]:
    return _vocabulary().kind_of.get(fold(label), ("target", label))


@lru_cache(maxsize=1)
def _common_chars() -> frozenset[str]:
    """The 3,755 most common characters (GB2312 level 1) in both scripts: what mojibake rarely is."""
    level1 = bytearray()
    for hi in range(0xB0, 0xD8):
        for lo in range(0xA1, 0xFF):
            level1 += bytes((hi, lo))
    text = level1.decode("gb2312", errors="ignore")
    return frozenset(text) | frozenset(to_traditional(text))
