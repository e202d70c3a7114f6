"""duban installs as one package, ``duban.*``: the package list matches the folders, and no module
imports a bare top-level name (``matrix``, ``config``...) that would only resolve inside a checkout."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = ("matrix", "store", "notifications", "workflows", "config", "web")
BARE_IMPORT = re.compile(rf"^\s*(?:from|import)\s+(?:{'|'.join(FOLDERS)})(?:\.|\s|$)", re.M)


def _setuptools() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]


def test_every_folder_with_an_init_is_an_installed_package() -> None:
    listed = set(_setuptools()["packages"])
    found = {"duban." + ".".join(p.parent.relative_to(ROOT).parts)
             for folder in FOLDERS for p in (ROOT / folder).rglob("__init__.py")}
    assert found - listed == set(), "add these to [tool.setuptools] packages in pyproject.toml"
    assert listed - found == set(), "these are listed in pyproject.toml but have no __init__.py"


def test_each_top_level_folder_installs_under_duban() -> None:
    assert _setuptools()["package-dir"] == {f"duban.{f}": f for f in FOLDERS}


def test_no_module_imports_a_bare_top_level_name() -> None:
    offenders = []
    for folder in (*FOLDERS, "tests", "bench", "scripts"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for m in BARE_IMPORT.finditer(path.read_text(encoding="utf-8")):
                line = path.read_text(encoding="utf-8")[:m.start()].count("\n") + 1
                offenders.append(f"{path.relative_to(ROOT)}:{line}: {m.group(0).strip()}")
    assert offenders == [], "write these as duban.<package>:\n" + "\n".join(offenders)
