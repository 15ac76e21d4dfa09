"""A notification held by Slack's pace or a Retry-After is posted when the hold ends,
not at the next poll (docs/delivery.md, "Waking at the earliest hold"). Real time, a
real simulator and client, the fake Slack enforcing one message a second per channel;
the poll interval is a minute, so anything the test sees was woken, not polled."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from slack_sdk import WebClient

from bot.metastudio.auth import AkSkAuth
from bot.metastudio.client import MetaStudioClient
from bot.settings import Settings
from bot.simulator import Simulator
from bot.slack.messenger import SlackMessenger
from bot.tracking.polling.callbacks import SendSoon
from bot.tracking.process.worker import Tracking, run_worker
from bot.wiring.tracking import build_tracking
from tests.fakes.slack import FakeSlack
from tests.fixtures.tracking import AK, FAST_RETRY, FAST_TIMEOUTS, PROJECT_ID, SK
from tests.tracking.helpers import track, tracking_message


@dataclass
class Live:
    tracking: Tracking
    sim: Simulator
    slack: FakeSlack

    def clock(self):  # what tests.tracking.helpers.track reads
        return self.tracking.poller.clock()


@pytest.fixture
def live(database_url: str, fake_slack: FakeSlack, slack_client: WebClient) -> Iterator[Live]:
    fake_slack.per_channel_rate = 1.0
    sim = Simulator(PROJECT_ID, ak=AK, sk=SK)
    handle = sim.serve()
    client = MetaStudioClient(handle.url, PROJECT_ID, AkSkAuth(AK, SK, PROJECT_ID),
                              retry=FAST_RETRY, timeouts=FAST_TIMEOUTS)
    settings = Settings(database_url=database_url, slack_bot_token=fake_slack.token,
                        slack_api_url=fake_slack.url, poll_interval_seconds=60.0)
    tracking = build_tracking(settings, client, SlackMessenger(slack_client))
    yield Live(tracking, sim, fake_slack)
    tracking.store.close()
    client.close()
    handle.stop()


def _replies(live: Live) -> list:
    return live.slack.thread("C1", tracking_message(live).ts)  # type: ignore[arg-type]


def test_callbacks_a_moment_apart_are_each_posted_as_soon_as_the_pace_allows(
        live: Live) -> None:
    """Three jobs of one tracking message end by callbacks 0.2 s apart: the first reply
    goes at once, the two that waited on the pace one second later in one reply
    (docs/delivery.md, "Folding what waits on the pace"), long before the next poll."""
    ids = [live.sim.add_job(state="PROCESSING") for _ in range(3)]
    track(live, *ids)  # type: ignore[arg-type]
    time.sleep(1.0)  # the tracking message took the channel's second
    wake = SendSoon(live.tracking.sender.send_due, live.tracking.sender.next_due_in)
    try:
        started = time.monotonic()
        for job in ids:
            live.sim.set_state(job, "SUCCEED")
            live.tracking.poller.observe(job)
            wake()
            time.sleep(0.2)
        assert live.slack.wait_for(
            lambda f: all(job in str([m.blocks for m in _replies(live)]) + str(
                [m.text for m in _replies(live)]) for job in ids), timeout=6)
        took = time.monotonic() - started
        assert took < 3.0, took  # pace: ~1 s; the next poll would be a minute away
        assert len(_replies(live)) == 2
        assert live.slack.rate_limited == 0  # woken at the hold's end, never early
    finally:
        wake.cancel()


def test_the_worker_posts_after_a_retry_after_without_waiting_for_its_next_cycle(
        live: Live) -> None:
    job = live.sim.add_job(state="PROCESSING")
    track(live, job)  # type: ignore[arg-type]
    live.sim.set_state(job, "FAILED")
    live.slack.rate_limit("chat.postMessage", retry_after=1)
    stop = threading.Event()
    loop = threading.Thread(target=run_worker, args=(live.tracking, stop), daemon=True)
    started = time.monotonic()
    loop.start()
    try:
        assert live.slack.wait_for(lambda f: len(_replies(live)) == 1, timeout=8)
        assert time.monotonic() - started < 5.0  # Retry-After 1 s; the cycle is a minute
    finally:
        stop.set()
        loop.join(10)
