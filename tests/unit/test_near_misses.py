"""A near miss of a unit name: both scripts folded, then ≤ 1 edit up to 4 characters, ≤ 2 beyond."""

from __future__ import annotations

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
