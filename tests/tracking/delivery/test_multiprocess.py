"""Two worker processes on one database: every notification is posted exactly once.

Each worker builds what ``videojobs-bot worker`` builds from its settings: the MetaStudio
client (AK/SK, to the test's simulator over loopback) and the Slack client (the fake
Slack's URL). Only the entry point differs.
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from slack_sdk import WebClient

from bot.settings import Settings
from bot.simulator import Simulator
from bot.slack.messenger import SlackMessenger
from bot.tracking.process.worker import run_worker, utc_now
from bot.wiring.metastudio import build_jobs_client
from bot.wiring.tracking import build_tracking
from tests.fakes.slack import FakeSlack
from tests.fixtures.metastudio import AK, PROJECT_ID, SK
from tests.tracking.helpers import ctx, jobs_told, subscribe
from tests.tracking.helpers import track as track_command

JOBS_PER_CHANNEL = 15
CHANNELS = ("C1", "C2", "C3")


def _worker(settings: Settings, stop_path: Path, log_path: Path) -> None:
    """A ``videojobs-bot worker`` process: polls and sends until ``stop_path`` exists,
    logging to ``log_path`` (a spawned process's log would otherwise vanish)."""
    logging.basicConfig(filename=log_path, level=logging.INFO,
                        format="%(asctime)s %(process)d %(name)s %(levelname)s %(message)s")
    messenger = SlackMessenger(WebClient(token=settings.slack_bot_token.get_secret_value(),
                                         base_url=settings.slack_api_url))
    tracking = build_tracking(settings, build_jobs_client(settings), messenger)
    stop = threading.Event()
    threading.Thread(target=lambda: (_wait_for(stop_path), stop.set()), daemon=True).start()
    run_worker(tracking, stop)


def _wait_for(path: Path) -> None:
    while not path.exists():
        time.sleep(0.02)


def _print_logs(logs: list[Path]) -> None:
    """What the workers logged (pytest shows it under the failure)."""
    for log in logs:
        print(f"----- {log.name} -----")
        print(log.read_text() if log.exists() else "(no log)")


class _World:
    """Just enough of TrackingWorld for the command helpers."""

    def __init__(self, tracking) -> None:
        self.tracking, self.clock = tracking, utc_now


@pytest.mark.slow
@pytest.mark.timeout(90)
def test_two_worker_processes_send_each_notification_once(
    database_url: str, fake_slack: FakeSlack, simulator: Simulator, tmp_path: Path
) -> None:
    settings = Settings(database_url=database_url, slack_bot_token=fake_slack.token,
                        slack_api_url=fake_slack.url, poll_interval_seconds=0.05,
                        digest_threshold=100, metastudio_endpoint=simulator.url,
                        # 45 posts to C9: paced at Slack's 1/s this test would take a
                        # minute; pacing has tests of its own (test_delivery_processes.py).
                        delivery_channel_rate=50,
                        metastudio_project_id=PROJECT_ID, metastudio_ak=AK, metastudio_sk=SK)
    messenger = SlackMessenger(WebClient(token=fake_slack.token, base_url=fake_slack.url))
    world = _World(build_tracking(settings, build_jobs_client(settings), messenger))
    ids = {channel: [simulator.add_job(state="PROCESSING") for _ in range(JOBS_PER_CHANNEL)]
           for channel in CHANNELS}
    for channel, channel_ids in ids.items():
        track_command(world, *channel_ids, channel=channel)
    subscribe(world, "all", channel="C9")
    # The simulator's clock stands still at the whole second its fixture started, while
    # the subscription's baseline is this process's real time, later by however long the
    # set-up above took (sometimes past that second). Jobs must end after the baseline or
    # C9 rightly counts them as history, so move the simulator a second past it.
    [sub] = world.tracking.store.channel_subscriptions("C9")
    simulator.advance((sub.created_at - simulator.now()).total_seconds() + 1)

    spawn = multiprocessing.get_context("spawn")
    stop_path = tmp_path / "stop"
    logs = [tmp_path / f"worker-{n}.log" for n in range(2)]
    workers = [spawn.Process(target=_worker, args=(settings, stop_path, log))
               for log in logs]
    for worker in workers:
        worker.start()
    try:
        every = [job for channel_ids in ids.values() for job in channel_ids]
        for i, job in enumerate(every):
            simulator.set_state(job, "FAILED" if i % 3 == 0 else "SUCCEED")
        # Each end in its channel's tracking thread and in C9, one message each or
        # several in one (a fold of ends that waited on the pace, docs/delivery.md).
        expected = len(every) * 2
        delivered = fake_slack.wait_for(
            lambda f: sum(len(jobs_told(m)) for m in f.messages if m.metadata
                          and not m.marker.startswith("recovered:"))
            >= expected, timeout=60)
        if not delivered:
            _print_logs(logs)
        assert delivered, f"{expected} expected, by channel: " + str(
            Counter(m.channel for m in fake_slack.messages if m.metadata))
        # No fixed pause "for a duplicate": wait until the outbox has nothing left to send
        # (a sent row is never sent again, and no job changes any more), then stop; join()
        # lets each worker finish its cycle, so every post they would make is in the fake.
        drained = fake_slack.wait_for(lambda _: {
            r.status for r in world.tracking.outbox.rows()} == {"sent"}, timeout=30)
        assert drained, Counter(r.status for r in world.tracking.outbox.rows())
    finally:
        stop_path.touch()
        for worker in workers:
            worker.join(timeout=20)
    assert [w.exitcode for w in workers] == [0, 0]

    # Every end once per destination; "recovered" replies (a success after an incident's
    # failures, docs/oncall.md) are about an incident, not an end.
    ends = [m for m in fake_slack.messages if m.metadata
            and not m.marker.startswith("recovered:")]
    assert set(Counter(m.marker for m in ends).values()) == {1}  # no message twice
    for channel in CHANNELS:
        parent = fake_slack.posts(channel)[0]
        told = Counter(j for m in fake_slack.thread(channel, parent.ts) for j in jobs_told(m))
        assert told == Counter(ids[channel]), channel  # each of its jobs once, in its thread
    assert Counter(j for m in ends if m.channel == "C9" for j in jobs_told(m)) == \
        Counter(every)
    assert {r.status for r in world.tracking.outbox.rows()} == {"sent"}
    assert {r.status for r in simulator.requests} == {200}  # every request signed and accepted
    assert world.tracking.service.tracked(ctx("C1")).text.startswith("This channel tracks no")
    world.tracking.store.close()
