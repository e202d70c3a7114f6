"""Validate and import on mutated plans: only duban's refusal, all or nothing, and a re-import changes nothing."""

from __future__ import annotations

import shutil
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import event, given, settings

from duban.matrix.errors import DubanError
from duban.store import plan_import
from duban.store.db import open_database
from duban.workflows.matrix_service import PlanOptions, import_file, validate_file
from tests.property.strategies import DISTRICT_UNITS, IMPORTED_AT, plan_files
from tests.support import dump


class PowerCut(Exception):
    """Raised inside the import's transaction, after every row was written."""


def write(folder: Path, name: str, data: bytes) -> tuple[Path, PlanOptions]:
    shutil.copy(DISTRICT_UNITS, folder / DISTRICT_UNITS.name)
    path = folder / name
    path.write_bytes(data)
    directory = folder / DISTRICT_UNITS.name if name.endswith(".csv") else None
    return path, PlanOptions(directory=directory)


def try_import(url: str, path: Path, options: PlanOptions):
    engine = open_database(url)
    try:
        return import_file(engine, path, options, now=IMPORTED_AT, actor="property")
    finally:
        engine.dispose()


@given(plan=plan_files())
def test_validate_and_import_raise_nothing_but_a_refusal(plan: tuple[str, bytes], scratch, empty_db: Path) -> None:
    folder = scratch.folder()
    path, options = write(folder, *plan)
    try:
        validate_file(path, options)
    except DubanError:
        pass
    _, url = scratch.database(empty_db)
    try:
        try_import(url, path, options)
    except DubanError:
        pass


@settings(max_examples=25)
@given(plan=plan_files())
def test_a_refused_import_changes_nothing_and_an_accepted_one_lands_whole(
    plan: tuple[str, bytes], scratch, seeded_db: Path
) -> None:
    """Into a database that holds the plan already (a re-import, the path that updates in place)."""
    folder = scratch.folder()
    path, options = write(folder, *plan)
    db, url = scratch.database(seeded_db)
    before = dump(db)
    try:
        try_import(url, path, options)
    except DubanError as refusal:
        event(f"refused: {type(refusal).__name__}")
        assert dump(db) == before, "a refused import changed the database"
        return
    event("accepted")
    after = dump(db)

    # The same import, failing at the very end of its transaction, leaves nothing behind:
    # everything it wrote was in that one transaction.
    failing, failing_url = scratch.database(seeded_db)
    real = plan_import.import_plan

    def import_then_fail(*args, **kwargs):
        real(*args, **kwargs)
        raise PowerCut

    with mock.patch.object(plan_import, "import_plan", import_then_fail), pytest.raises(PowerCut):
        try_import(failing_url, path, options)
    assert dump(failing) == before

    # And what landed is the file: importing it again finds nothing to change (it only records
    # that it was imported: one plan.imported event).
    _, again = try_import(url, path, options)
    assert again.is_noop, again.as_dict()
    assert dump(db, skip=("event",)) == [line for line in after if not line.startswith('INSERT INTO "event"')]
    new_events = set(dump(db)) - set(after)
    assert len(new_events) == 1 and "'plan.imported'" in new_events.pop()
