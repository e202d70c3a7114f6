"""The ``duban`` command line: typer + rich, heavy imports deferred so ``duban --help`` stays fast.

This module assembles the app: ``init`` and ``main`` are here, every other command lives in a
``cli_*.py`` module by group (matrix, supervision, delivery, run/demo, progress, report, notices,
backup, deploy, extract, calendar) and is registered below. The commands share ``workflows.cli_common`` (the
process's bootstrap, console, JSON output); none imports this module, so there is no import circle.
Each command parses its options, calls a service and prints.

Every command reads ``DUBAN_DATABASE_URL``; every command that lists things takes ``--json`` and then
prints stable keys only (documented in README.md). Errors a user can cause print one clear message
(file, line/row, field, offending text) and exit with status 1 (validation) or 2 (anything else),
never a traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from duban.workflows import cli_delivery, cli_matrix, cli_run, cli_supervision
from duban.workflows.cli_backup import backup_command, restore_command
from duban.workflows.cli_calendar import calendar_app
from duban.workflows.cli_closing import closing_app
from duban.workflows.cli_common import console, settings
from duban.workflows.cli_deploy import deploy_command
from duban.workflows.cli_extract import extract_command
from duban.workflows.cli_links import links_app
from duban.workflows.cli_matrix import matrix_app, units_app
from duban.workflows.cli_notices import notices_app
from duban.workflows.cli_progress import extension_app, progress_app
from duban.workflows.cli_prune import prune_command
from duban.workflows.cli_report import report_app
from duban.workflows.cli_rules import rules_app
from duban.workflows.cli_serve import serve_command, user_app

app = typer.Typer(
    name="duban",
    help="督辦 duban — turns a plan's responsibility matrix into supervision: reminders, chases, escalation, circulation reports.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(matrix_app, name="matrix")
app.add_typer(units_app, name="units")


@app.command()
def init(
    directory: Path = typer.Argument(Path("."), help="Where to set up duban (the current folder by default)."),
    examples: bool = typer.Option(True, help="Copy the example plans into the config folder."),
) -> None:
    """Create the database (schema at the newest revision) and a config folder with example plans."""
    from duban.workflows.setup_service import initialise

    result = initialise(settings(), directory, examples=examples)
    out = console()
    out.print(f"database  {result.database}  ({result.state})")
    out.print(f"config    {result.config_dir}/  (policy, schedule and scoring, {result.plans} example plans with their unit directories)")
    out.print("next      duban matrix import " + str(result.config_dir / "plans" / "district-2015.yaml"))


for _module in (cli_matrix, cli_supervision, cli_delivery, cli_run):
    for _name, _command in _module.commands:
        app.command(_name)(_command)

app.add_typer(report_app, name="report", help="The weekly circulation report (周通報) and criticism notices.")
app.add_typer(rules_app, name="rules", help="The policy and scoring rules in force, as stored versions.")

app.command("backup")(backup_command)
app.command("restore")(restore_command)
app.command("deploy", help="Register the flows as Prefect deployments (PREFECT_API_URL) with their schedules.")(deploy_command)
matrix_app.command("extract", help="Read a plan document (.txt, .docx) into the matrix YAML for review.")(extract_command)

app.add_typer(notices_app, name="notices", help="Preview notices as they would be sent.")

app.add_typer(progress_app, name="progress", help="Progress reports (進展報送) and closing (辦結).")
app.add_typer(extension_app, name="extension", help="Extension requests (延期申請) and the office's decisions.")
app.add_typer(closing_app, name="closing", help="Closing requests (辦結申請) with evidence: the office closes or returns them.")
app.add_typer(user_app, name="user", help="Console users: who may log in to `duban serve`.")
app.command("serve")(serve_command)
app.add_typer(calendar_app, name="calendar", help="Working days: the official calendar and the years the office imports.")
app.add_typer(links_app, name="links", help="Units' signed links in notices (DUBAN_PUBLIC_URL): list a unit's, revoke.")
app.command("prune")(prune_command)


def main() -> None:
    """Entry point: run the app, turning duban's own errors into one clear line and exit status 2."""
    import gc

    gc.disable()  # until the command has imported what it needs: see _started
    from duban.workflows.bootstrap import private_files_from_environment

    private_files_from_environment()
    try:
        app()
    except Exception as err:  # noqa: BLE001 - only DubanError is handled; the rest re-raises
        from duban.matrix.errors import DubanError

        if not isinstance(err, DubanError):
            raise
        sys.stderr.write(f"duban: error: {err}\n")
        sys.exit(2)
    finally:
        gc.enable()  # for a caller that runs main() in its own process and goes on


if __name__ == "__main__":  # pragma: no cover
    main()
