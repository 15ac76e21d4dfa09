"""`unsubscribe N` acts only on the channel's own subscriptions: another channel naming
the same number changes nothing, not even what the subscription has already announced."""

from __future__ import annotations

from bot.commands.types import Unsubscribe
from tests.fixtures.tracking import TrackingWorld
from tests.tracking.helpers import ctx, subscribe, track


def _news(world: TrackingWorld, channel: str) -> list[str]:
    return [m.text for m in world.slack.posts(channel)
            if m.thread_ts is None and "subscribed this channel" not in m.text]


def test_another_channel_cannot_remove_a_subscription(world: TrackingWorld) -> None:
    subscribe(world, "failed", channel="C1")
    [sub] = world.tracking.store.channel_subscriptions("C1")
    world.clock.advance(1)
    failed = world.running()
    world.sim.set_state(failed, "FAILED")
    world.cycle()
    assert len(_news(world, "C1")) == 1

    reply = world.tracking.service.unsubscribe(ctx("C2"), Unsubscribe(sub.id))

    assert f"no subscription #{sub.id}" in reply.text
    assert [s.id for s in world.tracking.store.channel_subscriptions("C1")] == [sub.id]
    assert world.tracking.store.seen([sub.id], [failed])  # its record of announcements too
    assert not world.tracking.store.remove_subscription("C2", sub.id)
    assert world.tracking.store.seen([sub.id], [failed])
    # What C1's subscription has announced stays announced: nothing is posted twice.
    world.clock.advance(1)
    world.cycle()
    world.cycle()
    assert len(_news(world, "C1")) == 1 and failed in _news(world, "C1")[0]
    # C1 itself can still unsubscribe.
    assert f"Unsubscribed #{sub.id}" in world.tracking.service.unsubscribe(
        ctx("C1"), Unsubscribe(sub.id)).text


def test_removing_one_subscription_keeps_the_others_record(world: TrackingWorld) -> None:
    subscribe(world, "failed", channel="C1")
    subscribe(world, "all", channel="C1")
    first, second = world.tracking.store.channel_subscriptions("C1")
    world.clock.advance(1)
    failed = world.running()
    world.sim.set_state(failed, "FAILED")
    world.cycle()
    assert world.tracking.store.seen([second.id], [failed])

    assert world.tracking.store.remove_subscription("C1", first.id)
    assert world.tracking.store.seen([second.id], [failed])


def test_the_same_filters_in_two_channels_are_two_subscriptions(world: TrackingWorld) -> None:
    subscribe(world, "failed", channel="C1")
    subscribe(world, "failed", channel="C2")
    [c1] = world.tracking.store.channel_subscriptions("C1")
    [c2] = world.tracking.store.channel_subscriptions("C2")
    assert c1.id != c2.id


def test_tracking_is_per_channel(world: TrackingWorld) -> None:
    job = world.running()
    track(world, job, channel="C1")
    store = world.tracking.store
    assert [t.job_id for t in store.channel_tracked("C1")] == [job]
    assert store.channel_tracked("C2") == []
    [tracked] = store.channel_tracked("C1")
    assert store.in_message("C2", tracked.message_ts) == []
    assert not store.untrack("C2", job)
    assert [t.job_id for t in store.channel_tracked("C1")] == [job]
