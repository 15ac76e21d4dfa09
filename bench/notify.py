"""Notification latency and a 500-job burst under Slack's rate limit.

The tracking loop as production wires it (``build_tracking`` + ``run_worker`` in a
thread, poll interval ``INTERVAL``) over the real client to the simulator, posting to the
fake Slack. Jobs are tracked with the ``track`` command's service.

1. Latency: a tracked job's state is changed in the simulator at a random moment; the
   time until its thread reply reaches Slack, against the poll interval (README.md, "How fast": "a
   finished job is announced within one poll interval").
2. Burst: 500 tracked jobs in one channel finish at once while the fake Slack allows one
   message per second per channel (429 + Retry-After). Reported: messages posted (vs 500
   one by one), jobs delivered, jobs shown twice, the 429s Slack answered (goal: none,
   the sender paces itself), and the total time against the rate limit's minimum for
   the messages posted ((M-1) s for M messages at 1/s; goal: within 1.2×).
"""

from __future__ import annotations

import json
import math
import random
import tempfile
import threading
import time
from pathlib import Path
from zoneinfo import ZoneInfo

from slack_sdk import WebClient

from bot.commands.types import Context, Track
from bot.slack.messenger import SlackMessenger
from bot.tracking.process.worker import run_worker
from bot.wiring.metastudio import build_jobs_client
from bot.wiring.tracking import build_tracking

from .common import Row, fake_slack, median, percentile, settings_for, simulator, wait_for

NAME = "notify"
INTERVAL = 0.2
BURST = 500
BURST_CHANNEL = "CBURST"


def _ctx(channel: str) -> Context:
    return Context(user_id="U1", channel_id=channel, tz=ZoneInfo("UTC"))


def _text(message) -> str:
    return message.text + json.dumps(message.blocks or [])


def run(quick: bool = False) -> list[Row]:
    samples = 3 if quick else 20
    burst = 25 if quick else BURST
    rng = random.Random(5)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bench-notify-") as tmp, fake_slack() as slack, \
            simulator() as sim:
        settings = settings_for(sim, slack, Path(tmp) / "notify.sqlite3",
                                poll_interval_seconds=INTERVAL)
        jobs = build_jobs_client(settings)
        messenger = SlackMessenger(WebClient(token=slack.token, base_url=slack.url))
        tracking = build_tracking(settings, jobs, messenger)
        stop = threading.Event()
        loop = threading.Thread(target=run_worker, args=(tracking, stop), daemon=True)
        loop.start()
        try:
            # 1. One job at a time, each in its own channel (no rate limit in play).
            latencies, missed = [], 0
            for i in range(samples):
                channel = f"CLAT{i:03d}"
                job_id = sim.add_job(state="PROCESSING")
                tracking.service.track(_ctx(channel), Track((job_id,)), sim.now())
                parent = slack.posts(channel)[0].ts
                time.sleep(rng.uniform(0, INTERVAL))
                changed = time.monotonic()
                sim.set_state(job_id, "SUCCEED")
                if wait_for(lambda c=channel, p=parent: bool(slack.thread(c, p)), timeout=5,
                            step=0.002):
                    latencies.append(time.monotonic() - changed)
                else:
                    missed += 1
            rows.append(Row(NAME, f"state change -> Slack post, p50 of {samples}",
                            median(latencies), "s", "poll interval", INTERVAL,
                            limit="within one poll interval"))
            rows.append(Row(NAME, f"state change -> Slack post, max of {samples}",
                            max(latencies, default=float("nan")), "s", "poll interval",
                            INTERVAL, limit="within one poll interval",
                            note=f"p90 {percentile(latencies, 90) * 1000:.0f} ms"
                                 + (f", {missed} missed in 5 s" if missed else "")))

            # 2. The burst.
            ids = [sim.add_job(state="PROCESSING") for _ in range(burst)]
            for start in range(0, burst, 50):
                tracking.service.track(_ctx(BURST_CHANNEL), Track(tuple(ids[start:start + 50])),
                                       sim.now())
            wait_for(lambda: slack.posts(BURST_CHANNEL), timeout=5)
            before = len(slack.posts(BURST_CHANNEL))
            slack.per_channel_rate = 1.0
            time.sleep(1.1)  # the tracking messages' own second has passed
            with sim.store.lock:  # all at once: no poll sees half of them finished
                for job_id in ids:
                    sim.set_state(job_id, "SUCCEED")
            started = time.monotonic()
            done = wait_for(lambda: tracking.outbox.depth() == 0
                            and _sent(tracking) >= burst, timeout=60 if quick else 240,
                            step=0.05)
            took = time.monotonic() - started
            posted = slack.posts(BURST_CHANNEL)[before:]
            with slack._lock:
                last_post = max(slack.post_times, default=started)
                burst_posts = [t for t in slack.post_times if t >= started]
            total = max(0.0, last_post - started)
            sending = burst_posts[-1] - burst_posts[0] if burst_posts else math.nan
            mentions = {job_id: sum(job_id in _text(m) for m in posted) for job_id in ids}
            delivered = sum(1 for n in mentions.values() if n >= 1)
            twice = sum(1 for n in mentions.values() if n > 1)
            floor = max(0, len(posted) - 1) / slack.per_channel_rate
            rows.append(Row(NAME, f"{burst}-job burst, 1 msg/s/channel: time to last post",
                            total, "s", f"rate-limit minimum for {len(posted)} messages",
                            floor, limit="within 1.2× the minimum",
                            note="all sent" if done else f"not done in {took:.0f} s"))
            rows.append(Row(NAME, f"{burst}-job burst: first post to last post",
                            sending, "s", f"rate-limit minimum for {len(posted)} messages",
                            floor, note="the sender's pacing alone; the rest of the time "
                                        "to the last post is the poll that saw the burst"))
            rows.append(Row(NAME, f"{burst}-job burst: 429s answered by Slack",
                            slack.rate_limited, "", "posts made", len(posted), limit="0"))
            rows.append(Row(NAME, f"{burst}-job burst: messages posted", len(posted), "",
                            "one message per job", burst,
                            note=f"{delivered}/{burst} jobs delivered, {twice} twice"))
            rows.append(Row(NAME, f"{burst}-job burst: time vs posting one per job",
                            total, "s", f"rate-limit minimum for {burst} messages",
                            (burst - 1) / slack.per_channel_rate))
        finally:
            stop.set()
            loop.join(timeout=30)
            tracking.store.close()
            jobs.inner.close()
    return rows


def _sent(tracking) -> int:
    return sum(1 for r in tracking.outbox.rows() if r.kind == "track" and r.status == "sent")
