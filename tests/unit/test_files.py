"""File modes of what duban creates (store.files; issue 10, defect 15)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from duban.store import files


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)
    files._file_mode = files.DEFAULT_FILE_MODE


@pytest.mark.parametrize("text, mode, folder", [("0600", 0o600, 0o700), ("640", 0o640, 0o750), ("0o644", 0o644, 0o755),
                                               ("0660", 0o660, 0o770)])
def test_modes_and_the_folders_derived_from_them(text: str, mode: int, folder: int) -> None:
    assert files.parse_mode(text) == mode and files.folder_mode(mode) == folder


@pytest.mark.parametrize("bad", ["0400", "999", "rw", "", "01777"])
def test_modes_duban_cannot_use_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        files.parse_mode(bad)


def test_explicit_modes_whatever_the_umask(tmp_path: Path, umask_022) -> None:
    """A library caller with umask 022 still gets private files and folders; configure sets the umask."""
    target = tmp_path / "a" / "b" / "f.eml"
    files.write_file(target, b"x")
    assert oct(target.stat().st_mode & 0o777) == "0o600"
    assert oct((tmp_path / "a").stat().st_mode & 0o777) == oct((tmp_path / "a" / "b").stat().st_mode & 0o777) == "0o700"
    files.configure("0640")
    assert os.umask(0o027) == 0o027
    new = tmp_path / "c" / "g"
    files.write_file(new, "y")
    assert oct(new.stat().st_mode & 0o777) == "0o640" and oct(new.parent.stat().st_mode & 0o777) == "0o750"
    assert files.create_file(tmp_path / "db") and not files.create_file(tmp_path / "db")
    assert oct((tmp_path / "db").stat().st_mode & 0o777) == "0o640"
