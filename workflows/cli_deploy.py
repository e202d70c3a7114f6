"""The ``duban deploy`` command: register the flows as deployments on the Prefect server (server mode).

Registered on the main app by ``workflows.cli``; only typer and the standard library are imported
here, Prefect only inside the command (``duban --help`` stays fast and Prefect-free).
"""

from __future__ import annotations

from typing import Any

import typer

from duban.workflows.cli_common import console, emit_json, settings

PoolOpt = typer.Option("duban", "--pool", help="Work pool (type process) the workers pull from; created if missing.")
PausedOpt = typer.Option(False, "--paused", help="Register with the schedules switched off (runs only when triggered).")
HeartbeatOpt = typer.Option(30, "--heartbeat", metavar="SECONDS",
                            help="Each flow run sends Prefect a heartbeat this often (30 or more).")
CrashAfterOpt = typer.Option(90, "--crash-after", metavar="SECONDS",
                             help="A flow run silent this long (its worker killed with it) is marked Crashed "
                                  "by the automation deploy creates (at least 1.5 × --heartbeat).")
Json = typer.Option(False, "--json", help="Print JSON with stable keys: {api_url, work_pool, pool_created, source, "
                                         "timezone, paused, heartbeat, crash_after, automation: {name, id, created}, "
                                         "deployments: [{name, id, flow, schedule, parameters}]}.")


def deploy_command(pool: str = PoolOpt, paused: bool = PausedOpt, heartbeat: int = HeartbeatOpt,
                   crash_after: int = CrashAfterOpt, as_json: bool = Json) -> None:
    """Register supervise (08:30 sweep, delivery every 5 min) and weekly-report on the Prefect server in PREFECT_API_URL."""
    from duban.workflows.deploy import deploy

    result: dict[str, Any] = deploy(work_pool=pool, config_dir=settings().config_dir, paused=paused,
                                    heartbeat=heartbeat, crash_after=crash_after)
    if as_json:
        emit_json(result)
        return
    out = console()

    def line(text: str) -> None:
        out.print(text, markup=False, soft_wrap=True)

    line(f"prefect    {result['api_url']}")
    line(f"work pool  {result['work_pool']}  (process, {'created' if result['pool_created'] else 'exists'})")
    line(f"source     {result['source']}  (workers load workflows/flows.py from here)")
    width = max(len(d["name"]) for d in result["deployments"])
    for d in result["deployments"]:
        params = " ".join(f"{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in d["parameters"].items())
        line(f"  {d['name']:<{width}}  {d['schedule']}" + ("  (paused)" if result["paused"] else "")
             + (f"  [{params}]" if params else ""))
    auto = result["automation"]
    line(f"heartbeat  every {result['heartbeat']} s; a run silent for {result['crash_after']} s is marked Crashed "
         f"(automation \"{auto['name']}\", {'created' if auto['created'] else 'updated'})")
    line(f"next       prefect worker start --pool {result['work_pool']} --type process --limit 2"
         "   (in each worker's shell, with DUBAN_DATABASE_URL and the mail settings)")
