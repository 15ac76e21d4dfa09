"""One send pass (bot/tracking/delivery/sender.py) from start to end: its time budget,
the pace between posts (on the stop event while the process runs), how many channels
and rows of a channel it takes, and what it gives back untried when it stops. Slack is
the fake Slack over HTTP, the database real."""

from __future__ import annotations

import dataclasses
import logging
from datetime import timedelta
from itertools import pairwise
from typing import Any

import pytest
from pytest_mock import MockerFixture

from bot.tracking.delivery.sender import SendResult
from bot.views.notifications import Message
from tests.fixtures.tracking import TrackingWorld
from tests.tracking.delivery.helpers import ended, note

# -- the budget --------------------------------------------------------------------------


def test_a_pass_stops_at_its_budget_and_gives_the_rest_back_paced(world: TrackingWorld) -> None:
    world = world.restart(digest_threshold=100)  # budget: 10 s, a post every 1.01 s
    ended(world, 12)
    start = world.clock()
    assert world.tracking.sender.send_due() == SendResult(sent=10)
    last = start + timedelta(seconds=9 * 1.01)
    assert abs((world.clock() - last).total_seconds()) < 1e-3  # no wait past the budget
    rows = sorted(world.tracking.outbox.rows(), key=lambda r: r.id)
    assert [r.status for r in rows] == ["sent"] * 10 + ["pending"] * 2
    # Given back untried: no lease, not an attempt (so not in doubt), due as before.
    assert {(r.lease_owner, r.attempts, r.failures, r.last_error) for r in rows[10:]} == {
        (None, 0, 0, None)}
    hold = world.tracking.outbox.channel_hold("C1")  # the next post's pace, for any sender
    assert hold is not None and hold[1] == "paced"
    assert abs((hold[0] - last).total_seconds() - 1.01) < 1e-3
    other = world.restart(digest_threshold=100)  # another sender waits for it too
    world.clock.advance(1.0)
    assert other.tracking.sender.send_due() == SendResult()
    world.clock.advance(0.02)
    # The two given back waited on the pace: one message tells both.
    assert other.tracking.sender.send_due() == SendResult(sent=1)
    assert {r.status for r in other.tracking.outbox.rows()} == {"sent"}


def test_a_post_due_exactly_at_the_budget_is_still_made(world: TrackingWorld) -> None:
    # A pass may pace for 10.1 s: the eleventh post, due 10 × 1.01 s after the first, is
    # inside it (the budget ends after, not at, its last moment).
    world = world.restart(digest_threshold=100, poll_interval_seconds=10.1)
    ended(world, 12)
    assert world.tracking.sender.send_due() == SendResult(sent=11)


def test_a_sleep_that_does_not_move_the_clock_ends_the_pass(
    world: TrackingWorld, caplog: pytest.LogCaptureFixture
) -> None:
    world = world.restart(digest_threshold=100)
    ended(world, 2)
    world.tracking.sender.sleep = lambda seconds: None  # a broken clock/sleep pair
    assert world.tracking.sender.send_due() == SendResult(sent=1)
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert errors == ["sleep(1.01) did not move the sender's clock; pass ended"]
    [waiting] = [r for r in world.tracking.outbox.rows() if r.status == "pending"]
    assert (waiting.lease_owner, waiting.attempts) == (None, 0)


# -- pacing ------------------------------------------------------------------------------


def _post_times(world: TrackingWorld, mocker: MockerFixture) -> list[float]:
    times: list[float] = []
    messenger = world.tracking.sender.messenger
    post = messenger.post

    def timed(channel: str, **kw: Any) -> str:
        times.append(world.clock().timestamp())
        return post(channel, **kw)

    mocker.patch.object(messenger, "post", side_effect=timed)
    return times


def test_posts_are_spaced_by_a_pace_shorter_than_a_second(
    world: TrackingWorld, mocker: MockerFixture
) -> None:
    world = world.restart(digest_threshold=100, delivery_channel_rate=2)  # 0.51 s apart
    ended(world, 3)
    times = _post_times(world, mocker)
    assert world.tracking.sender.send_due() == SendResult(sent=3)
    gaps = [b - a for a, b in pairwise(times)]
    assert gaps == pytest.approx([0.51, 0.51], abs=1e-3)


class _ClockEvent:
    """A stop event that is never set; waiting on it moves the test's clock."""

    def __init__(self, world: TrackingWorld) -> None:
        self.world, self.waits = world, []

    def wait(self, seconds: float) -> bool:
        self.waits.append(seconds)
        self.world.clock.advance(seconds)
        return False

    def is_set(self) -> bool:
        return False


def test_a_pass_paces_on_the_stop_event_while_the_process_runs(world: TrackingWorld) -> None:
    world = world.restart(digest_threshold=100)
    ended(world, 3)
    event = _ClockEvent(world)
    world.tracking.sender.stopping = event  # type: ignore[assignment]
    world.tracking.sender.sleep = lambda seconds: pytest.fail("slept instead of waiting")
    assert world.tracking.sender.send_due() == SendResult(sent=3)
    assert event.waits == pytest.approx([1.01, 1.01], abs=1e-3)


# -- how much one pass takes -------------------------------------------------------------


def test_one_pass_takes_at_most_fifty_channels(world: TrackingWorld) -> None:
    for i in range(51):
        note(world, Message("hello", []), key=f"note:{i}", channel=f"C{i:02d}")
    assert world.tracking.sender.send_due() == SendResult(sent=50)
    [left] = [r for r in world.tracking.outbox.rows() if r.status == "pending"]
    assert left.channel == "C50" and left.attempts == 0
    assert world.tracking.sender.send_due() == SendResult(sent=1)


def test_a_pass_takes_at_most_rows_per_channel_rows_of_a_channel(world: TrackingWorld) -> None:
    world = world.restart(digest_threshold=100)
    ended(world, 3)
    sender = world.tracking.sender
    sender.policy = dataclasses.replace(sender.policy, rows_per_channel=2)
    assert sender.send_due() == SendResult(sent=2)
    assert sorted(r.status for r in world.tracking.outbox.rows()) == ["pending", "sent", "sent"]
