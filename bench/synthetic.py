"""A synthetic responsibility matrix of any size, deterministic, in the canonical YAML format.

Used by the benchmarks: N tasks with three quantity milestones each over U units (plus groups),
lead officials drawn from a pool, supporting units 0–4 per task. Deadline texts vary so that the
deadline parser's cache does not make the work trivial.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import sqlite3
import subprocess
import sys
from pathlib import Path

import yaml

SURNAMES = "王李張劉陳楊趙黃周吳徐孫胡朱高林何郭馬羅"
GIVEN = "光儀惠峰特成東偉江明華強軍平芳"
DEPTS = ("扶貧辦", "交委", "水務局", "城鄉建委", "發改委", "環保局", "農委", "金融辦", "人力社保局", "教委", "衛計委", "文化委")


ROOT = Path(__file__).resolve().parents[1]


def run_child(code: str, *args: str) -> dict:
    """Run ``python -c code args`` in a fresh process (so its imports and peak memory are its own);
    its last line of output is JSON, returned as a dict."""
    proc = subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    if proc.returncode != 0:
        raise SystemExit(proc.stderr)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def overdue_day(db: Path, share: float = 0.30) -> dt.date:
    """The first day on which ``share`` of the milestones are past their due date (due strictly before it)."""
    con = sqlite3.connect(db)
    dues = sorted(d for (d,) in con.execute("SELECT due FROM milestone"))
    con.close()
    return dt.date.fromisoformat(dues[int(len(dues) * share) - 1]) + dt.timedelta(days=1)


def unit_name(i: int) -> str:
    return f"第{i + 1}區{DEPTS[i % len(DEPTS)]}"


def write_synthetic(folder: Path, *, tasks: int = 20_000, units: int = 1_000, milestones: int = 3, seed: int = 7,
                    deadline: str | None = None) -> Path:
    """Write ``plan.yaml`` and ``units.yaml`` into ``folder``; returns the plan path."""
    rnd = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    groups = [f"第{g + 1}片區各部門" for g in range(10)]
    directory = {
        "office": {"name": "領導小組辦公室", "emails": ["office@example.org"], "head": {"title": "主任", "email": "office.head@example.org"}},
        "units": [
            {"name": unit_name(i), "aliases": [f"U{i + 1}"], "kind": "department",
             "head": {"name": "", "title": "主任", "email": f"head.u{i + 1}@example.org"},
             "emails": [f"u{i + 1}@example.org"], "member_of": [groups[i % len(groups)]]}
            for i in range(units)
        ] + [{"name": g, "kind": "group", "emails": [f"group{j + 1}@example.org"]} for j, g in enumerate(groups)],
    }
    (folder / "units.yaml").write_text(yaml.safe_dump(directory, allow_unicode=True, sort_keys=False), encoding="utf-8")
    officials = [f"{SURNAMES[i % len(SURNAMES)]}{GIVEN[i % len(GIVEN)]}{i // 15 or ''}" for i in range(60)]
    task_list = []
    for i in range(tasks):
        ms = []
        base = rnd.randint(5, 40)
        for k in range(milestones):
            year, month = 2015 + (k + i % 3) // 2, (6, 12)[(k + i) % 2]
            ms.append(f"{year}年{month}月底完成{base * (k + 1)}個村")
        supporting = rnd.sample(range(units), rnd.randint(0, 4))
        task = {
            "code": f"{i // 1000 + 1}.{(i // 100) % 10 + 1}.{i % 100 + 1}",
            "title": f"任務{i + 1}",
            "target": f"完成第{i + 1}項目標,覆蓋{base}個村",
            "lead_officials": [f"{officials[(i + j) % len(officials)]}(區人民政府副區長)" for j in range(1 + i % 2)],
            "lead_unit": unit_name(i % units),
            "supporting_units": [unit_name(s) for s in supporting if s != i % units] + ([groups[i % 10]] if i % 7 == 0 else []),
            "deadline": deadline or "、".join(ms),
        }
        task_list.append(task)
    plan = {
        "plan": {"code": "synthetic", "title": f"合成方案 {tasks} 項", "base_year": 2015, "start": "2015-07-01", "end": "2017-12-31"},
        "directory": "units.yaml",
        "tasks": task_list,
    }
    path = folder / "plan.yaml"
    path.write_text(yaml.dump(plan, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper), allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path
