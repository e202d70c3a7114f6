"""Reading a year's holidays from the State Council's notice, and the calendar that counts with them."""

from __future__ import annotations

import datetime as dt

import pytest

from duban.matrix.calendar import WorkCalendar, package_days
from duban.matrix.errors import SourceError, ValidationFailed
from duban.matrix.holiday_notice import check_table, parse_notice
from tests.support import FIXTURES

D = dt.date


def _same_as_package(text: str, year: int) -> list[dt.date]:
    """The days of ``year`` on which the notice's calendar and chinese_calendar disagree."""
    table = parse_notice(text, file="notice.txt")
    check_table(table)
    imported = WorkCalendar({d: v[0] for d, v in table.days().items()}, imported_years=[year])
    package = WorkCalendar()
    days = [D(year, 1, 1) + dt.timedelta(days=i) for i in range(365)]
    return [d for d in days if imported.is_working_day(d) != package.is_working_day(d)]


# The arrangement for 2026 as the package has it, written the way notices read (星期, half-width
# punctuation as reposted on the web, the lunar day in brackets): it must give the package's calendar.
NOTICE_2026 = """关于2026年部分节假日安排的通知
一、元旦:1月1日(星期四)至3日(星期六)放假调休,共3天。1月4日(星期日)上班。
二、春节:2月15日(农历腊月二十八、星期日)至23日(农历正月初七、星期一)放假调休,共9天。2月14日(星期六)、2月28日(星期六)上班。
三、清明节:4月4日(星期六)至6日(星期一)放假,共3天。
四、劳动节:5月1日(星期五)至5日(星期二)放假调休,共5天。5月9日(星期六)上班。
五、端午节:6月19日(星期五)至21日(星期日)放假,共3天。
六、中秋节:9月25日(星期五)至27日(星期日)放假,共3天。
七、国庆节:10月1日(星期四)至7日(星期三)放假调休,共7天。9月20日(星期日)、10月10日(星期六)上班。
"""

# 2023's shape: 元旦 starting in the previous year, written with years, and 中秋 and 国庆 as one item.
NOTICE_2023 = """国务院办公厅关于2023年部分节假日安排的通知
一、元旦：2022年12月31日至2023年1月2日放假调休，共3天。
二、春节：1月21日至27日放假调休，共7天。1月28日（星期六）、1月29日（星期日）上班。
三、清明节：4月5日放假，共1天。
四、劳动节：4月29日至5月3日放假调休，共5天。4月23日（星期日）、5月6日（星期六）上班。
五、端午节：6月22日至24日放假调休，共3天。6月25日（星期日）上班。
六、中秋节、国庆节：9月29日至10月6日放假调休，共8天。10月7日（星期六）、10月8日（星期日）上班。
"""


@pytest.mark.parametrize(("text", "year"), [(NOTICE_2026, 2026), (NOTICE_2023, 2023)])
def test_a_notice_gives_the_official_calendar_of_its_year(text: str, year: int) -> None:
    assert _same_as_package(text, year) == []


def test_the_two_scripts_give_the_same_days() -> None:
    hans = parse_notice((FIXTURES / "calendar" / "notice-2027-hans.txt").read_text(encoding="utf-8"), file="hans")
    hant = parse_notice((FIXTURES / "calendar" / "notice-2027-hant.txt").read_text(encoding="utf-8"), file="hant")
    assert {d: v[0] for d, v in hans.days().items()} == {d: v[0] for d, v in hant.days().items()}
    assert [h.name for h in hant.holidays] == ["元旦", "春節", "清明節", "勞動節", "端午節", "中秋節", "國慶節"]
    assert hant.workdays[0].name == "春節調休" and hans.workdays[0].name == "春节调休"
    assert hans.source == "国务院办公厅关于2027年部分节假日安排的通知" and hans.year == hant.year == 2027
    assert len(hant.notes) == 1 and "除夕(2月5日)" in hant.notes[0]  # not a day off nor a make-up day: noted


def test_a_notice_without_its_year_or_with_a_wrong_weekday_is_refused() -> None:
    with pytest.raises(SourceError, match="cannot find the notice's year"):
        parse_notice("一、元旦：1月1日至3日放假，共3天。", file="n.txt")
    with pytest.raises(ValidationFailed, match=r"n\.txt:2: date: 2027-02-14 is a 周日, not 周六"):
        parse_notice("关于2027年部分节假日安排的通知\n二、春节：2月5日至11日放假。2月14日（周六）上班。", file="n.txt")


def test_an_imported_year_wins_over_the_package_and_is_no_fallback() -> None:
    # An office's own 2026 table with one more day off (a made-up local holiday on Monday 2026-03-02).
    days = {d: v[0] for d, v in (package_days(2026) or {}).items()} | {D(2026, 3, 2): False}
    imported = WorkCalendar(days, imported_years=[2026, 2027])
    assert WorkCalendar().is_working_day(D(2026, 3, 2)) and not imported.is_working_day(D(2026, 3, 2))
    assert imported.working_days_between(D(2026, 2, 27), D(2026, 3, 3)) == 2  # Sat 28 (調休) and Tue 3; Mon 2 off
    assert imported.is_working_day(D(2027, 2, 8)) and not imported.fallback_years  # 2027: imported, nothing in it
    assert (imported.source(2026), imported.source(2027), imported.source(2030)) == ("imported", "imported", "weekdays")
    assert package_days(2030) is None and WorkCalendar().source(2026) == "package"


def test_a_notice_copied_from_a_pdf_with_broken_lines_and_spaces_is_read_whole() -> None:
    text = ("国务院办公厅关于 2027 年部分节假日安排的通知\n"
            "二、春节：2 月 5 日（农历除夕、周五）至 11 日（农历正月初六、周四）放假调休，共 7 天。2 月\n"
            "14 日（周日）、2 月 20 日（周六）上班。\n"
            "三、清明节：4 月 3 日（周六）至 5 日（周一）放假，共 3 天。\n")
    table = parse_notice(text, file="pdf.txt")
    assert [(h.name, h.start, h.end, h.line) for h in table.holidays] == [
        ("春节", D(2027, 2, 5), D(2027, 2, 11), 2), ("清明节", D(2027, 4, 3), D(2027, 4, 5), 4)]
    assert [w.day for w in table.workdays] == [D(2027, 2, 14), D(2027, 2, 20)]
