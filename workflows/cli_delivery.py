"""The delivery commands: ``duban deliver``, ``duban messages`` and ``duban mail-sink``.

Registered on the main app by ``workflows.cli``. Only typer and the standard library are imported at
module level (``duban --help`` stays fast); each command parses its options, calls
``workflows.delivery_service`` (or starts the sink) and prints.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import typer

from duban.workflows.cli_common import Commands, app, console, day_option, emit_json, engine, now_for, settings, styled

commands = Commands()

AsOf = day_option("--as-of", "Act as if today were this date (YYYY-MM-DD), to replay a plan.")
Json = typer.Option(False, "--json", help="Print JSON with stable keys instead of a table.")


@commands("deliver")
def deliver_cmd(
    as_of: dt.datetime | None = AsOf,
    retry_failed: bool = typer.Option(False, "--retry-failed", help="First put failed messages back in the queue "
                                      "(after fixing an address or the server): same bytes, same Message-ID."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="List every failed message and undeliverable "
                                 "recipient (by default: counts per reason, a few examples each)."),
    as_json: bool = Json,
) -> None:
    """Send the outbox: one digest per recipient by SMTP (DUBAN_SMTP_URL), or .eml files in var/outbox/."""
    from duban.workflows.delivery_service import deliver, requeue_failed

    now = now_for(as_of)
    requeued = requeue_failed(engine(), now=now) if retry_failed else 0
    result = deliver(engine(), now=now, settings=settings(), renderer=app().renderer, calendar=app().calendar)
    if as_json:
        emit_json({**result.as_dict(), "requeued": requeued})
        _halted(result)
        return
    out = console()
    if retry_failed:
        out.print(f"{requeued} failed messages put back in the queue")
    how = "sent to" if settings().smtp_url else "written as .eml files to"
    out.print(styled(f"messages {how} {result.target}: ", (result.summary(), "red" if result.failed else ""),
                     (f"; {result.recipients_refused} recipients refused" if result.recipients_refused else "")
                     + (f"; {result.superseded} older repeats superseded" if result.superseded else "")))
    failed_lines = {f"{f['address']}: {f['error']}" for f in result.failures}
    for e in result.errors:
        if e not in failed_lines and not (result.halted and e.endswith(result.halted)):  # the halt: on stderr, below
            out.print(styled("  ", ("error", "red"), f" {e}"))
    if verbose:
        _every_one(out, result)
    else:
        _per_reason(out, result)
    _halted(result)


_KINDS = (("failed", "messages failed", "red"), ("held", "recipients held", "yellow"),
          ("undeliverable", "recipients undeliverable (refused for good)", "red"))


def _every_one(out, result) -> None:
    """--verbose: every failed message, held recipient (with why) and undeliverable recipient."""
    for f in result.failures:
        out.print(styled("  ", ("failed", "red"), f" {f['address']}: {f['error']}"))
    for what, people, colour in (("held", result.held, "yellow"), ("undeliverable", result.undeliverable, "red")):
        if people:
            out.print(styled((f"{len(people)} recipients {what}", colour), ":"))
            for u in people:
                out.print(f"  task {u['task']} → {u['name']} ({u['role']}): {u['reason']}")


def _per_reason(out, result) -> None:
    """A few lines whatever the size of the run: per reason, how many, and who for example."""
    groups = result.by_reason()
    for kind, what, colour in _KINDS:
        if groups[kind]:
            total = sum(g["count"] for g in groups[kind])
            out.print(styled((f"{total} {what}", colour), f" ({len(groups[kind])} reason{'s' if len(groups[kind]) != 1 else ''}):"))
            for g in groups[kind][:10]:
                more = f", … {g['count'] - len(g['examples'])} more" if g["count"] > len(g["examples"]) else ""
                out.print(f"  {g['count']} × {g['reason']}: {'; '.join(g['examples'])}{more}")
            if len(groups[kind]) > 10:
                out.print(f"  … {len(groups[kind]) - 10} more reasons")
    if groups["held"]:
        out.print("  held recipients go out with a later `duban deliver` once the unit directory has their address "
                  "(or, for a replay's, DUBAN_ALLOW_REPLAY_MAIL=1); `duban outbox --status held` lists their notices")
    if result.failures or result.undeliverable or result.held:
        out.print("  (--verbose lists every one; --json gives them as data)")


def _halted(result) -> None:
    """The server refused duban itself: the run stopped; say so as an error (exit status 2)."""
    if result.halted:
        from duban.matrix.errors import DeliveryError

        raise DeliveryError(f"the mail server refused duban itself, so delivery stopped and the messages wait, "
                            f"their attempts not counted: {result.halted}")


@commands("messages")
def messages_cmd(
    status_: str | None = typer.Option(None, "--status", help="pending, sending, sent, held, failed (comma-separated)."),
    limit: int | None = typer.Option(None, "--limit"),
    as_json: bool = Json,
) -> None:
    """Messages built from the outbox: to whom, state, attempts, last error (held: why)."""
    from duban.workflows.delivery_service import list_messages, waiting_for_an_address

    rows = list_messages(engine(), status=status_, limit=limit)
    if as_json:
        emit_json(rows)
        return
    from rich.table import Table

    table = Table(title=f"{len(rows)} messages", header_style="bold")
    for col in ("id", "to", "subject", "notices", "status", "attempts", "last error"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(str(r["id"]), r["to"], r["subject"], str(r["notices"]), r["status"], str(r["attempts"]), r["last_error"])
    out = console()
    out.print(table)
    if status_ is None or "held" in status_.split(","):
        people = waiting_for_an_address(engine())
        if people:  # no message yet: nobody to address it to
            out.print(styled((f"{len(people)} recipients held", "yellow"), " with no message yet (a later `duban deliver` "
                             "sends them once the directory has the address):"))
            for u in people[:20]:
                out.print(f"  held: {u['reason']} (notice {u['notice']}, task {u['task']})")
            if len(people) > 20:
                out.print(f"  … {len(people) - 20} more (`duban outbox --status held`)")


@commands("mail-sink")
def mail_sink_cmd(
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int = typer.Option(8025, "--port", help="0: a free port, the one printed."),
    folder: Path = typer.Option(Path("var/mail-sink"), "--dir", help="Where received messages are saved."),
) -> None:
    """Run a local SMTP server that saves what it receives (for demos): DUBAN_SMTP_URL=smtp://127.0.0.1:8025."""
    import signal
    import threading

    from duban.notifications.sink import start_sink

    controller = start_sink(host, port, folder)
    out = console()
    out.print(f"mail sink listening on smtp://{host}:{controller.port}, saving to {folder}/ — Ctrl-C to stop")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        controller.stop()
        out.print(f"stopped; {controller.handler_ref.received} messages received")


