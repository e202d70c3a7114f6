"""Notice templates: every kind in every language and format, script conversion, overrides, escaping, subjects."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import jinja2
import pytest

from duban.matrix.errors import ConfigError
from duban.notifications.render import (
    LANGUAGES,
    Letterhead,
    NoticeView,
    RecipientView,
    Renderer,
    chinese_date,
    chinese_number,
    english_date,
    quantity,
)

D = dt.date
LETTERHEAD = Letterhead(issuer="區扶貧開發領導小組辦公室", date=D(2015, 12, 4), number="督辦〔2015〕12號")
UNIT = RecipientView(name="區交委", email="jiaowei@example.org")


def view(**kw) -> NoticeView:
    """A chase of 3.2.1 (交通建設), 18 of 25 villages done, as the district plan writes it (traditional)."""
    base = dict(
        notice_id=1, key="chase:m2:2015-12-31:n1", kind="chase", level=0, colour="",
        plan_code="district-2015", plan_title="全區扶貧攻堅工作方案", issuer="區扶貧開發領導小組辦公室",
        task_code="3.2.1", task_title="交通建設",
        target="貧困村村級道路硬化或油化1條以上;70%以上的村民小組通泥結石路",
        lead_unit="區交委", supporting_units=("區農委", "區城鄉建委"), lead_officials=("劉儀(區人民政府副區長)",),
        label="2015年底完成25個村", due=D(2015, 12, 31), days=3,
        quantity=Decimal("25.0000"), measure="村", done_quantity=Decimal("18"),
        min_count=None, done_count=None, min_amount=None, done_amount=None, amount_unit=None,
        required_by=D(2016, 1, 11), planned_for=D(2016, 1, 6),
        to=(RecipientView(name="區交委", role="unit"),),
        cc=(RecipientView(name="區農委", role="unit"), RecipientView(name="區城鄉建委", role="unit")),
    )
    base.update(kw)
    return NoticeView(**base)


def reminder(**kw) -> NoticeView:
    return view(**{"kind": "reminder", "key": "reminder:m2:2015-12-31:d5", "days": 5, "planned_for": D(2015, 12, 24),
                   "required_by": D(2015, 12, 31), **kw})


def escalation(level: int, **kw) -> NoticeView:
    colour = {1: "藍", 2: "橙", 3: "紅"}[level]
    to = {1: (RecipientView(name="區交委", title="主任", role="unit_head"),),
          2: (RecipientView(name="劉儀", title="區人民政府副區長", role="official"),),
          3: (RecipientView(name="區扶貧開發領導小組辦公室", title="主任", role="office_head"),
              RecipientView(name="楊宏偉", title="區委書記", role="top_leader"))}[level]
    cc = (RecipientView(name="區扶貧開發領導小組辦公室", role="office"),) if level == 2 else ()
    return view(**{"kind": "escalation", "key": f"escalation:m2:2015-12-31:L{level}", "level": level, "colour": colour,
                   "notice_id": 10 + level, "to": to, "cc": cc, **kw})


def everything(renderer: Renderer, unit: str = "區交委", **kw):
    """(name, Rendered) for every kind of output."""
    views = [reminder(**kw), view(**kw), escalation(1, **kw), escalation(2, **kw), escalation(3, **kw)]
    out = [(f"{v.kind}{v.level or ''}", renderer.notice(v, UNIT, letterhead=LETTERHEAD)) for v in views]
    out.append(("digest", renderer.digest(views, RecipientView(name=unit), letterhead=LETTERHEAD)))
    for kind in ("criticism", "praise"):
        out.append((kind, renderer.circulation(kind, unit, ["“3.2.1 交通建設”逾期3個工作日仍未辦結", "未按要求報送進展"],
                                               letterhead=LETTERHEAD, rectify_by=D(2016, 1, 13),
                                               period="2016年1月4日至8日")))
    return out


# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_kind_renders_in_every_language_as_text_and_html(language: str) -> None:
    for name, r in everything(Renderer(language=language)):
        assert r.subject and "\n" not in r.subject, name
        assert r.html.startswith("<!DOCTYPE html>") and f'<html lang="{language}">' in r.html, name
        assert r.html.rstrip().endswith("</html>"), name
        assert "區扶貧開發領導小組辦公室" in r.text or "区扶贫开发领导小组办公室" in r.text, name  # the 落款
        assert "\r" not in r.text and not re.search(r"<[a-z/]", r.text), name  # plain text, no markup
        assert "border-top:3px solid #c00000" in r.html, name  # the red header rule
        assert "<style" not in r.html, name  # inline CSS only


def test_simplified_output_is_simplified_and_traditional_is_traditional() -> None:
    for language, wanted, unwanted in (("zh-Hans", ("区交委", "督办"), ("區交委", "督辦")),
                                       ("zh-Hant", ("區交委", "督辦"), ("区交委", "督办"))):
        for name, r in everything(Renderer(language=language)):
            whole = r.subject + r.text + r.html
            for word in wanted:
                assert word in whole, (language, name, word)
            for word in unwanted:
                assert word not in whole, (language, name, word)


def test_official_wording_and_dates() -> None:
    r = Renderer(language="zh-Hans")
    chase = r.notice(view(), UNIT, letterhead=LETTERHEAD)
    assert "请你单位高度重视，于2016年1月11日前将办理情况书面报送区扶贫开发领导小组办公室。" in chase.text
    assert "逾期未办结的，将按程序提级督办。" in chase.text
    assert "主送" not in chase.text.split("\n")[4] and "区交委：" in chase.text  # 主送 line: the lead unit
    assert "抄送：区农委，区城乡建委。" in chase.text
    assert "2015年12月4日" in chase.text and "督办〔2015〕12号" in chase.text
    red = r.notice(escalation(3), UNIT, letterhead=LETTERHEAD)
    assert "红色督办" in red.text and "三级" in red.text and "#c00000" in red.html
    assert "区扶贫开发领导小组办公室主任、杨宏伟同志：" in red.text
    orange = r.notice(escalation(2), UNIT, letterhead=LETTERHEAD)
    assert "橙色督办" in orange.html and "#e07b00" in orange.html and "刘仪同志：" in orange.text
    en = Renderer(language="en").notice(escalation(1), UNIT, letterhead=LETTERHEAD)
    assert "BLUE · LEVEL 1" in en.html and "4 December 2015" in en.text and "3 working days overdue" in en.text


def test_a_deadline_typed_as_a_date_is_not_named_twice() -> None:
    """A sheet's Excel date cell is stored as its day (2026年9月30日): the letter names that day once, not
    「2026年9月30日（2026年9月30日）」; a label that says more keeps the day beside it."""
    for language, day in (("zh-Hans", "2015年12月31日"), ("zh-Hant", "2015年12月31日")):
        text = Renderer(language=language).notice(view(label=day), UNIT, letterhead=LETTERHEAD).text
        assert f"{day}（" not in text and day in text, language
        worded = Renderer(language=language).notice(view(), UNIT, letterhead=LETTERHEAD).text
        assert f"（{day}）" in worded, language


def test_subjects_are_stable_per_task() -> None:
    r = Renderer(language="zh-Hans")
    # One task, one subject, whatever the kind or level: one thread in every mail client.
    assert r.notice(escalation(2), UNIT, letterhead=LETTERHEAD).subject == "【督办事项】3.2.1 交通建设"
    assert r.notice(view(), UNIT, letterhead=LETTERHEAD).subject == "【督办事项】3.2.1 交通建设"
    assert r.notice(reminder(), UNIT, letterhead=LETTERHEAD).subject == "【督办事项】3.2.1 交通建设"
    later = view(days=9, planned_for=D(2016, 1, 14), notice_id=7, key="chase:m2:2015-12-31:n3")
    assert r.notice(later, UNIT, letterhead=replace(LETTERHEAD, date=D(2016, 1, 14))).subject == "【督办事项】3.2.1 交通建设"
    digest = r.digest([view(), reminder()], UNIT, letterhead=LETTERHEAD)
    assert digest.subject == "【催办】区交委 待办事项 2 项（2016年1月6日）"
    assert Renderer(language="en").notice(escalation(3), UNIT, letterhead=LETTERHEAD).subject == "[Supervision] 3.2.1 交通建設"


def test_a_subject_never_contains_a_line_break() -> None:
    nasty = "交通\r\n建設\nBcc: evil@example.org\r\t  x"
    for language in LANGUAGES:
        r = Renderer(language=language)
        for name, rendered in everything(r, unit="區交委\r\nBcc: evil@example.org", task_title=nasty):
            assert "\r" not in rendered.subject and "\n" not in rendered.subject, (language, name)
            assert "  " not in rendered.subject and rendered.subject == rendered.subject.strip()
        subject = r.notice(view(task_title=nasty), UNIT, letterhead=LETTERHEAD).subject
        assert subject.endswith("3.2.1 交通 建設 Bcc: evil@example.org x") or subject.endswith("3.2.1 交通 建设 Bcc: evil@example.org x")


def test_html_escapes_names_targets_and_facts() -> None:
    evil_unit = "區交委<script>alert(1)</script>"
    for language in LANGUAGES:
        r = Renderer(language=language)
        views = [v for v in (view(), reminder(), escalation(2))]
        views = [replace(v, lead_unit=evil_unit, target="<b>加粗</b> & 更多", task_title="交通<img src=x onerror=alert(1)>",
                         to=(RecipientView(name=evil_unit),), supporting_units=("區農委<i>",)) for v in views]
        outputs = [r.notice(v, RecipientView(name=evil_unit), letterhead=LETTERHEAD) for v in views]
        outputs.append(r.digest(views, RecipientView(name=evil_unit), letterhead=LETTERHEAD))
        outputs.append(r.circulation("criticism", evil_unit, ["<b>逾期</b>"], letterhead=LETTERHEAD,
                                     rectify_by=D(2016, 1, 13), period="<u>本周</u>"))
        for out in outputs:
            assert "<script>" not in out.html and "&lt;script&gt;" in out.html
            assert "<b>加粗" not in out.html and "<b>逾期" not in out.html and "<img" not in out.html
            assert "&lt;b&gt;" in out.html
            assert "<script>" in out.text  # plain text carries it as text, harmlessly


def test_line_breaks_in_data_do_not_break_text_lines() -> None:
    r = Renderer(language="zh-Hans")
    out = r.notice(view(lead_unit="區交\r\n委", target="第一行\r第二行"), UNIT, letterhead=LETTERHEAD)
    assert "\r" not in out.text and "第一行 第二行" in out.text


def test_rendering_is_deterministic() -> None:
    for language in LANGUAGES:
        first = everything(Renderer(language=language))
        again = everything(Renderer(language=language))
        assert [(n, r.subject.encode(), r.text.encode(), r.html.encode()) for n, r in first] == \
               [(n, r.subject.encode(), r.text.encode(), r.html.encode()) for n, r in again]


def test_digest_orders_escalations_then_chases_then_reminders() -> None:
    items = [reminder(notice_id=1), view(notice_id=2), escalation(1), escalation(3), view(notice_id=5, task_code="3.1"),
             replace(reminder(notice_id=6), is_cc=True)]
    r = Renderer(language="zh-Hans")
    out = r.digest(items, UNIT, letterhead=LETTERHEAD)
    text = out.text
    marks = [text.index(m) for m in ("【督办·红】", "【督办·蓝】", "【催办】3.1", "【催办】3.2.1", "【提醒】")]
    assert marks == sorted(marks)
    assert "已完成18/25村" in text and "已完成18/25村" in out.html
    assert "一、督办事项（2项）" in text and "二、催办事项（2项）" in text and "三、提醒事项（2项）" in text
    assert "（抄送）" in text and "（主送）" in text
    assert "已逾期3个工作日" in text and "距完成时限还有5个工作日" in text
    assert out.subject == "【督办】区交委 待办事项 6 项（2016年1月6日）"
    html_marks = [out.html.index(f">{m}</span>") for m in ("督办·红", "督办·蓝", "催办", "提醒")]
    assert html_marks == sorted(html_marks)
    en = Renderer(language="en").digest(items, UNIT, letterhead=LETTERHEAD).text
    assert en.index("[Red]") < en.index("[Blue]") < en.index("[Chase]") < en.index("[Reminder]") and "18/25 村 done" in en


def test_recurring_obligations_show_counts_and_amounts() -> None:
    r = Renderer(language="zh-Hans")
    monthly = view(quantity=None, measure=None, done_quantity=None, min_count=2, done_count=1, label="每月")
    money = view(quantity=None, measure=None, done_quantity=None, min_amount=Decimal("300.0000"),
                 done_amount=Decimal("200.50"), amount_unit="元", label="春節前每戶不少於三百元")
    assert "本期已完成1/2次" in r.notice(monthly, UNIT, letterhead=LETTERHEAD).text
    assert "已落实200.5/300元" in r.notice(money, UNIT, letterhead=LETTERHEAD).text


def test_person_names_keep_their_characters_in_traditional_script() -> None:
    v = view(lead_officials=("夏于峰(區委常委、區人民政府常務副區長)",))
    hant = Renderer(language="zh-Hant").notice(v, UNIT, letterhead=LETTERHEAD)
    # (and the half-width parentheses of the data come out full-width, as an official document has them)
    assert "夏于峰（區委常委、區人民政府常務副區長）" in hant.text and "夏於峯" not in hant.text + hant.html
    hans = Renderer(language="zh-Hans").notice(v, UNIT, letterhead=LETTERHEAD)
    assert "夏于峰（区委常委、区人民政府常务副区长）" in hans.text
    assert "\ue000" not in hant.text + hant.html + hans.text + hans.html


def test_a_cc_copy_says_so() -> None:
    r = Renderer(language="zh-Hans")
    out = r.notice(replace(reminder(), is_cc=True), RecipientView(name="區農委"), letterhead=LETTERHEAD)
    assert "区交委：" in out.text and "请积极配合区交委抓好落实" in out.text and "抄送：区农委，区城乡建委。" in out.text


# --------------------------------------------------------------------------------------------
# Digests: each item asks its recipient what the letter of that kind and level asks of that role.
# Recipients as a delivery gives them: the directory's display form, no title (notifications.recipients).

OFFICE_NAME = "区扶贫开发领导小组办公室"
REPORTS = f"于2016年1月11日前将办理情况和整改措施书面报送{OFFICE_NAME}"  # the lead unit's report, to the office
RED = "逾期仍未办结的，将予以通报批评，并纳入年度目标考核。"
FURTHER = "逾期仍未办结的，将按程序提级督办。"
LEAD = [  # the lead unit (or its head): does the work and reports
    f"提请主要领导督办。请区交委立即整改落实，{REPORTS}。{RED}",
    f"提请牵头领导督促落实。请区交委{REPORTS}。{FURTHER}",
    f"请区交委主要负责同志亲自过问、专题研究。请区交委{REPORTS}。{FURTHER}",
    f"请你单位高度重视，于2016年1月11日前将办理情况书面报送{OFFICE_NAME}。逾期未办结的，将按程序提级督办。",
    f"请你单位高度重视，对照目标要求加快推进，确保于2015年12月31日前按期完成，并将完成情况及时书面报送{OFFICE_NAME}。"
    "确有困难需要延期的，请在到期前提出延期申请。",
]
LEADER = [  # a lead official or the top leader: sees that the lead unit does it
    f"提请主要领导督办。请督促区交委立即整改落实，{REPORTS}。{RED}",
    f"提请牵头领导督促落实。请督促区交委{REPORTS}。{FURTHER}",
    f"请区交委主要负责同志亲自过问、专题研究。请督促区交委{REPORTS}。{FURTHER}",
    f"请督促区交委于2016年1月11日前将办理情况书面报送{OFFICE_NAME}。逾期未办结的，将按程序提级督办。",
    f"请督促区交委对照目标要求加快推进，确保于2015年12月31日前按期完成，并将完成情况及时书面报送{OFFICE_NAME}。",
]
LEADER_CC = [
    f"请知悉，并督促区交委立即整改落实，{REPORTS}。",
    f"请知悉，并督促区交委{REPORTS}。",
    f"请知悉，并督促区交委{REPORTS}。",
    f"请知悉，并督促区交委于2016年1月11日前将办理情况书面报送{OFFICE_NAME}。",
    f"请知悉，并督促区交委对照目标要求加快推进，确保于2015年12月31日前按期完成，并将完成情况及时书面报送{OFFICE_NAME}。",
]
OFFICE = [  # the office follows it up; the report it awaits is not "to" itself
    f"提请主要领导督办。请跟踪督促区交委立即整改落实，于2016年1月11日前报送办理情况和整改措施。{RED}",
    f"提请牵头领导督促落实。请跟踪督促区交委于2016年1月11日前报送办理情况和整改措施。{FURTHER}",
    f"请区交委主要负责同志亲自过问、专题研究。请跟踪督促区交委于2016年1月11日前报送办理情况和整改措施。{FURTHER}",
    "请跟踪督促区交委于2016年1月11日前报送办理情况。逾期未办结的，将按程序提级督办。",
    "请跟踪督促区交委对照目标要求加快推进，确保于2015年12月31日前按期完成。",
]
OFFICE_CC = [
    "请知悉，并跟踪督促区交委立即整改落实，于2016年1月11日前报送办理情况和整改措施。",
    "请知悉，并跟踪督促区交委于2016年1月11日前报送办理情况和整改措施。",
    "请知悉，并跟踪督促区交委于2016年1月11日前报送办理情况和整改措施。",
    "请知悉，并跟踪督促区交委于2016年1月11日前报送办理情况。",
    "请知悉，并跟踪督促区交委对照目标要求加快推进，确保于2015年12月31日前按期完成。",
]
SUPPORT = ["你单位为该项工作的配合单位，请积极配合区交委抓好落实。"] * 5

DIGEST_CASES = {  # name: (recipient, as 抄送, salutation, 办理要求 of 红/橙/蓝 escalations, the chase, the reminder)
    "unit": (RecipientView(name="區交委", email="jiaowei@example.org", role="unit"), False, "区交委：", LEAD),
    "unit cc": (RecipientView(name="區農委", email="nongwei@example.org", role="unit"), True, "区农委：", SUPPORT),
    "unit_head": (RecipientView(name="區交委 主任", role="unit_head"), False, "区交委主任：", LEAD),
    "unit_head cc": (RecipientView(name="區交委 主任", role="unit_head"), True, "区交委主任：", LEAD),
    "official": (RecipientView(name="劉儀(區人民政府副區長)", role="official"), False, "刘仪同志：", LEADER),
    "official cc": (RecipientView(name="劉儀(區人民政府副區長)", role="official"), True, "刘仪同志：", LEADER_CC),
    "top_leader": (RecipientView(name="楊宏偉(區委書記)", role="top_leader"), False, "杨宏伟同志：", LEADER),
    "top_leader cc": (RecipientView(name="楊宏偉(區委書記)", role="top_leader"), True, "杨宏伟同志：", LEADER_CC),
    "office": (RecipientView(name="區扶貧開發領導小組辦公室", role="office"), False, f"{OFFICE_NAME}：", OFFICE),
    "office cc": (RecipientView(name="區扶貧開發領導小組辦公室", role="office"), True, f"{OFFICE_NAME}：", OFFICE_CC),
    "office_head": (RecipientView(name="區扶貧開發領導小組辦公室 主任", role="office_head"), False, f"{OFFICE_NAME}主任：", OFFICE),
    "office_head cc": (RecipientView(name="區扶貧開發領導小組辦公室 主任", role="office_head"), True, f"{OFFICE_NAME}主任：", OFFICE_CC),
}


def every_notice(**kw) -> list[NoticeView]:
    return [escalation(3, **kw), escalation(2, **kw), escalation(1, **kw), view(**kw), reminder(**kw)]


def requirements(out) -> tuple[list[str], list[str]]:
    """The 办理要求 of each item, from the text and from the HTML."""
    text = re.findall(r"^   (?:办理要求|辦理要求)：(.*)$", out.text, re.M)
    html = re.findall(r"<b>(?:办理要求|辦理要求)：</b>(.*?)</td>", out.html)
    return text, html


def requirements_en(out) -> tuple[list[str], list[str]]:
    """The "Required" of each item, from the text and from the HTML."""
    return (re.findall(r"^     Required:   (.*)$", out.text, re.M), re.findall(r"<b>Required:</b> (.*?)</td>", out.html))


@pytest.mark.parametrize("case", DIGEST_CASES)
def test_a_digest_item_asks_its_recipient_what_the_letter_asks_of_that_role(case: str) -> None:
    recipient, cc, salutation, wanted = DIGEST_CASES[case]
    out = Renderer(language="zh-Hans").digest([replace(v, is_cc=cc) for v in every_notice()], recipient,
                                              letterhead=LETTERHEAD)
    lines = out.text.splitlines()
    assert lines[lines.index("督办事项汇总通知") + 2] == salutation
    assert f">{salutation}</p>" in out.html
    assert out.subject == f"【督办】{salutation[:-1]} 待办事项 5 项（2016年1月6日）"
    assert re.findall(r"^\d+\. 【(.+?)】", out.text, re.M) == ["督办·红", "督办·橙", "督办·蓝", "催办", "提醒"]
    text, html = requirements(out)
    assert text == wanted and html == wanted  # the HTML says what the text says
    if case.startswith(("official", "top_leader", "office")):  # told to see to it, never to do or report it themselves
        assert "你单位" not in out.text and "请区交委于" not in out.text
    if case.startswith("office"):  # never to cooperate with, or report to, itself
        assert not [t for t in text if "配合" in t or f"报送{OFFICE_NAME}" in t]


def test_a_digest_item_is_worded_by_the_letter_of_its_kind_and_level() -> None:
    """The item for whom a letter is addressed to is that letter's own sentences (no second wording)."""
    r = Renderer(language="zh-Hans")
    addressed = {3: DIGEST_CASES["top_leader"][0], 2: DIGEST_CASES["official"][0], 1: DIGEST_CASES["unit_head"][0],
                 0: DIGEST_CASES["unit"][0]}
    for v in every_notice():
        letter = r.notice(v, UNIT, letterhead=LETTERHEAD).text
        [item], _ = requirements(r.digest([v], addressed[v.level], letterhead=LETTERHEAD))
        sentences = [s + "。" for s in item.split("。") if s]
        assert len(sentences) >= 2 and all(s in letter for s in sentences), (v.kind, v.level, item)


def test_a_digest_opens_with_what_its_recipient_is_asked_to_do() -> None:
    r = Renderer(language="zh-Hans")
    intro = {case: r.digest([replace(v, is_cc=DIGEST_CASES[case][1]) for v in every_notice()], DIGEST_CASES[case][0],
                            letterhead=LETTERHEAD).text.split("\n　　", 1)[1].split("\n")[0]
             for case in ("unit", "unit cc", "top_leader", "office cc")}
    opening = "根据《全区扶贫攻坚工作方案》分工，截至2016年1月6日，以下5项工作逾期未办结或即将到期（其中督办3项、催办1项、提醒1项），"
    assert intro == {
        "unit": opening + "请按各事项所列办理要求逐项抓好落实。已办结的，请一并报送佐证材料。",
        "unit cc": opening + "请按各事项所列办理要求逐项抓好落实。",
        "top_leader": opening + "请按各事项所列要求督促落实。",
        "office cc": opening + "请按各事项所列要求跟踪督办。",
    }
    chases = r.digest([view()], UNIT, letterhead=LETTERHEAD).text
    assert "以下1项工作逾期未办结，" in chases and "其中" not in chases  # one kind: no breakdown of zeros
    assert "以下1项工作即将到期，" in r.digest([reminder()], UNIT, letterhead=LETTERHEAD).text


def test_one_address_in_two_roles_is_asked_each_notice_by_its_role_there() -> None:
    """李衛東 heads 區委組織部 and is the task's lead official: one digest, the blue item as the unit's head,
    the orange one as the lead official, addressed by name."""
    head = RecipientView(name="區委組織部", title="部長", email="li.weidong@example.org", role="unit_head")
    official = RecipientView(name="李衛東", title="區委常委、區委組織部部長", email="li.weidong@example.org", role="official")
    blue = escalation(1, lead_unit="區委組織部", to=(head,))
    orange = escalation(2, lead_unit="區委組織部", to=(official,))
    recipient = RecipientView(name="區委組織部 部長 李衛東", email="li.weidong@example.org", role="unit_head")
    out = Renderer(language="zh-Hans").digest([blue, orange], recipient, letterhead=LETTERHEAD)
    assert "\n李卫东同志：\n" in out.text and out.subject.startswith("【督办】李卫东同志 ")
    text, html = requirements(out)
    assert text == html == [f"提请牵头领导督促落实。请督促区委组织部{REPORTS}。{FURTHER}",
                            f"请区委组织部主要负责同志亲自过问、专题研究。请区委组织部{REPORTS}。{FURTHER}"]


def test_digest_salutations_in_traditional_script_and_english() -> None:
    hant = Renderer(language="zh-Hant")
    for case, salutation in (("official", "劉儀同志："), ("top_leader", "楊宏偉同志："), ("unit_head", "區交委主任："),
                             ("office_head", "區扶貧開發領導小組辦公室主任：")):
        out = hant.digest(every_notice(), DIGEST_CASES[case][0], letterhead=LETTERHEAD)
        assert f"\n{salutation}\n" in out.text and f">{salutation}</p>" in out.html, case
    en = Renderer(language="en")
    for case, salutation in (("official", "劉儀 (區人民政府副區長)"), ("top_leader", "楊宏偉 (區委書記)"),
                             ("unit_head", "主任, 區交委"), ("office_head", "主任, 區扶貧開發領導小組辦公室")):
        out = en.digest(every_notice(), DIGEST_CASES[case][0], letterhead=LETTERHEAD)
        assert f"\nTo: {salutation}\n" in out.text and f">To: {salutation}</p>" in out.html, case


def test_english_digest_items_ask_each_role_its_part() -> None:
    en = Renderer(language="en")
    issuer, by = "區扶貧開發領導小組辦公室", "11 January 2016"

    def items(case: str) -> list[str]:
        recipient, cc, _, _ = DIGEST_CASES[case]
        text, html = requirements_en(en.digest([replace(v, is_cc=cc) for v in every_notice()], recipient, letterhead=LETTERHEAD))
        assert text == html, case
        return text

    lead, leader, office, office_cc, support = items("unit"), items("top_leader"), items("office"), items("office cc"), items("unit cc")
    assert lead[2] == (f"The head of 區交委 is asked to take charge of it personally. 區交委 is to report in writing to {issuer}, "
                       f"with the corrective measures, by {by}. Items still open after that will be escalated further.")
    assert lead[3] == f"Please report in writing to {issuer} on what has been done by {by}. Items still open after that will be escalated."
    assert leader[0] == (f"It is referred to the principal leaders. Please have 區交委 put this right at once and report in writing "
                         f"to {issuer}, with the corrective measures, by {by}. If it is still open then, the unit will be publicly "
                         "criticised and the item counted in the annual assessment.")
    assert leader[4] == (f"Please have 區交委 give this item priority, complete it by 31 December 2015 and report the outcome "
                         f"in writing to {issuer}.")
    assert office[1] == (f"The lead officials are asked to see it through. Please follow this up and have 區交委 report, with the "
                         f"corrective measures, by {by}. Items still open after that will be escalated further.")
    assert office_cc[1] == f"For your information; please follow this up and have 區交委 report, with the corrective measures, by {by}."
    assert not [t for t in office + office_cc if issuer in t or "work with" in t]
    assert support == ["Your unit supports this item: please work with 區交委 to get it done."] * 5


# --------------------------------------------------------------------------------------------
# Overrides and strictness


def test_an_office_template_wins_over_the_package_one(tmp_path: Path) -> None:
    (tmp_path / "zh-Hans").mkdir()
    (tmp_path / "zh-Hans" / "reminder.txt.j2").write_text("本办自定义提醒：{{ v.task_code }} {{ v.lead_unit }}\n", encoding="utf-8")
    out = Renderer(language="zh-Hans", override_dir=tmp_path).notice(reminder(), UNIT, letterhead=LETTERHEAD)
    assert out.text == "本办自定义提醒：3.2.1 区交委\n"
    assert "提醒函" in out.html  # the HTML still comes from the package
    hant = Renderer(language="zh-Hant", override_dir=tmp_path).notice(reminder(), UNIT, letterhead=LETTERHEAD)
    assert hant.text == "本辦自定義提醒：3.2.1 區交委\n"  # written once in simplified, converted
    (tmp_path / "zh-Hant").mkdir()
    (tmp_path / "zh-Hant" / "reminder.txt.j2").write_text("繁體專用 {{ v.task_code }}\n", encoding="utf-8")
    assert Renderer(language="zh-Hant", override_dir=tmp_path).notice(reminder(), UNIT, letterhead=LETTERHEAD).text == "繁體專用 3.2.1\n"
    plain = Renderer(language="zh-Hans").notice(reminder(), UNIT, letterhead=LETTERHEAD)
    assert "本办自定义" not in plain.text


def test_strict_undefined_raises_on_a_missing_variable(tmp_path: Path) -> None:
    (tmp_path / "en").mkdir()
    (tmp_path / "en" / "chase.html.j2").write_text("<p>{{ v.task_code }}</p>\n<p>{{ no_such_thing }}</p>\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"chase\.html\.j2:2.*no_such_thing") as info:
        Renderer(language="en", override_dir=tmp_path).notice(view(), UNIT, letterhead=LETTERHEAD)
    assert isinstance(info.value.__cause__, jinja2.UndefinedError)
    (tmp_path / "en" / "chase.html.j2").write_text("<p>{{ v.no_such_field }}</p>\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="no_such_field"):
        Renderer(language="en", override_dir=tmp_path).notice(view(), UNIT, letterhead=LETTERHEAD)


def test_autoescape_is_on_for_html_and_off_for_text(tmp_path: Path) -> None:
    (tmp_path / "en").mkdir()
    (tmp_path / "en" / "praise.txt.j2").write_text("{{ unit }}\n", encoding="utf-8")
    (tmp_path / "en" / "praise.html.j2").write_text("{{ unit }}\n", encoding="utf-8")
    out = Renderer(language="en", override_dir=tmp_path).circulation("praise", "A&B <C>", [], letterhead=LETTERHEAD,
                                                                     rectify_by=D(2016, 1, 1), period="")
    assert out.text == "A&B <C>\n" and out.html == "A&amp;B &lt;C&gt;\n"


def test_a_template_syntax_error_names_the_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "zh-Hans").mkdir()
    (tmp_path / "zh-Hans" / "praise.txt.j2").write_text("ok\n{% if %}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"praise\.txt\.j2:2"):
        Renderer(language="zh-Hans", override_dir=tmp_path).circulation("praise", "區交委", [], letterhead=LETTERHEAD,
                                                                        rectify_by=D(2016, 1, 1), period="")


def test_unknown_language_and_kinds_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="fr"):
        Renderer(language="fr")
    r = Renderer()
    with pytest.raises(ConfigError, match="bogus"):
        r.notice(view(kind="bogus"), UNIT, letterhead=LETTERHEAD)
    with pytest.raises(ConfigError, match="reward"):
        r.circulation("reward", "區交委", [], letterhead=LETTERHEAD, rectify_by=D(2016, 1, 1), period="")


def test_filters() -> None:
    assert [quantity(x) for x in (Decimal("25.0000"), Decimal("12.50"), Decimal("0.25"), 3, None)] == ["25", "12.5", "0.25", "3", ""]
    assert chinese_date(D(2015, 12, 4)) == "2015年12月4日" and english_date(D(2015, 12, 4)) == "4 December 2015"
    assert [chinese_number(n) for n in (1, 3, 10, 12, 20, 23)] == ["一", "三", "十", "十二", "二十", "二十三"]


def test_traditional_script_uses_the_forms_plans_are_written_in() -> None:
    """zh-Hant output writes 考核 and 為 as the seeds do, not OpenCC's etymological 考覈 and 爲."""
    red = Renderer(language="zh-Hant").notice(escalation(3), UNIT, letterhead=LETTERHEAD)
    assert "考核" in red.text and "考覈" not in red.text and "爲" not in red.text
    from duban.matrix.script import to_traditional

    assert to_traditional("群众为考核里面") == "群眾為考核裡面"



def test_chinese_text_gets_chinese_punctuation_and_nothing_else_does() -> None:
    from duban.notifications.render import chinese_punctuation

    assert chinese_punctuation("扶贫对象精准,决战目标到村到户;其中:3户") == "扶贫对象精准，决战目标到村到户；其中：3户"
    assert chinese_punctuation("林光(区人民政府副区长)、(二)项目") == "林光（区人民政府副区长）、（二）项目"
    untouched = ["08:30 开始", "1,000元", "(office@example.org)", "font-family:'FangSong','SimSun',serif",
                 "](weekly-2016-01-22.svg)", "see (1) and (2)"]
    assert [chinese_punctuation(t) for t in untouched] == untouched
    r = Renderer(language="zh-Hans").notice(view(target="贫困村村级道路硬化,油化1条以上"), UNIT, letterhead=LETTERHEAD)
    assert "道路硬化，油化" in r.text and "道路硬化，油化" in r.html
    en = Renderer(language="en").notice(view(target="贫困村村级道路硬化,油化1条以上"), UNIT, letterhead=LETTERHEAD)
    assert "道路硬化,油化" in en.text  # English letters quote the data as it is


def test_a_co_lead_unit_is_asked_what_the_lead_unit_is_in_its_digest() -> None:
    """A co-lead (共同牽頭) gets the task's chase as 主送 with the lead unit; its digest asks it to do and report
    the work (capacity lead), never only to cooperate, and names both lead units."""
    co_lead = RecipientView(name="區財政局", email="caizheng@example.org")
    v = view(co_lead_units=("區財政局",), to=(RecipientView(name="區交委", role="unit"), RecipientView(name="區財政局", role="unit")))
    text = Renderer(language="zh-Hans").digest([v], co_lead, letterhead=LETTERHEAD).text
    assert "牵头单位：区交委（共同牵头：区财政局）" in text and "（主送）" in text, text
    assert "请区交委、区财政局高度重视" in text and "请积极配合" not in text, text
