"""One poller per database, take-over within a lease, and senders sharing the channels
(docs/polling.md, "One poller per database"; docs/delivery.md, "Leases kept alive" and
"Sharing the channels").

Time is the test's clock: a process "dies" by no longer renewing, and its leases run out
when the clock passes them. The real processes at the end are killed for real.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from bot.tracking.delivery.outbox import Outbox, track_key
from bot.tracking.process.leadership import POLLER, Leadership
from bot.tracking.process.worker import Tracking
from bot.tracking.store.database import Store
from bot.tracking.store.leases import Leases
from bot.tracking.store.tables import live_processes
from bot.wiring.tracking import build_tracking
from tests.fixtures.tracking import FakeClock, TrackingWorld
from tests.tracking.helpers import track

TTL = timedelta(seconds=3)


def _second(world: TrackingWorld, owner: str) -> Tracking:
    """Another process's tracking on the world's database, named ``owner``."""
    return build_tracking(world.settings, world.client, world.messenger, clock=world.clock,
                          sleep=world.clock.sleep, owner=owner)


def _lead(tracking: Tracking, owner: str, clock: FakeClock) -> Leadership:
    tracking.leader = Leadership(Leases(tracking.store), owner, clock=clock, ttl=TTL)
    return tracking.leader


def _polls(world: TrackingWorld, tracking: Tracking) -> int:
    """How many MetaStudio list requests one cycle of ``tracking`` made."""
    before = len(world.sim.requests)
    tracking.run_once()
    return len(world.list_requests(before))


# -- the poller lease ----------------------------------------------------------------------


def test_only_the_lease_holder_polls_and_another_takes_over_once_it_stops_renewing(
    world: TrackingWorld,
) -> None:
    track(world, world.running(), world.running())
    a, b = world.tracking, _second(world, "B")
    leader_a, leader_b = _lead(a, "A", world.clock), _lead(b, "B", world.clock)

    assert _polls(world, a) > 0
    assert _polls(world, b) == 0  # A holds the lease: B only sends
    world.clock.advance(2)
    leader_a.keep()  # A is alive: its lease runs 3 s from now
    world.clock.advance(2)
    assert _polls(world, b) == 0
    assert leader_b.next_chance() == 1.0  # when B may try again: A's lease ends then

    world.clock.advance(1.5)  # A died 3.5 s ago without renewing: its lease ran out
    assert _polls(world, b) > 0
    assert Leases(b.store).holder(POLLER)[0::2] == ("B", 2)  # changed hands twice

    leader_a.keep()  # A comes back: its renewal changes nothing
    assert not leader_a.leading
    assert _polls(world, a) == 0
    assert Leases(a.store).holder(POLLER)[0] == "B"

    leader_b.resign()  # B stops cleanly: A takes over at once, not a lease later
    assert _polls(world, a) > 0
    b.store.close()


def test_two_processes_racing_for_the_lease_get_it_once(store: Store, clock: FakeClock) -> None:
    leases = Leases(store)
    assert [leases.take(POLLER, o, now=clock(), ttl=TTL) for o in ("A", "B", "A", "B")] == [
        True, False, True, False]
    clock.advance(3)  # at the last moment of A's lease it is still A's
    assert not leases.take(POLLER, "B", now=clock(), ttl=TTL)
    clock.advance(0.001)
    assert leases.take(POLLER, "B", now=clock(), ttl=TTL)
    assert not leases.renew(POLLER, "A", now=clock(), ttl=TTL)
    leases.release(POLLER, "A")  # a stale owner cannot let go of B's lease either
    assert leases.holder(POLLER)[0] == "B"


def test_liveness_counts_the_processes_that_beat_within_their_lease(
    store: Store, clock: FakeClock,
) -> None:
    leases = Leases(store)
    leases.beat("A", now=clock(), ttl=TTL)
    leases.beat("B", now=clock(), ttl=TTL)
    assert leases.live(clock()) == 2
    clock.advance(2)
    leases.beat("A", now=clock(), ttl=TTL)
    clock.advance(2)
    assert leases.live(clock()) == 1  # B stopped beating 4 s ago
    leases.leave("A")
    assert leases.live(clock()) == 0


# -- channel leases ---------------------------------------------------------------------------


def _pending(outbox: Outbox, clock: FakeClock, *channels: str) -> None:
    with outbox.store.begin() as conn:
        for channel in channels:
            outbox.enqueue(conn, kind="track", channel=channel,
                           dedupe_key=track_key(channel, f"job-{channel}", "SUCCEED"),
                           payload={"job": {"job_id": f"job-{channel}"}}, now=clock())


def test_a_dead_senders_channels_are_taken_once_its_leases_run_out_never_while_it_lives(
    outbox: Outbox, clock: FakeClock,
) -> None:
    _pending(outbox, clock, "C1", "C2")
    claim: dict[str, Any] = dict(lease=TTL, limit=50)
    assert outbox.claim_channels("A", now=clock(), **claim) == ["C1", "C2"]
    rows = outbox.claim("A", now=clock(), lease=TTL)
    assert outbox.begin("A", "C1", rows[0].id, now=clock(), lease=TTL)  # its first post

    for _ in range(3):  # alive: kept every 2 s, B never gets in
        clock.advance(2)
        outbox.keep("A", now=clock(), lease=TTL)
        assert outbox.claim_channels("B", now=clock(), **claim) == []
        assert outbox.claim("B", now=clock(), lease=TTL) == []

    clock.advance(3.5)  # A died: nobody renewed for longer than the lease
    assert outbox.claim_channels("B", now=clock(), **claim) == ["C1", "C2"]
    taken = outbox.claim("B", now=clock(), lease=TTL)
    assert [r.id for r in taken] == [r.id for r in rows]
    # B looks for the marker of the row A began before posting it; the one A never
    # began it posts at once.
    assert [r.in_doubt for r in taken] == [True, False]

    # A comes back: none of its writes land, so it posts nothing more.
    outbox.keep("A", now=clock(), lease=TTL)
    assert {r.lease_owner for r in outbox.rows()} == {"B"}
    assert not outbox.renew("A", "C1", [rows[0].id], now=clock(), lease=TTL)
    assert not outbox.begin("A", "C1", rows[1].id, now=clock(), lease=TTL)
    assert not outbox.mark_sent(rows[0], "A", "1.1", now=clock())
    assert outbox.renew("B", "C1", [rows[0].id], now=clock(), lease=TTL)
    assert outbox.mark_sent(taken[0], "B", "1.2", now=clock())


def test_each_sender_claims_its_fair_share_of_the_channels_with_due_rows(
    outbox: Outbox, clock: FakeClock,
) -> None:
    channels = [f"C{i}" for i in range(1, 8)]
    _pending(outbox, clock, *channels)
    claim: dict[str, Any] = dict(now=clock(), lease=TTL, limit=50)
    a = outbox.claim_channels("A", senders=2, **claim)
    b = outbox.claim_channels("B", senders=2, **claim)
    assert (len(a), len(b)) == (4, 3)  # ceil(7 / 2), then what is left
    assert sorted(a + b) == sorted(channels)
    assert outbox.claim_channels("C", senders=2, **claim) == []
    # Alone, a sender takes every channel (up to the pass's limit).
    clock.advance(4)
    assert len(outbox.claim_channels("A", senders=1, now=clock(), lease=TTL, limit=50)) == 7


def test_two_live_senders_each_post_to_their_half_of_the_channels(
    world: TrackingWorld,
) -> None:
    world = world.restart(digest_threshold=100, delivery_channel_rate=1000)
    ids = {channel: [world.running()] for channel in ("C1", "C2", "C3", "C4")}
    for channel, jobs in ids.items():
        track(world, *jobs, channel=channel)
    for jobs in ids.values():
        world.sim.set_state(jobs[0], "SUCCEED")
    world.tracking.poller.poll()
    leases = Leases(world.tracking.store)
    for owner in ("A", "B"):
        leases.beat(owner, now=world.clock(), ttl=TTL)
    a, b = world.tracking.sender, _second(world, "B").sender
    a.senders = b.senders = lambda: leases.live(world.clock())

    assert a.send_due().sent == 2
    told = {m.channel for m in world.slack.posts() if m.metadata}
    assert len(told) == 2
    # B's share is of what is due now: half of the two channels left, then the other.
    assert [b.send_due().sent, b.send_due().sent] == [1, 1]
    assert {m.channel for m in world.slack.posts() if m.metadata} == set(ids)
    b.store.close()


def test_a_pass_under_way_takes_a_dead_senders_channel_once_its_lease_runs_out(
    world: TrackingWorld,
) -> None:
    """A's pass paces three posts in C1 (one a second); C2's lease belongs to a sender
    that died a moment ago. A does not leave C2 for its next pass: it takes it mid-pass,
    as soon as the dead sender's lease has run out."""
    world = world.restart(digest_threshold=100, delivery_channel_rate=1)
    c1 = [world.running() for _ in range(3)]
    c2 = [world.running()]
    track(world, *c1, channel="C1")
    track(world, *c2, channel="C2")
    for job in c1 + c2:
        world.sim.set_state(job, "SUCCEED")
    world.tracking.poller.poll()
    outbox, short = world.tracking.outbox, timedelta(seconds=1)
    assert outbox.claim_channels("dead", now=world.clock(), lease=short, limit=50) == [
        "C1", "C2"]
    outbox.claim("dead", now=world.clock(), lease=short, channel="C2")
    outbox.release_channel("C1", "dead", hold_until=None)  # it died holding C2 only
    sender = world.tracking.sender
    sender.policy = replace(sender.policy, keep_alive=True)

    result = sender.send_due()

    assert result.sent == 4  # C2's too, in this pass
    assert {m.channel for m in world.slack.posts() if m.metadata} == {"C1", "C2"}


def test_a_long_pass_polls_when_a_poll_is_due(world: TrackingWorld) -> None:
    polls: list[float] = []
    world.tracking.poller.poll = lambda: polls.append(1)  # type: ignore[method-assign]
    world.tracking.interval = 3600.0
    world.tracking.poll()
    world.tracking.poll_if_due()
    assert len(polls) == 1  # the interval has not passed
    world.tracking.interval = 0.0
    world.tracking.poll_if_due()
    assert len(polls) == 2


def test_leases_are_kept_alive_and_shared_on_the_real_clock_only(
    world: TrackingWorld,
) -> None:
    settings = world.settings.model_copy(update={"poll_lease_seconds": 7.0})
    real = build_tracking(settings, world.client, world.messenger)
    assert real.sender.policy.keep_alive
    assert real.leader is not None and real.leader.ttl == timedelta(seconds=7)
    assert real.leader.owner == real.sender.owner
    assert world.tracking.leader is None  # the test's clock: leases driven by hand
    assert not world.tracking.sender.policy.keep_alive
    real.store.close()


def test_a_process_killed_long_ago_is_forgotten_when_another_starts(
    store: Store, clock: FakeClock,
) -> None:
    leases = Leases(store)
    leases.beat("killed", now=clock(), ttl=TTL)
    clock.advance(3600 + 4)
    leases.beat("new", now=clock(), ttl=TTL)
    with store.begin() as conn:
        owners = set(conn.execute(sa.select(live_processes.c.owner)).scalars())
    assert owners == {"new"}
