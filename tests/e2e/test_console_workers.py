"""`duban serve --workers N`: several processes on one port, any of them answering any request — a login
made through one is honoured by the others (the session secret, sessions and login throttling are in the
database), and stopping the command stops them all."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from tests.console import PASSWORD, add_user, csrf_of, served


def _pids(*args: str) -> set[int]:
    return {int(p) for p in subprocess.run(["pgrep", *args], capture_output=True, text=True).stdout.split()}


def _workers(parent: int) -> set[int]:
    """The parent's worker processes (multiprocessing's spawned children; not its resource tracker)."""
    return {p for p in _pids("-P", str(parent)) if "resource_tracker" not in Path(f"/proc/{p}/cmdline").read_text()}


def test_two_workers_share_one_login_and_stop_together(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'duban.db'}"
    add_user("lin", "office", cwd=tmp_path, db_url=db_url)
    with served(tmp_path, db_url, "--workers", "2") as base:
        port = urlsplit(base).port
        (parent,) = _pids("-f", f"duban.workflows.cli serve --port {port} --workers 2")
        workers = _workers(parent)
        assert len(workers) == 2, workers
        # A new connection per request, so the two processes take turns at random: the login made through
        # one must hold on every page whichever answers.
        fresh = httpx.Limits(max_keepalive_connections=0)
        with httpx.Client(base_url=base, limits=fresh, timeout=30) as client:
            page = client.get("/login").text
            done = client.post("/login", data={"name": "lin", "password": PASSWORD, "csrf": csrf_of(page), "next": "/"})
            assert done.status_code == 303 and done.headers["location"] == "/", done.text[:300]
            answers = [client.get("/", follow_redirects=False) for _ in range(24)]
        assert {a.status_code for a in answers} == {200}, [(a.status_code, a.headers.get("location")) for a in answers]
    deadline = time.monotonic() + 20
    while any(Path(f"/proc/{p}").exists() for p in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(Path(f"/proc/{p}").exists() for p in workers), "a worker outlived the command"
