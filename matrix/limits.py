"""Input limits, said once: how big a file, cell, sheet or YAML structure duban agrees to read.

Every loader (plan, unit directory, progress sheet, plan document) takes an ``InputLimits`` as a
parameter; the CLI builds it from the settings (``DUBAN_LIMIT_…``, see ``config.settings``), so this
package stays free of settings and the environment. A refusal names the limit and the setting that
raises it, e.g. ``plan.csv row 12, field 目標要求: a cell of 140,000 characters exceeds the limit of
32,767 (DUBAN_LIMIT_CELL_CHARS)``.
"""

from __future__ import annotations

from dataclasses import dataclass

from duban.matrix.errors import LimitExceeded, shorten

# Field name → the setting that raises it (the README's "Input limits" table lists the same).
SETTINGS: dict[str, str] = {
    "file_bytes": "DUBAN_LIMIT_FILE_BYTES",
    "cell_chars": "DUBAN_LIMIT_CELL_CHARS",
    "rows": "DUBAN_LIMIT_ROWS",
    "columns": "DUBAN_LIMIT_COLUMNS",
    "yaml_depth": "DUBAN_LIMIT_YAML_DEPTH",
    "yaml_aliases": "DUBAN_LIMIT_YAML_ALIASES",
}


@dataclass(frozen=True, slots=True)
class InputLimits:
    """The most duban reads from one input. The defaults are the README's."""

    file_bytes: int = 50 * 1024 * 1024  # a file on disk; an .xlsx/.docx also when unpacked
    cell_chars: int = 32_767  # one cell or value (Excel's own limit)
    rows: int = 100_000  # rows of a sheet, entries of a YAML list, lines of a document
    columns: int = 200  # columns of a sheet
    yaml_depth: int = 50  # nesting of YAML mappings and lists
    yaml_aliases: int = 100  # uses of YAML aliases (*name) in one file

    def refuse(self, where: str, name: str, found: str, text: str | None = None) -> LimitExceeded:
        """The error for ``found`` (e.g. "a cell of 140,000 characters") over limit ``name`` at ``where``,
        quoting the start of ``text`` when given."""
        reason = f"{found} exceeds the limit of {getattr(self, name):,} ({SETTINGS[name]})"
        if text is not None:
            reason += f" — 「{shorten(text, 20)}」"
        return LimitExceeded(where, reason, setting=SETTINGS[name])


DEFAULT_LIMITS = InputLimits()

__all__ = ["DEFAULT_LIMITS", "InputLimits", "SETTINGS"]
