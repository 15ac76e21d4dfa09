"""The active set and the sweep (bot/tracking/polling/poller.py): watched jobs keep their
state and are forgotten when they end or vanish upstream; when MetaStudio ignores
``job_ids`` the sweep lists unfinished jobs oldest first from the oldest known creation,
reads recent ends across pages after the last check (ten pages deep, stopping at a page
older than it), then confirms the rest by id; and a server that stops honouring
``job_ids`` mid-cycle is swept from that batch."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import pytest

from bot.metastudio.client import MetaStudioClient
from bot.metastudio.models import Job, JobState
from bot.metastudio.query import format_time
from bot.tracking.polling.active import ActiveSet
from bot.tracking.polling.poller import ENDED_MARGIN, Poller
from bot.tracking.polling.watermark import ACTIVE_CHECKED, PollState
from tests.fixtures.tracking import TrackingWorld
from tests.tracking.helpers import subscribe
from tests.tracking.polling.helpers import (
    NoUpdateTimes,
    announcements,
    checked_poll,
    param,
    params,
    sweeps_only,
    track_created,
)


def test_watched_jobs_keep_their_state_and_are_forgotten_when_they_end(
    world: TrackingWorld,
) -> None:
    subscribe(world, "failed")
    world.cycle()
    world.clock.advance(30)
    job = world.running(create_time=world.clock() - timedelta(seconds=5))
    world.cycle()
    world.sim.set_state(job, "WAITING")
    world.cycle()
    [row] = world.tracking.poller.active.all()
    assert row.last_state == "WAITING"
    world.sim.set_state(job, "SUCCEED")  # not news for "failed", still the end
    world.cycle()
    assert world.tracking.poller.active.count() == 0 and announcements(world) == []


def test_a_watched_job_gone_upstream_is_forgotten_and_the_others_kept(
    world: TrackingWorld, caplog: pytest.LogCaptureFixture,
) -> None:
    subscribe(world, "failed")
    world.cycle()
    world.clock.advance(30)
    kept = world.running(create_time=world.clock() - timedelta(seconds=5))
    world.cycle()
    active = ActiveSet(world.tracking.store)
    ghost = Job(job_id="deleted-job", state=JobState.PROCESSING,
                create_time=world.clock() - timedelta(seconds=60))
    with world.tracking.store.begin() as conn:
        active.watch(conn, ghost, world.clock())
    with caplog.at_level(logging.INFO, logger="bot.tracking.polling.poller"):
        checked_poll(world)
    assert [r.job_id for r in active.all()] == [kept]
    assert "watched job deleted-job no longer exists upstream; forgetting it" in [
        r.getMessage() for r in caplog.records]


def test_a_job_both_tracked_and_watched_is_swept_from_its_known_creation(
    world: TrackingWorld,
) -> None:
    sweeps_only(world)
    subscribe(world, "failed")
    world.cycle()
    world.clock.advance(30)
    job = world.running(create_time=world.clock() - timedelta(hours=3))
    # Tracked without its creation time (an old row); watched with it.
    world.tracking.store.add_tracked("C2", [(job, "PROCESSING", None)], message_ts="1.1",
                                     requested_by="U1", now=world.clock())
    with world.tracking.store.begin() as conn:
        world.tracking.poller.active.watch(conn, world.client.get_job(job, refresh=True),
                                           world.clock())
    mark = len(world.sim.requests)
    world.cycle()
    sweep = next(r for r in world.list_requests(mark) if param(r, "state") is not None)
    assert param(sweep, "create_since") == format_time(world.clock() - timedelta(hours=3))


def test_the_sweep_reads_recent_ends_across_pages_after_the_last_check(
    world: TrackingWorld,
) -> None:
    sweeps_only(world)
    old = world.clock() - timedelta(hours=2)
    history = [world.running(create_time=old) for _ in range(5)]
    for job in history:
        world.sim.set_state(job, "SUCCEED")  # ended long before the last check
    world.clock.advance(3600)
    ids = [world.running(create_time=old + timedelta(seconds=10 + i)) for i in range(150)]
    track_created(world, ids)
    world.cycle()
    assert PollState(world.tracking.store).get(ACTIVE_CHECKED) == world.clock()
    world.clock.advance(30)
    for job in ids:
        world.sim.set_state(job, "FAILED")
    mark = len(world.sim.requests)
    result = checked_poll(world)
    requests = world.list_requests(mark)
    # One sweep page (nothing unfinished), two pages of recent ends: no look-up by id.
    assert result.upstream_calls == 3 and result.finished == 150
    ends = requests[1]
    assert params(ends) == {
        "state": "BLOCK,CANCELED,FAILED,SUCCEED",
        "create_since": format_time(old + timedelta(seconds=10)), "sort_key": "update_time",
        "sort_dir": "desc", "limit": "100", "offset": "0"}


def test_without_an_earlier_check_the_missing_are_confirmed_by_id(world: TrackingWorld) -> None:
    sweeps_only(world)
    world.cycle()  # nothing active yet: the check's moment is still recorded
    assert PollState(world.tracking.store).get(ACTIVE_CHECKED) == world.clock()
    world.clock.advance(10)
    ids = [world.running(create_time=world.clock() - timedelta(seconds=5 - i))
           for i in range(3)]
    track_created(world, ids)
    world.clock.advance(10)
    for job in ids:
        world.sim.set_state(job, "FAILED")
    # One sweep and one listing of recent ends, not three look-ups by id.
    assert checked_poll(world).upstream_calls == 2


def test_the_sweep_lists_unfinished_jobs_oldest_first_and_records_their_changes(
    world: TrackingWorld,
) -> None:
    sweeps_only(world)
    ids = [world.running(create_time=world.clock() - timedelta(minutes=30 - i))
           for i in range(3)]
    track_created(world, ids)
    world.sim.set_state(ids[1], "WAITING")
    mark = len(world.sim.requests)
    assert checked_poll(world).upstream_calls == 1
    [sweep] = world.list_requests(mark)
    assert params(sweep) == {
        "state": "PROCESSING,WAITING",
        "create_since": format_time(world.clock() - timedelta(minutes=30)),
        "sort_key": "create_time", "sort_dir": "asc", "limit": "100", "offset": "0"}
    assert {r.job_id: r.last_state for r in world.tracking.store.pollable()} == {
        ids[0]: "PROCESSING", ids[1]: "WAITING", ids[2]: "PROCESSING"}


def test_jobs_of_unknown_creation_are_swept_without_a_start(world: TrackingWorld) -> None:
    sweeps_only(world)
    ids = [world.running(create_time=world.clock() - timedelta(days=2)) for _ in range(3)]
    world.tracking.store.add_tracked("C1", [(i, "PROCESSING", None) for i in ids],
                                     message_ts="1.1", requested_by="U1", now=world.clock())
    world.cycle()
    world.clock.advance(30)
    world.sim.set_state(ids[0], "FAILED")
    world.sim.set_state(ids[1], "SUCCEED")
    mark = len(world.sim.requests)
    result = checked_poll(world)
    assert result.finished == 2 and result.upstream_calls == 2
    sweep, ends = world.list_requests(mark)
    # No start: the server's own window.
    assert param(sweep, "create_since") is None and param(ends, "create_since") is None
    assert param(sweep, "state") == "PROCESSING,WAITING"


@pytest.mark.parametrize(("before_check", "pages", "update_times"), [
    (timedelta(hours=1), 1, True),  # the first page reaches before the last check
    (timedelta(hours=1), 1, False),  # told by the end times when answers lack updates
    (ENDED_MARGIN, 2, True),  # exactly at the cut-off is not before it
])
def test_the_recent_ends_stop_at_a_page_reaching_before_the_last_check(
    world: TrackingWorld, before_check: timedelta, pages: int, update_times: bool,
) -> None:
    sweeps_only(world)
    source = world.client if update_times else NoUpdateTimes(world.client)
    poller = Poller(world.tracking.store, world.tracking.outbox,
                    source, clock=world.clock)  # type: ignore[arg-type]
    old = world.clock() - timedelta(days=40)
    lost = world.running(create_time=old)  # running, but no listing shows it any more
    world.sim.faults.list_month_only = True
    history = [world.running(create_time=world.clock() - timedelta(days=1))
               for _ in range(150)]
    for job in history:
        world.sim.set_state(job, "SUCCEED")
    world.clock.advance(before_check.total_seconds())
    track_created(world, [lost])
    poller.poll()  # the last check
    world.clock.advance(600)
    mark = len(world.sim.requests)
    result = checked_poll(world, poller)
    # The sweep, the pages of ends (a page older than the last check ends them), then
    # the job by id: the listing, then its detail operation.
    ends = [r for r in world.list_requests(mark) if param(r, "sort_key") == "update_time"]
    assert len(ends) == pages
    assert result.upstream_calls == 1 + pages + 2
    assert world.tracking.store.pollable()[0].job_id == lost


def test_a_backlog_of_ends_is_read_ten_pages_deep_then_by_id(world: TrackingWorld) -> None:
    sweeps_only(world)
    ids = [world.running(create_time=world.clock() - timedelta(hours=2)) for _ in range(1010)]
    track_created(world, ids)
    world.cycle()
    world.clock.advance(30)
    for job in ids:
        world.sim.set_state(job, "FAILED")
    mark = len(world.sim.requests)
    result = checked_poll(world)
    ends = [r for r in world.list_requests(mark) if param(r, "sort_key") == "update_time"]
    assert len(ends) == 10  # ENDED_MAX_PAGES; the other 10 jobs one by one
    assert result.finished == 1010 and result.upstream_calls == 1 + 10 + 10


def test_a_job_missing_from_the_first_of_two_batches_is_still_looked_up(
    world: TrackingWorld,
) -> None:
    old = world.running(create_time=world.clock() - timedelta(days=40))
    ids = [world.running(create_time=world.clock() - timedelta(minutes=300 - i))
           for i in range(150)]
    track_created(world, [old, *ids])
    world.sim.faults.list_month_only = True  # only the detail operation finds the old one
    world.sim.set_state(old, "FAILED")
    result = checked_poll(world)
    assert result.finished == 1
    assert result.upstream_calls == 2 + 2  # two batches; the listing, then the detail


class _ChangesMind:
    """The real client, except that its second ``job_ids`` look-up of a cycle finds the
    server ignoring ``job_ids`` (None), as when a rolling upgrade reaches the host."""

    def __init__(self, inner: MetaStudioClient, honoured: int) -> None:
        self.inner, self.honoured, self.batches = inner, honoured, 0

    def lookup_batch(self, batch: Sequence[str]) -> Any:
        self.batches += 1
        found = self.inner.lookup_batch(batch)
        return found if self.batches <= self.honoured else None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@pytest.mark.parametrize("honoured", [0, 1])
def test_a_server_that_stops_honouring_job_ids_mid_cycle_is_swept_from_that_batch(
    world: TrackingWorld, honoured: int,
) -> None:
    ids = [world.running(create_time=world.clock() - timedelta(minutes=300 - i))
           for i in range(250)]
    track_created(world, ids)
    world.sim.faults.list_month_only = False
    poller = Poller(world.tracking.store, world.tracking.outbox,
                    _ChangesMind(world.client, honoured),  # type: ignore[arg-type]
                    clock=world.clock)
    poller.poll()
    world.clock.advance(30)
    ended = [ids[5], ids[150], ids[249]]
    for job in ended:
        world.sim.set_state(job, "FAILED")
    mark = len(world.sim.requests)
    poller.source.batches = 0  # type: ignore[attr-defined]
    result = poller.poll()
    assert result.error is None and result.finished == 3
    sweep = [r for r in world.list_requests(mark) if param(r, "state") == "PROCESSING,WAITING"]
    # The sweep starts at the oldest job of the first batch not looked up by id.
    assert param(sweep[0], "create_since") == format_time(
        world.sim.store.get(ids[100 * honoured]).create_time)


def test_a_job_ids_batch_missing_a_job_confirms_it_by_id_before_sweeping(
    world: TrackingWorld,
) -> None:
    old = world.running(create_time=world.clock() - timedelta(days=40),
                        job_type="PHOTO_DIGITAL_HUMAN_VIDEO")
    ids = [world.running(create_time=world.clock() - timedelta(minutes=300 - i))
           for i in range(150)]
    track_created(world, [old, *ids])
    poller = Poller(world.tracking.store, world.tracking.outbox,
                    _ChangesMind(world.client, 1),  # type: ignore[arg-type]
                    clock=world.clock)
    world.sim.faults.list_month_only = True  # the old job is found only by its detail
    poller.poll()
    world.clock.advance(30)
    world.sim.set_state(old, "FAILED")
    poller.source.batches = 0  # type: ignore[attr-defined]
    result = poller.poll()
    assert result.error is None and result.finished == 1
