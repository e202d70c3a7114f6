"""duban's wheel installs beside a project that owns the top-level name ``config`` and both work.

The wheel is built from this checkout, a one-file dummy ``config`` wheel beside it, both installed with
``--no-index --no-deps`` into a fresh venv made with ``--system-site-packages``. duban's dependencies
come from the venv running the tests (a ``.pth`` line; ``.pth`` files inside it are not read, so this
checkout's editable ``duban`` does not leak in). Then ``duban --help`` and a real import + sweep run
from a folder outside the checkout, and ``import config`` is still the dummy project.
"""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def _run(args: list[str], **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run(args, capture_output=True, text=True, timeout=600, **kw)
    assert proc.returncode == 0, f"{' '.join(map(str, args))} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


def _dummy_config_wheel(tmp_path: Path, dist: Path) -> None:
    src = tmp_path / "dummy-config"
    (src / "config").mkdir(parents=True)
    (src / "config" / "__init__.py").write_text('WHO = "the other project called config"\n')
    (src / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=68"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "config"\nversion = "0.4.2"\n[tool.setuptools]\npackages = ["config"]\n')
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(dist), str(src)])


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    tmp_path = tmp_path_factory.mktemp("wheel")
    dist = tmp_path / "dist"
    # Build from a copy so the checkout gets no build/ or egg-info folders.
    src = tmp_path / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(".git", ".venv*", "var", "build", "*.egg-info",
                                                             "__pycache__", ".pytest_cache", "tests", "bench"))
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(dist), str(src)])
    _dummy_config_wheel(tmp_path, dist)
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)])
    target = Path(_run([str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip())
    ours = {sysconfig.get_paths()["purelib"], *site.getsitepackages()}
    (target / "_test_deps.pth").write_text("\n".join(sorted(ours)) + "\n")
    wheels = sorted(str(p) for p in dist.glob("*.whl"))
    assert len(wheels) == 2, wheels
    _run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--no-index", "--no-deps", *wheels])
    return venv


def test_the_wheel_holds_only_the_duban_namespace(installed: Path) -> None:
    dist = next((installed.parent / "dist").glob("duban-*.whl"))
    import zipfile

    tops = {name.split("/")[0] for name in zipfile.ZipFile(dist).namelist()}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"duban"}
    names = zipfile.ZipFile(dist).namelist()
    for needed in ("duban/notifications/templates/zh-Hans/chase.txt.j2", "duban/config/policy.yaml",
                   "duban/config/plans/district-2015.yaml", "duban/store/migrations/versions/0001_matrix.py",
                   "duban/store/migrations/script.py.mako"):
        assert needed in names


def test_duban_and_an_unrelated_config_package_both_work(installed: Path, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "DUBAN_DATABASE_URL", "DUBAN_CONFIG_DIR")}
    env.update(COLUMNS="200", PATH=f"{installed / 'bin'}:{env['PATH']}")
    work = tmp_path / "office"
    work.mkdir()
    python = str(installed / "bin" / "python")
    both = _run([python, "-c", "import config, duban.config.settings as s, duban.workflows.cli as c; "
                               "print(config.WHO); print(s.__file__); print(c.__file__)"], cwd=work, env=env).stdout
    assert "the other project called config" in both
    assert str(installed) in both and str(ROOT) not in both
    duban = str(installed / "bin" / "duban")
    assert "Usage" in _run([duban, "--help"], cwd=work, env=env).stdout
    _run([duban, "init"], cwd=work, env=env)
    _run([duban, "matrix", "import", "duban-config/plans/township-spiritual.yaml"], cwd=work, env=env)
    out = _run([duban, "sweep", "--as-of", "2019-01-07"], cwd=work, env=env).stdout
    assert "10 chases" in out
    assert (work / "var" / "duban.db").exists()
