"""The per-channel token bucket (bot/tracking/delivery/pacing.py) on exact numbers: the sender's
scenarios only see whole posts, so these pin the arithmetic (bench/MUTATION.md lists the
mutants they kill)."""

from __future__ import annotations

import pytest

from bot.tracking.delivery.pacing import GUARD_SECONDS, ChannelPacer


def test_the_guard_is_ten_milliseconds() -> None:
    assert GUARD_SECONDS == 0.01
    assert ChannelPacer(1.0).period == pytest.approx(1.01)


@pytest.mark.parametrize(("rate", "burst"), [(0, 1), (-1, 1), (1, 0), (1, -1)])
def test_a_rate_that_is_not_positive_or_a_burst_below_one_is_refused(
    rate: float, burst: int
) -> None:
    with pytest.raises(ValueError, match=r"^rate must be positive and burst at least 1$"):
        ChannelPacer(rate, burst=burst)


def test_the_smallest_valid_rate_and_burst_are_accepted() -> None:
    pacer = ChannelPacer(0.001, burst=1, guard=0.0)
    assert pacer.period == 1000.0 and pacer.burst == 1


def test_a_new_channel_may_post_at_once_and_then_waits_one_period() -> None:
    pacer = ChannelPacer(2.0, guard=0.25)  # period 0.75 s
    assert pacer.period == 0.75
    assert pacer.ready_at("C1", 100.0) == 100.0
    assert pacer.next_free("C1", 100.0) is None
    pacer.take("C1", 100.0)
    assert pacer.ready_at("C1", 100.0) == 100.75
    assert pacer.next_free("C1", 100.0) == 100.75
    assert pacer.ready_at("C1", 100.5) == pytest.approx(100.75)  # partly refilled
    assert pacer.ready_at("C1", 100.75) == 100.75  # exactly one token again
    assert pacer.next_free("C1", 100.75) is None


def test_channels_have_buckets_of_their_own() -> None:
    pacer = ChannelPacer(1.0, guard=0.0)
    pacer.take("C1", 10.0)
    assert pacer.ready_at("C2", 10.0) == 10.0
    assert pacer.ready_at("C1", 10.0) == 11.0


def test_a_post_made_without_waiting_is_paid_for_later() -> None:
    pacer = ChannelPacer(1.0, guard=0.0)
    pacer.take("C1", 0.0)
    pacer.take("C1", 0.0)  # the caller did not wait: the bucket goes below zero
    assert pacer.ready_at("C1", 0.0) == 2.0
    assert pacer.next_free("C1", 1.0) == 2.0


def test_a_burst_allows_that_many_posts_at_once_and_never_more() -> None:
    pacer = ChannelPacer(1.0, burst=3, guard=0.0)
    for _ in range(3):
        assert pacer.ready_at("C1", 0.0) == 0.0
        pacer.take("C1", 0.0)
    assert pacer.ready_at("C1", 0.0) == 1.0
    # A long quiet spell refills up to the burst, not beyond it.
    assert pacer.ready_at("C1", 1000.0) == 1000.0
    for _ in range(3):
        pacer.take("C1", 1000.0)
    assert pacer.ready_at("C1", 1000.0) == 1001.0


def test_a_clock_that_goes_back_neither_refills_nor_drains() -> None:
    pacer = ChannelPacer(1.0, guard=0.0)
    pacer.take("C1", 10.0)
    assert pacer.ready_at("C1", 9.0) == 10.0  # 1 s from 9.0: the token is still owed
    assert pacer.ready_at("C1", 10.5) == 11.0  # the refill counts from 10.0, not 9.0


def test_a_partly_refilled_burst_may_post_now_not_earlier() -> None:
    pacer = ChannelPacer(1.0, burst=2, guard=0.0)
    pacer.take("C1", 0.0)  # one token left
    assert pacer.ready_at("C1", 0.5) == 0.5  # 1.5 tokens: now, not in the past
    assert pacer.next_free("C1", 0.5) is None
