"""Dates and numbers as notices and reports write them: 2015年12月4日, 4 December 2015, 二十三."""

from __future__ import annotations

from datetime import date

_CN_DIGITS = "〇一二三四五六七八九"
_EN_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
              "October", "November", "December")


def chinese_date(value: date) -> str:
    """2015年12月4日."""
    return f"{value.year}年{value.month}月{value.day}日"


def english_date(value: date) -> str:
    """4 December 2015."""
    return f"{value.day} {_EN_MONTHS[value.month - 1]} {value.year}"


def chinese_number(value: int) -> str:
    """1 → 一, 10 → 十, 12 → 十二, 23 → 二十三 (levels and list numbers; falls back to digits past 99)."""
    n = int(value)
    if n < 0 or n > 99:
        return str(n)
    if n < 10:
        return _CN_DIGITS[n]
    tens, ones = divmod(n, 10)
    return ("" if tens == 1 else _CN_DIGITS[tens]) + "十" + (_CN_DIGITS[ones] if ones else "")
