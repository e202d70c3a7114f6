"""The commands that keep running or replay: ``duban run`` (the embedded scheduler) and ``duban demo``.

Registered on the main app by ``workflows.cli``. Only typer and the standard library are imported at
module level (``duban --help`` stays fast); ``run`` hands the process's wiring (bootstrap) to
``workflows.runner``, ``demo`` calls ``workflows.demo``, and both print.
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import typer

from duban.workflows.cli_common import Commands, app, console, day_option, now_for, safe_url

commands = Commands()


@commands("run")
def run_cmd(
    once: bool = typer.Option(False, "--once", help="Run every job once (sweep, deliver, weekly report) and exit."),
    quiet: bool = typer.Option(False, "--quiet", help="No live status line (for service managers)."),
    as_of: dt.datetime | None = day_option("--as-of", "With --once: run the jobs as of this date (YYYY-MM-DD)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="With --once: show what the sweep would write and write "
                                                         "nothing; deliver and the weekly report are not run."),
) -> None:
    """Supervise by itself on schedule (config/schedule.yaml): sweep 08:30 on working days, deliver every
    5 minutes, weekly report Friday 16:00. One per database; Ctrl-C finishes the current job and stops
    (Ctrl-C again stops at once)."""
    if dry_run and not once:
        raise typer.BadParameter("--dry-run goes with --once", param_hint="--dry-run")
    from duban.workflows.runner import run_forever

    wiring = app()
    schedule = wiring.schedule
    out = console()
    wiring.engine  # noqa: B018 - the schema is brought up to date once, here, before any job runs
    if once:
        _run_once(wiring, out, now_for(as_of) if as_of else None, dry_run)
        return
    out.print(f"duban run on {safe_url(wiring.settings.database_url)} — "
              + ", ".join(f"{j.name} ({j.describe()}{', working days' if j.working_days_only else ''})" for j in schedule.jobs))
    state = run_forever(wiring, live=not quiet and sys.stdout.isatty(), say=_say,
                        on_started=lambda: out.print("scheduler started") if quiet or not sys.stdout.isatty() else None)
    out.print(f"stopped cleanly ({state.errors} job errors)")


def _say(text: str) -> None:
    """What a signal handler tells the user at once (stderr: the live table and job lines are on stdout)."""
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def _run_once(wiring, out, now: dt.datetime | None, dry_run: bool) -> None:
    """`run --once`: each job's line as it finishes; a dry run's notices as `sweep --dry-run` shows them;
    stopped by Ctrl-C, what was left undone, and status 130."""
    from duban.workflows.cli_supervision import planned_table
    from duban.workflows.runner import run_once

    done = run_once(wiring, report=lambda name, text: out.print(f"{name:<14} {text}"), now=now, dry_run=dry_run, say=_say)
    for result in done:
        if result.get("dry_run"):
            out.print(planned_table(result["notices"], f"dry run for {result['as_of']}: {len(result['notices'])} "
                                                       "notices would be written"))
    if done.stopped:
        out.print(done.stopped)
        raise typer.Exit(130)


@commands("demo")
def demo_cmd(
    out: Path = typer.Option(Path("demo-out"), "--out", help="Where the demo writes everything (replaced)."),
    lang: str = typer.Option("zh-Hans", "--lang", help="zh-Hans, zh-Hant or en."),
) -> None:
    """Replay the district plan 2015-07 … 2016-12 in a minute: sweeps, mail to a local sink, weekly reports."""
    import time

    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from duban.workflows.demo import END as DEMO_END
    from duban.workflows.demo import run_demo

    started = time.monotonic()
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total} days"),
                  TimeElapsedColumn(), console=console()) as bar:
        job = bar.add_task("replaying", total=None)

        def progress(done: int, total: int, day: str) -> None:
            bar.update(job, total=total, completed=done, description=f"replaying {day}")

        result = run_demo(out, progress=progress, language=lang)
    c = console()
    table = Table(title=f"duban demo: {result.days} days, {result.sweeps} sweeps in {time.monotonic() - started:.0f} s",
                  header_style="bold")
    table.add_column("what")
    table.add_column("count", justify="right")
    for kind, label in (("reminder", "提醒 reminders"), ("chase", "催辦 chases"), ("escalation", "督辦 escalations")):
        table.add_row(label, str(result.notices.get(kind, 0)))
    for level, n in sorted(result.escalation_levels.items()):
        table.add_row(f"  level {level}", str(n))
    table.add_row("messages delivered (digests)", str(result.messages))
    table.add_row("weekly circulation reports", str(sum(1 for p in result.reports if p.name.startswith("weekly-"))))
    table.add_row(f"answers through units' links ({len(result.link_units)} units)", str(sum(result.by_link.values())))
    for action, label in (("acknowledge", "簽收"), ("report", "報送進展"), ("request_closing", "申請辦結"),
                          ("request_extension", "申請延期")):
        table.add_row(f"  {label} {action}", str(result.by_link.get(action, 0)))
    table.add_row("answers on paper, typed in by the office", str(sum(result.by_office.values())))
    table.add_row("closing requests closed / returned",
                  f"{result.closings.get('closed', 0)} / {result.closings.get('returned', 0)}")
    for unit, n in result.criticised.most_common(8):
        table.add_row(f"通報批評 {unit}", f"{n} weeks")
    for unit, n in result.praised.most_common(8):
        table.add_row(f"通報表揚 {unit}", f"{n} weeks")
    c.print(table)
    if result.stats is not None:
        _print_letter_stats(c, result.stats)
    c.print(f"open {out / 'index.html'} — mail in {out / 'mail'}/, database {out / 'demo.db'}, "
            f"per-unit numbers in {out / 'stats.json'}")
    db = f"sqlite:///{(out / 'demo.db').resolve()}"
    c.print(f"the console on the demo's database, as of its last day: export DUBAN_DATABASE_URL={db}; "
            f"duban user add me --role office; duban serve --as-of {DEMO_END.isoformat()}  (then open http://127.0.0.1:8000/)",
            markup=False, soft_wrap=True)


def _print_letter_stats(c, stats, top: int = 12) -> None:
    """The units that got the most letters (and any criticised longer than the limit), then the totals line."""
    from rich.table import Table
    from rich.text import Text

    from duban.workflows.letter_stats_service import STREAK_LIMIT

    shown = list(stats.units[:top]) + [u for u in stats.units[top:] if u.streak > STREAK_LIMIT]
    # Narrow enough for an 80-column terminal: the flags go into the cells they qualify.
    table = Table(title=f"letters and criticisms per unit, {stats.start} … {stats.end} ({stats.working_weeks} working weeks)",
                  header_style="bold underline", box=None, pad_edge=False,
                  caption=f"* supporting only  ! criticised over {STREAK_LIMIT} weeks running before a level-3 escalation went",
                  caption_justify="left")
    table.add_column("unit", no_wrap=True, width=12)
    for name, width in (("letters", 7), ("主送", 4), ("抄送", 4), ("/wk", 4), ("批評", 4), ("run", 4), ("run from", 10),
                        ("level 3", 10)):
        table.add_column(name, justify="right", no_wrap=True, width=width)
    for u in shown:
        table.add_row(Text(("* " if u.supporting_only else "") + u.unit + (" (office)" if u.office else "")),
                      str(u.letters), str(u.to), str(u.cc), f"{u.per_week:.2f}".lstrip("0"), str(u.criticised),
                      f"{u.streak}{' !' if u.level3_in_time is False else ''}", str(u.streak_from or ""),
                      str(u.level3_sent or ""))
    c.print(table)
    c.print(stats.totals_line(), markup=False, highlight=False)


