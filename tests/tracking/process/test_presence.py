"""A death noticed at once (docs/delivery.md): a tracking worker's presence lock on
PostgreSQL, and what others do the moment it is gone. Real PostgreSQL; a process "dies"
by losing its lock connection (closed, or terminated by the server), which is what the
kernel does to a killed process's sockets. Leases here last a minute, so anything taken
before that was taken because of the lock, not because a lease ran out."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any, cast

import pytest
import sqlalchemy as sa

from bot.tracking.delivery.marking import MarkedMessenger
from bot.tracking.delivery.outbox import Outbox, track_key
from bot.tracking.delivery.sender import Sender, SenderPolicy, _Turn
from bot.tracking.process.leadership import POLLER, Leadership
from bot.tracking.process.worker import send_when_due
from bot.tracking.store import tables
from bot.tracking.store.database import Store
from bot.tracking.store.leases import Leases
from bot.tracking.store.presence import Presence, reap
from tests.fixtures.tracking import FakeClock, TrackingWorld
from tests.tracking.helpers import track

LEASE = timedelta(minutes=1)
CLAIM: dict[str, Any] = dict(lease=LEASE, limit=50)


def on_postgres(test: Callable[..., None]) -> Callable[..., None]:
    """Presence locks are PostgreSQL's: the ``store`` fixture on PostgreSQL alone."""
    only = pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
    return pytest.mark.postgres(only(test))


def _pending(outbox: Outbox, clock: FakeClock, *channels: str) -> None:
    with outbox.store.begin() as conn:
        for channel in channels:
            for job in (f"{channel}-1", f"{channel}-2"):
                outbox.enqueue(conn, kind="track", channel=channel,
                               dedupe_key=track_key(channel, job, "SUCCEED"),
                               payload={"job": {"job_id": job}}, now=clock())


def _alive(store: Store, owner: str, clock: FakeClock) -> Leadership:
    """A worker named ``owner`` that beat once, holding its presence lock."""
    leader = Leadership(Leases(store), owner, clock=clock, ttl=LEASE, presence=Presence(store))
    leader.keep()
    assert leader.presence is not None and leader.presence.key is not None
    return leader


class Idle:
    """A sender with nothing due, for ``send_when_due``."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock

    def next_due_in(self) -> None:
        return None


def _leases_until(store: Store) -> list[Any]:
    with store.begin() as conn:
        channels = conn.execute(sa.select(tables.outbox_channels.c.lease_until)).scalars()
        rows = conn.execute(sa.select(tables.outbox.c.lease_until)
                            .order_by(tables.outbox.c.id)).scalars()
        return [*channels, *rows]


def _cut(store: Store, presence: Presence) -> None:
    """The server ends the lock's session, as it does when the process dies."""
    assert presence.key is not None
    with store.begin() as conn:
        ended = conn.execute(sa.text(
            "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory'"
            " AND objid = CAST(:key AS oid) AND objsubid = 2"), {"key": presence.key}).all()
    assert ended == [(True,)]


@on_postgres
def test_a_dead_workers_channels_rows_and_poller_lease_are_taken_at_once(
    store: Store, clock: FakeClock,
) -> None:
    outbox = Outbox(store)
    _pending(outbox, clock, "C1", "C2")
    a = _alive(store, "A", clock)
    assert a.lead()
    assert outbox.claim_channels("A", now=clock(), **CLAIM) == ["C1", "C2"]
    rows = outbox.claim("A", now=clock(), lease=LEASE)
    assert outbox.begin("A", "C1", rows[0].id, now=clock(), lease=LEASE)
    b = _alive(store, "B", clock)

    assert reap(store, clock()) == []  # A lives: nothing is taken, whatever B tries
    assert outbox.claim_channels("B", now=clock(), **CLAIM) == []
    assert not b.lead()

    assert a.presence is not None
    a.presence.close()  # A dies: its connection, and with it its lock, are gone
    clock.advance(0.1)
    assert reap(store, clock()) == ["A"]
    assert Leases(store).live(clock()) == 1  # B's share is every channel now
    # The same instant, a minute before A's leases would have run out:
    assert outbox.claim_channels("B", now=clock(), **CLAIM) == ["C1", "C2"]
    taken = outbox.claim("B", now=clock(), lease=LEASE)
    assert [r.id for r in taken] == [r.id for r in rows]
    assert [r.in_doubt for r in taken] == [True, False, False, False]  # A began one post
    assert b.lead() and b.next_chance() is None
    assert reap(store, clock()) == []  # once is enough: A holds nothing any more


@on_postgres
def test_a_worker_whose_lock_is_gone_renews_nothing_even_before_it_is_reaped(
    store: Store, clock: FakeClock,
) -> None:
    outbox = Outbox(store)
    _pending(outbox, clock, "C1")
    a = _alive(store, "A", clock)
    outbox.claim_channels("A", now=clock(), **CLAIM)
    rows = outbox.claim("A", now=clock(), lease=LEASE)
    assert outbox.renew("A", "C1", [rows[0].id], now=clock(), lease=LEASE)

    assert a.presence is not None
    _cut(store, a.presence)  # A lives, but its lock's session was ended
    assert not outbox.begin("A", "C1", rows[0].id, now=clock(), lease=LEASE)
    assert not outbox.renew("A", "C1", [rows[1].id], now=clock(), lease=LEASE)
    before = _leases_until(store)
    clock.advance(1)
    outbox.keep("A", now=clock(), lease=LEASE)
    assert _leases_until(store) == before  # neither the channel's nor the rows' extended
    assert outbox.rows()[0].attempts == 0  # the refused begin counted nothing

    # Its next beat takes the lock again (the same key, free since the cut): it may
    # renew what it still holds, as nobody took it meanwhile.
    key = a.presence.key
    a.keep()
    assert a.presence.key == key
    assert outbox.begin("A", "C1", rows[0].id, now=clock(), lease=LEASE)
    assert reap(store, clock()) == []


@on_postgres
def test_a_process_that_recorded_no_lock_is_never_taken_for_dead(
    store: Store, clock: FakeClock,
) -> None:
    """The web process's sender, or any process without a lock: its leases run out."""
    outbox, leases = Outbox(store), Leases(store)
    _pending(outbox, clock, "C1")
    leases.beat("web", now=clock(), ttl=LEASE)
    outbox.claim_channels("web", now=clock(), **CLAIM)
    rows = outbox.claim("web", now=clock(), lease=LEASE)
    _alive(store, "B", clock)

    assert reap(store, clock()) == []
    assert outbox.claim_channels("B", now=clock(), **CLAIM) == []
    assert outbox.renew("web", "C1", [rows[0].id], now=clock(), lease=LEASE)


@on_postgres
def test_a_lock_is_kept_across_beats_and_let_go_when_the_worker_stops(
    store: Store, clock: FakeClock,
) -> None:
    a = _alive(store, "A", clock)
    assert a.presence is not None
    key = a.presence.key
    for _ in range(3):
        a.keep()
        assert a.presence.key == key
    assert reap(store, clock()) == []
    a.resign()
    # Stopped cleanly: it left, so nobody needs to reap it.
    assert reap(store, clock()) == []
    assert Leases(store).live(clock()) == 0


@on_postgres
def test_a_waiting_worker_wakes_the_moment_another_dies(store: Store, clock: FakeClock) -> None:
    """``send_when_due`` looks for dead workers while it waits, and returns when it finds
    one, long before the wait (or the dead one's lease) would have ended."""
    a, b = _alive(store, "A", clock), _alive(store, "B", clock)
    assert a.lead()

    reaped: list[list[str]] = []

    def looks(now: Any) -> list[str]:
        reaped.append(reap(store, now))
        return reaped[-1]

    stop = threading.Event()
    waiter = threading.Thread(target=send_when_due, args=(Idle(clock), stop), kwargs=dict(
        until=float("inf"), reap=looks, reap_every=0.05))
    waiter.start()
    try:
        assert a.presence is not None
        a.presence.close()
        waiter.join(timeout=30)
        assert not waiter.is_alive(), "still waiting after the other worker died"
    finally:
        stop.set()
        waiter.join()
    assert reaped[-1] == ["A"]
    assert b.lead()
    assert Leases(store).holder(POLLER)[0] == "B"


def test_sqlite_has_no_presence_and_reaps_nothing(sqlite_url: str, clock: FakeClock) -> None:
    store = Store(sqlite_url)
    store.migrate()
    Leases(store).beat("A", now=clock(), ttl=LEASE, lock_key=7)
    assert reap(store, clock()) == []
    store.close()



@on_postgres
def test_a_sender_that_reaps_renews_before_every_post(
    store: Store, clock: FakeClock,
) -> None:
    """The shortcut "renewed moments ago, so nobody can have taken it" is wrong once
    others may end this sender's leases early: for a sender that reaps, the second post
    of a row right after its first is refused when the lock went in between."""
    outbox = Outbox(store)
    _pending(outbox, clock, "C1")
    leader = _alive(store, "A", clock)
    outbox.claim_channels("A", now=clock(), **CLAIM)
    [row, _] = outbox.claim("A", now=clock(), lease=LEASE)
    sender = Sender(store, outbox, cast(MarkedMessenger, object()), owner="A", clock=clock,
                    policy=SenderPolicy(lease=LEASE))
    turn = _Turn("C1", deque(), leased_until=clock() + LEASE, fresh={row.id},
                 counted={row.id})
    assert leader.presence is not None
    _cut(store, leader.presence)

    assert sender._may_post(turn, clock(), row)  # the shortcut: no look at the database
    sender.reap = lambda now: []
    assert not sender._may_post(turn, clock(), row)


def test_a_look_that_fails_is_logged_and_the_wait_goes_on(
    clock: FakeClock, caplog: pytest.LogCaptureFixture,
) -> None:
    """The database away: the waiting worker logs each failed look and waits its time
    out, as it did before presence locks (its leases run out as they always did)."""
    def unreachable(now: Any) -> list[str]:
        raise sa.exc.OperationalError("SELECT pg_locks", {}, Exception("gone"))

    with caplog.at_level(logging.WARNING, logger="bot.tracking.process.worker"):
        started = time.monotonic()
        send_when_due(cast(Sender, Idle(clock)), threading.Event(),
                      until=started + 0.3, reap=unreachable, reap_every=0.05)
    assert time.monotonic() - started >= 0.3
    assert len(caplog.records) >= 3
    assert {r.getMessage() for r in caplog.records} == {"could not look for dead processes"}


def test_a_pass_whose_look_fails_still_sends(world: TrackingWorld,
                                             caplog: pytest.LogCaptureFixture) -> None:
    job = world.running()
    track(world, job)
    world.sim.set_state(job, "SUCCEED")
    world.tracking.poller.poll()

    def unreachable(now: Any) -> list[str]:
        raise sa.exc.OperationalError("SELECT pg_locks", {}, Exception("gone"))

    world.tracking.sender.reap = unreachable
    with caplog.at_level(logging.WARNING, logger="bot.tracking.delivery.sender"):
        assert world.tracking.sender.send_due().sent == 1
    assert "could not look for dead senders; their leases run out by themselves" in (
        caplog.messages)


def _two_channels(world: TrackingWorld, c1_jobs: int) -> tuple[TrackingWorld, Leadership]:
    """``c1_jobs`` ends to post in C1 (one a second) and one in C2, whose channel and row
    a sender named "dead" holds for a minute (alive for now)."""
    world = world.restart(digest_threshold=100, delivery_channel_rate=1)
    c1, c2 = [world.running() for _ in range(c1_jobs)], [world.running()]
    if c1:
        track(world, *c1, channel="C1")
    track(world, *c2, channel="C2")
    for job in c1 + c2:
        world.sim.set_state(job, "SUCCEED")
    world.tracking.poller.poll()
    store, outbox = world.tracking.store, world.tracking.outbox
    dead = _alive(store, "dead", world.clock)
    outbox.claim_channels("dead", now=world.clock(), **CLAIM)
    outbox.claim("dead", now=world.clock(), lease=LEASE, channel="C2")
    if c1:
        outbox.release_channel("C1", "dead", hold_until=None)
    sender = world.tracking.sender
    sender.policy = replace(sender.policy, keep_alive=True)
    sender.reap = lambda now: reap(store, now)
    return world, dead


@on_postgres
def test_a_pass_takes_the_channel_of_a_sender_dead_before_it(world: TrackingWorld) -> None:
    world, dead = _two_channels(world, c1_jobs=0)
    assert dead.presence is not None
    dead.presence.close()
    assert world.tracking.sender.send_due().sent == 1  # not a minute later


@on_postgres
def test_a_pass_takes_the_channel_of_a_sender_dead_during_it(world: TrackingWorld) -> None:
    """A's pass paces three posts in C1; the sender holding C2 dies after the first. A
    takes C2 at its next top-up, between two of C1's posts."""
    world, dead = _two_channels(world, c1_jobs=3)
    assert dead.presence is not None
    world.tracking.sender.meanwhile = dead.presence.close
    assert world.tracking.sender.send_due().sent == 4
    assert {m.channel for m in world.slack.posts() if m.metadata} == {"C1", "C2"}


@on_postgres
def test_a_lease_ending_at_the_very_moment_is_ended_too(store: Store, clock: FakeClock) -> None:
    """A claim takes only leases that ended before its moment: one ending exactly then
    is moved back as well, so the claim of that same moment takes it."""
    outbox = Outbox(store)
    _pending(outbox, clock, "C1")
    a = _alive(store, "A", clock)
    assert outbox.claim_channels("A", now=clock(), lease=timedelta(0), limit=50) == ["C1"]
    assert a.presence is not None
    a.presence.close()
    assert reap(store, clock()) == ["A"]
    assert outbox.claim_channels("B", now=clock(), **CLAIM) == ["C1"]
