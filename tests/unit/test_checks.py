"""The linters as tests: README's test command (and CI) fails on a ruff problem or a mypy --strict error in
duban.matrix, as `scripts/check` does.

Both run `scripts/check` itself, so the suite and a developer's check cannot drift apart. ruff and mypy
come with `.[test]`.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

CHECK = Path(__file__).resolve().parents[2] / "scripts" / "check"


def check(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(CHECK), *args], capture_output=True, text=True, timeout=600)


def test_ruff_finds_nothing() -> None:
    out = check("--ruff")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "ruff: 0 problem(s)" in out.stdout


def test_mypy_strict_finds_nothing_in_matrix() -> None:
    out = check("--mypy", "--strict-only")
    assert out.returncode == 0, out.stdout + out.stderr
    assert re.search(r"duban\.matrix +0 ", out.stdout), out.stdout
