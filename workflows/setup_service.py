"""Setting up a folder for duban (``duban init``): the database at the newest revision and a config folder.

The config folder gets the office's own copies of the packaged policy, schedule and scoring files and,
on request, the example plans with their unit directories; files already there are kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from duban.config.settings import Settings

OFFICE_FILES = ("policy.yaml", "schedule.yaml", "scoring.yaml")  # the office edits its own copies


@dataclass(frozen=True, slots=True)
class InitResult:
    database: str       # the database URL without its password
    state: str          # created | already current | upgraded from <revision>
    config_dir: Path
    plans: int          # example plans in the config folder (unit directories not counted)


def _config_folder(config_dir: Path, examples: bool) -> int:
    from duban.config.settings import EXAMPLE_PLANS, PACKAGE_DIR
    from duban.store.files import make_dirs, write_file

    make_dirs(config_dir / "plans")  # private, as the database: unit directories hold addresses
    if examples:
        for f in sorted(EXAMPLE_PLANS.glob("*.yaml")):
            target = config_dir / "plans" / f.name
            if not target.exists():
                write_file(target, f.read_bytes())
    for name in OFFICE_FILES:
        if not (config_dir / name).exists():
            write_file(config_dir / name, (PACKAGE_DIR / name).read_bytes())
    return len([p for p in (config_dir / "plans").glob("*.yaml") if not p.name.endswith(".units.yaml")])


def initialise(settings: Settings, directory: Path, *, examples: bool = True) -> InitResult:
    """Set up ``directory``: its config folder (relative settings paths are taken from there) and the
    database, created or upgraded to the newest revision."""
    from duban.store.db import _safe, current_revision, make_engine, upgrade

    config_dir = settings.config_dir if settings.config_dir.is_absolute() else directory / settings.config_dir
    plans = _config_folder(config_dir, examples)
    url = settings.database_url
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////") and directory != Path("."):
        url = f"sqlite:///{directory / url.removeprefix('sqlite:///')}"
    engine = make_engine(url)
    try:
        before = current_revision(engine)
        upgrade(engine)
        state = "created" if before is None else ("already current" if before == current_revision(engine)
                                                  else f"upgraded from {before}")
    finally:
        engine.dispose()
    return InitResult(database=_safe(url), state=state, config_dir=config_dir, plans=plans)
