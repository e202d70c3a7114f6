"""A real `duban serve` for the console tests: started as a user starts it (its own process, a free
loopback port), on a database the CLI prepared, with a user made by `duban user add`."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.support import PLANS, ROOT

DUBAN = [sys.executable, "-m", "duban.workflows.cli"]
PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def env_for(db_url: str) -> dict[str, str]:
    return {**os.environ, "DUBAN_DATABASE_URL": db_url, "COLUMNS": "200", "PYTHONPATH": str(ROOT)}


def cli(args: list[str], *, cwd: Path, db_url: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([*DUBAN, *args], cwd=cwd, env=env_for(db_url), input=stdin, capture_output=True,
                          text=True, timeout=180)
    if check and proc.returncode != 0:
        raise AssertionError(f"duban {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def add_user(name: str, role: str, *, cwd: Path, db_url: str, offices: tuple[str, ...] = ()) -> None:
    cli(["user", "add", name, "--role", role, "--password-stdin", *[a for o in offices for a in ("--office", o)]],
        cwd=cwd, db_url=db_url, stdin=PASSWORD + "\n")


def district(cwd: Path, db_url: str, *, as_of: str = "2016-01-15") -> None:
    """The district plan imported and swept up to ``as_of`` (the sweep's replay)."""
    cli(["matrix", "import", str(PLANS / "district-2015.yaml"), "--as-of", "2015-07-01"], cwd=cwd, db_url=db_url)
    cli(["sweep", "--as-of", as_of], cwd=cwd, db_url=db_url)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def served(cwd: Path, db_url: str, *extra: str) -> Iterator[str]:
    """`duban serve` on a free port; yields its base URL, stops it after."""
    port = _free_port()
    proc = subprocess.Popen([*DUBAN, "serve", "--port", str(port), *extra], cwd=cwd, env=env_for(db_url),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(base + "/login", timeout=2)
            break
        except httpx.TransportError:
            if proc.poll() is not None or time.monotonic() > deadline:
                out, err = proc.communicate(timeout=10)
                raise AssertionError(f"duban serve did not start:\n{out}\n{err}") from None
            time.sleep(0.1)
    try:
        yield base
    finally:
        proc.terminate()
        proc.communicate(timeout=30)


def csrf_of(page: str) -> str:
    m = CSRF.search(page)
    assert m, "the page has a form with a CSRF token"
    return m.group(1)


def logged_in(base: str, name: str, password: str = PASSWORD) -> httpx.Client:
    """An HTTP client with a session of ``name``."""
    client = httpx.Client(base_url=base, follow_redirects=False, timeout=60)
    token = csrf_of(client.get("/login").text)
    r = client.post("/login", data={"name": name, "password": password, "csrf": token, "next": "/"})
    assert r.status_code == 303, r.text
    return client
