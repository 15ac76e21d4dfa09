"""The outbox on SQLite and PostgreSQL: its keys; which rows a claim takes, one owner per
row, and a dead owner's rows coming back after the lease; channel leases, holds and the
workspace pause; what a digest folds and records; and that every write by a sender
re-checks its lease."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import sqlalchemy as sa

from bot.tracking.delivery.outbox import Notification, Outbox, subscription_key, track_key
from bot.tracking.store.database import Store
from bot.tracking.store.tables import delivery_state, outbox_channels
from bot.tracking.store.tables import outbox as table
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


def test_an_expired_lease_whose_post_began_is_claimed_again_in_doubt(
    store: Store, outbox: Outbox
) -> None:
    _enqueue(store, outbox, 1)
    outbox.claim_channels("dead", now=T0, lease=LEASE, limit=1)
    [first] = outbox.claim("dead", now=T0, lease=LEASE)
    assert not first.in_doubt
    assert outbox.begin("dead", "C1", first.id, now=T0, lease=LEASE)  # then it died
    later = T0 + LEASE + timedelta(seconds=1)
    [again] = outbox.claim("alive", now=later, lease=LEASE)
    assert again.in_doubt and again.attempts == 1
    assert not outbox.mark_sent(first, "dead", "1.1", now=T0)  # the dead owner lost it
    assert outbox.mark_sent(again, "alive", "1.2", now=T0)
    assert [(r.status, r.posted_ts) for r in outbox.rows()] == [("sent", "1.2")]


def test_an_expired_lease_whose_post_never_began_is_claimed_again_not_in_doubt(
    store: Store, outbox: Outbox
) -> None:
    # The sender died while the row waited for its turn (pacing, other rows first):
    # nothing of it can be in Slack, so whoever takes it over posts it without looking.
    _enqueue(store, outbox, 1)
    outbox.claim("dead", now=T0, lease=LEASE)
    [again] = outbox.claim("alive", now=T0 + LEASE + timedelta(seconds=1), lease=LEASE)
    assert not again.in_doubt and again.attempts == 0


def test_beginning_a_post_counts_it_once_and_renews_both_leases(
    store: Store, outbox: Outbox
) -> None:
    _enqueue(store, outbox, 2)
    outbox.claim_channels("a", now=T0, lease=LEASE, limit=1)
    k0, _ = outbox.claim("a", now=T0, lease=LEASE)
    later = T0 + LEASE / 2
    assert outbox.begin("a", "C1", k0.id, now=later, lease=LEASE)
    rows = _by_key(outbox)
    assert (rows["k0"].attempts, _utc(rows["k0"].lease_until)) == (1, later + LEASE)
    assert (rows["k1"].attempts, _utc(rows["k1"].lease_until)) == (0, T0 + LEASE)
    with store.begin() as conn:
        until = conn.execute(sa.select(outbox_channels.c.lease_until)).scalar_one()
    assert _utc(until) == later + LEASE


def test_a_post_is_not_begun_once_another_sender_took_the_row_or_channel(
    store: Store, outbox: Outbox
) -> None:
    _enqueue(store, outbox, 2)
    outbox.claim_channels("a", now=T0, lease=LEASE, limit=1)
    k0, k1 = outbox.claim("a", now=T0, lease=LEASE)
    later = T0 + LEASE * 2
    outbox.claim("b", now=later, lease=LEASE, limit=1)  # took k0 (rows only)
    assert not outbox.begin("a", "C1", k0.id, now=later, lease=LEASE)
    assert outbox.claim_channels("b", now=later, lease=LEASE, limit=1) == ["C1"]
    assert not outbox.begin("a", "C1", k1.id, now=later, lease=LEASE)  # channel gone
    # Neither refusal counted anything.
    assert {r.dedupe_key: r.attempts for r in outbox.rows()} == {"k0": 0, "k1": 0}


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
    assert not taken.in_doubt  # renewing is not beginning a post


def test_a_held_channel_is_not_claimed_until_its_hold_ends(store: Store, outbox: Outbox) -> None:
    _enqueue(store, outbox, 1)
    outbox.hold_channel("C1", T0 + timedelta(seconds=30), "Retry-After")
    assert outbox.claim_channels("a", now=T0 + timedelta(seconds=29), lease=LEASE, limit=9) == []
    assert outbox.claim_channels("a", now=T0 + timedelta(seconds=30), lease=LEASE,
                                 limit=9) == ["C1"]
    assert outbox.channel_hold("C1") == (T0 + timedelta(seconds=30), "Retry-After")


def _utc(moment: datetime | None) -> datetime | None:
    """SQLite hands back naive UTC times, PostgreSQL aware ones."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def _add(store: Store, outbox: Outbox, key: str, *, channel: str = "C1",
         kind: str = "sub", now: datetime = T0, payload: dict | None = None) -> bool:
    with store.begin() as conn:
        return outbox.enqueue(conn, kind=kind, channel=channel, dedupe_key=key,
                              payload=payload if payload is not None else {"k": key},
                              now=now)


def _by_key(outbox: Outbox) -> dict[str, Notification]:
    return {r.dedupe_key: r for r in outbox.rows()}


def test_keys_name_the_kind_channel_job_and_state() -> None:
    assert track_key("C1", "j1", "SUCCEED") == "track:C1:j1:SUCCEED"
    assert subscription_key("C1", "j1", "FAILED") == "sub:C1:j1:FAILED"


def test_enqueue_writes_a_pending_row_once_per_key(store: Store, outbox: Outbox) -> None:
    assert _add(store, outbox, "k", kind="track", payload={"job": "j1"})
    assert not _add(store, outbox, "k", kind="sub", channel="C2", payload={"job": "j2"})
    [row] = outbox.rows()
    assert (row.kind, row.channel, row.dedupe_key, row.payload) == (
        "track", "C1", "k", {"job": "j1"})
    assert (row.status, row.attempts, row.failures) == ("pending", 0, 0)
    assert _utc(row.next_attempt_at) == T0 and _utc(row.created_at) == T0
    assert row.lease_owner is None and row.lease_until is None and row.digest_id is None


def test_claim_takes_only_due_pending_rows_oldest_first(store: Store, outbox: Outbox) -> None:
    _add(store, outbox, "later", now=T0 + timedelta(seconds=10))
    _add(store, outbox, "due")
    _add(store, outbox, "sent")
    _add(store, outbox, "failed")
    outbox.claim_channels("a", now=T0, lease=LEASE, limit=1)
    claimed = {r.dedupe_key: r for r in outbox.claim("a", now=T0, lease=LEASE)}
    sent, failed = claimed["sent"], claimed["failed"]
    assert outbox.begin("a", "C1", claimed["due"].id, now=T0, lease=LEASE)  # then died
    assert outbox.mark_sent(sent, "a", "1.1", now=T0)
    outbox.fail(failed, "a", "gone")
    # "due" is leased by "a" until T0 + LEASE; let it run out.
    after = T0 + LEASE + timedelta(seconds=1)
    claimed = outbox.claim("b", now=after, lease=LEASE)
    assert [r.dedupe_key for r in claimed] == ["later", "due"]
    assert all(r.lease_owner == "b" and _utc(r.lease_until) == after + LEASE
               for r in claimed)
    assert [r.attempts for r in claimed] == [0, 1]  # "due" was begun under a's claim


def test_a_row_becomes_due_exactly_at_its_time(store: Store, outbox: Outbox) -> None:
    _add(store, outbox, "k", now=T0 + timedelta(seconds=10))
    assert outbox.claim("a", now=T0 + timedelta(seconds=9), lease=LEASE) == []
    [row] = outbox.claim("a", now=T0 + timedelta(seconds=10), lease=LEASE)
    assert row.attempts == 0 and not row.in_doubt


def test_a_lease_is_held_until_it_has_run_out(store: Store, outbox: Outbox) -> None:
    _add(store, outbox, "k")
    outbox.claim("a", now=T0, lease=LEASE)
    assert outbox.claim("b", now=T0 + LEASE, lease=LEASE) == []  # ends at, not before
    [row] = outbox.claim("b", now=T0 + LEASE + timedelta(microseconds=1), lease=LEASE)
    assert row.lease_owner == "b"


def test_the_default_claim_takes_two_hundred_rows(store: Store, outbox: Outbox) -> None:
    with store.begin() as conn:
        for i in range(201):
            outbox.enqueue(conn, kind="sub", channel="C1", dedupe_key=f"k{i:03}",
                           payload={}, now=T0)
    first = outbox.claim("a", now=T0, lease=LEASE)
    assert len(first) == 200 and first[0].dedupe_key == "k000"
    assert [r.dedupe_key for r in outbox.claim("b", now=T0, lease=LEASE)] == ["k200"]


def _folded(store: Store, outbox: Outbox, channel: str = "C1") -> tuple[
        list[Notification], Notification]:
    for key in ("m0", "m1", "m2"):
        _add(store, outbox, key, channel=channel)
    members = outbox.claim("a", now=T0, lease=LEASE)
    digest = outbox.form_digest("a", members, now=T0, lease=LEASE)
    assert digest is not None
    return members, digest


def test_a_digest_records_its_members_and_is_leased_to_its_former(
    store: Store, outbox: Outbox
) -> None:
    members, digest = _folded(store, outbox, channel="C7")
    assert (digest.kind, digest.channel, digest.payload) == ("digest", "C7", {"count": 3})
    assert digest.dedupe_key == f"digest:C7:{members[0].id}"
    assert (digest.status, digest.attempts, digest.failures) == ("pending", 0, 0)
    assert digest.lease_owner == "a" and _utc(digest.lease_until) == T0 + LEASE
    assert _utc(digest.next_attempt_at) == T0 and _utc(digest.created_at) == T0
    assert [m.dedupe_key for m in outbox.members(digest.id)] == ["m0", "m1", "m2"]
    assert all(m.digest_id == digest.id for m in outbox.members(digest.id))
    # Members travel with the digest: never claimed alone, not even after the lease.
    later = outbox.claim("b", now=T0 + LEASE * 3, lease=LEASE)
    assert [r.id for r in later] == [digest.id]
    assert outbox.depth() == 3


def test_a_digest_is_not_formed_over_a_lost_lease(store: Store, outbox: Outbox) -> None:
    for key in ("m0", "m1"):
        _add(store, outbox, key)
    members = outbox.claim("a", now=T0, lease=LEASE)
    outbox.claim("b", now=T0 + LEASE * 2, lease=LEASE)  # b took both over
    assert outbox.form_digest("a", members, now=T0, lease=LEASE) is None
    assert [r.kind for r in outbox.rows()] == ["sub", "sub"]  # no digest row left
    assert all(r.digest_id is None for r in outbox.rows())


def test_a_member_of_one_digest_is_not_folded_into_another(
    store: Store, outbox: Outbox
) -> None:
    for key in ("m0", "m1", "m2"):
        _add(store, outbox, key)
    m0, m1, m2 = outbox.claim("a", now=T0, lease=LEASE)
    digest = outbox.form_digest("a", [m1, m2], now=T0, lease=LEASE)
    assert digest is not None
    assert outbox.form_digest("a", [m0, m1], now=T0, lease=LEASE) is None
    assert [r.id for r in outbox.rows() if r.kind == "digest"] == [digest.id]
    assert [m.dedupe_key for m in outbox.members(digest.id)] == ["m1", "m2"]
    assert _by_key(outbox)["m0"].digest_id is None


def test_a_settled_row_is_not_folded(store: Store, outbox: Outbox) -> None:
    for key in ("m0", "m1"):
        _add(store, outbox, key)
    members = outbox.claim("a", now=T0, lease=LEASE)
    outbox.fail(members[0], "a", "boom")
    outbox.reschedule(members[1], "a", at=T0, error="x", failure=False)
    # Failed, or released: neither is "a"'s pending row any more.
    again = outbox.claim("a", now=T0, lease=LEASE)
    assert [r.dedupe_key for r in again] == ["m1"]
    assert outbox.form_digest("a", members, now=T0, lease=LEASE) is None


def test_sending_a_digest_settles_its_members_and_not_others(
    store: Store, outbox: Outbox
) -> None:
    _, digest = _folded(store, outbox)
    _add(store, outbox, "other")
    assert outbox.mark_posted(digest, "a", "9.0")
    assert outbox.mark_sent(digest, "a", "9.9", now=T0 + timedelta(seconds=5))
    rows = _by_key(outbox)
    for key in ("m0", "m1", "m2"):
        assert (rows[key].status, rows[key].posted_ts) == ("sent", "9.9")
        assert _utc(rows[key].sent_at) == T0 + timedelta(seconds=5)
    done = rows[digest.dedupe_key]
    assert (done.status, done.posted_ts, done.lease_owner, done.lease_until) == (
        "sent", "9.9", None, None)
    assert _utc(done.sent_at) == T0 + timedelta(seconds=5)
    assert (rows["other"].status, rows["other"].posted_ts) == ("pending", None)
    assert outbox.depth() == 1
    assert not outbox.mark_sent(digest, "a", "9.9", now=T0)  # already sent


def test_sending_a_plain_row_leaves_the_digests_members_alone(
    store: Store, outbox: Outbox
) -> None:
    _folded(store, outbox)
    # Only a digest's mark_sent settles the rows that point at it: point a member at a
    # plain row and send that row.
    _add(store, outbox, "plain")
    [plain] = outbox.claim("b", now=T0, lease=LEASE)
    with store.begin() as conn:
        conn.execute(table.update().where(table.c.dedupe_key == "m0")
                     .values(digest_id=plain.id))
    assert outbox.mark_sent(plain, "b", "1.0", now=T0)
    assert _by_key(outbox)["m0"].status == "pending"


def test_a_sender_that_lost_the_lease_changes_nothing(store: Store, outbox: Outbox) -> None:
    _add(store, outbox, "k")
    [mine] = outbox.claim("a", now=T0, lease=LEASE)
    [theirs] = outbox.claim("b", now=T0 + LEASE * 2, lease=LEASE)
    assert not outbox.mark_posted(mine, "a", "1.1")
    assert not outbox.mark_sent(mine, "a", "1.1", now=T0)
    outbox.reschedule(mine, "a", at=T0 + timedelta(hours=1), error="late", failure=True)
    outbox.fail(mine, "a", "late")
    [row] = outbox.rows()
    assert (row.status, row.lease_owner, row.posted_ts, row.last_error, row.failures) == (
        "pending", "b", None, None, 0)
    assert _utc(row.next_attempt_at) == T0
    assert outbox.mark_posted(theirs, "b", "2.2")
    assert outbox.rows()[0].posted_ts == "2.2" and outbox.rows()[0].status == "pending"


def test_reschedule_releases_the_row_and_counts_failures(
    store: Store, outbox: Outbox
) -> None:
    _add(store, outbox, "k")
    [row] = outbox.claim("a", now=T0, lease=LEASE)
    outbox.reschedule(row, "a", at=T0 + timedelta(seconds=5), error="500", failure=True)
    [after] = outbox.rows()
    assert (after.failures, after.last_error, after.lease_owner, after.lease_until) == (
        1, "500", None, None)
    assert _utc(after.next_attempt_at) == T0 + timedelta(seconds=5)
    [again] = outbox.claim("b", now=T0 + timedelta(seconds=5), lease=LEASE)
    outbox.reschedule(again, "b", at=T0, error="429", failure=False)
    assert outbox.rows()[0].failures == 1


def test_a_sent_row_forgets_its_last_error(store: Store, outbox: Outbox) -> None:
    _add(store, outbox, "k")
    [row] = outbox.claim("a", now=T0, lease=LEASE)
    outbox.reschedule(row, "a", at=T0, error="500", failure=True)
    [again] = outbox.claim("a", now=T0, lease=LEASE)
    assert outbox.mark_sent(again, "a", "1.0", now=T0)
    assert outbox.rows()[0].last_error is None


def test_failing_a_digest_fails_its_members(store: Store, outbox: Outbox) -> None:
    _, digest = _folded(store, outbox)
    _add(store, outbox, "other")
    outbox.fail(digest, "a", "channel_not_found")
    rows = _by_key(outbox)
    for key in ("m0", "m1", "m2", digest.dedupe_key):
        assert (rows[key].status, rows[key].last_error) == ("failed", "channel_not_found")
    assert rows[digest.dedupe_key].lease_owner is None
    assert rows[digest.dedupe_key].lease_until is None
    assert rows["other"].status == "pending"
    assert [r.dedupe_key for r in outbox.failed("C1")] == ["m0", "m1", "m2"]
    assert outbox.depth() == 1


def test_pausing_a_channel_fails_only_its_waiting_rows(store: Store, outbox: Outbox) -> None:
    _add(store, outbox, "waiting")
    _add(store, outbox, "leased")
    _add(store, outbox, "done")
    _add(store, outbox, "elsewhere", channel="C2")
    rows = outbox.claim("a", now=T0, lease=LEASE, limit=3)
    done = next(r for r in rows if r.dedupe_key == "done")
    assert outbox.mark_sent(done, "a", "1.0", now=T0)
    outbox.pause_channel("C1", "not_in_channel")
    after = _by_key(outbox)
    for key in ("waiting", "leased"):
        assert after[key].status == "failed"
        assert after[key].last_error == "channel paused: not_in_channel"
        assert after[key].lease_owner is None and after[key].lease_until is None
    assert (after["done"].status, after["done"].last_error) == ("sent", None)
    assert after["elsewhere"].status == "pending"
    assert [r.dedupe_key for r in outbox.failed("C1")] == ["waiting", "leased"]
    assert outbox.failed("C2") == []
    assert outbox.depth() == 1


def test_depth_counts_only_waiting_notifications(store: Store, outbox: Outbox) -> None:
    assert outbox.depth() == 0
    _add(store, outbox, "a")
    _add(store, outbox, "b")
    _add(store, outbox, "c", channel="C2")
    assert outbox.depth() == 3
    [first, *_] = outbox.claim("x", now=T0, lease=LEASE, limit=1)
    assert outbox.depth() == 3  # leased still waits
    assert outbox.mark_sent(first, "x", "1.0", now=T0)
    assert outbox.depth() == 2


def test_rescheduling_one_row_leaves_the_senders_other_rows_leased(
    store: Store, outbox: Outbox
) -> None:
    # A 429 on one message must not push back everything the sender holds.
    _add(store, outbox, "limited")
    _add(store, outbox, "other")
    limited, _ = outbox.claim("a", now=T0, lease=LEASE)
    outbox.reschedule(limited, "a", at=T0 + timedelta(seconds=30), error="429",
                      failure=True)
    rows = _by_key(outbox)
    assert (rows["other"].lease_owner, rows["other"].failures) == ("a", 0)
    assert rows["other"].last_error is None and _utc(rows["other"].next_attempt_at) == T0
    assert (rows["limited"].lease_owner, rows["limited"].failures) == (None, 1)


def test_a_second_claim_returns_only_what_it_leased(store: Store, outbox: Outbox) -> None:
    # Same owner, same time, same lease end: only the ids of this claim come back.
    _add(store, outbox, "k0")
    _add(store, outbox, "k1")
    assert [r.dedupe_key for r in outbox.claim("a", now=T0, lease=LEASE, limit=1)] == ["k0"]
    assert [r.dedupe_key for r in outbox.claim("a", now=T0, lease=LEASE, limit=1)] == ["k1"]


def test_a_channel_never_held_has_no_hold(store: Store, outbox: Outbox) -> None:
    assert outbox.channel_hold("C9") is None
    outbox.hold_channel("C1", T0 + timedelta(seconds=30), "Retry-After")
    assert outbox.channel_hold("C9") is None
    assert outbox.channel_hold("C1") == (T0 + timedelta(seconds=30), "Retry-After")


def test_resuming_says_whether_delivery_was_paused(store: Store, outbox: Outbox) -> None:
    assert outbox.resume_workspace() is False
    outbox.pause_workspace("token_revoked", now=T0)
    assert outbox.workspace_pause() is not None
    assert outbox.resume_workspace() is True
    assert outbox.workspace_pause() is None
    assert outbox.resume_workspace() is False


def test_channels_are_claimed_waiting_longest_first(store: Store, outbox: Outbox) -> None:
    for key, channel in (("k1", "C3"), ("k2", "C1"), ("k3", "C2"), ("k4", "C3")):
        _add(store, outbox, key, channel=channel)
    assert outbox.claim_channels("a", now=T0, lease=LEASE, limit=2) == ["C3", "C1"]
    assert outbox.claim_channels("b", now=T0, lease=LEASE, limit=2) == ["C2"]


def test_a_sender_claims_its_own_channel_again_but_not_anothers_before_it_ends(
    store: Store, outbox: Outbox
) -> None:
    _add(store, outbox, "k1", channel="C1")
    assert outbox.claim_channels("a", now=T0, lease=LEASE, limit=5) == ["C1"]
    assert outbox.claim_channels("a", now=T0 + LEASE / 2, lease=LEASE, limit=5) == ["C1"]
    ends = T0 + LEASE / 2 + LEASE
    assert outbox.claim_channels("b", now=ends, lease=LEASE, limit=5) == []  # not over yet
    assert outbox.claim_channels("b", now=ends + timedelta(microseconds=1), lease=LEASE,
                                 limit=5) == ["C1"]


def test_only_channels_with_rows_due_now_are_claimed(store: Store, outbox: Outbox) -> None:
    _add(store, outbox, "later", channel="C1", now=T0 + timedelta(seconds=10))
    assert outbox.claim_channels("a", now=T0, lease=LEASE, limit=5) == []
    assert outbox.claim_channels("a", now=T0 + timedelta(seconds=10), lease=LEASE,
                                 limit=5) == ["C1"]


def test_a_channel_another_sender_holds_does_not_use_up_the_limit(
    store: Store, outbox: Outbox
) -> None:
    _add(store, outbox, "k1", channel="C1")
    assert outbox.claim_channels("b", now=T0, lease=LEASE, limit=1) == ["C1"]
    _add(store, outbox, "k2", channel="C2")
    assert outbox.claim_channels("a", now=T0, lease=LEASE, limit=1) == ["C2"]


# -- channel holds: only ever lengthened, and only the channel named ----------------------

def test_a_hold_is_lengthened_never_shortened_and_keeps_its_reason_on_a_tie(
    store: Store, outbox: Outbox
) -> None:
    outbox.hold_channel("C1", T0 + timedelta(seconds=30), "Retry-After")
    outbox.hold_channel("C1", T0 + timedelta(seconds=10), "backoff")  # shorter: ignored
    outbox.hold_channel("C1", T0 + timedelta(seconds=30), "paced")  # same end: ignored
    assert outbox.channel_hold("C1") == (T0 + timedelta(seconds=30), "Retry-After")
    outbox.hold_channel("C1", T0 + timedelta(seconds=45), "backoff")
    assert outbox.channel_hold("C1") == (T0 + timedelta(seconds=45), "backoff")


def test_holding_one_channel_leaves_the_others_alone(store: Store, outbox: Outbox) -> None:
    outbox.hold_channel("C2", T0 + timedelta(seconds=5), "paced")
    outbox.hold_channel("C1", T0 + timedelta(seconds=30), "Retry-After")
    assert outbox.channel_hold("C2") == (T0 + timedelta(seconds=5), "paced")


def _leased_channel(store: Store, outbox: Outbox, channel: str = "C1",
                    owner: str = "a") -> None:
    _add(store, outbox, f"k-{channel}", channel=channel)
    assert outbox.claim_channels(owner, now=T0, lease=LEASE, limit=5) == [channel]


def test_releasing_a_channel_holds_it_only_if_that_is_longer(
    store: Store, outbox: Outbox
) -> None:
    _leased_channel(store, outbox)
    outbox.hold_channel("C1", T0 + timedelta(seconds=30), "Retry-After")
    outbox.release_channel("C1", "a", hold_until=T0 + timedelta(seconds=30))  # a tie
    assert outbox.channel_hold("C1") == (T0 + timedelta(seconds=30), "Retry-After")
    assert outbox.claim_channels("a", now=T0, lease=LEASE, limit=5) == []  # held
    _leased_channel(store, outbox, "C2")
    outbox.release_channel("C2", "a", hold_until=T0 + timedelta(seconds=1))
    assert outbox.channel_hold("C2") == (T0 + timedelta(seconds=1), "paced")
    # Pacing after the Retry-After would have ended: the pacing wins.
    outbox.hold_channel("C2", T0 + timedelta(seconds=2), "Retry-After")
    assert outbox.claim_channels("a", now=T0 + timedelta(seconds=2), lease=LEASE,
                                 limit=5) == ["C2"]
    outbox.release_channel("C2", "a", hold_until=T0 + timedelta(seconds=3, microseconds=5))
    assert outbox.channel_hold("C2") == (T0 + timedelta(seconds=3, microseconds=5), "paced")


def test_releasing_one_channel_keeps_the_senders_other_channels(
    store: Store, outbox: Outbox
) -> None:
    _add(store, outbox, "k1", channel="C1")
    _add(store, outbox, "k2", channel="C2")
    assert outbox.claim_channels("a", now=T0, lease=LEASE, limit=5) == ["C1", "C2"]
    outbox.release_channel("C1", "a", hold_until=None)
    assert outbox.claim_channels("b", now=T0, lease=LEASE, limit=5) == ["C1"]  # C2 is a's
    assert outbox.channel_hold("C2") is None


def test_a_sender_cannot_release_a_channel_another_sender_took_over(
    store: Store, outbox: Outbox
) -> None:
    _leased_channel(store, outbox)
    later = T0 + LEASE * 2
    assert outbox.claim_channels("b", now=later, lease=LEASE, limit=5) == ["C1"]
    outbox.release_channel("C1", "a", hold_until=later + timedelta(seconds=9))
    assert outbox.channel_hold("C1") is None
    assert outbox.claim_channels("c", now=later, lease=LEASE, limit=5) == []  # still b's
    assert outbox.renew("b", "C1", [], now=later, lease=LEASE)


# -- renewing and releasing touch exactly the sender's leases -----------------------------

def test_renewing_extends_both_leases_from_now(store: Store, outbox: Outbox) -> None:
    _leased_channel(store, outbox)
    [row] = outbox.claim("a", now=T0, lease=LEASE, channel="C1")
    renewed = T0 + LEASE / 2
    assert outbox.renew("a", "C1", [row.id], now=renewed, lease=LEASE)
    assert _utc(outbox.rows()[0].lease_until) == renewed + LEASE
    # Past the first lease, within the renewed one: nobody else takes channel or row.
    after_first = T0 + LEASE + timedelta(seconds=1)
    assert outbox.claim_channels("b", now=after_first, lease=LEASE, limit=5) == []
    assert outbox.claim("b", now=after_first, lease=LEASE) == []


def test_renewing_one_channel_while_holding_two(store: Store, outbox: Outbox) -> None:
    _add(store, outbox, "k1", channel="C1")
    _add(store, outbox, "k2", channel="C2")
    assert outbox.claim_channels("a", now=T0, lease=LEASE, limit=5) == ["C1", "C2"]
    assert outbox.renew("a", "C1", [], now=T0 + LEASE / 2, lease=LEASE)
    # Only C1 was renewed: C2's lease ends when it was going to.
    assert outbox.claim_channels("b", now=T0 + LEASE + timedelta(seconds=1), lease=LEASE,
                                 limit=5) == ["C2"]


def test_renewing_a_row_that_is_no_longer_pending_fails(store: Store, outbox: Outbox) -> None:
    # A digest's members stay leased to its former after the digest is sent.
    _add(store, outbox, "k-C1")
    assert outbox.claim_channels("a", now=T0, lease=LEASE, limit=5) == ["C1"]
    members, digest = _folded(store, outbox)
    assert outbox.mark_sent(digest, "a", "9.9", now=T0)
    assert all(m.lease_owner == "a" for m in outbox.members(digest.id))
    assert not outbox.renew("a", "C1", [members[0].id], now=T0, lease=LEASE)


def test_releasing_gives_back_only_the_rows_named_and_uncounts_those_asked(
    store: Store, outbox: Outbox
) -> None:
    for key in ("k0", "k1", "k2"):
        _add(store, outbox, key)
    outbox.claim_channels("a", now=T0, lease=LEASE, limit=1)
    k0, k1, _ = outbox.claim("a", now=T0, lease=LEASE)
    assert outbox.begin("a", "C1", k0.id, now=T0, lease=LEASE)
    assert outbox.begin("a", "C1", k1.id, now=T0, lease=LEASE)
    # k0's post was refused outright (nothing in Slack); k1's may have landed.
    outbox.release([k0], "a", uncount={k0.id})
    rows = _by_key(outbox)
    assert (rows["k0"].lease_owner, rows["k0"].lease_until, rows["k0"].attempts) == (
        None, None, 0)
    assert (rows["k1"].lease_owner, rows["k1"].attempts) == ("a", 1)
    assert (rows["k2"].lease_owner, rows["k2"].attempts) == ("a", 0)
    outbox.release([k1], "a", uncount={k0.id})  # only rows named are uncounted
    assert (_by_key(outbox)["k1"].lease_owner, _by_key(outbox)["k1"].attempts) == (None, 1)
    again = outbox.claim("b", now=T0, lease=LEASE)
    assert [(r.dedupe_key, r.in_doubt) for r in again] == [("k0", False), ("k1", True)]


def test_releasing_rows_another_sender_took_over_changes_nothing(
    store: Store, outbox: Outbox
) -> None:
    _add(store, outbox, "k")
    outbox.claim_channels("a", now=T0, lease=LEASE, limit=1)
    [mine] = outbox.claim("a", now=T0, lease=LEASE)
    assert outbox.begin("a", "C1", mine.id, now=T0, lease=LEASE)
    assert outbox.claim_channels("b", now=T0 + LEASE * 2, lease=LEASE, limit=1) == ["C1"]
    [theirs] = outbox.claim("b", now=T0 + LEASE * 2, lease=LEASE)
    assert outbox.begin("b", "C1", theirs.id, now=T0 + LEASE * 2, lease=LEASE)
    outbox.release([mine], "a", uncount={mine.id})
    [row] = outbox.rows()
    assert (row.lease_owner, row.attempts) == ("b", 2)


def test_releasing_a_sent_digests_members_changes_nothing(
    store: Store, outbox: Outbox
) -> None:
    members, digest = _folded(store, outbox)
    assert outbox.mark_sent(digest, "a", "9.9", now=T0)
    outbox.release(members, "a", uncount={m.id for m in members})
    assert all((m.status, m.lease_owner, m.attempts) == ("sent", "a", 0)
               for m in outbox.members(digest.id))


def test_a_second_pause_updates_the_reason_and_keeps_since(
    store: Store, outbox: Outbox
) -> None:
    outbox.pause_workspace("token_revoked", now=T0)
    outbox.pause_workspace("account_inactive", now=T0 + timedelta(hours=1))
    reason, since = outbox.workspace_pause() or ("", None)
    assert (reason, _utc(since)) == ("account_inactive", T0)
    with store.begin() as conn:
        [updated] = conn.execute(sa.select(delivery_state.c.updated_at)).scalars()
    assert _utc(updated) == T0 + timedelta(hours=1)


def test_a_pacing_hold_given_in_another_timezone_is_the_same_instant(
    store: Store, outbox: Outbox
) -> None:
    _leased_channel(store, outbox)
    paris = T0.astimezone(timezone(timedelta(hours=2))) + timedelta(seconds=3)
    outbox.release_channel("C1", "a", hold_until=paris)
    assert outbox.channel_hold("C1") == (T0 + timedelta(seconds=3), "paced")


def test_a_row_given_up_on_is_never_marked_sent(store: Store, outbox: Outbox) -> None:
    # A failed digest's members stay leased to its former: still not "sent".
    members, digest = _folded(store, outbox)
    outbox.fail(digest, "a", "channel_not_found")
    assert not outbox.mark_sent(members[0], "a", "1.0", now=T0)
    assert _by_key(outbox)["m0"].status == "failed"


def test_every_reading_is_oldest_first_whatever_order_rows_were_written(
    store: Store, outbox: Outbox
) -> None:
    # Without ORDER BY, PostgreSQL returns rows in storage order, and an UPDATE writes a
    # row's new version at the end: touch the oldest row so storage order is k1, k2, k0.
    for key in ("k0", "k1", "k2"):
        _add(store, outbox, key)
    [k0] = outbox.claim("a", now=T0, lease=LEASE, limit=1)
    outbox.release([k0], "a")
    assert [r.dedupe_key for r in outbox.rows()] == ["k0", "k1", "k2"]
    [k0] = outbox.claim("b", now=T0, lease=LEASE, limit=1)
    assert k0.dedupe_key == "k0"
    outbox.release([k0], "b")
    claimed = outbox.claim("c", now=T0, lease=LEASE)
    assert [r.dedupe_key for r in claimed] == ["k0", "k1", "k2"]
    digest = outbox.form_digest("c", claimed, now=T0, lease=LEASE)
    assert digest is not None
    assert [m.dedupe_key for m in outbox.members(digest.id)] == ["k0", "k1", "k2"]
    outbox.fail(digest, "c", "channel_not_found")
    assert [r.dedupe_key for r in outbox.failed("C1")] == ["k0", "k1", "k2"]


def test_a_reschedule_of_a_refused_post_takes_its_count_back(
    store: Store, outbox: Outbox
) -> None:
    _add(store, outbox, "k")
    outbox.claim_channels("a", now=T0, lease=LEASE, limit=1)
    [row] = outbox.claim("a", now=T0, lease=LEASE)
    assert outbox.begin("a", "C1", row.id, now=T0, lease=LEASE)
    outbox.reschedule(row, "a", at=T0, error="429", failure=False, uncount=True)
    assert outbox.rows()[0].attempts == 0
    outbox.release_channel("C1", "a", hold_until=None)
    outbox.claim_channels("b", now=T0, lease=LEASE, limit=1)
    [again] = outbox.claim("b", now=T0, lease=LEASE)
    assert again.attempts == 0 and not again.in_doubt
    assert outbox.begin("b", "C1", again.id, now=T0, lease=LEASE)
    outbox.reschedule(again, "b", at=T0, error="500", failure=True)
    assert outbox.rows()[0].attempts == 1  # it may be in Slack: the count stays
