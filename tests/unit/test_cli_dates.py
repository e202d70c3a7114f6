"""Every date option of every command is read by the one day parser (``cli_common.day_option``): YYYY-MM-DD or
YYYYMMDD, never a Unix timestamp; a new date option declared as a bare ``typer.Option`` fails here."""

from __future__ import annotations

import inspect


def _commands(app, prefix: str = ""):
    for command in app.registered_commands:
        yield prefix + (command.name or command.callback.__name__), command.callback
    for group in app.registered_groups:
        yield from _commands(group.typer_instance, f"{prefix}{group.name} ")


def test_every_date_option_goes_through_day_option() -> None:
    from duban.workflows.cli import app

    dated, wrong = [], []
    for name, callback in _commands(app):
        for p in inspect.signature(callback).parameters.values():
            if "date" in str(p.annotation):
                dated.append(f"{name} {p.name}")
                if getattr(p.default, "parser", None) is None or getattr(p.default, "metavar", None) != "YYYY-MM-DD":
                    wrong.append(f"duban {name} --{p.name.replace('_', '-')}: use cli_common.day_option")
    assert not wrong, "\n".join(wrong)
    assert {"sweep as_of", "run as_of", "extension request until", "report weekly as_of"} <= set(dated)
