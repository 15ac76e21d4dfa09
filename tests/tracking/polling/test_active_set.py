"""The active set's rows (bot/tracking/polling/active.py): what watching a job stores for
the poller, a script learnt once and nothing else changed when seen again, listing in
creation order, counting, forgetting by id, and state changes to the jobs named only."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from bot.metastudio.models import Job
from bot.tracking.polling.active import ActiveSet, WatchedJob
from bot.tracking.store.database import Store
from tests.fixtures.tracking import T0


def _job(job_id: str, **fields: Any) -> Job:
    return Job.model_validate({"job_id": job_id, "state": "PROCESSING", **fields})


def test_watching_stores_what_the_poller_needs_and_learns_a_script_once(store: Store) -> None:
    active = ActiveSet(store)
    job = _job("j1", job_type="PHOTO_DIGITAL_HUMAN_VIDEO", create_time="2025-03-01T08:00:00Z",
               output_asset_config={"asset_name": "promo"})
    with store.begin() as conn:
        assert active.watch(conn, job, T0) is True
        assert active.watch(conn, _job("j2", state="WAITING"), T0, script_id="s2") is True
    with store.begin() as conn:
        assert active.get(conn, "j1") == WatchedJob(
            job_id="j1", create_time=T0 - timedelta(hours=1),
            job_type="PHOTO_DIGITAL_HUMAN_VIDEO", asset_name="promo", script_id=None,
            last_state="PROCESSING", discovered_at=T0)
        assert active.get(conn, "j2") == WatchedJob(
            job_id="j2", create_time=None, job_type=None, asset_name=None, script_id="s2",
            last_state="WAITING", discovered_at=T0)
        assert active.get(conn, "nope") is None
        # Seen again by a script listing: the script is learnt, nothing else changes.
        assert active.watch(conn, _job("j1", state="WAITING"), T0 + timedelta(hours=1),
                            script_id="s1") is False
        assert active.watch(conn, _job("j2"), T0, script_id="s3") is False  # kept
        assert active.watch(conn, _job("j2"), T0) is False
    with store.begin() as conn:
        j1, j2 = active.get(conn, "j1"), active.get(conn, "j2")
    assert j1 is not None and j2 is not None
    assert (j1.script_id, j1.last_state, j1.discovered_at) == ("s1", "PROCESSING", T0)
    assert j2.script_id == "s2"


def test_the_active_set_lists_counts_and_forgets_by_id(store: Store) -> None:
    active = ActiveSet(store)
    with store.begin() as conn:
        # Inserted newest first: the listing sorts them.
        active.watch(conn, _job("b", create_time="2025-03-01T08:00:00Z"), T0)
        active.watch(conn, _job("z", create_time="2025-03-01T07:00:00Z"), T0)
        active.watch(conn, _job("a", create_time="2025-03-01T08:00:00Z"), T0)
    assert [w.job_id for w in active.all()] == ["z", "a", "b"]
    assert sorted(active.ids()) == [("a", T0 - timedelta(hours=1)),
                                    ("b", T0 - timedelta(hours=1)),
                                    ("z", T0 - timedelta(hours=2))]
    assert active.get_many([]) == {}
    many = active.get_many(["a", "z", "nope"])
    assert sorted(many) == ["a", "z"] and many["z"].create_time == T0 - timedelta(hours=2)
    assert active.count() == 3
    with store.begin() as conn:
        assert active.forget(conn, "a") is True
        assert active.forget(conn, "a") is False
    assert sorted(active.get_many(["a", "b", "z"])) == ["b", "z"]
    assert active.count() == 2


def test_state_changes_touch_only_the_jobs_named(store: Store) -> None:
    active = ActiveSet(store)
    with store.begin() as conn:
        for job_id in ("a", "b", "c"):
            active.watch(conn, _job(job_id, state="WAITING"), T0)
    active.set_states([])
    active.set_states(iter([("a", "PROCESSING"), ("c", "STUCK")]))
    assert {w.job_id: w.last_state for w in active.all()} == {
        "a": "PROCESSING", "b": "WAITING", "c": "STUCK"}
