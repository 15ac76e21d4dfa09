"""Poll cycles: upstream requests stay within ceil(T/100)+1, changes are recorded once."""

from __future__ import annotations

import math
from datetime import timedelta

from bot.tracking.poller import Poller
from tests.fixtures.tracking import FakeJobs, TrackingWorld
from tests.tracking.helpers import subscribe


def _track_many(world: TrackingWorld, n: int) -> list[str]:
    ids = [world.jobs.add(created=world.clock() - timedelta(minutes=n - i)) for i in range(n)]
    world.tracking.store.add_tracked(
        "C1", [(i, "PROCESSING", world.clock() - timedelta(minutes=n)) for i in ids],
        message_ts="1.1", requested_by="U1", now=world.clock())
    return ids


def _poll_calls(world: TrackingWorld) -> int:
    mark = len(world.jobs.requests)
    result = world.tracking.poller.poll()
    assert result.upstream_calls == len(world.jobs.requests) - mark
    return result.upstream_calls


def test_300_tracked_jobs_cost_three_requests_and_a_subscription_one_more(
    world: TrackingWorld,
) -> None:
    ids = _track_many(world, 300)
    for job in ids[::50]:
        world.jobs.finish(job, "FAILED")
    assert _poll_calls(world) == 3
    assert len(world.tracking.outbox.rows()) == 6

    subscribe(world, "failed", channel="C2")
    assert _poll_calls(world) <= math.ceil(294 / 100) + 1


def test_a_server_ignoring_job_ids_is_swept_within_budget_and_correctly(
    world: TrackingWorld,
) -> None:
    world.jobs.ignore_job_ids = True
    world.clock.advance(-6 * 3600)
    old = [world.jobs.add() for _ in range(40)]  # created before any tracked job
    world.clock.advance(6 * 3600)
    ids = _track_many(world, 250)
    others = [world.jobs.add() for _ in range(10)]  # untracked, inside the sweep
    for job in [*ids[:3], *others, *old]:
        world.jobs.finish(job, "SUCCEED")

    calls = _poll_calls(world)  # one wasted job_ids probe, then the sweep
    assert calls <= math.ceil(250 / 100) + 1
    assert {r.payload["job"]["job_id"] for r in world.tracking.outbox.rows()} == set(ids[:3])
    assert not [q for q in world.jobs.requests[-calls + 1:] if q.job_ids]

    world.jobs.finish(ids[3], "FAILED")
    assert _poll_calls(world) <= math.ceil(247 / 100) + 1  # no more probing
    assert len(world.tracking.outbox.rows()) == 4


def test_a_client_known_to_ignore_job_ids_is_swept_from_the_first_cycle(
    world: TrackingWorld, fake_jobs: FakeJobs
) -> None:
    fake_jobs.ignore_job_ids = True
    fake_jobs.supports_job_ids = False
    poller = Poller(world.tracking.store, world.tracking.outbox, fake_jobs,
                    lookback=timedelta(hours=24), clock=world.clock)
    _track_many(world, 120)
    mark = len(fake_jobs.requests)
    assert poller.poll().upstream_calls == 2
    assert all(not q.job_ids for q in fake_jobs.requests[mark:])


def test_an_upstream_error_ends_the_cycle_and_the_next_one_catches_up(
    world: TrackingWorld,
) -> None:
    [job] = _track_many(world, 1)
    world.jobs.finish(job, "SUCCEED")
    world.jobs.fail_next = 1
    result = world.tracking.poller.poll()
    assert result.error and world.tracking.poller.failed_cycles == 1
    assert world.tracking.outbox.rows() == []
    assert world.tracking.poller.poll().finished == 1


def test_unfinished_state_changes_are_recorded_without_notifying(world: TrackingWorld) -> None:
    [job] = _track_many(world, 1)
    world.jobs.finish(job, "WAITING")
    world.tracking.poller.poll()
    [row] = world.tracking.store.channel_tracked("C1")
    assert row.last_state == "WAITING" and world.tracking.outbox.rows() == []


def test_two_pollers_seeing_one_change_enqueue_it_once(world: TrackingWorld) -> None:
    [job] = _track_many(world, 1)
    world.jobs.finish(job, "SUCCEED")
    other = Poller(world.tracking.store, world.tracking.outbox, world.jobs,
                   lookback=timedelta(hours=24), clock=world.clock)
    # Both read the job as unfinished before either records it.
    tracked = world.tracking.store.pollable()
    jobs = world.jobs.get_jobs([job])
    assert world.tracking.poller._apply_tracked(tracked, jobs, world.clock()) == 1
    assert other._apply_tracked(tracked, jobs, world.clock()) == 0
    assert len(world.tracking.outbox.rows()) == 1
