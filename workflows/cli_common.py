"""What every ``duban`` command shares: the process's :class:`~duban.workflows.bootstrap.App`, the clock,
the console and JSON output.

Every ``cli_*.py`` module imports these from here (never from ``workflows.cli``, which only assembles
the commands), so the command modules form no import circle. Only the standard library is imported at
module level: ``duban --help`` stays fast.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from duban.config.settings import Settings
    from duban.workflows.bootstrap import App


class _State:
    app: App | None = None


def _started() -> None:
    """The command has its modules: collect garbage again.

    ``main`` pauses the collector while a command's lazy imports of SQLAlchemy, SQLModel and pydantic
    build their classes (otherwise full collections run again and again over objects that live as
    long as the process); the objects made so far are then frozen out of future collections, so
    switching the collector back on does not pay the deferred cost in one go. Called when a command
    first asks for its wiring or console, which every command does before its real work."""
    import gc

    if not gc.isenabled():
        gc.freeze()
        gc.enable()


def app() -> App:
    """This command's wiring, built once: settings now, the engine (migrated to the newest revision,
    as every command does) and the rest when first used."""
    _started()
    if _State.app is None:
        from duban.workflows.bootstrap import bootstrap

        _State.app = bootstrap()
    return _State.app


def settings() -> Settings:
    return app().settings


def engine():
    return app().engine


def policies():
    return app().policies


def now_for(as_of: dt.datetime | None) -> dt.datetime:
    """``--as-of D`` means the start of that local day; otherwise the real clock, in the office's zone."""
    return app().now(as_of)


def day_option(name: str, help: str, default: Any = None) -> Any:
    """A date option (``--as-of``, ``--until`` …): ``YYYY-MM-DD``, or ``YYYYMMDD`` as that date, given to the
    command as the start of that day (a naive ``datetime``). Anything else — ``2019-7-5``, ``15/07/2019``,
    a Unix timestamp, ``2019-02-30``, nothing — stops the command before it does anything, with one line
    naming the option and the text (``--as-of: "2019-7-5" is not a date; use YYYY-MM-DD``) and status 2."""
    import typer

    return typer.Option(default, name, help=help, metavar="YYYY-MM-DD", parser=_day_parser(name))


def _day_parser(name: str):
    def parse(value: Any) -> dt.datetime:
        if isinstance(value, dt.datetime):
            return value
        from duban.matrix.errors import DubanError
        from duban.matrix.vocabulary import parse_day

        try:
            return dt.datetime.combine(parse_day(str(value)), dt.time())
        except ValueError as err:  # not ValueError on: typer would wrap it in a box with its own words
            raise DubanError(f"{name}: {err}") from None

    return parse


def console(stderr: bool = False):
    """A console that prints text literally: names, titles and notes are data, never Rich markup (a title
    such as ``任務[/bold]`` is printed as written). Styles are given as ``styled(…)`` parts."""
    _started()
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=False, markup=False, emoji=False)


def styled(*parts: str | tuple[str, str]):
    """One line of literal text with styled parts: ``styled(("warning", "yellow"), " ", text)``."""
    from rich.text import Text

    return Text.assemble(*parts)


def emit_json(data: Any) -> None:
    """Indented for a person at a terminal; compact (and C-encoded, much faster) for a pipe."""
    indent = 2 if sys.stdout.isatty() else None
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=indent, default=str) + "\n")


def print_problems(err, as_json: bool) -> None:
    """Every problem of a refused file at once: a table on stderr, or ``{ok: false, problems}`` as JSON."""
    warnings = list(getattr(err, "warnings", ()))
    if as_json:
        emit_json({"ok": False, "problems": [p.as_dict() for p in err.problems]} | ({"warnings": warnings} if warnings else {}))
        return
    from rich.table import Table

    out = console(stderr=True)
    for w in warnings:  # said first: a column not understood may be why a field is missing
        out.print(styled(("warning", "yellow"), f" {w}"))
    out.print(styled((f"{len(err.problems)} problem{'s' if len(err.problems) != 1 else ''}", "bold red"), " — nothing was changed"))
    table = Table(show_lines=False, header_style="bold")
    for col in ("where", "field", "text", "problem", "hint"):
        table.add_column(col, overflow="fold")
    for p in err.problems:
        table.add_row(p.where, p.field, p.text, p.message, p.hint)
    out.print(table)


def safe_url(url: str) -> str:
    """A database URL without its password, for what a command prints."""
    from duban.workflows.bootstrap import safe_url as without_password

    return without_password(url)


class Commands(list):
    """The top-level commands a ``cli_*`` module defines, in order; ``workflows.cli`` registers them on the
    main app (``@commands("sweep")`` above a function records it under that name)."""

    def __call__(self, name: str):
        def add(function):
            self.append((name, function))
            return function

        return add
