#!/usr/bin/env bash
# duban server mode, step by step: the README's section "Server mode" (and docs/server-mode.md) as a script.
#
# Each step_* function below is one `sh` block of that section, word for word, in the same order
# (tests/unit/test_server_docs.py fails when they differ: change both together).
#
#   bash docs/server-mode-steps.sh                 # the trial: steps 2 to 7 on this machine, in one go
#   bash docs/server-mode-steps.sh step_worker     # one step (here: a worker, in the foreground)
#
# Run it in the project folder after step 1 (the virtualenv active), as a user who may `sudo -u
# postgres`; replace PASSWORD first. The trial starts the Prefect server, a mail sink and two workers
# in the background (logs in var/*.log), replays the example plan on 2015-12-04, shows what duban
# recorded, and stops them all again. tests/integration/test_prefect.py runs it so, with its own ports
# and database.
set -euo pipefail

step_install() {
python3 -m venv .venv && .venv/bin/pip install -e '.[server]'     # prefect 3, psycopg, asyncpg
. .venv/bin/activate
}

step_every_shell() {
export DO_NOT_TRACK=1 PREFECT_SERVER_ANALYTICS_ENABLED=false
mkdir -p var/prefect                                  # must exist: Prefect's own SQLite database goes there
export PREFECT_HOME=$PWD/var/prefect                  # Prefect's profiles and local state, inside the project
}

step_postgres() {
sudo -u postgres createuser --pwprompt duban           # asks for the new role's password
sudo -u postgres createdb -O duban duban
# sudo -u postgres createuser --pwprompt prefect && sudo -u postgres createdb -O prefect prefect   # optional: Prefect's own database

export DUBAN_DATABASE_URL=postgresql+psycopg://duban:PASSWORD@127.0.0.1:5432/duban   # PASSWORD: the one just given
duban init                                             # schema at the newest revision, ./duban-config/
duban matrix import duban-config/plans/district-2015.yaml
}

step_server() {
# export PREFECT_SERVER_DATABASE_CONNECTION_URL=postgresql+asyncpg://prefect:PASSWORD@127.0.0.1:5432/prefect   # optional
prefect server start --host 127.0.0.1 --port 4200          # add --no-ui on a headless machine
}

step_wait_for_server() {
until curl -fs http://127.0.0.1:4200/api/health; do sleep 1; done; echo   # waits for the server, then prints true
}

step_deploy() {
export PREFECT_API_URL=http://127.0.0.1:4200/api
duban deploy                        # creates work pool "duban" (type process) if missing; --pool NAME, --json
}

step_mail_sink() {
duban mail-sink --port 8025         # saves each message in var/mail-sink/; Ctrl-C to stop
}

step_worker() {
export PREFECT_API_URL=http://127.0.0.1:4200/api
export DUBAN_DATABASE_URL=postgresql+psycopg://duban:PASSWORD@127.0.0.1:5432/duban
export DUBAN_CONFIG_DIR=$PWD/duban-config DUBAN_OUTBOX_DIR=$PWD/var/outbox   # absolute; reports go to var/reports/
export DUBAN_SMTP_URL=smtp://127.0.0.1:8025           # the trial's mail sink; in production, your mail server:
# export DUBAN_SMTP_URL=smtp+starttls://duban@mail.example.org:587 DUBAN_SMTP_PASSWORD=…
export DUBAN_MAIL_FROM='督辦系統 <duban@example.org>'
export DUBAN_ALLOW_REPLAY_MAIL=1   # the trial replays 2015-12-04 into its own sink; never in production
prefect worker start --pool duban --type process --limit 2       # terminal 3: the same again
}

step_trigger() {
export PREFECT_API_URL=http://127.0.0.1:4200/api
prefect deployment run supervise/supervise-sweep -p as_of=2015-12-04 -p working_days_only=false --watch   # replay a day
# prefect deployment run supervise/deliver --watch                                        # deliver only, now
prefect deployment run weekly-report/weekly-report -p as_of=2015-12-04 --watch            # the report of that Friday
# prefect deployment run supervise/supervise-sweep --watch                                # sweep + deliver, as of now
}

step_see() {
export DUBAN_DATABASE_URL=postgresql+psycopg://duban:PASSWORD@127.0.0.1:5432/duban
prefect flow-run ls --state Completed --limit 5       # finished runs, named by job, plan and day
duban sweeps && duban outbox && duban messages --limit 5
}

# --------------------------------------------------------------------------------------------
# The trial: what the terminals of the README do, with the long-running steps in the background.

started=()

in_background() {  # in_background LOG STEP: the step in its own process group (so it can be signalled whole)
    local log=$1 step=$2
    set -m
    ( "$step" ) >"$log" 2>&1 &
    set +m
    started+=("$!")
    echo "started $step (process group $!, log $log)"
}

stop_all() {
    # A Prefect worker ignores its first SIGINT/SIGTERM and dies on the second (see the README);
    # the server and the mail sink stop on the first.
    local pid n
    for pid in "${started[@]}"; do kill -INT -- "-$pid" 2>/dev/null || true; done
    sleep 1
    for pid in "${started[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
    for pid in "${started[@]}"; do
        for n in $(seq 1 50); do kill -0 -- "-$pid" 2>/dev/null || break; sleep 0.2; done
        kill -KILL -- "-$pid" 2>/dev/null || true
    done
}

trial() {
    trap stop_all EXIT
    step_every_shell
    step_postgres
    in_background var/prefect-server.log step_server
    step_wait_for_server
    step_deploy
    in_background var/mail-sink.log step_mail_sink
    in_background var/worker1.log step_worker
    in_background var/worker2.log step_worker
    step_trigger
    step_see
}

for step in "${@:-trial}"; do
    "$step"
done
