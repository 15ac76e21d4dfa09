"""Poll efficiency: upstream requests per poll cycle while tracking T unfinished jobs.

The bot's poller (``build_tracking`` as production wires it, over the real client and
loopback HTTP) against a naive poller that looks each job up with ``job_id=``, and the
contract's limit ceil(T/100)+1 (README.md, "How fast"; the page size is 100). Counted
from what the simulator recorded. Each tracking has one ``subscribe failed`` too, so the
"+1" (the subscriptions' sweep) is exercised.

Without ``job_ids`` (an older deployment that ignores it, ``faults.ignore_job_ids``) the
poller finds out on its first batch and sweeps by ``create_since`` from then on: the
table shows that discovery cycle and the steady cycle after it.
"""

from __future__ import annotations

import math
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from slack_sdk import WebClient

from bot.metastudio.factory import build_jobs_client
from bot.simulator import Simulator
from bot.slack_messenger import SlackMessenger
from bot.tracking.store import Store
from bot.tracking.worker import Tracking, build_tracking

from .common import Row, fake_slack, settings_for, simulator

NAME = "poll"
LATENCY = 0.05
CHANNELS = 10


def limit(t: int) -> int:
    return math.ceil(t / 100) + 1


def track_jobs(sim: Simulator, store: Store, t: int) -> list[str]:
    """T PROCESSING jobs created over the last hours, tracked across CHANNELS channels."""
    now = sim.now()
    ids = [sim.add_job(state="PROCESSING", create_time=now - timedelta(seconds=5 * (t - i)))
           for i in range(t)]
    jobs = sim.jobs
    per_channel = math.ceil(t / CHANNELS)
    for c in range(CHANNELS):
        chunk = ids[c * per_channel : (c + 1) * per_channel]
        if not chunk:
            continue
        rows = [(i, "PROCESSING", _created(jobs[i]["create_time"])) for i in chunk]
        store.add_tracked(f"C{c:03d}", rows, message_ts=f"1700000000.{c:06d}",
                                   requested_by="U1", now=now)
    store.add_subscription("C000", outcome="failed", job_type=None, asset_name=None,
                                    script_id=None, created_by="U1", now=now)
    return ids


def _created(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def _cycle(sim: Simulator, tracking: Tracking) -> tuple[int, float]:
    before = sim.request_count()
    started = time.monotonic()
    result = tracking.poller.poll()
    took = time.monotonic() - started
    if result.error:
        raise RuntimeError(f"poll cycle failed: {result.error}")
    return sim.request_count() - before, took


def _naive(sim: Simulator, client, ids: list[str]) -> tuple[int, float]:
    """One ``job_id=`` look-up per tracked job: what a poller without batching does."""
    before = sim.request_count()
    started = time.monotonic()
    for job_id in ids:
        client.get_job(job_id)
    return sim.request_count() - before, time.monotonic() - started


def run(quick: bool = False) -> list[Row]:
    sizes = (100, 300) if quick else (100, 1_000, 10_000)
    naive_measured = (100,) if quick else (100, 1_000)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bench-poll-") as tmp, fake_slack() as slack:
        for t in sizes:
            with simulator() as sim:
                settings = settings_for(sim, slack, Path(tmp) / f"poll-{t}.sqlite3")
                jobs = build_jobs_client(settings)
                messenger = SlackMessenger(WebClient(token=slack.token, base_url=slack.url))
                tracking = build_tracking(settings, jobs, messenger)
                ids = track_jobs(sim, tracking.store, t)

                calls, took = _cycle(sim, tracking)
                if t in naive_measured:
                    naive, naive_time = _naive(sim, jobs.inner, ids)
                    baseline = "naive poller (job_id= per job), measured"
                else:
                    naive, naive_time = t, None
                    baseline = "naive poller, computed (one request per job)"
                rows.append(Row(NAME, f"requests/cycle, T={t:,}, job_ids honoured", calls, "",
                                baseline, naive, limit=f"≤ {limit(t)} = ceil(T/100)+1"))
                rows.append(Row(NAME, f"cycle wall time, T={t:,}, job_ids honoured", took,
                                "s", "naive poller" if naive_time else "",
                                naive_time, note="no injected latency"))

                sim.faults.ignore_job_ids = True
                first, _ = _cycle(sim, tracking)
                steady, _ = _cycle(sim, tracking)
                rows.append(Row(NAME, f"requests/cycle, T={t:,}, job_ids ignored (discovery "
                                      "cycle)", first, "", baseline, naive,
                                limit=f"≤ {limit(t)}", note="one batch, then a sweep"))
                rows.append(Row(NAME, f"requests/cycle, T={t:,}, job_ids ignored (steady)",
                                steady, "", baseline, naive, limit=f"≤ {limit(t)}",
                                note="create_since sweep"))
                sim.faults.ignore_job_ids = False

                lat_sizes = (100,) if quick else (100, 1_000)
                if t in lat_sizes:
                    # A fresh tracking: its poller has not learnt that job_ids is ignored.
                    tracking.store.close()
                    tracking = build_tracking(settings, jobs, messenger)
                    sim.faults.latency = LATENCY
                    calls, took = _cycle(sim, tracking)
                    if t == 100 and not quick:
                        _, naive_time = _naive(sim, jobs.inner, ids)
                        base, base_value = "naive poller, measured", naive_time
                    else:
                        base = f"sequential floor ({calls} requests × 50 ms)"
                        base_value = calls * LATENCY
                    rows.append(Row(NAME, f"cycle wall time, T={t:,}, 50 ms upstream latency",
                                    took, "s", base, base_value,
                                    note=f"{calls} requests"))
                    sim.faults.latency = 0.0
                tracking.store.close()
                jobs.inner.close()
    return rows
