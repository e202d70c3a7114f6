"""The fault suite's fixtures: how many trials, the SMTP sink process, and the summary table at the end.

``DUBAN_TRIALS`` is the total number of kill -9 trials, spread evenly over the modes (default: 10 per
mode); ``DUBAN_TRIALS_SEED`` seeds the kill delays (default 1). Every mode's results are printed as one
table in pytest's terminal summary, whatever passed or failed.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from tests.reliability.harness import Backend, SinkReader
from tests.reliability.trials import PER_MODE_DEFAULT, RESULTS, seed
from tests.support import ROOT


@pytest.fixture(scope="session")
def backends(tmp_path_factory):
    """One Backend per kind for the session: templates are built once and shared by the modes."""
    made: dict[str, Backend] = {}

    def get(name: str) -> Backend:
        if name not in made:
            made[name] = Backend(name, tmp_path_factory.mktemp(f"kill9-{name}"))
        return made[name]

    yield get
    for backend in made.values():
        backend.drop_all()


@pytest.fixture(scope="session")
def mail_sink(tmp_path_factory):
    """`duban mail-sink` as its own process: a real aiosmtpd server that saves what it receives."""
    folder = tmp_path_factory.mktemp("sink")
    # --port 0: the sink binds a free port and prints it (a port picked before could be taken meanwhile)
    proc = subprocess.Popen([sys.executable, "-m", "duban.workflows.cli", "mail-sink", "--port", "0", "--dir",
                             str(folder / "mail")], cwd=folder, env={**os.environ, "PYTHONPATH": str(ROOT)},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    listening = re.search(r"listening on smtp://[^\s:]+:(\d+)", line)
    assert listening, line + proc.stderr.read()
    yield int(listening.group(1)), SinkReader(folder / "mail")
    proc.terminate()
    try:
        proc.communicate(timeout=20)  # reads and closes its pipes
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    if not RESULTS:
        return
    tr = terminalreporter
    tr.write_sep("=", f"kill -9 trials (DUBAN_TRIALS={os.environ.get('DUBAN_TRIALS', f'{PER_MODE_DEFAULT} per mode')}, "
                      f"seed {seed()})")
    head = ("mode", "trials", "killed", "missing", "duplicated", "resent in flight", "broken", "sweeps left running",
            "tmp files", "kill left before/done", "window s", "time s")
    rows = [(t.mode, t.trials, t.killed, t.missing, t.duplicated, t.resent_in_flight, t.broken, t.left_running,
             t.litter, f"{t.left_before}/{t.left_done}" if t.left_before + t.left_done else "",
             t.window, f"{t.seconds:.0f}") for t in RESULTS]
    total = ("total", *(sum(r[i] for r in rows) for i in range(1, 9)), "", "", f"{sum(t.seconds for t in RESULTS):.0f}")
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows, total)]
    for r in (head, *rows, total):
        tr.write_line("  ".join(str(x).rjust(w) if i else str(x).ljust(w) for i, (x, w) in enumerate(zip(r, widths))))
    for t in RESULTS:
        for f in t.failures[:5]:
            tr.write_line(f"{t.mode}: {f[:600]}")
