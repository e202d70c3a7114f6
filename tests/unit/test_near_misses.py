"""A near miss of a unit name: both scripts folded, then ≤ 1 edit up to 4 characters, ≤ 2 beyond."""

from __future__ import annotations

import pytest

from duban.matrix.directory import UnitDirectory, near_misses
from duban.matrix.model import Unit


def names(name: str, *known: str) -> list[str]:
    return near_misses(name, ((k, k) for k in known))


def test_short_names_allow_one_edit_and_long_names_two() -> None:
    assert names("區交通委", "區交委") == ["區交委"]           # 4 characters, one edit
    assert names("區財委", "區交通委") == []                   # 3 characters, two edits
    assert names("县农业农村", "縣農業農村局") == ["縣農業農村局"]  # folded first; 5 characters, one edit
    assert names("縣農業局", "縣農業農村局") == []             # 4 characters, two edits
    assert names("縣農業農村局辦", "縣農業局") == []           # 7 characters, three edits


def test_an_exact_match_in_the_other_script_is_no_miss_and_nearest_come_first() -> None:
    assert names("区交委", "區交委") == []
    assert names("縣農業農村局", "縣農業農村局辦公", "縣農業農村") == ["縣農業農村", "縣農業農村局辦公"]
    directory = UnitDirectory(units=[Unit(name="縣交通運輸局", aliases=("縣交通局",))])
    assert [u.name for u in directory.near_misses("县交通居")] == ["縣交通運輸局"]  # through its alias


@pytest.mark.parametrize(("cell", "names"), [
    ("縣發改局/縣財政局", ("縣發改局", "縣財政局")),
    ("縣發改局 ／ 縣財政局", ("縣發改局", "縣財政局")),
    ("<b>單位</b>", ("<b>單位</b>",)),                          # a slash inside a name stays in it
    ("區交委<script>alert(1)</script>", ("區交委<script>alert(1)</script>",)),
    ("區很長的單位名稱/../辦", ("區很長的單位名稱/../辦",)),
    ("Bank of China/ICBC", ("Bank of China/ICBC",)),
])
def test_a_slash_separates_units_only_between_two_chinese_names(cell: str, names: tuple[str, ...]) -> None:
    from duban.matrix.directory import split_units

    assert split_units(cell).names == names
