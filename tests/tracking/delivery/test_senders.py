"""Two senders on one database, with the interleavings the test chooses (events, not
sleeps): leases that run out while a sender is inside a Slack call, digests, and what
the stalled sender may still do once it wakes up."""

from __future__ import annotations

import threading
from collections import Counter
from itertools import pairwise
from typing import Any

from bot.wiring.tracking import build_tracking
from tests.fixtures.tracking import TrackingWorld
from tests.tracking.helpers import track, tracking_message

#: A lease shorter than a pass's pacing budget (10 s): the stalled sender wakes up
#: inside its pass, with posts still to make.
LEASE = 5


class _Stall:
    """A messenger that, at its ``at``-th post, posts for real and then stalls until
    the test releases it (a Slack answer that takes longer than the lease)."""

    def __init__(self, inner: Any, at: int) -> None:
        self.inner, self.at, self.posts = inner, at, 0
        self.stalled, self.release = threading.Event(), threading.Event()

    def post(self, channel: str, **kw: Any) -> str:
        ts = self.inner.post(channel, **kw)
        self.posts += 1
        if self.posts == self.at:
            self.stalled.set()
            assert self.release.wait(10)
        return str(ts)

    def update(self, channel: str, ts: str, **kw: Any) -> None:
        self.inner.update(channel, ts, **kw)

    def marked(self, channel: str, **kw: Any) -> dict[str, str]:
        return dict(self.inner.marked(channel, **kw))


def _stalled_sender(world: TrackingWorld, at: int) -> tuple[Any, _Stall, threading.Thread]:
    """Sender A, stalled inside its ``at``-th post, in a thread of its own."""
    messenger = _Stall(world.messenger, at)
    a = build_tracking(world.settings, world.client, messenger, clock=world.clock,
                       sleep=world.clock.sleep, owner="A")
    thread = threading.Thread(target=a.sender.send_due)
    thread.start()
    assert messenger.stalled.wait(10)
    return a, messenger, thread


def _told(world: TrackingWorld, ids: list[str]) -> Counter[str]:
    told: Counter[str] = Counter({job: 0 for job in ids})
    for message in world.slack.posts():
        if message.metadata:
            for job in ids:
                told[job] += job in message.text + str(message.blocks)
    return told


def test_a_sender_whose_lease_ran_out_inside_a_post_posts_nothing_more(
    world: TrackingWorld,
) -> None:
    world = world.restart(digest_threshold=100, delivery_channel_rate=1000,
                          delivery_lease_seconds=LEASE)
    ids = [world.running() for _ in range(3)]
    track(world, *ids)
    for job in ids:
        world.sim.set_state(job, "SUCCEED")
    world.tracking.poller.poll()
    a, messenger, thread = _stalled_sender(world, at=1)  # A's first post hangs

    world.clock.advance(LEASE + 1)  # A's leases run out while it waits on Slack
    world.tracking.sender.send_due()  # B takes the channel over, finds A's post
    messenger.release.set()
    thread.join(10)

    assert not thread.is_alive()
    assert set(_told(world, ids).values()) == {1}  # A posted nothing after waking up
    assert {r.status for r in world.tracking.outbox.rows()} == {"sent"}
    assert messenger.posts == 1
    a.store.close()


def test_a_stalled_digest_is_finished_by_the_next_sender_without_repeats(
    world: TrackingWorld,
) -> None:
    """Digest members are delivered with their digest and never claimed alone, even
    once the stalled sender's leases have run out."""
    world = world.restart(digest_threshold=5, delivery_channel_rate=1000,
                          delivery_lease_seconds=LEASE)
    ids = [world.running() for _ in range(30)]  # two detail replies
    track(world, *ids)
    for job in ids:
        world.sim.set_state(job, "FAILED")
    world.tracking.poller.poll()
    a, messenger, thread = _stalled_sender(world, at=2)  # after the first details

    world.clock.advance(LEASE + 1)
    world.tracking.sender.send_due()
    messenger.release.set()
    thread.join(10)

    thread = world.slack.thread("C1", tracking_message(world).ts)
    summaries = [m for m in thread if "jobs finished" in m.text]
    assert len(summaries) == 1
    assert set(_told(world, ids).values()) == {1}
    assert len([m for m in thread if m.text.startswith("Details of")]) == 2
    assert {r.status for r in world.tracking.outbox.rows()} == {"sent"}
    a.store.close()


def test_two_senders_at_once_share_the_channels_and_post_each_once(
    world: TrackingWorld,
) -> None:
    """B runs its whole pass while A is inside its first post: A leased every channel
    with due rows, so B sends nothing rather than anything twice; A finishes."""
    world = world.restart(digest_threshold=100, delivery_channel_rate=1000,
                          delivery_lease_seconds=LEASE)
    ids = {channel: [world.running() for _ in range(3)] for channel in ("C1", "C2", "C3")}
    for channel, jobs in ids.items():
        track(world, *jobs, channel=channel)
    every = [job for jobs in ids.values() for job in jobs]
    for job in every:
        world.sim.set_state(job, "SUCCEED")
    world.tracking.poller.poll()
    a, messenger, thread = _stalled_sender(world, at=1)

    b = world.tracking.sender.send_due()  # no clock change: A's leases hold
    messenger.release.set()
    thread.join(10)

    assert b.sent == 0 and messenger.posts == 9
    assert set(_told(world, every).values()) == {1}
    a.store.close()


def test_a_flooded_channel_does_not_delay_the_others(world: TrackingWorld) -> None:
    world = world.restart(digest_threshold=100)
    flood = [world.running() for _ in range(10)]
    track(world, *flood, channel="C1")
    quiet = world.running()
    track(world, quiet, channel="C2")
    for job in [*flood, quiet]:
        world.sim.set_state(job, "SUCCEED")
    for _ in range(5):  # passes pace for up to 10 s each; C1 has ten to send
        world.cycle()
        world.clock.advance(1)

    posted = [m for m in world.slack.posts() if m.metadata]
    assert [m.channel for m in posted].index("C2") <= 1  # not after C1's ten
    assert len(posted) == 11


def test_posts_to_one_channel_are_spaced_by_the_pace(world: TrackingWorld) -> None:
    world = world.restart(digest_threshold=100)
    times: list[float] = []
    post = world.messenger.post

    def timed(channel: str, **kw: Any) -> str:
        times.append(world.clock().timestamp())
        return post(channel, **kw)

    ids = [world.running() for _ in range(4)]
    track(world, *ids)
    world.tracking.sender.messenger.post = timed  # type: ignore[method-assign]
    for job in ids:
        world.sim.set_state(job, "SUCCEED")
    world.cycle()

    assert len(times) == 4
    assert all(b - a >= 1.0 for a, b in pairwise(times))
    assert times[-1] - times[0] < 3 * 1.2  # and not much more than that


def test_a_rate_limit_holds_every_row_of_the_channel_and_later_ones(
    world: TrackingWorld,
) -> None:
    world = world.restart(digest_threshold=100)
    ids = [world.running() for _ in range(4)]
    track(world, *ids)
    for job in ids[:3]:
        world.sim.set_state(job, "SUCCEED")
    world.slack.rate_limit("chat.postMessage", retry_after=30)
    limited_at = world.clock()
    world.cycle()

    rows = world.tracking.outbox.rows()
    assert len(rows) == 3 and {r.status for r in rows} == {"pending"}
    assert {(r.next_attempt_at - limited_at).total_seconds() for r in rows} == {30}
    assert {r.attempts for r in rows} == {0}  # refused, not "in doubt": no look-ups later
    world.clock.advance(10)
    world.sim.set_state(ids[3], "FAILED")  # a new notification for the held channel
    world.cycle()
    world.clock.advance(19)
    world.cycle()
    parent = tracking_message(world)
    assert world.slack.thread("C1", parent.ts) == []  # nothing before Retry-After ran out
    world.clock.advance(1)
    world.cycle()
    assert len(world.slack.thread("C1", parent.ts)) == 4


def test_a_stopping_process_ends_its_pass_instead_of_pacing(world: TrackingWorld) -> None:
    world = world.restart(digest_threshold=100)
    ids = [world.running() for _ in range(4)]
    track(world, *ids)
    for job in ids:
        world.sim.set_state(job, "SUCCEED")
    world.tracking.sender.stopping = threading.Event()
    world.tracking.sender.stopping.set()  # SIGTERM arrived
    started = world.clock()
    world.cycle()

    assert len(world.slack.thread("C1", tracking_message(world).ts)) == 1  # no wait for more
    assert world.clock() == started
    waiting = [r for r in world.tracking.outbox.rows() if r.status == "pending"]
    assert len(waiting) == 3 and {(r.lease_owner, r.attempts) for r in waiting} == {(None, 0)}
