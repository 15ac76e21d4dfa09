"""Peak memory of the worker: ``videojobs-bot worker`` in a subprocess (the Procfile's
``worker:``), pointed at the simulator and the fake Slack, tracking T unfinished jobs.

The database is filled beforehand (T tracked jobs over ten channels, one subscription);
the figure is the process's peak RSS (``VmHWM`` in /proc) after ``CYCLES`` full poll
cycles. Baseline: the same process idle with nothing tracked. The per-job increment at
two sizes shows whether memory grows linearly.
"""

from __future__ import annotations

import math
import subprocess
import tempfile
import time
from pathlib import Path

from bot.tracking.store import Store

from .common import BOT_EXE, Row, bot_env, fake_slack, simulator, stop_process, wait_for
from .poll import track_jobs

NAME = "memory"
CYCLES = 3
INTERVAL = "0.5"


def _peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return math.nan


def _measure(t: int, tmp: Path, slack, cycles: int) -> float:
    with simulator() as sim:
        db = tmp / f"memory-{t}.sqlite3"
        store = Store(f"sqlite:///{db}")
        store.migrate()
        if t:
            track_jobs(sim, store, t)
        store.close()
        log_path = tmp / f"worker-{t}.log"
        with log_path.open("w") as log:
            worker = subprocess.Popen(
                [str(BOT_EXE), "worker"], cwd=tmp, text=True, stdout=log,
                stderr=subprocess.STDOUT,
                env=bot_env(sim.url, slack.url, db, POLL_INTERVAL_SECONDS=INTERVAL,
                            LOG_LEVEL="INFO"),
            )
            try:
                started = wait_for(lambda: "tracking worker started" in log_path.read_text(),
                                   timeout=30, step=0.05)
                if not started:
                    raise RuntimeError(f"the worker did not start: {log_path.read_text()}")
                if t:
                    # Full cycles: ceil(T/100) job_ids batches each, plus the sweep.
                    wanted = cycles * (math.ceil(t / 100) + 1)
                    wait_for(lambda: sim.request_count() >= wanted, timeout=120, step=0.1)
                else:
                    time.sleep(cycles * float(INTERVAL) + 0.5)
                return _peak_rss_mib(worker.pid)
            finally:
                stop_process(worker)


def run(quick: bool = False) -> list[Row]:
    sizes = (300,) if quick else (1_000, 10_000)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp, fake_slack() as slack:
        cycles = 1 if quick else CYCLES
        idle = _measure(0, Path(tmp), slack, cycles)
        for t in sizes:
            peak = _measure(t, Path(tmp), slack, cycles)
            per_job = (peak - idle) * 1024 / t
            rows.append(Row(NAME, f"worker peak RSS, {t:,} tracked jobs", peak, "MiB",
                            "same worker idle, 0 tracked", idle,
                            note=f"+{per_job:.1f} KiB per tracked job"))
    return rows
