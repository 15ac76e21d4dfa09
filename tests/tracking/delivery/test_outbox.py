"""Outbox leases: one owner per row, a dead owner's rows come back after the lease."""

from __future__ import annotations

from datetime import timedelta

from bot.tracking.delivery.outbox import Outbox
from bot.tracking.store.database import Store
from tests.fixtures.tracking import T0

LEASE = timedelta(minutes=2)


def _enqueue(store: Store, outbox: Outbox, n: int) -> None:
    with store.begin() as conn:
        for i in range(n):
            outbox.enqueue(conn, kind="sub", channel="C1", dedupe_key=f"k{i}",
                           payload={}, now=T0)


def test_claimed_rows_are_not_claimed_again_while_leased(store: Store, outbox: Outbox) -> None:
    _enqueue(store, outbox, 3)
    first = outbox.claim("a", now=T0, lease=LEASE, limit=2)
    second = outbox.claim("b", now=T0, lease=LEASE)
    assert [r.dedupe_key for r in first] == ["k0", "k1"]
    assert [r.dedupe_key for r in second] == ["k2"]
    assert outbox.claim("c", now=T0 + LEASE / 2, lease=LEASE) == []


def test_an_expired_lease_is_claimed_again_and_marked_in_doubt(
    store: Store, outbox: Outbox
) -> None:
    _enqueue(store, outbox, 1)
    [first] = outbox.claim("dead", now=T0, lease=LEASE)
    assert not first.in_doubt
    [again] = outbox.claim("alive", now=T0 + LEASE + timedelta(seconds=1), lease=LEASE)
    assert again.in_doubt and again.attempts == 2
    assert not outbox.mark_sent(first, "dead", "1.1", now=T0)  # the dead owner lost it
    assert outbox.mark_sent(again, "alive", "1.2", now=T0)
    assert [(r.status, r.posted_ts) for r in outbox.rows()] == [("sent", "1.2")]


def test_rescheduled_rows_wait_until_their_time(store: Store, outbox: Outbox) -> None:
    _enqueue(store, outbox, 1)
    [row] = outbox.claim("a", now=T0, lease=LEASE)
    outbox.reschedule(row, "a", at=T0 + timedelta(seconds=30), error="429", failure=False)
    assert outbox.claim("a", now=T0 + timedelta(seconds=29), lease=LEASE) == []
    [again] = outbox.claim("a", now=T0 + timedelta(seconds=30), lease=LEASE)
    assert again.failures == 0 and again.last_error == "429"
    assert outbox.depth() == 1


def test_a_channel_is_leased_to_one_sender_at_a_time(store: Store, outbox: Outbox) -> None:
    _enqueue(store, outbox, 2)
    assert outbox.claim_channels("a", now=T0, lease=LEASE, limit=10) == ["C1"]
    assert outbox.claim_channels("b", now=T0 + LEASE / 2, lease=LEASE, limit=10) == []
    later = T0 + LEASE + timedelta(seconds=1)
    assert outbox.claim_channels("b", now=later, lease=LEASE, limit=10) == ["C1"]


def test_renewing_fails_once_another_sender_took_the_channel(
    store: Store, outbox: Outbox
) -> None:
    _enqueue(store, outbox, 1)
    outbox.claim_channels("a", now=T0, lease=LEASE, limit=10)
    assert outbox.renew("a", "C1", [], now=T0 + LEASE / 2, lease=LEASE)
    later = T0 + LEASE * 2
    assert outbox.claim_channels("b", now=later, lease=LEASE, limit=10) == ["C1"]
    assert not outbox.renew("a", "C1", [], now=later, lease=LEASE)
    assert outbox.renew("b", "C1", [], now=later, lease=LEASE)


def test_renewing_fails_once_another_sender_took_the_row(store: Store, outbox: Outbox) -> None:
    _enqueue(store, outbox, 1)
    outbox.claim_channels("a", now=T0, lease=LEASE, limit=10)
    [row] = outbox.claim("a", now=T0, lease=LEASE, channel="C1")
    assert outbox.renew("a", "C1", [row.id], now=T0, lease=LEASE)
    later = T0 + LEASE * 2
    [taken] = outbox.claim("b", now=later, lease=LEASE)  # a sender that took only rows
    assert not outbox.renew("a", "C1", [row.id], now=later, lease=LEASE)
    assert outbox.rows()[0].lease_owner == "b"  # and a's failed renewal changed nothing
    assert taken.in_doubt


def test_a_held_channel_is_not_claimed_until_its_hold_ends(store: Store, outbox: Outbox) -> None:
    _enqueue(store, outbox, 1)
    outbox.hold_channel("C1", T0 + timedelta(seconds=30), "Retry-After")
    assert outbox.claim_channels("a", now=T0 + timedelta(seconds=29), lease=LEASE, limit=9) == []
    assert outbox.claim_channels("a", now=T0 + timedelta(seconds=30), lease=LEASE,
                                 limit=9) == ["C1"]
    assert outbox.channel_hold("C1") == (T0 + timedelta(seconds=30), "Retry-After")
