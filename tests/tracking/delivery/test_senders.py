"""Two senders on one database, with the interleavings the test chooses (events, not
sleeps): leases that run out while a sender is inside a Slack call or pacing between
posts, digests, and what the stalled sender may still do once it wakes up; leases taken
in the sender's own name and renewed when a pass outlasts half of them; and a channel
lost mid-pass leaving the other channels to go on."""

from __future__ import annotations

import logging
import threading
from collections import Counter
from itertools import pairwise
from typing import Any

import pytest
from pytest_mock import MockerFixture

from bot.tracking.delivery.sender import SendResult
from bot.tracking.store.tables import outbox as outbox_table
from bot.tracking.store.tables import outbox_channels
from bot.wiring.tracking import build_tracking
from tests.fixtures.tracking import TrackingWorld
from tests.tracking.delivery.helpers import ended, ended_burst, marked
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


def test_posts_to_one_channel_are_spaced_by_the_pace(
    world: TrackingWorld, mocker: MockerFixture
) -> None:
    world = world.restart(digest_threshold=100)
    times: list[float] = []
    post = world.messenger.post

    def timed(channel: str, **kw: Any) -> str:
        times.append(world.clock().timestamp())
        return post(channel, **kw)

    ids = [world.running() for _ in range(4)]
    track(world, *ids)
    mocker.patch.object(world.tracking.sender.messenger, "post", side_effect=timed)
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
    # All four waited on Slack's Retry-After: one reply tells them (docs/delivery.md,
    # "Folding what waits on the pace"), rather than four in a row.
    [reply] = world.slack.thread("C1", parent.ts)
    assert reply.text == "<@U1> 4 jobs finished: 3 ✅ 1 ❌"  # addressed as a digest
    assert all(job in str(reply.blocks) for job in ids)


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


# -- leases lost, renewed, and taken in the sender's own name ----------------------------


def _taken_over_while_pacing(world: TrackingWorld) -> list[SendResult]:
    """The world's sender (A) oversleeps its first pacing wait past its 5 s leases, and a
    second sender (B) runs one pass meanwhile; returns B's pass, once it has run."""
    b = build_tracking(world.settings, world.client, world.messenger, clock=world.clock,
                       sleep=world.clock.sleep, owner="B").sender
    passes: list[SendResult] = []

    def overslept(seconds: float) -> None:
        world.clock.advance(6)
        if not passes:
            passes.append(b.send_due())

    world.tracking.sender.sleep = overslept
    return passes


def test_a_sender_whose_leases_ran_out_while_pacing_leaves_the_rest_to_their_new_owner(
    world: TrackingWorld, caplog: pytest.LogCaptureFixture
) -> None:
    world = world.restart(digest_threshold=100, delivery_lease_seconds=5)
    ended(world, 3)
    passes = _taken_over_while_pacing(world)
    assert world.tracking.sender.send_due() == SendResult(sent=1)
    assert passes == [SendResult(sent=2)]
    rows = sorted(world.tracking.outbox.rows(), key=lambda r: r.id)
    assert [r.status for r in rows] == ["sent"] * 3
    assert len([m for m in world.slack.posts("C1") if m.metadata]) == 3  # each once
    assert (f"lease on {rows[1].dedupe_key} lost before posting; leaving C1 to its new "
            "owner") in caplog.messages


def test_a_digest_whose_lease_ran_out_between_its_posts_is_left_to_the_new_owner(
    world: TrackingWorld, caplog: pytest.LogCaptureFixture
) -> None:
    world = world.restart(delivery_lease_seconds=5)
    ended_burst(world)
    # A paces between the summary and the details past its lease; B takes over.
    passes = _taken_over_while_pacing(world)
    assert world.tracking.sender.send_due() == SendResult()
    assert passes == [SendResult(sent=1)]
    [(summary_key, _), (details_key, _)] = marked(world)  # each posted once
    assert details_key == f"{summary_key}#0"
    assert (f"lease on {summary_key} lost before posting; leaving C1 to its new owner"
            in caplog.messages)


def test_a_pass_longer_than_half_its_lease_renews_the_leases_and_goes_on(
    world: TrackingWorld, caplog: pytest.LogCaptureFixture
) -> None:
    world = world.restart(digest_threshold=100, delivery_lease_seconds=5)
    ended(world, 8)  # 8 posts a pace apart: 7.07 s, past the 5 s lease
    assert world.tracking.sender.send_due() == SendResult(sent=8)
    assert not [m for m in caplog.messages if "lost before posting" in m]


def test_a_lease_is_renewed_before_a_post_that_could_outlast_its_remainder(
    world: TrackingWorld, mocker: MockerFixture,
) -> None:
    # Lease 6 s; the fourth post (at 3.03 s) finds less than half the lease left, so it
    # renews first. That post then takes 3.5 s in Slack: without the renewal the leases
    # would lapse at 6 s and another sender would take the channel and post it too.
    world = world.restart(digest_threshold=100, delivery_lease_seconds=6)
    ended(world, 4)
    b = build_tracking(world.settings, world.client, world.messenger, clock=world.clock,
                       sleep=world.clock.sleep, owner="B").sender
    messenger = world.tracking.sender.messenger
    post, posts, meanwhile = messenger.post, [], []

    def slow_fourth(channel: str, **kw: Any) -> str:
        posts.append(1)
        if len(posts) == 4:
            world.clock.advance(3.5)
            meanwhile.append(b.send_due())
        return post(channel, **kw)

    mocker.patch.object(messenger, "post", side_effect=slow_fourth)
    assert world.tracking.sender.send_due() == SendResult(sent=4)
    assert meanwhile == [SendResult()]  # B found the channel leased
    assert len([m for m in world.slack.posts("C1") if m.metadata]) == 4


def test_rows_being_posted_are_leased_in_the_senders_own_name(
    world: TrackingWorld, mocker: MockerFixture
) -> None:
    ended(world, 2)
    messenger = world.tracking.sender.messenger
    post = messenger.post
    owners: list[object] = []

    def watched_post(*args: Any, **kwargs: Any) -> str:
        owners.extend(r.lease_owner for r in world.tracking.outbox.rows()
                      if r.status == "pending")
        return post(*args, **kwargs)

    mocker.patch.object(messenger, "post", side_effect=watched_post)
    assert world.tracking.sender.send_due() == SendResult(sent=2)
    assert owners and all(isinstance(o, str) and o for o in owners)
    assert [r.lease_owner for r in world.tracking.outbox.rows()] == [None, None]  # let go


def test_a_row_whose_lease_was_taken_during_its_post_is_left_to_the_new_owner(
    world: TrackingWorld, mocker: MockerFixture, caplog: pytest.LogCaptureFixture
) -> None:
    world = world.restart(digest_threshold=100)
    ended(world, 1)
    messenger = world.tracking.sender.messenger
    post = messenger.post

    def slow_post(*args: Any, **kwargs: Any) -> str:
        ts = post(*args, **kwargs)
        with world.tracking.store.begin() as conn:  # another sender took the row meanwhile
            conn.execute(outbox_table.update().values(lease_owner="B"))
        return ts

    mocker.patch.object(messenger, "post", side_effect=slow_post)
    assert world.tracking.sender.send_due() == SendResult()
    [row] = world.tracking.outbox.rows()
    assert (row.status, row.lease_owner) == ("pending", "B")
    assert f"lease on {row.dedupe_key} expired before it was marked sent" in caplog.messages


def _c1_taken_at_the_first_wait(world: TrackingWorld) -> None:
    """The world's sender waits its first pacing turn past its 5 s leases, and another
    sender (B) takes channel C1 over meanwhile."""
    taken: list[str] = []

    def paced(seconds: float) -> None:
        world.clock.advance(6)  # past every lease of the pass
        if not taken:
            taken.append("C1")
            with world.tracking.store.begin() as conn:
                conn.execute(outbox_table.update().where(outbox_table.c.channel == "C1")
                             .values(lease_owner="B"))
                conn.execute(outbox_channels.update().where(
                    outbox_channels.c.channel == "C1").values(lease_owner="B"))

    world.tracking.sender.sleep = paced


def test_a_channel_lost_mid_pass_leaves_the_other_channels_to_go_on(
    world: TrackingWorld, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "bot.tracking.delivery")
    world = world.restart(digest_threshold=100, delivery_lease_seconds=5)
    ended(world, 2, channel="C1")
    ended(world, 2, channel="C2")
    _c1_taken_at_the_first_wait(world)
    assert world.tracking.sender.send_due() == SendResult(sent=3)
    sent = {(r.channel, r.status) for r in world.tracking.outbox.rows() if r.status == "sent"}
    assert sent == {("C1", "sent"), ("C2", "sent")}
    assert [r.channel for r in world.tracking.outbox.rows() if r.status == "pending"] == ["C1"]
    assert any(m.startswith("lease on ") and m.endswith("leaving C1 to its new owner")
               for m in caplog.messages)


def test_a_channel_lost_between_two_posts_of_a_row_leaves_the_other_channels_to_go_on(
    world: TrackingWorld, caplog: pytest.LogCaptureFixture
) -> None:
    world = world.restart(delivery_lease_seconds=5)
    ended_burst(world)  # C1: a digest, two posts
    ended(world, 2, channel="C2")
    _c1_taken_at_the_first_wait(world)  # C1's summary is posted, its details not yet
    assert world.tracking.sender.send_due() == SendResult(sent=2)
    assert sorted(r.channel for r in world.tracking.outbox.rows() if r.status == "sent") == [
        "C2", "C2"]
    assert [m.text for _, m in marked(world)][:1] == ["<@U1> 6 jobs finished: 6 ✅"]
    assert "Details of 6 jobs" not in [m.text for _, m in marked(world)]
    assert any(m.endswith("leaving C1 to its new owner") for m in caplog.messages)
