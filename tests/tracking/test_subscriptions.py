"""Subscriptions: news only from the moment of subscribing, each outcome once."""

from __future__ import annotations

from datetime import timedelta

from bot.commands.types import Subscribe, Unsubscribe
from bot.metastudio.query import QueryJobType
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


def test_a_job_created_three_days_ago_is_announced_when_it_fails(world: TrackingWorld) -> None:
    old = world.running(create_time=world.clock() - timedelta(days=3))
    world.sim.set_state(world.running(create_time=world.clock() - timedelta(days=2)),
                        "FAILED")  # ended before subscribing: history
    world.clock.advance(60)
    subscribe(world, "failed")
    world.cycle()
    world.clock.advance(30)
    world.sim.set_state(old, "FAILED")
    world.cycle()
    world.cycle()
    news = _top_level(world)[1:]
    assert len(news) == 1 and old in news[0]


def test_a_job_waiting_for_days_after_subscribing_is_announced(world: TrackingWorld) -> None:
    subscribe(world, "failed")
    world.cycle()
    world.clock.advance(60)
    job = world.running()
    world.cycle()  # discovered: watched until it ends
    for _ in range(3):
        world.clock.advance(86_400)
        world.cycle()
    world.sim.set_state(job, "FAILED")
    world.cycle()
    assert [job in t for t in _top_level(world)[1:]] == [True]


def test_a_restart_across_its_end_announces_it_once(world: TrackingWorld) -> None:
    job = world.running(create_time=world.clock() - timedelta(days=3))
    subscribe(world, "all")
    world.cycle()
    world.clock.advance(30)
    world.sim.set_state(job, "SUCCEED")
    restarted = world.restart()
    restarted.cycle()
    restarted.cycle()
    again = restarted.restart()
    again.cycle()
    assert sum(job in t for t in _top_level(world)) == 1


def test_a_job_ending_while_the_worker_is_down_for_an_hour_is_announced_once(
    world: TrackingWorld,
) -> None:
    subscribe(world, "failed")
    world.cycle()
    world.clock.advance(30)
    job = world.running(create_time=world.clock() - timedelta(seconds=10))
    world.cycle()
    world.tracking.store.close()  # down
    world.clock.advance(1800)
    world.sim.set_state(job, "FAILED")
    created_meanwhile = world.running(create_time=world.clock() - timedelta(seconds=5))
    world.sim.set_state(created_meanwhile, "BLOCK")  # created and frozen while down
    world.clock.advance(1800)
    restarted = world.restart()
    restarted.cycle()
    restarted.cycle()
    news = _top_level(world)[1:]
    assert sum(job in t for t in news) == 1
    assert sum(created_meanwhile in t for t in news) == 1


def test_a_job_ending_between_subscribing_and_the_first_poll_is_announced(
    world: TrackingWorld,
) -> None:
    job = world.running(create_time=world.clock() - timedelta(hours=5))
    subscribe(world, "failed")
    world.clock.advance(10)
    world.sim.set_state(job, "FAILED")
    world.cycle()
    assert [job in t for t in _top_level(world)[1:]] == [True]


def test_subscribe_failed_announces_frozen_jobs_too(world: TrackingWorld) -> None:
    subscribe(world, "failed")
    world.cycle()
    world.clock.advance(5)
    frozen, done = world.running(), world.running()
    world.cycle()
    world.sim.set_state(frozen, "BLOCK")
    world.sim.set_state(done, "SUCCEED")
    world.cycle()
    news = _top_level(world)[1:]
    assert len(news) == 1 and frozen in news[0]


def test_a_script_filter_picks_that_scripts_jobs_only(world: TrackingWorld) -> None:
    subscribe(world, "failed", script_id="script-a")
    world.cycle()
    world.clock.advance(5)
    mine = world.running(script_id="script-a",
                         create_time=world.clock() - timedelta(seconds=3))
    other = world.running(script_id="script-b",
                          create_time=world.clock() - timedelta(seconds=2))
    world.cycle()  # discovered through a listing with script_id=script-a
    world.clock.advance(5)
    quick = world.running(script_id="script-b")  # created and failed within a cycle
    for job in (mine, other, quick):
        world.sim.set_state(job, "FAILED")
    world.cycle()
    news = _top_level(world)[1:]
    assert len(news) == 1 and mine in news[0]


def test_a_new_subscription_costs_what_its_jobs_cost_not_the_project(
    world: TrackingWorld,
) -> None:
    world.sim.add_project(2_000, days=30)  # a month of history, none of it tracked
    subscribe(world, "failed", asset_name="Safety briefing")
    world.cycle()
    world.clock.advance(30)
    mark = len(world.sim.requests)
    world.cycle()
    active = world.tracking.poller.active.count()
    # One discovery page (nothing new) and the active set's batches.
    assert len(world.list_requests(mark)) <= 1 + max(1, -(-active // 100))


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


def test_a_job_that_becomes_visible_late_is_still_discovered(world: TrackingWorld) -> None:
    subscribe(world, "failed")
    world.cycle()
    world.clock.advance(30)
    seen_first = world.running(create_time=world.clock() - timedelta(seconds=5))
    world.cycle()  # the watermark is now at seen_first's creation
    # Created before it, but listed only now (another MetaStudio host, a slow index).
    late = world.running(create_time=world.clock() - timedelta(seconds=40))
    world.clock.advance(30)
    world.cycle()
    for code, job in enumerate((seen_first, late)):  # two causes: two announcements
        world.sim.set_state(job, "FAILED", error_code=f"MSS.0000000{code}")
    world.cycle()
    news = _top_level(world)[1:]
    assert sum(late in t for t in news) == 1 and sum(seen_first in t for t in news) == 1


def test_a_script_filter_is_checked_when_a_job_is_watched_for_another_channel(
    world: TrackingWorld,
) -> None:
    subscribe(world, "failed", channel="C1")
    subscribe(world, "failed", channel="C2", script_id="script-a")
    world.cycle()
    world.clock.advance(5)
    other = world.running(script_id="script-b")  # watched for C1, script unknown
    mine = world.running(script_id="script-a",  # watched for both, script learnt later
                         create_time=world.clock() - timedelta(seconds=1))
    world.cycle()
    world.clock.advance(600)
    world.running(script_id="script-a")  # newer jobs move the marks past the overlap:
    world.running(script_id="script-b")  # from now on only the watched rows know
    world.cycle()
    for code, job in enumerate((other, mine)):  # two causes: two announcements
        world.sim.set_state(job, "FAILED", error_code=f"MSS.0000000{code}")
    world.cycle()
    assert sorted(t.split("`")[1] for t in _top_level(world, "C1")[1:]) == sorted([other, mine])
    news = _top_level(world, "C2")[1:]
    assert len(news) == 1 and mine in news[0]


def test_subscribing_stuck_again_keeps_the_options_not_mentioned(world: TrackingWorld) -> None:
    """Issue #21, 5: ``subscribe stuck type=2d notify=@oncall`` then ``subscribe stuck``
    keeps the filter and the group, and says nothing changed."""
    first = world.tracking.service.subscribe(
        ctx(), Subscribe("stuck", job_type=QueryJobType.VIDEO_2D, notify_group="S0ONCALL"),
        world.clock())
    assert first.text.startswith("Subscribed: stuck jobs")
    again = world.tracking.service.subscribe(ctx(), Subscribe("stuck"), world.clock())
    assert again.text == ("This channel already has that stuck subscription, unchanged "
                          "(for `2D_DIGITAL_HUMAN_VIDEO` jobs, paging <!subteam^S0ONCALL>).")
    watch = world.tracking.stuck.watch_of("C1")
    assert (watch.job_type, watch.group_id) == ("2D_DIGITAL_HUMAN_VIDEO", "S0ONCALL")
    moved = world.tracking.service.subscribe(ctx(), Subscribe("stuck", notify_group="S0LEADS"),
                                             world.clock())
    assert moved.text == ("Updated the stuck subscription: paging <!subteam^S0LEADS> (was "
                          "<!subteam^S0ONCALL>). Kept: for `2D_DIGITAL_HUMAN_VIDEO` jobs.")


def test_adding_a_group_to_a_subscription_says_it_was_updated(world: TrackingWorld) -> None:
    """Issue #21, 5: it did add the group, so it must not answer "already has"."""
    subscribe(world, "failed")
    updated = world.tracking.service.subscribe(
        ctx(), Subscribe("failed", notify_group="S0ONCALL"), world.clock())
    [sub] = world.tracking.store.channel_subscriptions("C1")
    assert updated.text.startswith(f"Updated subscription #{sub.id}: its failures now page "
                                   "<!subteam^S0ONCALL> (was nobody)")
    assert world.tracking.service.oncall.mentions([sub.id]) == {sub.id: "S0ONCALL"}
    same = world.tracking.service.subscribe(
        ctx(), Subscribe("failed", notify_group="S0ONCALL"), world.clock())
    assert same.text.startswith("This channel already has that subscription, unchanged")
