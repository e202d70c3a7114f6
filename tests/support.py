"""Names the tests share: where things are, the office's time zone and policy, an SMTP handler that records.

A plain module (``from tests.support import …``): a conftest.py holds fixtures and hooks, which pytest
loads itself and hands to tests by name, and importing names from one ties a test module to how pytest
imports conftest files (``--import-mode=importlib`` cannot). Fixtures built from these are in tests/conftest.py.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import sqlite3
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
PLANS = ROOT / "config" / "plans"
POLICY_FILE = ROOT / "config" / "policy.yaml"
FIXTURES = Path(__file__).parent / "fixtures"
SHANGHAI = ZoneInfo("Asia/Shanghai")
PG_BASE = os.environ.get("DUBAN_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
PG_ADMIN = "host=127.0.0.1 port=5432 dbname=test user=postgres"


def _load_policy():
    from duban.matrix.policy import load_policy

    return load_policy(POLICY_FILE)


POLICY = _load_policy()  # the shipped supervision policy (config/policy.yaml); also the ``policy`` fixture


def at(y: int, m: int, d: int, hh: int = 9) -> dt.datetime:
    return dt.datetime(y, m, d, hh, tzinfo=SHANGHAI)


def pg_unavailable() -> str | None:
    """Why PostgreSQL tests cannot run here, or None when 127.0.0.1:5432/test answers."""
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed"
    try:
        with psycopg.connect(PG_ADMIN, connect_timeout=3):
            return None
    except Exception as e:  # any failure means: no PostgreSQL here
        return f"PostgreSQL at 127.0.0.1:5432/test is not reachable ({e.__class__.__name__})"


PG_SKIP = pg_unavailable()


class Recorder:
    """A real SMTP server's handler that records messages and can refuse chosen recipients."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []
        self.refuse: dict[str, str] = {}
        self.delay = 0.0
        self.port = 0  # set by the smtp fixtures: the port the server bound

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        if self.delay:
            await asyncio.sleep(self.delay)
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
        return "250 Message accepted"


def dump(path: Path, *, skip: tuple[str, ...] = ()) -> list[str]:
    """Every row of a SQLite database as SQL (schema included), minus the tables in ``skip``."""
    connection = sqlite3.connect(path)
    try:
        lines = list(connection.iterdump())
    finally:
        connection.close()
    return [line for line in lines if not any(line.startswith(f'INSERT INTO "{table}"') for table in skip)]
