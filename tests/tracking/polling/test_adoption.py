"""Adopting a subscription (bot/tracking/polling/poller.py): the exact queries of its
unfinished jobs and of its recent ends (filters, states, sort, create_since), every page
of both and at most ten of recent ends, where the recent ends stop, and a script filter's
jobs watched and announced with their script."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.metastudio.client import lookup_since
from bot.metastudio.query import QueryJobType, format_time
from bot.tracking.polling.poller import ENDED_MARGIN, Poller
from tests.fixtures.tracking import TrackingWorld
from tests.tracking.helpers import subscribe
from tests.tracking.polling.helpers import (
    NoUpdateTimes,
    announcements,
    checked_poll,
    param,
    params,
)


def test_adoption_lists_the_subscriptions_unfinished_jobs_then_its_recent_ends(
    world: TrackingWorld,
) -> None:
    subscribe(world, "finished", asset_name="promo", job_type=QueryJobType.PHOTO)
    mark = len(world.sim.requests)
    world.tracking.poller.poll()
    unfinished, ended, discovery = world.list_requests(mark)
    since = format_time(lookup_since(world.clock()))
    assert params(unfinished) == {
        "state": "PROCESSING,WAITING", "create_since": since, "sort_key": "create_time",
        "sort_dir": "asc", "limit": "100", "offset": "0",
        "job_type": "PHOTO_DIGITAL_HUMAN_VIDEO", "asset_name": "promo"}
    assert params(ended) == {
        "state": "SUCCEED", "create_since": since, "sort_key": "update_time",
        "sort_dir": "desc", "limit": "100", "offset": "0",
        "job_type": "PHOTO_DIGITAL_HUMAN_VIDEO", "asset_name": "promo"}
    # Discovery lists every job, oldest first (the filters are applied to the answers).
    assert params(discovery) == {
        "create_since": format_time(world.clock() - timedelta(minutes=2)),
        "sort_key": "create_time", "sort_dir": "asc", "limit": "100", "offset": "0"}


def test_a_failed_subscriptions_recent_ends_are_failed_and_frozen_jobs(
    world: TrackingWorld,
) -> None:
    subscribe(world, "failed", script_id="script-a")
    mark = len(world.sim.requests)
    world.tracking.poller.poll()
    unfinished, ended = world.list_requests(mark)[:2]
    assert param(unfinished, "script_id") == "script-a"
    assert param(ended, "state") == "BLOCK,FAILED"
    assert param(ended, "script_id") == "script-a"


def test_adoption_announces_a_scripts_job_that_ended_before_the_first_poll(
    world: TrackingWorld,
) -> None:
    # The "script= ignored" survivor: the recent ends of a script filter are
    # announced with that script (answers do not carry it).
    mine = world.running(script_id="script-a", create_time=world.clock() - timedelta(hours=1))
    other = world.running(script_id="script-b", create_time=world.clock() - timedelta(hours=1))
    subscribe(world, "failed", script_id="script-a")
    world.clock.advance(10)
    world.sim.set_state(mine, "FAILED")
    world.sim.set_state(other, "FAILED")
    world.cycle()
    news = announcements(world)
    assert len(news) == 1 and mine in news[0]


def test_adoption_watches_a_scripts_unfinished_job_with_its_script(world: TrackingWorld) -> None:
    mine = world.running(script_id="script-a", create_time=world.clock() - timedelta(hours=1))
    world.running(script_id="script-b", create_time=world.clock() - timedelta(hours=1))
    subscribe(world, "failed", script_id="script-a")
    world.cycle()
    [row] = world.tracking.poller.active.all()
    assert (row.job_id, row.script_id, row.last_state) == (mine, "script-a", "PROCESSING")
    assert row.discovered_at == world.clock()
    world.clock.advance(600)  # long after any listing's overlap: only the row knows
    world.cycle()
    world.sim.set_state(mine, "FAILED")
    world.cycle()
    news = announcements(world)
    assert len(news) == 1 and mine in news[0]
    assert world.tracking.poller.active.count() == 0


def test_adoption_reads_every_page_of_unfinished_jobs_and_of_recent_ends(
    world: TrackingWorld,
) -> None:
    old = world.clock() - timedelta(hours=1)
    running = [world.running(create_time=old + timedelta(seconds=i)) for i in range(130)]
    ending = [world.running(create_time=old + timedelta(seconds=i)) for i in range(120)]
    history = world.running(create_time=old)
    world.sim.set_state(history, "FAILED")  # ended before the subscription: not news
    world.clock.advance(60)
    subscribe(world, "failed")
    world.clock.advance(10)
    for job in ending:
        world.sim.set_state(job, "FAILED")
    result = checked_poll(world)
    # 2 pages of unfinished jobs, 2 of recent ends (the second shows the older one,
    # and stops there), 1 discovery page, 2 batches of the active set.
    assert result.upstream_calls == 2 + 2 + 1 + 2
    assert result.announced == 120
    assert world.tracking.poller.active.count() == 130
    assert {r.payload["job"]["job_id"] for r in world.tracking.outbox.rows()} == set(ending)
    assert running  # all watched
    # Adopted once: the next cycle lists only what is new, and checks the active set.
    world.clock.advance(30)
    assert checked_poll(world).upstream_calls == 1 + 2


@pytest.mark.parametrize(("before", "pages", "update_times"), [
    (timedelta(minutes=10), 1, True),  # the first page already reaches older ends
    (timedelta(minutes=10), 1, False),  # told by the end times when answers lack updates
    (ENDED_MARGIN, 2, True),  # exactly at the margin is not older
])
def test_recent_ends_stop_at_the_first_page_reaching_before_the_subscription(
    world: TrackingWorld, before: timedelta, pages: int, update_times: bool,
) -> None:
    source = world.client if update_times else NoUpdateTimes(world.client)
    poller = Poller(world.tracking.store, world.tracking.outbox,
                    source, clock=world.clock)  # type: ignore[arg-type]
    old = world.clock() - timedelta(hours=1)
    history = [world.running(create_time=old) for _ in range(150)]
    for job in history:
        world.sim.set_state(job, "FAILED")  # before subscribing
    world.clock.advance(before.total_seconds())
    subscribe(world, "failed")
    world.clock.advance(10)
    fresh = world.running(create_time=old)
    world.sim.set_state(fresh, "FAILED")
    mark = len(world.sim.requests)
    result = checked_poll(world, poller)
    ended = [r for r in world.list_requests(mark) if param(r, "sort_key") == "update_time"]
    assert len(ended) == pages
    assert result.announced == 1


def test_adoption_reads_at_most_ten_pages_of_recent_ends(world: TrackingWorld) -> None:
    ids = [world.running(create_time=world.clock() - timedelta(hours=1)) for _ in range(1010)]
    subscribe(world, "failed")
    world.clock.advance(10)
    for job in ids:
        world.sim.set_state(job, "FAILED")
    mark = len(world.sim.requests)
    result = checked_poll(world)
    ended = [r for r in world.list_requests(mark) if param(r, "sort_key") == "update_time"]
    assert len(ended) == 10 and result.announced == 1000  # ENDED_MAX_PAGES
