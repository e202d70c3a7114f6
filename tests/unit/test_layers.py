"""The package layering, read from the source: every import of every module (at the top, inside functions,
under TYPE_CHECKING alike), parsed with ast.

    matrix  <-  store  <-  notifications  <-  workflows        (config: settings, for all but matrix)

An inner package never imports an outer one, and no two packages import each other, directly or round
a longer circle. (Which modules the CLI may import is tests/unit/test_cli_imports.py's business.) And the
tests take shared names from tests/support.py, never from a conftest.py (pytest imports those itself).
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

from tests.support import ROOT

PACKAGES = ("matrix", "store", "notifications", "workflows", "config")
FORBIDDEN = {
    "matrix": {"store", "notifications", "workflows", "config"},  # pure: no SQL, no mail, no settings
    "store": {"notifications", "workflows"},
    "notifications": {"workflows"},
    "workflows": set(),
    "config": {"store", "notifications", "workflows"},
}


def modules(package: str) -> list[Path]:
    return sorted(p for p in (ROOT / package).rglob("*.py") if "__pycache__" not in p.parts)


def imported_packages(path: Path, package: str) -> dict[str, list[str]]:
    """The duban packages a module imports, each with where ("file:line imports …")."""
    return imports_in(path.read_text(encoding="utf-8"), path.relative_to(ROOT), package)


def imports_in(source: str, relative: Path, package: str) -> dict[str, list[str]]:
    tree = ast.parse(source, filename=str(relative))
    here = relative.with_suffix("").parts  # ("workflows", "cli") or ("store", "migrations", "env")
    found: dict[str, list[str]] = defaultdict(list)
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the module's own package
                base = list(here[:-1])[: len(here) - node.level]
                names = [".".join(["duban", *base, *([node.module] if node.module else [])])]
            else:
                names = [node.module or ""]
        for name in names:
            parts = name.split(".")
            if parts[0] == "duban" and len(parts) > 1 and parts[1] in PACKAGES and parts[1] != package:
                found[parts[1]].append(f"{relative}:{node.lineno} imports {name}")
            elif parts[0] in PACKAGES and parts[0] != package:  # the old top-level names must not come back
                found[parts[0]].append(f"{relative}:{node.lineno} imports {name} (not duban.{name})")
    return found


def package_graph() -> dict[str, dict[str, list[str]]]:
    graph: dict[str, dict[str, list[str]]] = {p: defaultdict(list) for p in PACKAGES}
    for package in PACKAGES:
        for path in modules(package):
            for target, where in imported_packages(path, package).items():
                graph[package][target].extend(where)
    return graph


GRAPH = package_graph()


def test_every_package_has_modules_to_read() -> None:
    for package in PACKAGES:
        assert modules(package), f"no modules found in {package}/"


@pytest.mark.parametrize("package", PACKAGES)
def test_no_package_imports_an_outer_one(package: str) -> None:
    wrong = [where for target in sorted(FORBIDDEN[package]) for where in GRAPH[package].get(target, [])]
    assert not wrong, f"{package} must not import {sorted(FORBIDDEN[package])}:\n" + "\n".join(wrong)


def test_no_import_cycles_between_packages() -> None:
    edges = {p: set(targets) for p, targets in GRAPH.items()}
    cycles: set[tuple[str, ...]] = set()

    def visit(node: str, path: list[str]) -> None:
        for target in sorted(edges[node]):
            if target in path:
                cycle = path[path.index(target):] + [target]
                if min(cycle[:-1]) == cycle[0]:  # each cycle once, from its smallest name
                    cycles.add(tuple(cycle))
            else:
                visit(target, [*path, target])

    for package in PACKAGES:
        visit(package, [package])
    shown = [" -> ".join(c) + "\n  " + "\n  ".join(GRAPH[c[0]][c[1]][:3]) for c in sorted(cycles)]
    assert not cycles, "import cycles between packages:\n" + "\n".join(shown)


def test_the_reader_sees_imports_inside_functions_and_relative_ones() -> None:
    # the checker itself: an upward import hidden in a function, a relative one, an old top-level name
    source = "def f():\n    from duban.workflows import cli\n\nfrom ..notifications import render\nimport workflows\n"
    found = imports_in(source, Path("store", "probe.py"), "store")
    assert set(found) == {"workflows", "notifications"} and len(found["workflows"]) == 2
    assert imports_in("from . import db\nfrom .db import engine\n", Path("store", "x.py"), "store") == {}


def test_no_test_imports_a_conftest() -> None:
    wrong = []
    for path in sorted((ROOT / "tests").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            wrong += [f"{path.relative_to(ROOT)}:{node.lineno} imports {n}" for n in names if n.endswith("conftest")]
    assert not wrong, "import from tests.support instead:\n" + "\n".join(wrong)
