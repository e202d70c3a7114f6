"""The kill -9 harness: run a duban command as a real process, kill it at a random moment, finish it, compare.

A *mode* is one command on one backend (``sweep`` on SQLite, ``deliver-smtp`` on PostgreSQL …). For each
mode a template database is built once with ordinary duban commands, and an uninterrupted run of the
command on a copy of it is the *reference*. Each *trial* copies the template, starts the command, kills it
with SIGKILL after a seeded random delay inside the window where it works (after its start-up, measured on
the same machine), checks what the kill left, runs the command again to the end and compares the result
with the reference:

- missing: a row, notice, message or delivered message the reference has and the trial lacks (or has in
  another state, e.g. a message never sent);
- duplicated: a row or notice the trial has more often than the reference, or a message received twice
  that was not in flight when the process died, or received more than twice;
- resent in flight: a message received twice that was being sent when the process died (the README
  allows this one resend: the message is resent byte for byte with the same Message-ID).

Messages are compared by what they carry (address, notices and roles), not by key or Message-ID: those
hash row ids, which a PostgreSQL sequence does not repeat after a rolled-back transaction.
- broken: after the kill, an all-or-nothing command (sweep, import, init) left a state that is neither the
  one before nor the reference (half-written), or the database fails its integrity check, or the
  finishing command fails, or (init) it leaves another schema than the reference's.

The dead process's claims on messages are run out before the finishing run (their lease is 10 minutes of
real time; a test does not wait for it): that is what the next delivery after the lease sees. A sweep's
lease (where sweeps have one) is run out the same way, so the finishing sweep marks the dead one interrupted.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from tests.support import PG_BASE, PLANS, ROOT

PLAN = PLANS / "district-2015.yaml"
DUBAN = [sys.executable, "-m", "duban.workflows.cli"]
PG_ADMIN = "host=127.0.0.1 port=5432 dbname=test user=postgres"
SMTP_CONNECTIONS = 4  # DUBAN_SMTP_CONCURRENCY's default: messages in flight at once


# --------------------------------------------------------------------------------------------
# Where a trial's database lives


@dataclass
class Place:
    """One database (a SQLite file or a PostgreSQL database) and the folder a command runs in."""

    backend: str
    url: str
    cwd: Path
    db_path: Path | None = None  # SQLite
    db_name: str | None = None  # PostgreSQL

    @property
    def outbox(self) -> Path:
        return self.cwd / "outbox"

    def exists(self) -> bool:
        return self.db_path.exists() if self.backend == "sqlite" else True

    def engine(self) -> sa.Engine:
        if self.backend == "sqlite":
            return sa.create_engine(f"sqlite:///{self.db_path}", poolclass=sa.pool.NullPool)
        return sa.create_engine(self.url, poolclass=sa.pool.NullPool)


class Backend:
    """Makes, copies and drops places; PostgreSQL copies a template database (CREATE DATABASE … TEMPLATE)."""

    def __init__(self, name: str, root: Path) -> None:
        self.name = name
        self.root = root
        self._made: list[Place] = []
        self._templates: dict[tuple[tuple[str, ...], ...], Place] = {}
        self._startup: float | None = None

    def template(self, prepare: list[list[str]]) -> Place:
        """A database built by these duban commands; built once, from the longest prefix already built."""
        key = tuple(tuple(a) for a in prepare)
        if key in self._templates:
            return self._templates[key]
        done = max((k for k in self._templates if key[:len(k)] == k), key=len, default=())
        place = self._templates[done] if done else self.new("template")
        if not done:
            self._templates[()] = place
        for i in range(len(done), len(key)):
            place = self.copy(place, "template")  # each prefix stays as it was built, for other modes
            must(list(key[i]), place)
            self._templates[key[:i + 1]] = place
        return place

    def startup(self, place: Place) -> float:
        """How long a command takes before it works (start-up, imports, opening the database): the
        quicker of two `plans --json`, measured once per backend."""
        if self._startup is None:
            self._startup = min(must(["plans", "--json"], place) for _ in range(2))
        return self._startup

    def _folder(self, label: str) -> Path:
        folder = self.root / f"{label}-{uuid.uuid4().hex[:6]}"
        folder.mkdir(parents=True)
        return folder

    def new(self, label: str) -> Place:
        cwd = self._folder(label)
        if self.name == "sqlite":
            path = cwd / "var" / "duban.db"
            place = Place("sqlite", f"sqlite:///{path}", cwd, db_path=path)
        else:
            place = self._pg(cwd, template=None)
        self._made.append(place)
        return place

    def copy(self, template: Place, label: str) -> Place:
        cwd = self._folder(label)
        if self.name == "sqlite":
            path = cwd / "var" / "duban.db"
            if template.db_path.exists():
                path.parent.mkdir(parents=True)
                src = sqlite3.connect(template.db_path)
                dst = sqlite3.connect(path)
                src.backup(dst)
                dst.close()
                src.close()
            place = Place("sqlite", f"sqlite:///{path}", cwd, db_path=path)
        else:
            place = self._pg(cwd, template=template.db_name)
        self._made.append(place)
        return place

    def _pg(self, cwd: Path, template: str | None) -> Place:
        import psycopg

        name = f"duban_rel_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
        url = sa.engine.make_url(PG_BASE).set(database=name).render_as_string(hide_password=False)
        return Place("postgres", url, cwd, db_name=name)

    def drop(self, place: Place) -> None:
        if place.backend == "postgres":
            import psycopg

            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{place.db_name}" WITH (FORCE)')
        if place in self._made:
            self._made.remove(place)

    def drop_all(self) -> None:
        for place in list(self._made):
            self.drop(place)


# --------------------------------------------------------------------------------------------
# Running duban


def env_for(place: Place, extra: dict[str, str] | None = None) -> dict[str, str]:
    return {**os.environ, "DUBAN_DATABASE_URL": place.url, "PYTHONPATH": str(ROOT), "COLUMNS": "200",
            "DUBAN_OUTBOX_DIR": str(place.outbox), "DUBAN_CONFIG_DIR": str(place.cwd / "duban-config"),
            **(extra or {})}


def duban(args: list[str], place: Place, extra: dict[str, str] | None = None,
          timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([*DUBAN, *args], cwd=place.cwd, env=env_for(place, extra), capture_output=True,
                          text=True, timeout=timeout)


def must(args: list[str], place: Place, extra: dict[str, str] | None = None) -> float:
    """Run to the end; returns the wall time. A failure here is the harness's, not the trial's."""
    started = time.monotonic()
    proc = duban(args, place, extra)
    if proc.returncode != 0:
        raise AssertionError(f"duban {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr[-3000:]}")
    return time.monotonic() - started


def run_and_kill(args: list[str], place: Place, extra: dict[str, str], delay: float) -> tuple[bool, int | None, float]:
    """Start the command and SIGKILL it after ``delay`` seconds: (killed while running, exit code if it
    ended by itself, seconds it ran)."""
    errors = place.cwd / "killed.stderr"
    with open(errors, "w") as err:
        started = time.monotonic()
        proc = subprocess.Popen([*DUBAN, *args], cwd=place.cwd, env=env_for(place, extra), stdout=subprocess.DEVNULL,
                                stderr=err)
        try:
            proc.wait(timeout=delay)
            return False, proc.returncode, time.monotonic() - started
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            return True, None, time.monotonic() - started


# --------------------------------------------------------------------------------------------
# What a database holds, as multisets of identities (ids and times left out: they differ by design)


SNAPSHOT = {
    "plan": "SELECT code, title, base_year FROM plan",
    "task": "SELECT p.code, t.code, t.title, t.target, t.archived_at IS NULL FROM task t JOIN plan p ON p.id = t.plan_id",
    "milestone": "SELECT t.code, m.seq, m.due, m.quantity, m.first_overdue_on FROM milestone m "
                 "JOIN task t ON t.id = m.task_id",
    "recurrence": "SELECT t.code, r.freq, r.min_count FROM recurrence r JOIN task t ON t.id = r.task_id",
    "instance": "SELECT t.code, i.due, i.first_overdue_on FROM recurrence_instance i JOIN task t ON t.id = i.task_id",
    "stage": "SELECT p.code, s.title FROM stage s JOIN plan p ON p.id = s.plan_id",
    "unit": "SELECT name, kind, head_email FROM unit",
    "official": "SELECT name, title FROM official",
    "task_unit": "SELECT t.code, u.name FROM task_unit tu JOIN task t ON t.id = tu.task_id JOIN unit u ON u.id = tu.unit_id",
    # Every import run records one plan.imported (an import killed after its commit and run again has
    # two, rightly): compared as present or not; every other event exactly once.
    "event": "SELECT e.kind, coalesce(e.key, ''), coalesce(t.code, ''), e.actor FROM event e "
             "LEFT JOIN task t ON t.id = e.task_id WHERE e.kind <> 'plan.imported'",
    "imported": "SELECT DISTINCT p.code FROM event e JOIN plan p ON p.id = e.plan_id WHERE e.kind = 'plan.imported'",
    "notice": "SELECT key, kind, level, status FROM notice",
    "message": "SELECT message_id, status FROM message",
    "delivery": "SELECT n.key, d.recipient_role, d.recipient_name, d.address, d.status FROM delivery d "
                "JOIN notice n ON n.id = d.notice_id",
}


def snapshot(place: Place, categories: tuple[str, ...]) -> dict[str, Counter]:
    """The rows of each category (a missing database or table: none)."""
    out: dict[str, Counter] = {c: Counter() for c in categories}
    if not place.exists():
        return out
    engine = place.engine()
    try:
        with engine.connect() as conn:
            tables = set(sa.inspect(conn).get_table_names())
            for c in categories:
                if c == "schema":
                    out[c] = schema_of(conn, tables)
                    continue
                needed = {"instance": "recurrence_instance", "imported": "event"}.get(c, c)
                if needed not in tables:
                    continue
                if c == "message":  # by what it carries: its key and Message-ID depend on row ids
                    ident = message_identities(conn)
                    out[c] = Counter((*ident.get(local_part(mid), ("unplanned", mid)), status)
                                     for mid, status in conn.execute(sa.text(SNAPSHOT[c])))
                    continue
                out[c] = Counter(tuple(str(v) for v in row) for row in conn.execute(sa.text(SNAPSHOT[c])))
    finally:
        engine.dispose()
    return out


def message_identities(conn: sa.Connection) -> dict[str, tuple[str, str]]:
    """Each message (by its Message-ID's local part) as what it is: the address and the notices and roles
    it carries. Its key and Message-ID hash the ids of its delivery rows, and ids are not the same from
    run to run (a PostgreSQL sequence skips the values of a rolled-back transaction), so two runs that
    send the same letters are compared by this."""
    carried: dict[str, list[str]] = {}
    address: dict[str, str] = {}
    for mid, addr, key, role, is_cc in conn.execute(sa.text(
            "SELECT m.message_id, m.address, n.key, d.recipient_role, d.is_cc FROM message m "
            "JOIN delivery d ON d.message_pk = m.id JOIN notice n ON n.id = d.notice_id")):
        local = local_part(mid)
        carried.setdefault(local, []).append(f"{key}|{role}|{'cc' if is_cc else 'to'}")
        address[local] = addr
    return {mid: (address[mid], " ".join(sorted(items))) for mid, items in carried.items()}


def schema_of(conn: sa.Connection, tables: set[str]) -> Counter:
    """Tables, columns and indexes, and the Alembic revision: what `init` must leave whole."""
    insp = sa.inspect(conn)
    rows: Counter = Counter()
    for t in sorted(tables):
        rows[("table", t)] += 1
        for col in insp.get_columns(t):
            rows[("column", t, col["name"])] += 1
        for ix in insp.get_indexes(t):
            rows[("index", t, ix["name"])] += 1
    if "alembic_version" in tables:
        for (rev,) in conn.execute(sa.text("SELECT version_num FROM alembic_version")):
            rows[("revision", rev)] += 1
    return rows


def difference(reference: dict[str, Counter], trial: dict[str, Counter],
               state_fields: dict[str, int] | None = None) -> tuple[int, int, list[str]]:
    """(missing, duplicated, examples): rows the trial lacks and rows it has too often.

    For a category in ``state_fields`` the last that many fields are the row's state (a notice's
    status): a row present in another state counts once, as missing (the reference's outcome did not
    happen), not as missing plus extra."""
    missing = duplicated = 0
    examples: list[str] = []
    for c, ref in reference.items():
        got = trial.get(c, Counter())
        k = (state_fields or {}).get(c, 0)
        if k:
            ref_ids = Counter(r[:-k] for r in ref.elements())
            got_ids = Counter(r[:-k] for r in got.elements())
            lacking, extra = ref_ids - got_ids, got_ids - ref_ids
            wrong_state = sum(n for r, n in (ref - got).items() if r[:-k] not in lacking)
        else:
            lacking, extra, wrong_state = ref - got, got - ref, 0
        m = sum(lacking.values()) + wrong_state
        d = sum(extra.values())
        if m or d:
            examples.append(f"{c}: missing {list(lacking)[:2] or list(ref - got)[:2]}, extra {list(extra)[:2]}")
        missing += m
        duplicated += d
    return missing, duplicated, examples


# --------------------------------------------------------------------------------------------
# What left duban: .eml files in the outbox, messages received by the SMTP sink


def message_id_of(raw: bytes) -> str:
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    return (msg.get("Message-ID") or "").strip()


def local_part(message_id: str) -> str:
    """A Message-ID without its domain (each trial sends from a domain of its own)."""
    return message_id.strip("<>").rsplit("@", 1)[0]


def outbox_ids(place: Place) -> tuple[Counter, int, list[str]]:
    """Message-IDs of the .eml files, temporary files left behind, and files whose bytes differ from the
    stored message (half-written)."""
    ids: Counter = Counter()
    if not place.outbox.exists():
        return ids, 0, []
    stored = {}
    engine = place.engine()
    try:
        with engine.connect() as conn:
            for mid, body in conn.execute(sa.text("SELECT message_id, body FROM message")):
                stored[local_part(mid)] = bytes(body)
    finally:
        engine.dispose()
    bad = []
    for f in sorted(place.outbox.glob("*.eml")):
        raw = f.read_bytes()
        mid = local_part(message_id_of(raw))
        ids[mid] += 1
        if stored.get(mid) != raw:
            bad.append(f.name)
    litter = len([f for f in place.outbox.iterdir() if f.name.startswith(".")])
    return ids, litter, bad


class SinkReader:
    """Reads what the SMTP sink process saved, attributing each message to a trial by its domain."""

    def __init__(self, folder: Path) -> None:
        import threading

        self.folder = folder
        self._seen: set[str] = set()
        self.by_domain: dict[str, Counter] = {}
        self._lock = threading.Lock()

    def refresh(self) -> None:
        with self._lock:
            self._refresh()

    def _refresh(self) -> None:
        for f in sorted(self.folder.glob("*.eml")):
            if f.name in self._seen:
                continue
            self._seen.add(f.name)
            mid = message_id_of(f.read_bytes()).strip("<>")
            local, _, domain = mid.rpartition("@")
            self.by_domain.setdefault(domain, Counter())[local] += 1

    def received(self, domain: str) -> Counter:
        self.refresh()
        with self._lock:
            return Counter(self.by_domain.get(domain, Counter()))


# --------------------------------------------------------------------------------------------
# Modes and trials


@dataclass
class Mode:
    name: str  # sweep | deliver-smtp | deliver-eml | import | init
    prepare: list[list[str]]  # duban commands that build the template
    command: list[str]
    categories: tuple[str, ...]
    atomic: bool  # all or nothing: what a kill leaves is the state before or the reference
    state_fields: dict[str, int] = field(default_factory=dict)
    smtp: bool = False
    eml: bool = False
    after: list[list[str]] = field(default_factory=list)  # commands that must work on the reference's result


SUPERVISION = ("notice", "event", "milestone", "instance")
MATRIX = ("plan", "task", "milestone", "recurrence", "stage", "unit", "official", "task_unit", "event", "imported")
DELIVERY = ("notice", "message", "delivery")

MODES = {
    "sweep": Mode("sweep", [["matrix", "import", str(PLAN), "--as-of", "2015-07-01"],
                            ["sweep", "--as-of", "2015-10-30"]],
                  ["sweep", "--as-of", "2016-01-29"], SUPERVISION, atomic=True),
    "deliver-smtp": Mode("deliver-smtp", [["matrix", "import", str(PLAN), "--as-of", "2015-07-01"],
                                          ["sweep", "--as-of", "2016-01-29"]],
                         ["deliver", "--as-of", "2016-01-29"], DELIVERY, atomic=False,
                         state_fields={"notice": 1, "message": 1, "delivery": 1}, smtp=True),
    "deliver-eml": Mode("deliver-eml", [["matrix", "import", str(PLAN), "--as-of", "2015-07-01"],
                                        ["sweep", "--as-of", "2016-01-29"]],
                        ["deliver", "--as-of", "2016-01-29"], DELIVERY, atomic=False,
                        state_fields={"notice": 1, "message": 1, "delivery": 1}, eml=True),
    "import": Mode("import", [["init"]], ["matrix", "import", str(PLAN), "--as-of", "2015-07-01"], MATRIX, atomic=True),
    # The finishing init must succeed and leave the reference's schema (tables, columns, indexes and
    # revision) exactly: then every command works on it, as an import on the reference shows once.
    "init": Mode("init", [], ["init"], ("schema",), atomic=True,
                 after=[["matrix", "import", str(PLAN), "--as-of", "2015-07-01"]]),
}


@dataclass
class Tally:
    """One mode's results, for the summary table."""

    mode: str
    trials: int = 0
    killed: int = 0  # still running when the signal came (the rest had finished already)
    missing: int = 0
    duplicated: int = 0
    resent_in_flight: int = 0
    broken: int = 0
    left_running: int = 0  # sweeps still marked running after the finishing sweep
    left_before: int = 0  # all-or-nothing commands: kills that left the state before …
    left_done: int = 0  # … and kills that came after the commit
    litter: int = 0  # temporary files left in the outbox by a killed write
    seconds: float = 0.0
    window: str = ""
    failures: list[str] = field(default_factory=list)

    COUNTS = ("trials", "killed", "missing", "duplicated", "resent_in_flight", "broken", "left_running", "litter",
              "left_before", "left_done")

    def add(self, other: Tally) -> None:
        for name in self.COUNTS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.failures.extend(other.failures)


@dataclass
class Reference:
    snapshot: dict[str, Counter]
    received: Counter  # messages delivered (SMTP or .eml), as what they carry
    startup: float  # a command's start-up before it works (measured: `plans --json`)
    runtime: float  # the command's wall time, uninterrupted (the median of the full runs seen so far)
    full_runs: list[float] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def saw_full_run(self, seconds: float) -> None:
        with self._lock:
            self.full_runs.append(seconds)
            self.runtime = sorted(self.full_runs)[len(self.full_runs) // 2]


class Campaign:
    """Template, reference and trials of one mode on one backend."""

    def __init__(self, mode: Mode, backend: Backend, *, sink_port: int | None = None, sink: SinkReader | None = None,
                 rng: random.Random) -> None:
        self.mode = mode
        self.backend = backend
        self.sink_port = sink_port
        self.sink = sink
        self.rng = rng
        self.label = f"{backend.name}-{mode.name}"
        self.template = backend.template(mode.prepare)
        self.sweep_leases = False  # sweeps have a lease: a dead one is marked interrupted by the next

    def extra(self, tag: str) -> dict[str, str]:
        env = {"DUBAN_MESSAGES_PER_MINUTE": "0"}
        if self.mode.smtp:
            env["DUBAN_SMTP_URL"] = f"smtp://127.0.0.1:{self.sink_port}"
            env["DUBAN_ALLOW_REPLAY_MAIL"] = "1"  # a replay of 2015, mailed to the harness's own sink
        env["DUBAN_MAIL_FROM"] = f"督辦系統 <duban@{self.domain(tag)}>"
        return env

    def domain(self, tag: str) -> str:
        return f"{tag}.{self.label}.example.org"

    def delivered(self, place: Place, tag: str) -> Counter:
        """What left duban (SMTP sink or .eml files), each message as what it carries (message_identities)."""
        if self.mode.smtp:
            mids = self.sink.received(self.domain(tag))
        elif self.mode.eml:
            mids = outbox_ids(place)[0]
        else:
            return Counter()
        ident = self._identities(place)
        return Counter({ident.get(mid, ("not in the database", mid)): n for mid, n in mids.items()})

    def _identities(self, place: Place) -> dict[str, tuple[str, str]]:
        engine = place.engine()
        try:
            with engine.connect() as conn:
                if "message" not in sa.inspect(conn).get_table_names():
                    return {}
                return message_identities(conn)
        finally:
            engine.dispose()

    def reference(self) -> Reference:
        place = self.backend.copy(self.template, f"{self.label}-reference")
        runtime = must(self.mode.command, place, self.extra("reference"))
        snap = snapshot(place, self.mode.categories)
        received = self.delivered(place, "reference")
        for args in self.mode.after:
            must(args, place)
        startup = self.backend.startup(place)
        self.backend.drop(place)
        return Reference(snap, received, startup, runtime, [runtime])

    def before(self) -> dict[str, Counter]:
        return snapshot(self.template, self.mode.categories)

    def trial(self, n: int, u: float, ref: Reference, before: dict[str, Counter]) -> Tally:
        """One trial; ``u`` (0…1, drawn from the seeded generator) places the kill in the work window."""
        tally = Tally(self.label)
        mode = self.mode
        tag = f"t{n}"
        place = self.backend.copy(self.template, f"{self.label}-{tag}")
        extra = self.extra(tag)
        problems: list[str] = []
        try:
            lo, hi = ref.startup * 0.9, max(ref.runtime * 0.95, ref.startup)
            delay = lo + u * (hi - lo)
            killed, code, ran = run_and_kill(mode.command, place, extra, delay)
            if not killed and code == 0:  # it finished before the signal: a full run
                ref.saw_full_run(ran)
            tally.trials += 1
            tally.killed += killed
            if not killed and code != 0:
                problems.append(f"the command exited {code} before the kill: "
                                f"{(place.cwd / 'killed.stderr').read_text()[-500:]}")
            # What the kill left.
            half = self._check_after_kill(place, ref, before, tally)
            if half:
                problems.append(half)
            in_flight = self._in_flight(place) if mode.smtp or mode.eml else set()
            # The next run: the dead process's leases have run out, and the command runs to the end.
            self._expire_leases(place)
            finish_started = time.monotonic()
            finish = duban(mode.command, place, extra)
            if finish.returncode == 0 and mode.atomic and killed:  # the whole work again: a full run's time
                ref.saw_full_run(time.monotonic() - finish_started)
            if finish.returncode != 0:
                problems.append(f"the finishing run exited {finish.returncode}: {finish.stderr.strip()[-500:]}")
            broken = bool(problems) or not self._sound(place)
            tally.broken += broken
            if not problems and broken:
                problems.append("the database fails its integrity check")
            if finish.returncode == 0:
                missing, duplicated, examples = difference(ref.snapshot, snapshot(place, mode.categories),
                                                           mode.state_fields)
                problems.extend(examples)
                resent = 0
                if mode.smtp or mode.eml:
                    got = self.delivered(place, tag)
                    lacking = ref.received - got
                    missing += sum(lacking.values())
                    for mid, times in got.items():
                        extra_copies = times - ref.received.get(mid, 0)
                        if extra_copies <= 0:
                            continue
                        if mid in in_flight and extra_copies == 1 and ref.received.get(mid):
                            resent += 1
                        else:
                            duplicated += extra_copies
                    if resent > SMTP_CONNECTIONS:  # at most the one message in flight on each connection
                        duplicated += resent - SMTP_CONNECTIONS
                        problems.append(f"{resent} messages resent, more than one per connection")
                    if lacking:
                        problems.append(f"not delivered: {sorted(lacking)[:3]}")
                    if mode.eml:
                        _, litter, bad = outbox_ids(place)
                        tally.litter += litter
                        if bad:
                            tally.broken += 1
                            problems.append(f".eml files that differ from the stored message: {bad[:3]}")
                tally.missing += missing
                tally.duplicated += duplicated
                tally.resent_in_flight += resent
                if mode.name == "sweep":
                    tally.left_running += self._running_sweeps(place)
            if problems:
                tally.failures.append(f"trial {n} (kill after {delay:.2f}s, {'killed' if killed else 'finished'}): "
                                      + "; ".join(problems))
        finally:
            self.backend.drop(place)
        return tally

    def run(self, trials: int, *, workers: int = 1) -> tuple[Reference, Tally]:
        """The reference, then the trials (``workers`` at a time); their tally."""
        ref = self.reference()
        before = self.before()
        draws = [self.rng.random() for _ in range(trials)]
        total = Tally(self.label)
        if workers <= 1:
            for n, u in enumerate(draws):
                total.add(self.trial(n, u, ref, before))
        else:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(workers) as pool:
                for one in pool.map(lambda nu: self.trial(nu[0], nu[1], ref, before), enumerate(draws)):
                    total.add(one)
        return ref, total

    def _check_after_kill(self, place: Place, ref: Reference, before: dict[str, Counter], tally: Tally) -> str | None:
        """What the kill left: a sound database and, for an all-or-nothing command, the state before or
        the whole result (which of the two is counted: kills must fall on both sides of the commit)."""
        if not self._sound(place):
            return "the killed run left a database that fails its integrity check"
        if not self.mode.atomic:
            return None
        try:
            now = snapshot(place, self.mode.categories)
        except Exception as e:  # noqa: BLE001 - an unreadable database is what this looks for
            return f"the killed run left an unreadable database: {type(e).__name__}: {str(e)[:200]}"
        if now == ref.snapshot:  # the work was committed (first: a command that changes nothing is "done")
            tally.left_done += 1
            return None
        if now == before:
            tally.left_before += 1
            return None
        _, _, ex = difference(ref.snapshot, now)
        return f"half-written: the killed run left neither the state before nor the whole result ({'; '.join(ex)[:400]})"

    def _sound(self, place: Place) -> bool:
        if place.backend != "sqlite" or not place.db_path.exists():
            return True
        conn = sqlite3.connect(place.db_path)
        try:
            return conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        except sqlite3.DatabaseError:
            return False
        finally:
            conn.close()

    def _in_flight(self, place: Place) -> set[tuple[str, str]]:
        """The messages a dead process was sending (claimed, outcome not recorded), as what they carry."""
        engine = place.engine()
        try:
            with engine.connect() as conn:
                if "message" not in sa.inspect(conn).get_table_names():
                    return set()
                ident = message_identities(conn)
                return {ident.get(local_part(m), ("unplanned", m)) for (m,) in conn.execute(
                    sa.text("SELECT message_id FROM message WHERE status = 'sending'"))}
        finally:
            engine.dispose()

    def _expire_leases(self, place: Place) -> None:
        """Run out the leases a dead process held: its messages' claims (``next_attempt_at`` while
        sending) and its sweep's (``lease_until``), as waiting for them would."""
        if not place.exists():
            return
        past = dt.datetime(2000, 1, 1, tzinfo=dt.UTC) if place.backend == "postgres" \
            else "2000-01-01 00:00:00.000000"
        engine = place.engine()
        try:
            with engine.begin() as conn:
                insp = sa.inspect(conn)
                tables = set(insp.get_table_names())
                if "message" in tables:
                    conn.execute(sa.text("UPDATE message SET next_attempt_at = :past WHERE status = 'sending'"),
                                 {"past": past})
                if "sweep" in tables and "lease_until" in {c["name"] for c in insp.get_columns("sweep")}:
                    self.sweep_leases = True
                    conn.execute(sa.text("UPDATE sweep SET lease_until = :past WHERE status = 'running'"),
                                 {"past": past})
        finally:
            engine.dispose()

    def _running_sweeps(self, place: Place) -> int:
        engine = place.engine()
        try:
            with engine.connect() as conn:
                return conn.execute(sa.text("SELECT count(*) FROM sweep WHERE status = 'running'")).scalar()
        finally:
            engine.dispose()

