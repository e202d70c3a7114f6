"""The permissions of the files and folders duban creates: private unless configured.

The database holds addresses, notes and evidence; the outbox, reports and the config folder (unit
directories with addresses) hold as much. duban creates its files with ``DUBAN_FILE_MODE`` (default
``0600``) and its folders with the mode derived from it (``0700``: execute wherever read is allowed).

Two layers: every entry point (the CLI, the scheduled jobs) calls ``configure``, which sets the process
umask so that anything created in the process gets the mode (SQLite's -wal/-shm files, an extract's
output, a backup); and the writers of duban's data (the SQLite file and its folder, .eml files, reports,
the config folder) set the mode explicitly, so a library caller with a permissive umask gets it too.
Only what duban creates is changed; an existing file or folder keeps the mode it has.
"""

from __future__ import annotations

import os
from pathlib import Path

from duban.config.file_mode import parse_mode  # also duban.store.files.parse_mode, as before

DEFAULT_FILE_MODE = 0o600

_file_mode = DEFAULT_FILE_MODE


def folder_mode(file_mode: int) -> int:
    """The folders' mode: the files' mode plus execute (search) wherever read is allowed."""
    return file_mode | ((file_mode & 0o444) >> 2)


def configure(file_mode: int | str | None = None) -> int:
    """Use ``file_mode`` (default 0600) for this process: set its umask to match; returns the mode."""
    global _file_mode
    mode = DEFAULT_FILE_MODE if file_mode is None else parse_mode(file_mode)
    _file_mode = mode
    os.umask(0o777 & ~folder_mode(mode))
    return mode


def configure_from_environment() -> None:
    """``configure`` from ``DUBAN_FILE_MODE`` alone, before the settings are read (a bad value waits for
    the settings, which refuse it clearly)."""
    try:
        configure(os.environ.get("DUBAN_FILE_MODE") or None)
    except ValueError:
        pass


def file_mode() -> int:
    return _file_mode


def dir_mode() -> int:
    return folder_mode(_file_mode)


def make_dirs(path: Path | str) -> Path:
    """``mkdir -p`` where every folder created gets the folders' mode (existing ones are left as they are)."""
    path = Path(path)
    missing: list[Path] = []
    p = path
    while not p.exists() and p != p.parent:
        missing.append(p)
        p = p.parent
    for folder in reversed(missing):
        try:
            os.mkdir(folder, dir_mode())
        except FileExistsError:
            continue
        os.chmod(folder, dir_mode())  # mkdir's mode is filtered by the umask
    if not path.is_dir():
        path.mkdir(parents=True, exist_ok=True)  # raises the right error (a file in the way)
    return path


def create_file(path: Path | str) -> bool:
    """Create an empty file with the files' mode unless it exists; True if it was created."""
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, _file_mode)
    except FileExistsError:
        return False
    try:
        os.fchmod(fd, _file_mode)
    finally:
        os.close(fd)
    return True


def write_file(path: Path | str, data: bytes | str) -> Path:
    """Write a whole file atomically (a temporary file renamed into place) with the files' mode."""
    path = Path(path)
    make_dirs(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, _file_mode)
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), _file_mode)
            f.write(data.encode("utf-8") if isinstance(data, str) else data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
