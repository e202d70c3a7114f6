"""Notice templates: every kind in every language and format, script conversion, overrides, escaping, subjects."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import jinja2
import pytest

from matrix.errors import ConfigError
from notifications.render import (
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


def test_subjects_are_stable_per_task() -> None:
    r = Renderer(language="zh-Hans")
    assert r.notice(escalation(2), UNIT, letterhead=LETTERHEAD).subject == "【督办通知·橙】3.2.1 交通建设"
    assert r.notice(view(), UNIT, letterhead=LETTERHEAD).subject == "【催办】3.2.1 交通建设"
    assert r.notice(reminder(), UNIT, letterhead=LETTERHEAD).subject == "【提醒】3.2.1 交通建设"
    later = view(days=9, planned_for=D(2016, 1, 14), notice_id=7, key="chase:m2:2015-12-31:n3")
    assert r.notice(later, UNIT, letterhead=replace(LETTERHEAD, date=D(2016, 1, 14))).subject == "【催办】3.2.1 交通建设"
    digest = r.digest([view(), reminder()], UNIT, letterhead=LETTERHEAD)
    assert digest.subject == "【督办】区交委 待办事项 2 项（2015年12月4日）"
    assert Renderer(language="en").notice(escalation(3), UNIT, letterhead=LETTERHEAD).subject == "[Escalation · Red] 3.2.1 交通建設"


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
    assert out.subject == "【督办】区交委 待办事项 6 项（2015年12月4日）"
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
    assert "夏于峰(區委常委、區人民政府常務副區長)" in hant.text and "夏於峯" not in hant.text + hant.html
    hans = Renderer(language="zh-Hans").notice(v, UNIT, letterhead=LETTERHEAD)
    assert "夏于峰(区委常委、区人民政府常务副区长)" in hans.text
    assert "\ue000" not in hant.text + hant.html + hans.text + hans.html


def test_a_cc_copy_says_so() -> None:
    r = Renderer(language="zh-Hans")
    out = r.notice(replace(reminder(), is_cc=True), RecipientView(name="區農委"), letterhead=LETTERHEAD)
    assert "区交委：" in out.text and "请积极配合区交委抓好落实" in out.text and "抄送：区农委，区城乡建委。" in out.text


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
