"""The ``duban rules`` commands: the versions of the policy and scoring rules stored as in force.

Registered on the main app by ``workflows.cli`` as ``duban rules``; the service is
``workflows.rules_service`` (a sweep or report stores a new version when the rules it runs with changed).
"""

from __future__ import annotations

import typer

from duban.workflows.cli_common import console, emit_json, engine, styled

rules_app = typer.Typer(help="The rules in force (policy, scoring), versioned in the database: list and show them.",
                        no_args_is_help=True)

Kind = typer.Option(None, "--kind", "-k", help="policy or scoring (default: both).")


@rules_app.command("list")
def list_cmd(kind: str | None = Kind,
             as_json: bool = typer.Option(False, "--json", help="Print JSON with stable keys.")) -> None:
    """Every stored version: kind, number, the day it is in force from, its sha256 and when it was stored."""
    from duban.workflows.rules_service import list_rules

    rows = list_rules(engine(), kind)
    if as_json:
        emit_json(rows)
        return
    out = console()
    if not rows:
        out.print("no rules stored yet (a sweep or a weekly report stores the rules it runs with)")
    for r in rows:
        out.print(styled((f"{r['kind']:<8} v{r['number']:<3}", "bold"),
                         f" in force from {r['from']}  sha256 {r['sha256'][:8]}  stored {r['stored_at']}"), soft_wrap=True)


@rules_app.command("show")
def show_cmd(number: int = typer.Argument(..., help="The version number (see `duban rules list`)."),
             kind: str = typer.Option("scoring", "--kind", "-k", help="policy or scoring.")) -> None:
    """One version's content: a whole scoring (or policy) file, as `report weekly --rules FILE` takes it."""
    from duban.workflows.rules_service import show_rules

    found = show_rules(engine(), kind, number)
    out = console()
    out.print(f"# {found.kind} rules version {found.number}, in force from {found.from_date.isoformat()}, "
              f"sha256 {found.sha256}", markup=False, highlight=False)
    out.print(found.content, end="", markup=False, highlight=False, soft_wrap=True)
