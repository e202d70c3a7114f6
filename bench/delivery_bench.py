"""Benchmark: drain 5,000 notices to a local SMTP server, against a bare aiosmtplib loop.

A synthetic plan of 5,000 tasks, each overdue by one working day, is swept (one chase each), then
`deliver` runs in per-notice mode (5,000 messages, To + Cc) against an aiosmtpd sink running in its
own process. The floor sends the very same stored messages with a bare aiosmtplib loop over one
connection, in the same run. Digest mode (one message per address) is timed too.

Usage: python bench/delivery_bench.py [--notices 5000]
Target (issue 4): duban's messages/s ≥ 0.7 × the floor's.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.synthetic import write_synthetic

TZ = ZoneInfo("Asia/Shanghai")




def start_sink(folder: Path) -> tuple[subprocess.Popen, int]:
    # --port 0: the sink binds a free port and prints it once it listens
    proc = subprocess.Popen([sys.executable, "-m", "duban.workflows.cli", "mail-sink", "--port", "0", "--dir", str(folder)],
                            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    line = proc.stdout.readline().decode(errors="replace")
    listening = re.search(r"listening on smtp://[^\s:]+:(\d+)", line)
    if not listening:
        raise SystemExit(f"the mail sink did not start: {line}{proc.stderr.read().decode(errors='replace')}")
    return proc, int(listening.group(1))


def prepare(work: Path, n: int, url: str) -> None:
    from duban.matrix.policy import load_policy
    from duban.store.db import open_database
    from duban.workflows.matrix_service import PlanOptions, import_file
    from duban.workflows.sweep_service import sweep

    plan = write_synthetic(work / "matrix", tasks=n, units=max(200, n // 10), deadline="2015年7月10日")
    engine = open_database(url)
    import_file(engine, plan, PlanOptions(), now=dt.datetime(2015, 7, 1, tzinfo=TZ))
    r = sweep(engine, now=dt.datetime(2015, 7, 13, 8, 30, tzinfo=TZ), policies=load_policy(ROOT / "config" / "policy.yaml"))
    assert r.created["chase"] == n, r.created
    engine.dispose()


def run_deliver(url: str, port: int, mode: str, work: Path) -> tuple[float, int, int]:
    from duban.store.db import open_database
    from duban.workflows.bootstrap import load_settings
    from duban.workflows.delivery_service import deliver

    engine = open_database(url)
    settings = load_settings(database_url=url, smtp_url=f"smtp://127.0.0.1:{port}", delivery_mode=mode, messages_per_minute=0,
                             mail_from="督辦系統 <duban@example.org>", config_dir=work / "cfg", outbox_dir=work / "outbox")
    t = time.perf_counter()
    result = deliver(engine, now=dt.datetime(2015, 7, 13, 9, tzinfo=TZ), settings=settings)
    elapsed = time.perf_counter() - t
    engine.dispose()
    assert result.failed == 0 and result.retrying == 0, result.as_dict()
    return elapsed, result.sent, result.planned_messages


def floor(url: str, port: int) -> tuple[float, int]:
    """The same stored messages, sent by a bare aiosmtplib loop over one connection."""
    import aiosmtplib
    import sqlalchemy as sa

    from duban.store.db import open_database
    from duban.store.tables import MessageRow

    engine = open_database(url)
    with engine.connect() as c:
        rows = c.execute(sa.select(MessageRow.body, MessageRow.address)).all()
    engine.dispose()

    async def go() -> None:
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port)
        await client.connect()
        for body, address in rows:
            await client.sendmail("duban@example.org", [a.strip() for a in address.split(",")], body)
        await client.quit()

    t = time.perf_counter()
    asyncio.run(go())
    return time.perf_counter() - t, len(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--notices", type=int, default=5000)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="duban-delivery-"))
    rows = []
    sink, port = start_sink(work / "sink")
    try:
        for mode in ("per_notice", "digest"):
            db = work / f"{mode}.db"
            url = f"sqlite:///{db}"
            prepare(work / mode, args.notices, url)
            elapsed, sent, planned = run_deliver(url, port, mode, work / mode)
            fl, n = floor(url, port)
            rows.append((mode, sent, elapsed, sent / elapsed, fl, n / fl))
    finally:
        sink.terminate()
        sink.wait(timeout=30)
    print(f"\ndelivery bench: {args.notices:,} notices (one chase each) to an aiosmtpd sink in its own process ({work})\n")
    print(f"{'mode':<11} {'messages':>8} {'duban':>9} {'msg/s':>8} {'floor':>9} {'floor msg/s':>11} {'ratio':>6}")
    print("-" * 70)
    for mode, sent, elapsed, rate, fl, frate in rows:
        print(f"{mode:<11} {sent:>8,} {elapsed:>8.2f}s {rate:>8.0f} {fl:>8.2f}s {frate:>11.0f} {rate / frate:>6.2f}")
    print("\nduban: deliver() end to end (recipients, rendering, storing, claiming, sending, recording);"
          "\nfloor: the same stored messages sent by a bare aiosmtplib loop over one connection. Target ratio ≥ 0.7.\n")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
