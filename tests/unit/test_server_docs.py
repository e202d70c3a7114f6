"""Server mode's documents agree: README's section = docs/server-mode.md, its `sh` blocks = the step
functions of docs/server-mode-steps.sh (which the Prefect integration test runs), and the systemd unit
starts the worker the README starts."""

from __future__ import annotations

import configparser
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from duban.matrix.errors import ConfigError
from duban.workflows.deploy import check_heartbeat

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "docs" / "server-mode-steps.sh"
UNIT = ROOT / "docs" / "duban-worker.service"
HEADING = "## Server mode: Prefect server, workers, PostgreSQL"
SAME_TEXT = "(The same text is in docs/server-mode.md.)"


def readme_section() -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index(HEADING)
    end = text.index(SAME_TEXT, start)
    return text[start:end].rstrip("\n") + "\n"


def sh_blocks(markdown: str) -> list[str]:
    return [m.group(1) for m in re.finditer(r"^```sh\n(.*?)^```$", markdown, re.M | re.S)]


def script_steps() -> list[tuple[str, str]]:
    return [(m.group(1), m.group(2)) for m in
            re.finditer(r"^(step_\w+)\(\) \{\n(.*?)^\}$", SCRIPT.read_text(), re.M | re.S)]


def test_docs_server_mode_is_the_readme_section() -> None:
    assert (ROOT / "docs" / "server-mode.md").read_text() == readme_section()


def test_readme_server_mode_blocks_are_the_script_steps_word_for_word() -> None:
    blocks = sh_blocks(readme_section())
    steps = script_steps()
    assert len(blocks) >= 9
    assert [body for _, body in steps] == blocks, "README's server-mode sh blocks and docs/server-mode-steps.sh differ"


def test_the_trial_runs_every_step_but_the_install_in_order() -> None:
    text = SCRIPT.read_text()
    trial = re.search(r"^trial\(\) \{\n(.*?)^\}$", text, re.M | re.S).group(1)
    called = re.findall(r"\b(step_\w+)\b", trial)
    names = [name for name, _ in script_steps()]
    assert names[0] == "step_install"
    assert list(dict.fromkeys(called)) == names[1:]
    assert called.count("step_worker") == 2, "the trial starts two workers"
    proc = subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_the_readme_steps_say_what_an_operator_trips_on() -> None:
    steps = dict(script_steps())
    assert "mkdir -p var/prefect" in steps["step_every_shell"].split("export PREFECT_HOME")[0]
    admin = [line for line in steps["step_postgres"].splitlines() if re.search(r"\bcreate(user|db)\b", line)]
    assert admin and all(line.lstrip("# ").startswith("sudo -u postgres create") for line in admin), admin
    assert "--limit" in steps["step_worker"]
    assert "DUBAN_SMTP_URL=smtp://127.0.0.1:8025" in steps["step_worker"]
    assert "mail-sink --port 8025" in steps["step_mail_sink"]
    for step in ("step_deploy", "step_worker", "step_trigger"):
        assert steps[step].startswith("export PREFECT_API_URL=http://127.0.0.1:4200/api\n"), step
    section = readme_section()
    assert "must be set in every shell that runs `prefect deployment run`" in section
    assert "ignores the first Ctrl-C / SIGINT / SIGTERM" in section and "docs/duban-worker.service" in section
    assert "`--limit` is what makes workers share" in section
    assert "The record to trust is duban's" in section


def unit_file() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str
    parser.read_string(UNIT.read_text())
    return parser


def test_the_systemd_unit_starts_the_readme_worker_and_stops_it_with_two_signals() -> None:
    service = unit_file()["Service"]
    worker = [line for line in dict(script_steps())["step_worker"].splitlines() if line.startswith("prefect worker")][0]
    assert service["ExecStart"].endswith(worker.split("#")[0].strip())
    assert service["ExecStart"].split()[0].endswith("/prefect")
    assert service["EnvironmentFile"].startswith("/")
    assert "PREFECT_HOME=" in service["Environment"] and "DO_NOT_TRACK=1" in service["Environment"]
    assert service["ExecStop"] == "/bin/kill -INT $MAINPID"  # the first signal; KillSignal is the second
    assert service["KillSignal"] == "SIGTERM" and service["KillMode"] == "control-group"
    assert 10 <= int(service["TimeoutStopSec"]) <= 600


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze is not installed")
def test_systemd_accepts_the_unit(tmp_path: Path) -> None:
    unit = tmp_path / "duban-worker.service"
    unit.write_text(re.sub(r"^ExecStart=\S+", "ExecStart=/bin/true", UNIT.read_text(), flags=re.M))
    proc = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_deploy_refuses_a_heartbeat_prefect_ignores_or_a_crash_bound_too_tight() -> None:
    check_heartbeat(30, 90)
    check_heartbeat(30, 45)
    with pytest.raises(ConfigError, match=r"--heartbeat 10: Prefect sends a flow run's heartbeat at most every 30 s"):
        check_heartbeat(10, 90)
    with pytest.raises(ConfigError, match=r"--crash-after 40: give at least 1.5 × --heartbeat \(45 s"):
        check_heartbeat(30, 40)
