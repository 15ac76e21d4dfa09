"""Scale-out: one, two and three complete deployments on one PostgreSQL database.

Each deployment is ``videojobs-bot http`` with its supervised tracking worker, as
production runs it, in a process group of its own. They share the MetaStudio simulator,
a fake Slack (each call 0.2 s slow) and the database. The project: 200 tracked jobs over
5 channels (``track``), and ``subscribe all`` in a sixth. Measured:

- MetaStudio requests per poll cycle, steady (every tracked job still running), with one
  deployment, then two, then three: one process per database polls (docs/polling.md),
  so the ratios should be 1, not 2 and 3;
- with three deployments, half the jobs end at once (the undisturbed burst: time to the
  last post), then the other half with the one that polls killed (SIGKILL of its
  whole process group) 1-7 s into the burst, while it holds channels: how long until
  the survivor polls again (the first list request after the kill) and until it
  posts to a channel the killed one held, against the poll interval and the bound
  max(5 s, 2 × interval);
- exactly once over both bursts: jobs told never (lost) or more than once (doubled), in
  their tracking threads and in the subscribed channel.

Needs PostgreSQL (``VIDEOJOBS_BENCH_POSTGRES_URL``, by default the tests' server
``postgresql+psycopg://postgres@127.0.0.1:5432/test``); each run uses a schema of its own.
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests
import sqlalchemy as sa
from slack_sdk import WebClient

from bot.commands.types import Subscribe, Track
from bot.settings import Settings
from bot.simulator import Simulator
from bot.slack.messenger import SlackMessenger
from bot.tracking.process.leadership import POLLER
from bot.tracking.store.leases import Leases
from bot.tracking.store.tables import outbox_channels
from bot.wiring.metastudio import build_jobs_client
from bot.wiring.tracking import build_tracking
from tests.tracking.helpers import ctx

from .common import (
    AK,
    BOT_EXE,
    PROJECT_ID,
    SK,
    Row,
    TimedSlack,
    bot_env,
    free_port,
    simulator,
    wait_for,
)
from .common import fake_slack as timed_slack

NAME = "scaleout"
INTERVAL = 1.0
CHANNELS = ("C1", "C2", "C3", "C4", "C5")
SUBSCRIBED = "C9"
POSTGRES = os.environ.get("VIDEOJOBS_BENCH_POSTGRES_URL",
                          "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@contextmanager
def _schema() -> Iterator[str]:
    """A database URL whose connections see only a fresh schema (dropped afterwards)."""
    admin = sa.create_engine(POSTGRES, connect_args={"connect_timeout": 3})
    name = "bench_" + uuid.uuid4().hex[:10]
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{name}"'))
    url = sa.engine.make_url(POSTGRES).update_query_dict({"options": f"-csearch_path={name}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{name}" CASCADE'))
        admin.dispose()


class _Deployment:
    """``videojobs-bot http`` in a process group of its own."""

    def __init__(self, env: dict[str, str], cwd: Path, index: int) -> None:
        self.port = free_port()
        self.log = (cwd / f"deployment-{index}.log").open("w")
        self.process = subprocess.Popen(
            [str(BOT_EXE), "http"], cwd=cwd, env={**env, "PORT": str(self.port)},
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        self.url = f"http://127.0.0.1:{self.port}"

    def wait_up(self) -> None:
        def up() -> bool:
            try:
                health = requests.get(f"{self.url}/healthz", timeout=2).json()
            except (requests.RequestException, ValueError):
                return False
            return health.get("tracking", {}).get("status") == "running"
        if not wait_for(up, timeout=60, step=0.1):
            raise RuntimeError(f"deployment on port {self.port} did not come up")

    def owns(self, pid: int) -> bool:
        try:
            return os.getpgid(pid) == self.process.pid
        except ProcessLookupError:
            return False

    def kill(self) -> float:
        os.killpg(self.process.pid, signal.SIGKILL)
        return time.monotonic()

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.log.close()


def _requests_per_cycle(sim: Simulator, seconds: float) -> float:
    before = len(sim.requests)
    time.sleep(seconds)
    return (len(sim.requests) - before) / (seconds / INTERVAL)


def _told(slack: TimedSlack, channel: str, ids: list[str]) -> Counter[str]:
    """How many notifications (posts with metadata) in ``channel`` name each job, in
    their text or their blocks (a digest's details carry them in blocks)."""
    told: Counter[str] = Counter({job: 0 for job in ids})
    for message in slack.posts(channel):
        if message.metadata:
            shown = (message.text or "") + str(message.blocks)
            for job in ids:
                told[job] += job in shown
    return told


def _settled(slack: TimedSlack, by_channel: dict[str, list[str]]) -> bool:
    everything = [j for ids in by_channel.values() for j in ids]
    return (all(min(_told(slack, ch, ids).values()) >= 1 for ch, ids in by_channel.items())
            and min(_told(slack, SUBSCRIBED, everything).values()) >= 1)


def _end(sim: Simulator, ids: list[str]) -> float:
    with sim.store.lock:
        for i, job in enumerate(ids):
            sim.set_state(job, "FAILED" if i % 4 == 0 else "SUCCEED")
    return time.monotonic()


def _last_post(slack: TimedSlack) -> float:
    with slack._lock:
        return slack.post_times[-1] if slack.post_times else float("nan")


def run(quick: bool = False) -> list[Row]:
    per_channel = 4 if quick else 40  # 200 jobs: half end in each burst
    window = 4.0 if quick else 10.0
    with tempfile.TemporaryDirectory(prefix="bench-scaleout-") as tmp, timed_slack() as slack, \
            simulator() as sim, _schema() as url:
        cwd = Path(tmp)
        settings = Settings(database_url=url, slack_bot_token=slack.token,
                            slack_api_url=slack.url, metastudio_endpoint=sim.url,
                            metastudio_project_id=PROJECT_ID, metastudio_ak=AK, metastudio_sk=SK)
        here = build_tracking(settings, build_jobs_client(settings),
                              SlackMessenger(WebClient(token=slack.token, base_url=slack.url)),
                              keep_alive=False)
        jobs: dict[str, list[str]] = {}
        for channel in CHANNELS:
            jobs[channel] = [sim.add_job(state="PROCESSING") for _ in range(per_channel)]
            here.service.track(ctx(channel), Track(tuple(jobs[channel])), sim.now())
        here.service.subscribe(ctx(SUBSCRIBED), Subscribe("all"), sim.now())
        half = per_channel // 2
        first = {ch: ids[:half] for ch, ids in jobs.items()}
        second = {ch: ids[half:] for ch, ids in jobs.items()}
        env = bot_env(sim.url, slack.url, cwd / "unused.sqlite3", DATABASE_URL=url,
                      POLL_INTERVAL_SECONDS=str(INTERVAL), LOG_LEVEL="INFO")
        deployments = [_Deployment(env, cwd, 1)]
        try:
            deployments[0].wait_up()
            # The first cycles adopt the subscription and run the stuck and quota
            # watches (every 5 and 10 minutes after that): steady cycles come after.
            time.sleep(6 * INTERVAL)
            one = _requests_per_cycle(sim, window)
            deployments.append(_Deployment(env, cwd, 2))
            deployments[1].wait_up()
            time.sleep(3 * INTERVAL)
            two = _requests_per_cycle(sim, window)  # the same project: nothing ended yet
            deployments.append(_Deployment(env, cwd, 3))
            deployments[2].wait_up()
            time.sleep(3 * INTERVAL)
            three = _requests_per_cycle(sim, window)

            slack.latency = 0.2
            started = _end(sim, [j for ids in first.values() for j in ids])
            if not wait_for(lambda: _settled(slack, first), timeout=180, step=0.1):
                raise RuntimeError("the first burst was not delivered")
            undisturbed = _last_post(slack) - started
            time.sleep(3 * INTERVAL)

            slack.latency = 0.2
            started = _end(sim, [j for ids in second.values() for j in ids])
            time.sleep(1.0)
            owner = Leases(here.store).holder(POLLER)[0] or "?:0:?"
            [victim] = [d for d in deployments if d.owns(int(owner.split(":")[-2]))]

            def held_by_victim() -> set[str]:
                with here.store.begin() as conn:
                    return {r.channel for r in conn.execute(
                        sa.select(outbox_channels.c.channel).where(
                            outbox_channels.c.lease_owner == owner))}

            # Killed 1-7 s into the burst, while it holds channels if it comes to that.
            wait_for(lambda: bool(held_by_victim()), timeout=6, step=0.02)
            held = held_by_victim()
            posts_before = len(slack.post_times)
            killed = victim.kill()
            time.sleep(0.2)  # a request the killed one had already sent is answered now
            requests_before = len(sim.requests)
            polled = wait_for(
                lambda: any(r.path.endswith("/digital-human-videos")
                            for r in sim.requests[requests_before:]), timeout=60, step=0.005)
            poll_back = time.monotonic() if polled else float("nan")
            settled = wait_for(lambda: _settled(slack, second), timeout=180, step=0.1)
            with slack._lock:
                posts = list(zip(slack.messages, slack.post_times, strict=False))[posts_before:]
            disturbed = _last_post(slack) - started
            # A post the killed one had sent before it died may still land (the fake
            # Slack answers after its latency): only posts asked for after the kill count.
            # (Had it held none when killed, the survivor's first post at all is shown.)
            channel_back = next((at for m, at in posts if (m.channel in held or not held)
                                 and at - slack.latency > killed), float("nan"))
            time.sleep(2.0)  # room for a late duplicate
            everything = [j for ids in jobs.values() for j in ids]
            lost = doubled = 0
            for channel, ids in jobs.items():
                told = _told(slack, channel, ids)
                lost += sum(1 for n in told.values() if n == 0)
                doubled += sum(1 for n in told.values() if n > 1)
            told = _told(slack, SUBSCRIBED, everything)
            lost += sum(1 for n in told.values() if n == 0)
            doubled += sum(1 for n in told.values() if n > 1)
        finally:
            for deployment in deployments:
                deployment.stop()
            here.store.close()
    bound = max(5.0, 2 * INTERVAL)
    poll_takeover = poll_back - killed
    send_takeover = channel_back - killed
    count = len(CHANNELS) * per_channel
    extra: dict[str, Any] = {"held": sorted(held), "settled": settled}
    return [
        Row(NAME, "MetaStudio requests per poll cycle, two deployments", two, "",
            "one deployment", one, limit="≤ 1.1× one deployment",
            note=f"{count} tracked jobs over {len(CHANNELS)} channels, subscribe all; "
                 f"poll every {INTERVAL:g} s, {window:g} s measured"),
        Row(NAME, "MetaStudio requests per poll cycle, three deployments", three, "",
            "one deployment", one, limit="≤ 1.1× one deployment"),
        Row(NAME, "kill -9 of the polling deployment: polling resumed after", poll_takeover,
            "s", "poll interval", INTERVAL, limit=f"≤ max(5 s, 2 × interval) = {bound:g} s",
            note="first list request after the kill (a sender's look-ups do not count)"),
        Row(NAME, "kill -9: first post in a channel the killed one held, after", send_takeover,
            "s", "poll interval", INTERVAL, limit=f"≤ {bound:g} s",
            note=f"channels it held: {', '.join(sorted(held)) or 'none'}", extra=extra),
        Row(NAME, f"burst of {count // 2} ends, the polling deployment killed: last post",
            disturbed, "s", "the other half, three deployments undisturbed", undisturbed,
            limit="≤ 1.2× undisturbed"),
        Row(NAME, "exactly once over both bursts: lost", lost, "",
            "job ends to tell", 2 * count, limit="0"),
        Row(NAME, "exactly once over both bursts: doubled", doubled, "",
            "job ends to tell", 2 * count, limit="0"),
    ]
