"""Poll cycles: upstream requests stay within ceil(T/100)+1, changes are recorded once."""

from __future__ import annotations

import math
from datetime import timedelta

from bot.metastudio.client import MetaStudioClient
from bot.simulator import RecordedRequest
from bot.tracking.poller import Poller
from tests.fixtures.tracking import UPSTREAM_DOWN, TrackingWorld
from tests.tracking.helpers import subscribe, track, tracking_message


def _track_many(world: TrackingWorld, n: int) -> list[str]:
    ids = [world.running(create_time=world.clock() - timedelta(minutes=n - i))
           for i in range(n)]
    world.tracking.store.add_tracked(
        "C1", [(i, "PROCESSING", world.clock() - timedelta(minutes=n)) for i in ids],
        message_ts="1.1", requested_by="U1", now=world.clock())
    return ids


def _poll_calls(world: TrackingWorld) -> int:
    """One poll; the requests it counted are the requests MetaStudio received."""
    mark = world.sim.request_count()
    result = world.tracking.poller.poll()
    assert result.error is None
    assert result.upstream_calls == world.sim.request_count() - mark
    return result.upstream_calls


def _sends_job_ids(request: RecordedRequest) -> bool:
    return any(name == "job_ids" for name, _ in request.params)


def test_300_tracked_jobs_cost_three_requests_and_a_subscription_one_more(
    world: TrackingWorld,
) -> None:
    ids = _track_many(world, 300)
    for job in ids[::50]:
        world.sim.set_state(job, "FAILED")
    assert _poll_calls(world) == 3
    assert len(world.tracking.outbox.rows()) == 6

    subscribe(world, "failed", channel="C2")
    assert _poll_calls(world) <= math.ceil(294 / 100) + 1


def test_a_server_ignoring_job_ids_is_swept_within_budget_and_correctly(
    world: TrackingWorld,
) -> None:
    world.sim.ignore_job_ids = True
    world.clock.advance(-6 * 3600)
    old = [world.running() for _ in range(40)]  # created before any tracked job
    world.clock.advance(6 * 3600)
    ids = _track_many(world, 250)
    others = [world.running() for _ in range(10)]  # untracked, inside the sweep
    for job in [*ids[:3], *others, *old]:
        world.sim.set_state(job, "SUCCEED")

    calls = _poll_calls(world)  # one wasted job_ids probe, then the sweep
    assert calls <= math.ceil(250 / 100) + 1
    assert {r.payload["job"]["job_id"] for r in world.tracking.outbox.rows()} == set(ids[:3])
    assert not [r for r in world.list_requests()[-calls + 1:] if _sends_job_ids(r)]

    world.sim.set_state(ids[3], "FAILED")
    assert _poll_calls(world) <= math.ceil(247 / 100) + 1  # no more probing
    assert len(world.tracking.outbox.rows()) == 4


def test_a_client_known_to_ignore_job_ids_is_swept_from_the_first_cycle(
    world: TrackingWorld, tracking_client: MetaStudioClient
) -> None:
    world.sim.ignore_job_ids = True
    ids = _track_many(world, 120)
    assert ids[0] in tracking_client.get_jobs([ids[0]])  # the client learns, one by one
    assert tracking_client.supports_job_ids is False
    poller = Poller(world.tracking.store, world.tracking.outbox, tracking_client,
                    lookback=timedelta(hours=24), clock=world.clock)
    mark = len(world.sim.requests)
    assert poller.poll().upstream_calls == 2
    sent = world.list_requests(mark)
    assert len(sent) == 2 and not [r for r in sent if _sends_job_ids(r)]


def test_an_upstream_error_ends_the_cycle_and_the_next_one_catches_up(
    world: TrackingWorld,
) -> None:
    [job] = _track_many(world, 1)
    world.sim.set_state(job, "SUCCEED")
    world.sim.faults.fail_next(**UPSTREAM_DOWN)
    result = world.tracking.poller.poll()
    assert result.error and world.tracking.poller.failed_cycles == 1
    assert world.tracking.outbox.rows() == []
    assert world.tracking.poller.poll().finished == 1


def test_unfinished_state_changes_are_recorded_without_notifying(world: TrackingWorld) -> None:
    [job] = _track_many(world, 1)
    world.sim.set_state(job, "WAITING")
    world.tracking.poller.poll()
    [row] = world.tracking.store.channel_tracked("C1")
    assert row.last_state == "WAITING" and world.tracking.outbox.rows() == []


def test_two_pollers_seeing_one_change_enqueue_it_once(world: TrackingWorld) -> None:
    [job] = _track_many(world, 1)
    world.sim.set_state(job, "SUCCEED")
    other = Poller(world.tracking.store, world.tracking.outbox, world.client,
                   lookback=timedelta(hours=24), clock=world.clock)
    # Both read the job as unfinished before either records it.
    tracked = world.tracking.store.pollable()
    jobs = world.client.get_jobs([job])
    assert world.tracking.poller._apply_tracked(tracked, jobs, world.clock()) == 1
    assert other._apply_tracked(tracked, jobs, world.clock()) == 0
    assert len(world.tracking.outbox.rows()) == 1


def test_a_job_older_than_the_lists_month_is_still_announced(world: TrackingWorld) -> None:
    # docs/metastudio-api.md: without create_since the list may cover only the last month.
    world.sim.faults.lookups_within_month = True
    job = world.running(create_time=world.clock() - timedelta(days=40))
    track(world, job)

    world.sim.set_state(job, "SUCCEED")
    world.cycle()

    [reply] = world.slack.thread("C1", tracking_message(world).ts)
    assert "succeeded" in reply.text
