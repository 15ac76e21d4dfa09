"""Memory of one deployment, and the peak of the worker.

One deployment: ``videojobs-bot http`` as the Procfile's ``web:`` runs it (gunicorn and
the supervised tracking process beside it), idle once ``/healthz`` says ready; RSS and
PSS of every process in its tree, from ``/proc/<pid>/smaps_rollup`` (PSS shares each
page among the processes mapping it, so the processes' PSS add up to what the
deployment costs; RSS counts a shared page once per process). docs/operations.md,
"Memory of a deployment", says why each process is there.

The worker: ``videojobs-bot worker`` in a subprocess (the Procfile's
``worker:``), pointed at the simulator holding a realistic project (100,000 jobs over 30
days, 1,000 new an hour) and the fake Slack, tracking T unfinished jobs spread over the
month with ``subscribe all`` active.

The database is filled beforehand; the figure is the process's peak RSS (``VmHWM`` in
/proc) after the subscription's adoption and ``CYCLES`` poll cycles. Baseline: the same
process over the same project, idle (nothing tracked, no subscription). Goal: within
1.3× of idle, since pages are streamed and the active set is recorded batch by batch.
"""

from __future__ import annotations

import math
import random
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import requests

from bot.tracking.store.database import Store

from .common import (
    BOT_EXE,
    Row,
    bot_env,
    fake_slack,
    free_port,
    simulator,
    stop_process,
    wait_for,
    wait_until_up,
)

NAME = "memory"
CYCLES = 4
INTERVAL = 0.5


def _peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return math.nan


def _fill(sim, store: Store, t: int) -> None:
    """T PROCESSING jobs created over the month, tracked in ten channels; subscribe all."""
    rng = random.Random(3)
    now = sim.now()
    created = sorted(now - timedelta(seconds=rng.uniform(600, 30 * 86_400)) for _ in range(t))
    ids = [sim.add_job(state="PROCESSING", create_time=c) for c in created]
    for c in range(10):
        chunk = list(zip(ids, created, strict=True))[c::10]
        store.add_tracked(f"C{c:03d}", [(i, "PROCESSING", w.replace(microsecond=0))
                                        for i, w in chunk],
                          message_ts=f"1700000000.{c:06d}", requested_by="U1", now=now)
    store.add_subscription("C000", outcome="all", job_type=None, asset_name=None,
                           script_id=None, created_by="U1", now=now)


def _measure(t: int, tmp: Path, slack, project: int) -> tuple[float, int]:
    with simulator(project_jobs=project, new_per_hour=1_000, ahead=timedelta(hours=1)) as sim:
        db = tmp / f"memory-{t}.sqlite3"
        store = Store(f"sqlite:///{db}")
        store.migrate()
        if t:
            _fill(sim, store, t)
        store.close()
        log_path = tmp / f"worker-{t}.log"
        with log_path.open("w") as log:
            worker = subprocess.Popen(
                [str(BOT_EXE), "worker"], cwd=tmp, text=True, stdout=log,
                stderr=subprocess.STDOUT,
                env=bot_env(sim.url, slack.url, db, POLL_INTERVAL_SECONDS=str(INTERVAL),
                            LOG_LEVEL="INFO"),
            )
            try:
                started = wait_for(lambda: "tracking worker started" in log_path.read_text(),
                                   timeout=30, step=0.05)
                if not started:
                    raise RuntimeError(f"the worker did not start: {log_path.read_text()}")
                if t:
                    # The adoption and first cycle: at least ceil(T/100) look-ups.
                    wait_for(lambda: sim.request_count() >= math.ceil(t / 100), timeout=120,
                             step=0.1)
                time.sleep(CYCLES * INTERVAL + 0.5)
                return _peak_rss_mib(worker.pid), sim.request_count()
            finally:
                stop_process(worker)


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants, parents first."""
    children = Path(f"/proc/{pid}/task/{pid}/children")
    kids = [int(p) for p in children.read_text().split()] if children.exists() else []
    return [pid, *(d for kid in kids for d in _tree(kid))]


def _rollup_mib(pid: int) -> tuple[float, float]:
    """(RSS, PSS) in MiB from /proc/<pid>/smaps_rollup."""
    fields = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("Rss", "Pss"):
            fields[name] = int(rest.split()[0]) / 1024
    return fields.get("Rss", math.nan), fields.get("Pss", math.nan)


def _role(pid: int, root: int) -> str:
    """What a process of the deployment is, from its command line."""
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    if pid == root:
        return "gunicorn master"
    if "resource_tracker" in cmdline:  # none since the answering child is not spawned
        return "multiprocessing resource tracker"
    if "answer_process" in cmdline:
        return "answering child"
    if "--supervise" in cmdline:
        return "tracking supervisor"
    if " worker" in cmdline:
        return "tracking process"
    return "gunicorn worker"


@contextmanager
def _http_with_tracking(env: dict[str, str], cwd: Path) -> Iterator[tuple[str, int]]:
    """``videojobs-bot http`` with its tracking process (the Procfile's ``web:``): its
    URL and pid (gunicorn's master runs in that process)."""
    port = free_port()
    with (cwd / f"deployment-{port}.log").open("w") as log:
        process = subprocess.Popen([str(BOT_EXE), "http"], cwd=cwd,
                                   env={**env, "PORT": str(port)}, text=True, stdout=log,
                                   stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            wait_until_up(f"{url}/healthz", process)
            yield url, process.pid
        finally:
            stop_process(process)


def _deployment(tmp: Path, slack, quick: bool) -> list[Row]:
    rows: list[Row] = []
    with simulator(seed_jobs=300) as sim:
        env = bot_env(sim.url, slack.url, tmp / "deployment.sqlite3")
        args_env = {**env, "LOG_LEVEL": "WARNING"}
        with _http_with_tracking(args_env, tmp) as (url, root):
            wait_for(lambda: requests.get(f"{url}/healthz", timeout=5).status_code == 200,
                     timeout=60, step=0.2)
            time.sleep(1 if quick else 5)  # idle: the first polls done
            pids = _tree(root)
            measured = [(pid, _role(pid, root), *_rollup_mib(pid)) for pid in pids]
    total_rss = sum(rss for _, _, rss, _ in measured)
    total_pss = sum(pss for _, _, _, pss in measured)
    for pid, role, rss, pss in measured:
        rows.append(Row(NAME, f"one deployment, idle: {role} (pid {pid})", pss, "MiB",
                        "its RSS", rss, note="PSS"))
    rows.append(Row(NAME, f"one deployment, idle: all {len(measured)} processes, PSS", total_pss,
                    "MiB", "their RSS summed", total_rss, limit="≤ 250 MiB PSS (issue #26)"))
    return rows


def run(quick: bool = False) -> list[Row]:
    sizes = (300,) if quick else (1_000, 10_000)
    project = 10_000 if quick else 100_000
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp, fake_slack() as slack:
        rows += _deployment(Path(tmp), slack, quick)
        idle, _ = _measure(0, Path(tmp), slack, project)
        for t in sizes:
            peak, requests = _measure(t, Path(tmp), slack, project)
            per_job = (peak - idle) * 1024 / t
            rows.append(Row(NAME, f"worker peak RSS, {t:,} tracked jobs, subscribe all, "
                                  f"{project:,}-job project", peak, "MiB",
                            "same worker idle, same project", idle, limit="≤ 1.3× idle",
                            note=f"+{per_job:.1f} KiB per tracked job; {requests} requests"))
    return rows
