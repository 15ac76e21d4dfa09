"""Subscriptions: news only from the moment of subscribing, each outcome once."""

from __future__ import annotations

from datetime import timedelta

from bot.commands.types import Unsubscribe
from bot.metastudio.query import QueryJobType, format_time
from tests.fixtures.tracking import TrackingWorld
from tests.tracking.helpers import ctx, subscribe, track


def _top_level(world: TrackingWorld, channel: str = "C1") -> list[str]:
    return [m.text for m in world.slack.posts(channel) if m.thread_ts is None]


def test_the_first_poll_does_not_flood_the_channel_with_history(world: TrackingWorld) -> None:
    for _ in range(8):
        world.sim.set_state(world.running(), "FAILED")  # ended before anyone subscribed
    world.clock.advance(60)
    assert "Subscribed" in subscribe(world, "failed").text
    world.cycle()
    assert len(_top_level(world)) == 1  # only the subscription's confirmation

    world.clock.advance(30)
    fresh = world.running()
    world.sim.set_state(fresh, "FAILED")
    world.cycle()
    world.cycle()
    news = _top_level(world)[1:]
    assert len(news) == 1 and fresh in news[0] and "MSS.00000004" in news[0]


def test_a_job_ending_in_the_second_of_subscribing_is_news(world: TrackingWorld) -> None:
    world.clock.advance(0.4)
    subscribe(world, "failed")  # baseline 09:00:00.4
    job = world.running()
    world.clock.advance(0.3)
    world.sim.set_state(job, "FAILED")  # ends 09:00:00.7, reported as 09:00:00
    world.cycle()
    assert [job in t for t in _top_level(world)[1:]] == [True]


def test_outcomes_and_filters_pick_the_jobs(world: TrackingWorld) -> None:
    subscribe(world, "finished", asset_name="promo")
    subscribe(world, "all", channel="C2", job_type=QueryJobType.PHOTO)
    world.clock.advance(1)
    promo = world.running(asset_name="promo")
    photo = world.running(job_type="DIGITAL_HUMAN_PHOTO_VIDEO")  # the SDK's spelling
    other = world.running(asset_name="other")
    for job in (promo, photo, other):
        world.sim.set_state(job, "SUCCEED")
    world.cycle()
    assert [promo in t for t in _top_level(world)[1:]] == [True]
    assert [photo in t for t in _top_level(world, "C2")[1:]] == [True]


def test_two_subscriptions_of_a_channel_announce_a_job_once(world: TrackingWorld) -> None:
    subscribe(world, "failed")
    subscribe(world, "all")
    world.clock.advance(1)
    job = world.running()
    world.sim.set_state(job, "FAILED")
    world.cycle()
    assert sum(job in t for t in _top_level(world)) == 1


def test_a_job_tracked_in_the_channel_is_told_in_its_thread_only(world: TrackingWorld) -> None:
    job = world.running()
    track(world, job)
    subscribe(world, "all")
    world.clock.advance(1)
    world.sim.set_state(job, "SUCCEED")
    world.cycle()
    world.cycle()
    assert [m.thread_ts is not None for m in world.slack.posts("C1") if job in m.text] == [True]


def test_jobs_created_before_the_lookback_window_are_not_swept(world: TrackingWorld) -> None:
    old = world.running(create_time=world.clock() - timedelta(hours=30))
    subscribe(world, "all")
    world.clock.advance(1)
    world.sim.set_state(old, "SUCCEED")
    mark = len(world.sim.requests)
    world.cycle()
    [query] = world.list_requests(mark)
    assert ("create_since", format_time(world.clock() - timedelta(hours=24))) in query.params
    assert len(_top_level(world)) == 1


def test_unsubscribing(world: TrackingWorld) -> None:
    subscribe(world, "failed")
    subscribe(world, "all")
    service = world.tracking.service
    assert "Which one" in service.unsubscribe(ctx(), Unsubscribe()).text
    assert "Unsubscribed #1" in service.unsubscribe(ctx(), Unsubscribe(1)).text
    assert "no subscription #1" in service.unsubscribe(ctx(), Unsubscribe(1)).text
    assert "#2 all" in str(service.subscriptions(ctx()).blocks)
    assert "Unsubscribed #2" in service.unsubscribe(ctx(), Unsubscribe()).text
    assert "no subscriptions" in service.subscriptions(ctx()).text
