"""The store's queries, each pinned on SQLite and PostgreSQL: every filter of every query
of tracked jobs and subscriptions (channel, closed, paused, ids), what a new row records,
what ``insert_ignore`` reports, and rows written behind the store's back read back
whole. The tracking scenarios leave these implicit."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from bot.domain.records import Subscription, TrackedJob
from bot.tracking.store.database import Store
from bot.tracking.store.tables import subscriptions, tracked_jobs
from tests.fixtures.tracking import T0
from tests.tracking import fast_store

# SQLite stores copied from one migrated database (see tests/tracking/fast_store.py).
migrated_sqlite, store = fast_store.migrated_sqlite, fast_store.store

T1 = T0 + timedelta(minutes=1)


def _track(store: Store, channel: str, *job_ids: str, ts: str = "1.1", user: str = "U1",
           now: Any = T0) -> list[str]:
    return store.add_tracked(channel, [(j, "WAITING", T0 - timedelta(hours=1)) for j in job_ids],
                             message_ts=ts, requested_by=user, now=now)


def _sub(store: Store, channel: str = "C1", outcome: str = "failed",
         **filters: Any) -> Subscription:
    values: dict[str, Any] = dict(job_type=None, asset_name=None, script_id=None)
    values.update(filters)
    sub, _ = store.add_subscription(channel, outcome=outcome, created_by="U1", now=T0, **values)
    return sub


def _close(store: Store, channel: str, job_id: str, state: str = "SUCCEED") -> None:
    [row] = [t for t in store.channel_tracked(channel) if t.job_id == job_id]
    with store.begin() as conn:
        assert store.finish_tracked(conn, row.id, state, T1)


# -- tracked jobs ---------------------------------------------------------------------


def test_a_new_tracking_records_every_field(store: Store) -> None:
    created = T0 - timedelta(hours=1)
    added = store.add_tracked("C1", [("job-1", "WAITING", created), ("job-2", None, None)],
                              message_ts="1.1", requested_by="U7", now=T0)
    assert added == ["job-1", "job-2"]
    first, second = store.channel_tracked("C1")
    assert first == TrackedJob(id=first.id, channel="C1", job_id="job-1", message_ts="1.1",
                               requested_by="U7", last_state="WAITING", job_created_at=created,
                               created_at=T0, paused_reason=None, closed=False,
                               closed_at=None)
    assert (second.job_id, second.last_state, second.job_created_at) == ("job-2", None, None)
    assert second.id > first.id


def test_tracking_in_a_paused_channel_lifts_its_pause_only(store: Store) -> None:
    _track(store, "C1", "a")
    _track(store, "C2", "b")
    _sub(store, "C1")
    _sub(store, "C2")
    with store.begin() as conn:
        store.pause_channel(conn, "C1", "not_in_channel")
        store.pause_channel(conn, "C2", "channel_not_found")
    assert store.pollable() == [] and store.active_subscriptions() == []
    _track(store, "C1", "c", ts="2.2")
    assert [t.job_id for t in store.pollable()] == ["a", "c"]
    assert [s.channel for s in store.active_subscriptions()] == ["C1"]
    [paused] = store.channel_tracked("C2")
    assert paused.paused_reason == "channel_not_found"
    assert [s.paused_reason for s in store.channel_subscriptions("C2")] == ["channel_not_found"]
    store.resume_channel("C2")
    assert [t.job_id for t in store.pollable()] == ["a", "b", "c"]


def test_pausing_one_channel_leaves_the_others(store: Store) -> None:
    _track(store, "C1", "a")
    _track(store, "C2", "b")
    with store.begin() as conn:
        store.pause_channel(conn, "C1", "not_in_channel")
    assert [t.job_id for t in store.pollable()] == ["b"]
    assert [t.paused_reason for t in store.channel_tracked("C1")] == ["not_in_channel"]
    # `tracked` still lists a paused channel's jobs.
    assert [t.job_id for t in store.channel_tracked("C1")] == ["a"]


def test_pollable_rows_are_open_unpaused_and_in_tracking_order(store: Store) -> None:
    _track(store, "C1", "z", "a")
    _track(store, "C2", "m")
    _track(store, "C3", "p")
    _close(store, "C1", "z")
    with store.begin() as conn:
        store.pause_channel(conn, "C3", "not_in_channel")
    assert [t.job_id for t in store.pollable()] == ["a", "m"]
    assert [j for j, _ in store.pollable_ids()] == ["a", "m"]
    assert store.pollable_ids()[0] == ("a", T0 - timedelta(hours=1))
    assert [t.job_id for t in store.pollable_for(["m", "z", "p", "a"])] == ["a", "m"]
    assert [t.job_id for t in store.pollable_for(["m"])] == ["m"]
    assert store.pollable_for([]) == []
    assert store.pollable_for(iter(["a"]))[0].job_id == "a"  # any iterable, read once


def test_channel_tracked_lists_the_channels_open_jobs(store: Store) -> None:
    _track(store, "C1", "a", "b")
    _track(store, "C2", "c")
    _close(store, "C1", "a")
    assert [t.job_id for t in store.channel_tracked("C1")] == ["b"]
    assert [t.job_id for t in store.channel_tracked("C2")] == ["c"]


def test_in_message_is_one_message_of_one_channel(store: Store) -> None:
    _track(store, "C1", "a", "b", ts="1.1")
    _track(store, "C1", "c", ts="2.2")
    _track(store, "C2", "d", ts="1.1")
    _close(store, "C1", "a")
    # A message shows its finished jobs too.
    assert [t.job_id for t in store.in_message("C1", "1.1")] == ["a", "b"]
    assert [t.job_id for t in store.in_message("C1", "2.2")] == ["c"]
    assert [t.job_id for t in store.in_message("C2", "1.1")] == ["d"]


def test_tracked_pairs_name_every_tracking_of_these_jobs(store: Store) -> None:
    _track(store, "C1", "a", "b")
    _track(store, "C2", "a")
    _close(store, "C2", "a")
    assert store.tracked_pairs(["a", "a", "x"]) == {("C1", "a"), ("C2", "a")}
    assert store.tracked_pairs(["b"]) == {("C1", "b")}
    assert store.tracked_pairs([]) == set()


def test_untrack_removes_only_this_channels_open_tracking(store: Store) -> None:
    _track(store, "C1", "a", "b")
    _track(store, "C2", "a")
    _close(store, "C1", "b")
    assert not store.untrack("C1", "b")  # finished: kept for its message
    assert [t.job_id for t in store.in_message("C1", "1.1")] == ["a", "b"]
    assert not store.untrack("C1", "x")
    assert store.untrack("C1", "a")
    assert [t.job_id for t in store.in_message("C1", "1.1")] == ["b"]
    assert [t.job_id for t in store.channel_tracked("C2")] == ["a"]
    assert not store.untrack("C1", "a")


def test_set_state_changes_one_row(store: Store) -> None:
    _track(store, "C1", "a", "b")
    first, _second = store.channel_tracked("C1")
    store.set_state(first.id, "PROCESSING")
    assert [t.last_state for t in store.channel_tracked("C1")] == ["PROCESSING", "WAITING"]
    assert not store.channel_tracked("C1")[0].closed


def test_finishing_closes_once_with_its_state_and_time(store: Store) -> None:
    _track(store, "C1", "a", "b")
    first, _ = store.channel_tracked("C1")
    with store.begin() as conn:
        assert store.finish_tracked(conn, first.id, "FAILED", T1)
    with store.begin() as conn:
        assert not store.finish_tracked(conn, first.id, "SUCCEED", T1 + timedelta(hours=1))
    [closed, still] = store.in_message("C1", "1.1")
    assert (closed.closed, closed.last_state, closed.closed_at) == (True, "FAILED", T1)
    assert (still.closed, still.last_state, still.closed_at) == (False, "WAITING", None)


def test_open_tracked_and_tracked_channels_of_one_job(store: Store) -> None:
    _track(store, "C1", "a", "b")
    _track(store, "C2", "a")
    _track(store, "C3", "a")
    _track(store, "C4", "a")
    _close(store, "C3", "a")
    with store.begin() as conn:
        store.pause_channel(conn, "C4", "not_in_channel")
    with store.begin() as conn:
        assert [(t.channel, t.job_id) for t in store.open_tracked(conn, "a")] == [
            ("C1", "a"), ("C2", "a")]
        assert store.tracked_channels(conn, "a") == {"C1", "C2", "C3", "C4"}
        assert store.tracked_channels(conn, "b") == {"C1"}


# -- subscriptions --------------------------------------------------------------------


def test_a_new_subscription_records_every_field(store: Store) -> None:
    sub, new = store.add_subscription("C1", outcome="all", job_type="PHOTO_DIGITAL_HUMAN_VIDEO",
                                      asset_name="intro", script_id="s-1", created_by="U7",
                                      now=T0)
    assert new
    assert sub == Subscription(id=sub.id, channel="C1", outcome="all",
                               job_type="PHOTO_DIGITAL_HUMAN_VIDEO", asset_name="intro",
                               script_id="s-1", created_by="U7", created_at=T0,
                               paused_reason=None, swept_at=None)
    assert store.channel_subscriptions("C1") == [sub]


@pytest.mark.parametrize("changed", [
    {"outcome": "all"}, {"job_type": "VIDEO_2D"}, {"asset_name": "intro"},
    {"script_id": "s-1"},
])
def test_subscriptions_differing_in_one_filter_are_two(store: Store,
                                                       changed: dict[str, Any]) -> None:
    base = dict(outcome="failed", job_type="T", asset_name="A", script_id="S")
    first, new = store.add_subscription("C1", created_by="U1", now=T0, **base)
    assert new
    # The same filters again: the existing one, unchanged (its baseline included).
    again, new = store.add_subscription("C1", created_by="U2", now=T1, **base)
    assert (again, new) == (first, False)
    other, new = store.add_subscription("C1", created_by="U2", now=T1,
                                        **{**base, **changed})
    assert new and other.id != first.id
    assert (other.created_by, other.created_at) == ("U2", T1)
    assert [s.id for s in store.channel_subscriptions("C1")] == [first.id, other.id]


@pytest.mark.parametrize("name", ["job_type", "asset_name", "script_id"])
def test_a_filter_left_out_differs_from_one_given(store: Store, name: str) -> None:
    bare = _sub(store)
    given = _sub(store, **{name: "x"})
    assert given.id != bare.id
    assert _sub(store) == bare and _sub(store, **{name: "x"}) == given


def test_subscriptions_are_listed_per_channel_in_order(store: Store) -> None:
    a = _sub(store, "C1", "failed")
    b = _sub(store, "C2", "failed")
    c = _sub(store, "C1", "all")
    assert [s.id for s in store.channel_subscriptions("C1")] == [a.id, c.id]
    assert [s.id for s in store.active_subscriptions()] == [a.id, b.id, c.id]


def test_seen_answers_only_for_the_given_subscriptions_and_jobs(store: Store) -> None:
    a, b = _sub(store, "C1", "failed"), _sub(store, "C1", "all")
    with store.begin() as conn:
        assert store.mark_seen(conn, a.id, "j1", "FAILED", T0)
        assert not store.mark_seen(conn, a.id, "j1", "FAILED", T1)
        assert store.mark_seen(conn, a.id, "j2", "FAILED", T0)
        assert store.mark_seen(conn, b.id, "j1", "FAILED", T0)
        assert store.mark_seen(conn, b.id, "j1", "SUCCEED", T0)
    assert store.seen([a.id], ["j1"]) == {(a.id, "j1", "FAILED")}
    assert store.seen([b.id], ["j1", "j1"]) == {(b.id, "j1", "FAILED"), (b.id, "j1", "SUCCEED")}
    assert store.seen([a.id, b.id], ["j2", "j9"]) == {(a.id, "j2", "FAILED")}
    assert store.seen([], ["j1"]) == set() and store.seen([a.id], []) == set()
    assert store.seen(iter([a.id]), iter(["j2"])) == {(a.id, "j2", "FAILED")}


def test_mark_swept_sets_the_first_sweep_once(store: Store) -> None:
    a, b, c = _sub(store, outcome="failed"), _sub(store, outcome="all"), _sub(store, outcome="x")
    store.mark_swept([a.id], T0)
    store.mark_swept([], T1)
    assert [s.swept_at for s in store.channel_subscriptions("C1")] == [T0, None, None]
    store.mark_swept(iter([a.id, b.id]), T1)
    assert [s.swept_at for s in store.channel_subscriptions("C1")] == [T0, T1, None]
    assert c.swept_at is None


def test_removing_a_subscription_returns_whether_it_was_there(store: Store) -> None:
    a, b = _sub(store, "C1", "failed"), _sub(store, "C1", "all")
    with store.begin() as conn:
        store.mark_seen(conn, a.id, "j1", "FAILED", T0)
        store.mark_seen(conn, b.id, "j1", "FAILED", T0)
    assert store.remove_subscription("C1", a.id)
    assert not store.remove_subscription("C1", a.id)
    assert [s.id for s in store.channel_subscriptions("C1")] == [b.id]
    assert store.seen([a.id, b.id], ["j1"]) == {(b.id, "j1", "FAILED")}


# -- rows written directly -----------------------------------------------------------


def test_insert_ignore_reports_whether_it_inserted(store: Store) -> None:
    values = dict(channel="C1", job_id="j", message_ts="1.1", requested_by="U1",
                  created_at=T0, closed=False)
    with store.begin() as conn:
        assert store.insert_ignore(conn, tracked_jobs, values)
        assert not store.insert_ignore(conn, tracked_jobs, {**values, "message_ts": "2.2"})
    [row] = store.channel_tracked("C1")
    assert row.message_ts == "1.1"


def test_subscriptions_table_rows_read_back_through_the_store(store: Store) -> None:
    """A row written behind the store's back (an older process) reads back whole."""
    with store.begin() as conn:
        conn.execute(subscriptions.insert().values(channel="C1", outcome="failed",
                                                   created_by="U1", created_at=T0,
                                                   paused_reason="x", swept_at=T1))
    [sub] = store.channel_subscriptions("C1")
    assert (sub.paused_reason, sub.swept_at) == ("x", T1)
    assert store.active_subscriptions() == []
