"""Poll cost in a project shaped like a real one: upstream requests per cycle next to the
floor ceil(new/100) + ceil(active/100).

The simulator holds a realistic project (:mod:`bot.simulator.project`): 100,000 jobs
from the last 30 days, creating 1,000 an hour from now on, lifecycles from minutes to
days, most jobs untracked. On top, T tracked unfinished jobs created over the month
(T = 10, 1,000, 10,000), some ending each cycle; ``subscribe failed`` or ``subscribe
all`` active; the server honouring ``job_ids`` or ignoring it. The poller is the one
production builds (``build_tracking`` over the real client, loopback HTTP), on a clock
that moves 30 s per cycle. Per row: the mean requests of the measured cycles (after the
subscription's one-off adoption and two warm-up cycles) and the mean floor of the same
cycles, where ``new`` counts jobs created during the cycle and ``active`` the watched
and tracked unfinished jobs. Goal: at most 2× the floor in every row.
"""

from __future__ import annotations

import math
import random
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from slack_sdk import WebClient

from bot.settings import Settings
from bot.simulator import SimClock, Simulator
from bot.slack.messenger import SlackMessenger
from bot.tracking.process.worker import Tracking
from bot.wiring.metastudio import build_jobs_client
from bot.wiring.tracking import build_tracking

from .common import PROJECT_ID, Row, fake_slack

NAME = "poll"
TOKEN = "TOKEN-BENCH"
INTERVAL = 30.0
CHANNELS = 10
#: Cycles before measuring: an ignored ``job_ids`` is decided on three answers (the
#: adoption cycle's and these two); afterwards it is probed again every 10 minutes.
WARM_UP = 2
#: A share of the tracked jobs ends each cycle (a month's worth of tracking ends too).
ENDING_PER_CYCLE = 0.01


def floor(new: int, active: int) -> int:
    return math.ceil(new / 100) + math.ceil(active / 100)


def track_jobs(sim: Simulator, tracking: Tracking, t: int, rng: random.Random) -> list[str]:
    """T PROCESSING jobs created over the last 30 days (different times), tracked across
    CHANNELS channels."""
    now = sim.now()
    created = sorted(now - timedelta(seconds=rng.uniform(600, 30 * 86_400)) for _ in range(t))
    ids = [sim.add_job(state="PROCESSING", create_time=c) for c in created]
    per_channel = math.ceil(t / CHANNELS)
    for c in range(CHANNELS):
        chunk = list(zip(ids, created, strict=True))[c * per_channel : (c + 1) * per_channel]
        if chunk:
            tracking.store.add_tracked(
                f"C{c:03d}", [(i, "PROCESSING", when.replace(microsecond=0)) for i, when in chunk],
                message_ts=f"1700000000.{c:06d}", requested_by="U1", now=now)
    return ids


def _new_since(sim: Simulator, since: datetime, until: datetime) -> int:
    return sum(1 for job in sim.store.all(until) if job.create_time > since)


def _active(tracking: Tracking) -> int:
    ids = {t.job_id for t in tracking.store.pollable()}
    ids.update(w.job_id for w in tracking.poller.active.all())
    return len(ids)


def _row(sim: Simulator, slack, db: Path, t: int, outcome: str, ignored: bool,
         measured: int, rng: random.Random) -> Row:
    settings = Settings(
        database_url=f"sqlite:///{db}", slack_bot_token=slack.token, slack_api_url=slack.url,
        metastudio_endpoint=sim.url, metastudio_project_id=PROJECT_ID,
        metastudio_auth_token=TOKEN, poll_interval_seconds=INTERVAL)
    jobs = build_jobs_client(settings)
    messenger = SlackMessenger(WebClient(token=slack.token, base_url=slack.url))
    tracking = build_tracking(settings, jobs, messenger, clock=sim.now)
    tracked = track_jobs(sim, tracking, t, rng)
    tracking.store.add_subscription("C000", outcome=outcome, job_type=None, asset_name=None,
                                    script_id=None, created_by="U1", now=sim.now())
    sim.faults.ignore_job_ids = ignored
    adoption = tracking.poller.poll().upstream_calls
    calls, floors = [], []
    for cycle in range(measured + WARM_UP):
        before = sim.now()
        sim.advance(INTERVAL)
        for job in rng.sample(tracked, max(1, int(len(tracked) * ENDING_PER_CYCLE))):
            if sim.state_of(job) == "PROCESSING":
                sim.set_state(job, rng.choice(("SUCCEED", "FAILED")))
        active = _active(tracking)
        result = tracking.poller.poll()
        if result.error:
            raise RuntimeError(f"poll cycle failed: {result.error}")
        if cycle >= WARM_UP:
            calls.append(result.upstream_calls)
            floors.append(floor(_new_since(sim, before, sim.now()), active))
    tracking.store.close()
    jobs.inner.close()
    sim.faults.ignore_job_ids = False
    for job in tracked:  # they end before the next row, as history
        if sim.state_of(job) == "PROCESSING":
            sim.set_state(job, "SUCCEED")
    mean_calls, mean_floor = sum(calls) / len(calls), sum(floors) / len(floors)
    worst = max(c / f for c, f in zip(calls, floors, strict=True))
    return Row(NAME, f"requests/cycle, T={t:,}, subscribe {outcome}, job_ids "
                     f"{'ignored' if ignored else 'honoured'}",
               mean_calls, "", "floor ceil(new/100)+ceil(active/100)", mean_floor,
               limit="≤ 2× floor",
               note=f"worst cycle {worst:.2f}×; active {active:,}; adoption once: "
                    f"{adoption} requests")


def run(quick: bool = False) -> list[Row]:
    project = 10_000 if quick else 100_000
    sizes = (10, 300) if quick else (10, 1_000, 10_000)
    outcomes = ("failed",) if quick else ("failed", "all")
    measured = 2
    rows: list[Row] = []
    start = datetime.now(UTC).replace(microsecond=0)
    rng = random.Random(5)
    with tempfile.TemporaryDirectory(prefix="bench-poll-") as tmp, fake_slack() as slack:
        for t in sizes:
            # A fresh project per size: the tracked jobs of one row do not linger.
            sim = Simulator(PROJECT_ID, token=TOKEN, clock=SimClock.frozen(start),
                            project_jobs=project, new_per_hour=1_000,
                            ahead=timedelta(hours=3))
            handle = sim.serve()
            try:
                for outcome in outcomes:
                    for ignored in (False, True):
                        db = Path(tmp) / f"poll-{t}-{outcome}-{ignored}.sqlite3"
                        rows.append(_row(sim, slack, db, t, outcome, ignored, measured, rng))
            finally:
                handle.stop()
    return rows
