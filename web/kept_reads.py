"""What pages read, kept until the database changes: the console's read cache.

A page's data (the overview's counts, a task list, a task's page) is computed by a service from the
database and the day. It is kept under the database's stamp (``store.data_version``: equal stamps mean
nothing committed in between, by any process), the day and the rules in force, so the next view of the
same page with nothing changed answers from memory, and the first view after any commit — a sweep, a
progress report, a link action, a CLI command in another terminal — computes it again. Nothing has to
remember to clear it.

Bounded (least recently used go first); one computation per key at a time (others wait for it rather
than all reading the database at once after a change). ``DUBAN_SERVE_KEEP_READS=0`` turns it off (the
bench measures pages both ways).
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

T = TypeVar("T")
KEEP_ENV = "DUBAN_SERVE_KEEP_READS"
MAX_ENTRIES = 256
WAIT_SECONDS = 60.0  # how long a request waits for another's computation of the same page before its own


class _Flight:
    def __init__(self) -> None:
        self.done = threading.Event()
        self.value: Any = None
        self.ok = False


class KeptReads:
    def __init__(self, engine: Engine, *, max_entries: int = MAX_ENTRIES, enabled: bool | None = None) -> None:
        from duban.store.data_version import DataVersion

        self.version = DataVersion(engine)
        self.max_entries = max_entries
        self.enabled = os.environ.get(KEEP_ENV, "1") != "0" if enabled is None else enabled
        self._entries: OrderedDict[tuple[Hashable, Hashable], tuple[Any, Any]] = OrderedDict()
        self._flights: dict[tuple[Hashable, Hashable], _Flight] = {}
        self._lock = threading.Lock()
        self._stamp: Hashable | None = None

    def get(self, key: Hashable, compute: Callable[[], T], *, keep_alive: Any = None) -> T:
        """``compute()``'s value for ``key`` at the database's current state: kept, or computed and kept.
        ``keep_alive``: an object the key names by ``id()`` (held with the entry so the id stays its own)."""
        stamp = self.version.stamp() if self.enabled else None
        if stamp is None:
            return compute()
        full: tuple[Hashable, Hashable] = (stamp, key)
        with self._lock:
            if stamp != self._stamp:  # the database moved on: nothing kept can be asked for again
                self._stamp = stamp
                self._entries = OrderedDict((k, v) for k, v in self._entries.items() if k[0] == stamp)
            entry = self._entries.get(full)
            if entry is not None:
                self._entries.move_to_end(full)
                return entry[0]
            flight = self._flights.get(full)
            owner = flight is None
            if flight is None:
                flight = self._flights[full] = _Flight()
        if not owner:
            if flight.done.wait(WAIT_SECONDS) and flight.ok:
                return flight.value
            return compute()
        try:
            value = compute()
            flight.value, flight.ok = value, True
            with self._lock:
                self._entries[full] = (value, keep_alive)
                while len(self._entries) > self.max_entries:
                    self._entries.popitem(last=False)
            return value
        finally:
            with self._lock:
                self._flights.pop(full, None)
            flight.done.set()

    def close(self) -> None:
        self.version.close()
