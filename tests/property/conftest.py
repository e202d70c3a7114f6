"""Property tests (hypothesis): profiles, and SQLite template databases copied per example.

The ``ci`` profile (the default) is derandomised, small and does not shrink, so CI is stable and quick;
``HYPOTHESIS_PROFILE=deep`` explores more, at random, and shrinks what fails.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, settings

from tests.property.strategies import IMPORTED_AT
from tests.support import PLANS

settings.register_profile(
    # no shrinking in CI: a failure prints its example and blob at once instead of minutes later
    "ci", max_examples=30, deadline=None, derandomize=True, print_blob=True,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
)
settings.register_profile(
    "deep", max_examples=1000, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))



def _template(folder: Path, plans: list[str]) -> Path:
    from duban.store.db import open_database
    from duban.workflows.matrix_service import PlanOptions, import_file

    db = folder / "template.db"
    engine = open_database(f"sqlite:///{db}")
    for name in plans:
        import_file(engine, PLANS / f"{name}.yaml", PlanOptions(), now=IMPORTED_AT)
    engine.dispose()  # the last connection checkpoints the WAL: the file alone is the database
    return db


@pytest.fixture(scope="session")
def empty_db(tmp_path_factory) -> Path:
    """A migrated, empty SQLite database file (copied for each example)."""
    return _template(tmp_path_factory.mktemp("empty"), [])


@pytest.fixture(scope="session")
def seeded_db(tmp_path_factory) -> Path:
    """A database with the district (milestones) and village (recurrences) plans imported."""
    return _template(tmp_path_factory.mktemp("seeded"), ["district-2015", "village-2018"])


class Scratch:
    """A fresh folder per hypothesis example (function-scoped fixtures are shared by all examples)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.count = 0

    def folder(self) -> Path:
        self.count += 1
        path = self.root / f"example-{self.count}"
        path.mkdir()
        return path

    def database(self, template: Path) -> tuple[Path, str]:
        path = self.folder() / "duban.db"
        shutil.copyfile(template, path)
        return path, f"sqlite:///{path}"


@pytest.fixture
def scratch() -> Iterator[Scratch]:
    root = Path(tempfile.mkdtemp(prefix="duban-property-"))
    try:
        yield Scratch(root)
    finally:
        shutil.rmtree(root, ignore_errors=True)
