"""A report's files: bounded, distinct names, written all or nothing (issue 10, defect 8)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from duban.matrix.errors import StoreError
from duban.notifications.report.model import _unique_stem, criticism_file_stem, file_name_part
from duban.workflows.report_service import write_files

DAY = dt.date(2015, 12, 18)


def test_names_are_bounded_safe_and_distinct() -> None:
    short = criticism_file_stem("區扶貧辦", DAY)
    assert short == "criticism-區扶貧辦-2015-12-18"
    a, b = "區" + "很長的單位名稱" * 30 + "甲", "區" + "很長的單位名稱" * 30 + "乙"
    sa, sb = criticism_file_stem(a, DAY), criticism_file_stem(b, DAY)
    assert sa != sb and len(sa.encode()) <= 10 + 120 + 9 + 11
    assert file_name_part("../../etc/passwd") == "etc_passwd"
    assert file_name_part("a\x00b\r\nc/d\\e") == "a_b_c_d_e"
    assert file_name_part("...") == "unit"
    used: set[str] = set()
    assert _unique_stem(criticism_file_stem("區/辦", DAY), "區/辦", used) != _unique_stem(
        criticism_file_stem("區_辦", DAY), "區_辦", used)


def test_files_are_written_all_or_nothing(tmp_path: Path) -> None:
    out = tmp_path / "rep"
    write_files(out, [("weekly.md", "old"), ("criticism-a.html", b"old a")])
    too_long = "x" * 300 + ".html"  # the file system refuses the name
    with pytest.raises(StoreError, match="nothing was written"):
        write_files(out, [("weekly.md", "new"), ("criticism-a.html", b"new a"), ("criticism-b.html", b"b"),
                          (too_long, b"c")])
    assert sorted(p.name for p in out.iterdir()) == ["criticism-a.html", "weekly.md"]  # no temporary left
    assert (out / "weekly.md").read_text() == "old" and (out / "criticism-a.html").read_bytes() == b"old a"
    paths = write_files(out, [("weekly.md", "new"), ("criticism-b.html", b"b")])
    assert paths == [str(out / "weekly.md"), str(out / "criticism-b.html")]
    assert (out / "weekly.md").read_text() == "new" and sorted(p.name for p in out.iterdir()) == [
        "criticism-a.html", "criticism-b.html", "weekly.md"]
