"""The values units send back, parsed: numbers (full-width digits, a trailing %), dates and milestone
positions from command-line text or sheet cells, each refused with its own text quoted and its field named
(``_bad``), so that a sheet import lists every bad row as a Problem. No database.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from duban.matrix.errors import DubanError, Refused
from duban.matrix.script import fold_width

Number = str | int | float | Decimal | None


_LIMIT = Decimal(10) ** 14  # Numeric(18, 4) holds 14 digits before the point


def _bad(cls: type[DubanError], field: str, text: Any, reason: str, *, message: str | None = None,
         hint: str = "") -> DubanError:
    err = cls(message or f"{field}: {str(text)!r} {reason}")
    err.field, err.text, err.reason, err.hint = field, "" if text is None else str(text), reason, hint  # type: ignore[attr-defined]
    return err


def _number(field: str, value: Any, *, whole: bool = False, percent: bool = False) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise _bad(Refused, field, value, "is not a number")
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, float):
        number = Decimal(repr(value))
    else:
        text = fold_width(str(value)).strip()
        if not text:
            return None
        if percent and text.endswith("%"):
            text = text[:-1].strip()
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise _bad(Refused, field, value, "is not a number", hint="write digits, e.g. 18") from None
    if not number.is_finite():
        raise _bad(Refused, field, value, "is not a number", hint="write digits, e.g. 18")
    if number < 0:
        raise _bad(Refused, field, value, "is negative")
    if abs(number) >= _LIMIT:
        raise _bad(Refused, field, value, "is too large")
    if whole and number != number.to_integral_value():
        raise _bad(Refused, field, value, "is not a whole number")
    if percent and number > 100:
        raise _bad(Refused, field, value, "is more than 100", hint="a percent is 0–100")
    return number


_DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y年%m月%d日", "%Y%m%d")


_MONTH_FORMATS = ("%Y-%m", "%Y/%m", "%Y年%m月")


def _date(field: str, value: Any, *, month_ok: bool = False) -> dt.date | None:
    """A date from a sheet cell or text; ``month_ok`` lets 2018-03 mean the first of that month."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = fold_width(str(value)).strip()
    if not text:
        return None
    text = re.sub(r"\s+", "", text).removesuffix("號").removesuffix("号")
    for fmt in _DATE_FORMATS + (_MONTH_FORMATS if month_ok else ()):
        try:
            return dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise _bad(Refused, field, value, "is not a date", hint="write YYYY-MM-DD, e.g. 2015-12-04")


def _position(field: str, value: Any) -> int | None:
    number = _number(field, value, whole=True)
    if number is None:
        return None
    if number < 1:
        raise _bad(Refused, field, value, "is not a milestone number", hint="milestones are numbered from 1")
    return int(number)


def _json_number(value: Any) -> int | float | None:
    if value is None:
        return None
    d = Decimal(str(value))
    return int(d) if d == d.to_integral_value() else float(d.normalize())


def _shown(value: Any) -> str:
    if value is None:
        return ""
    d = Decimal(str(value))
    return format(d.quantize(Decimal(1)) if d == d.to_integral_value() else d.normalize(), "f")
