"""Script and width folding so that simplified and traditional text (牵头单位 / 牽頭單位) compare equal.

OpenCC does the script conversion (traditional → simplified, the form used for matching); NFKC folds
full-width digits, letters, colons and spaces to their ASCII forms. Results are cached because the
same unit names and labels come back thousands of times in a large matrix.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from functools import lru_cache
from typing import Protocol

_WS = re.compile(r"\s+")


class _Converter(Protocol):
    """What OpenCC's converter offers (the binding ships no type information)."""

    def convert(self, text: str) -> str: ...


@lru_cache(maxsize=1)
def _t2s() -> _Converter:
    import opencc  # the C++ OpenCC binding; loading its dictionaries takes a few ms, once

    converter: _Converter = opencc.OpenCC("t2s")
    return converter


@lru_cache(maxsize=1)
def _s2t() -> _Converter:
    import opencc

    # s2tw, not s2t: the traditional forms plans are written in (群眾、為、考核、裡), as in the seeds,
    # not OpenCC's etymological ones (羣衆、爲、考覈、裏).
    converter: _Converter = opencc.OpenCC("s2tw")
    return converter


@lru_cache(maxsize=65536)
def to_simplified(text: str) -> str:
    """Traditional → simplified Chinese; other characters unchanged."""
    return _t2s().convert(text) if text else text


@lru_cache(maxsize=65536)
def to_traditional(text: str) -> str:
    """Simplified → traditional Chinese; other characters unchanged."""
    return _s2t().convert(text) if text else text


def fold_width(text: str) -> str:
    """Full-width digits, letters, punctuation and spaces → ASCII (NFKC)."""
    return unicodedata.normalize("NFKC", text)


@lru_cache(maxsize=65536)
def fold(text: str) -> str:
    """The matching form of a label or name: NFKC, simplified script, no whitespace at all."""
    return _WS.sub("", to_simplified(fold_width(text)))


def unit_key(name: str) -> str:
    """The key under which a unit name or alias is looked up: 區扶貧辦 and 区扶贫办 share one key.

    Parentheses are folded to ASCII by NFKC, so 區紀委(監察局) and 區紀委（監察局） match too.
    """
    return fold(name)


def for_language(language: str) -> Callable[[str], str]:
    """The conversion into a letter's script: zh-Hans → simplified, zh-Hant → traditional, else as is.

    For names that reach a mail's headers (recipients, the sender) outside the templates."""
    if language == "zh-Hans":
        return to_simplified
    if language == "zh-Hant":
        return to_traditional
    return _as_is


def _as_is(text: str) -> str:
    return text
