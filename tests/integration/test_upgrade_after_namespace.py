"""A database written before duban moved under the ``duban.`` namespace (migrations then lived at
``store/migrations``, now ``duban/store/migrations``) opens, keeps its rows and upgrades in place.

The fixture was made by the code of 3145ad6: ``duban init``, ``matrix import township-spiritual.yaml``,
sweeps for 2015-12-04, 2018-07-02 and 2019-01-07 (10 chases, 10 escalations) and ``deliver``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa
from alembic.script import ScriptDirectory

from duban.store import db

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "db" / "duban-0005-before-namespace.db"


def _head() -> str:
    return ScriptDirectory(str(Path(db.__file__).parent / "migrations")).get_current_head()


def test_a_database_from_before_the_namespace_upgrades_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "duban.db"
    shutil.copy(FIXTURE, path)
    url = f"sqlite:///{path}"
    engine = db.make_engine(url)
    assert db.current_revision(engine) == "0005"
    engine.dispose()
    env = {**os.environ, "DUBAN_DATABASE_URL": url, "COLUMNS": "200"}
    proc = subprocess.run([sys.executable, "-m", "duban.workflows.cli", "sweep", "--as-of", "2019-01-07"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 chases" in proc.stdout  # the 10 chases of that day are already in the old database
    engine = db.make_engine(url)
    try:
        assert db.current_revision(engine) == _head()
        with engine.connect() as conn:
            assert conn.execute(sa.text("select count(*) from notice")).scalar_one() == 20
            assert conn.execute(sa.text("select count(*) from sweep")).scalar_one() == 4
    finally:
        engine.dispose()
