"""The CLI is a thin shell: its modules import services, the bootstrap and their shared helpers, never the
store, SQLAlchemy or SQLModel, and no ``cli_*`` module imports ``workflows.cli`` (no import circle).

Checked on the source (every import statement, at module level or inside a command), so a command that
opens a transaction or runs SQL of its own fails here, whichever command it is.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

WORKFLOWS = Path(__file__).resolve().parents[2] / "workflows"
CLI_MODULES = sorted(p for p in WORKFLOWS.glob("cli*.py"))

# What a command may import besides the standard library: the command-line libraries, the services and
# entry points of workflows, the bootstrap and the CLI's own modules, the error types it catches and the
# vocabulary (the enums of kinds, lights and roles it parses and prints).
ALLOWED_THIRD_PARTY = {"typer", "rich", "click"}
VOCABULARY = "duban.matrix.vocabulary"
ALLOWED_DUBAN = ("duban.workflows.bootstrap", "duban.workflows.cli_", "duban.matrix.errors", VOCABULARY,
                 "duban.workflows.runner", "duban.workflows.demo", "duban.workflows.deploy")
FORBIDDEN = ("duban.store", "sqlalchemy", "sqlmodel", "alembic")

# Known, named exceptions, each with its reason; the list only shrinks.
EXCEPTIONS = {
    # `duban mail-sink` starts the local SMTP sink for demos: a tool, not a use case.
    ("cli_delivery.py", "duban.notifications.sink"),
}


def _imports(path: Path) -> list[tuple[str, int, bool]]:
    """(module, line, at module level) of every import in ``path``, ``from x import y`` as ``x``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top = {id(node) for node in tree.body}
    typing_only = {id(inner) for node in ast.walk(tree) if isinstance(node, ast.If)
                   and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"
                   for inner in ast.walk(node)}  # annotations, never imported when the program runs
    found = []
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno, id(node) in top) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module == "duban.workflows":  # its modules, by name
            found += [(f"duban.workflows.{alias.name}", node.lineno, id(node) in top) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, node.lineno, id(node) in top))
    return found


def _is_service(module: str) -> bool:
    return module.startswith("duban.workflows.") and module.endswith("_service")


@pytest.mark.parametrize("path", CLI_MODULES, ids=lambda p: p.name)
def test_a_command_module_imports_services_and_the_bootstrap_only(path: Path) -> None:
    wrong = []
    for module, line, _top in _imports(path):
        root = module.split(".")[0]
        if (path.name, module) in EXCEPTIONS:
            continue
        if module == "duban.workflows.cli" or module.startswith(FORBIDDEN):
            wrong.append(f"{path.name}:{line} imports {module}")
        elif root == "duban" and not (_is_service(module) or module.startswith(ALLOWED_DUBAN)):
            wrong.append(f"{path.name}:{line} imports {module} (call a service instead)")
        elif root != "duban" and root not in sys.stdlib_module_names and root not in ALLOWED_THIRD_PARTY:
            wrong.append(f"{path.name}:{line} imports {module}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("path", CLI_MODULES, ids=lambda p: p.name)
def test_at_module_level_a_command_module_imports_only_what_help_needs(path: Path) -> None:
    """`duban --help` imports every command module: at module level only the standard library, typer,
    the CLI's own modules and the vocabulary's enums (the services load when a command runs)."""
    heavy = [f"{path.name}:{line} imports {module} at module level" for module, line, top in _imports(path)
             if top and module.split(".")[0] not in sys.stdlib_module_names and module not in ("typer", VOCABULARY)
             and not module.startswith("duban.workflows.cli_")]
    assert not heavy, "\n".join(heavy)


def test_the_exceptions_are_still_needed() -> None:
    """An exception whose import is gone is taken off the list."""
    present = {(p.name, module) for p in CLI_MODULES for module, _line, _top in _imports(p)}
    stale = sorted(EXCEPTIONS - present)
    assert not stale, f"no longer imported, remove from EXCEPTIONS: {stale}"
