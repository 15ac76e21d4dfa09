"""What mutation testing of ``bot/tracking/polling/poller.py`` found unchecked (bench/MUTATION.md,
"session 3"): the exact queries each step sends, the counts a cycle reports, where the
watermark lands, what a script filter learns and keeps, the sweep's paging and fall
backs, and the small matching rules. Every scenario runs against the simulator over
HTTP and a real database."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prometheus_client import REGISTRY

from bot.commands.types import Unsubscribe
from bot.domain.records import Subscription
from bot.metastudio.client import Found, MetaStudioClient, lookup_since
from bot.metastudio.models import Job, JobState, JobType
from bot.metastudio.paging import Page
from bot.metastudio.query import QueryJobType, format_time
from bot.tracking.delivery.outbox import subscription_key, track_key
from bot.tracking.polling.active import ActiveSet
from bot.tracking.polling.poller import (
    ENDED_MARGIN,
    OUTCOME_STATES,
    Poller,
    _after_baseline,
    _api_filters,
    _matches_filters,
    _script_of,
    _type_of,
)
from bot.tracking.polling.watermark import ACTIVE_CHECKED, DISCOVERY, PollState, script_discovery
from tests.fixtures.tracking import PROJECT_ID, T0, UPSTREAM_DOWN, TrackingWorld
from tests.tracking.helpers import ctx, subscribe, track, tracking_message


def _param(request: Any, name: str) -> str | None:
    return next((v for k, v in request.params if k == name), None)


def _params(request: Any) -> dict[str, str]:
    return dict(request.params)


def _top_level(world: TrackingWorld, channel: str = "C1") -> list[str]:
    return [m.text for m in world.slack.posts(channel) if m.thread_ts is None]


def _news(world: TrackingWorld, channel: str = "C1") -> list[str]:
    """Announcements: the channel's top-level posts after the subscription's confirmation."""
    return _top_level(world, channel)[1:]


def _poll(world: TrackingWorld, poller: Poller | None = None) -> Any:
    """One poll, whose reported requests are the requests MetaStudio received."""
    mark = world.sim.request_count("")
    result = (poller or world.tracking.poller).poll()
    assert result.error is None
    assert result.upstream_calls == world.sim.request_count("") - mark
    return result


def _sweeps_only(world: TrackingWorld) -> None:
    """The server ignores ``job_ids`` and the client has decided so already."""
    world.sim.ignore_job_ids = True
    for _ in range(3):
        world.tracking.poller.source.job_ids.record(False)  # type: ignore[attr-defined]


def _track_created(world: TrackingWorld, ids: Sequence[str], channel: str = "C1") -> None:
    world.tracking.store.add_tracked(
        channel, [(i, "PROCESSING", world.sim.store.get(i).create_time) for i in ids],
        message_ts="1.1", requested_by="U1", now=world.clock())


# -- the queries ---------------------------------------------------------------------------


def test_adoption_lists_the_subscriptions_unfinished_jobs_then_its_recent_ends(
    world: TrackingWorld,
) -> None:
    subscribe(world, "finished", asset_name="promo", job_type=QueryJobType.PHOTO)
    mark = len(world.sim.requests)
    world.tracking.poller.poll()
    unfinished, ended, discovery = world.list_requests(mark)
    since = format_time(lookup_since(world.clock()))
    assert _params(unfinished) == {
        "state": "PROCESSING,WAITING", "create_since": since, "sort_key": "create_time",
        "sort_dir": "asc", "limit": "100", "offset": "0",
        "job_type": "PHOTO_DIGITAL_HUMAN_VIDEO", "asset_name": "promo"}
    assert _params(ended) == {
        "state": "SUCCEED", "create_since": since, "sort_key": "update_time",
        "sort_dir": "desc", "limit": "100", "offset": "0",
        "job_type": "PHOTO_DIGITAL_HUMAN_VIDEO", "asset_name": "promo"}
    # Discovery lists every job, oldest first (the filters are applied to the answers).
    assert _params(discovery) == {
        "create_since": format_time(world.clock() - timedelta(minutes=2)),
        "sort_key": "create_time", "sort_dir": "asc", "limit": "100", "offset": "0"}


def test_a_failed_subscriptions_recent_ends_are_failed_and_frozen_jobs(
    world: TrackingWorld,
) -> None:
    subscribe(world, "failed", script_id="script-a")
    mark = len(world.sim.requests)
    world.tracking.poller.poll()
    unfinished, ended = world.list_requests(mark)[:2]
    assert _param(unfinished, "script_id") == "script-a"
    assert _param(ended, "state") == "BLOCK,FAILED"
    assert _param(ended, "script_id") == "script-a"


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
    news = _news(world)
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
    news = _news(world)
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
    result = _poll(world)
    # 2 pages of unfinished jobs, 2 of recent ends (the second shows the older one,
    # and stops there), 1 discovery page, 2 batches of the active set.
    assert result.upstream_calls == 2 + 2 + 1 + 2
    assert result.announced == 120
    assert world.tracking.poller.active.count() == 130
    assert {r.payload["job"]["job_id"] for r in world.tracking.outbox.rows()} == set(ending)
    assert running  # all watched
    # Adopted once: the next cycle lists only what is new, and checks the active set.
    world.clock.advance(30)
    assert _poll(world).upstream_calls == 1 + 2


@pytest.mark.parametrize(("before", "pages", "update_times"), [
    (timedelta(minutes=10), 1, True),  # the first page already reaches older ends
    (timedelta(minutes=10), 1, False),  # told by the end times when answers lack updates
    (ENDED_MARGIN, 2, True),  # exactly at the margin is not older
])
def test_recent_ends_stop_at_the_first_page_reaching_before_the_subscription(
    world: TrackingWorld, before: timedelta, pages: int, update_times: bool,
) -> None:
    source = world.client if update_times else _NoUpdateTimes(world.client)
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
    result = _poll(world, poller)
    ended = [r for r in world.list_requests(mark) if _param(r, "sort_key") == "update_time"]
    assert len(ended) == pages
    assert result.announced == 1


def test_adoption_reads_at_most_ten_pages_of_recent_ends(world: TrackingWorld) -> None:
    ids = [world.running(create_time=world.clock() - timedelta(hours=1)) for _ in range(1010)]
    subscribe(world, "failed")
    world.clock.advance(10)
    for job in ids:
        world.sim.set_state(job, "FAILED")
    mark = len(world.sim.requests)
    result = _poll(world)
    ended = [r for r in world.list_requests(mark) if _param(r, "sort_key") == "update_time"]
    assert len(ended) == 10 and result.announced == 1000  # ENDED_MAX_PAGES


# -- one cycle's report ------------------------------------------------------------------


def _sample(name: str) -> float:
    return REGISTRY.get_sample_value(name) or 0.0


def test_every_failed_cycle_is_counted_logged_and_reported(
    world: TrackingWorld, caplog: pytest.LogCaptureFixture,
) -> None:
    track(world, world.running())
    world.sim.faults.fail_next(**UPSTREAM_DOWN)
    with caplog.at_level(logging.WARNING, logger="bot.tracking.polling.poller"):
        first = world.tracking.poller.poll()
    assert first.error and "503" in first.error
    assert [r.getMessage() for r in caplog.records if r.name == "bot.tracking.polling.poller"] == [
        f"poll cycle failed, retrying next cycle: {first.error}"]
    world.sim.faults.fail_next(**UPSTREAM_DOWN)
    assert world.tracking.poller.poll().error
    assert world.tracking.poller.failed_cycles == 2
    assert world.tracking.poller.poll().error is None
    assert world.tracking.poller.failed_cycles == 2


def test_a_cycle_records_its_requests_and_duration(world: TrackingWorld) -> None:
    track(world, world.running(), world.running())
    calls = (_sample("videojobs_poll_upstream_calls_sum"),
             _sample("videojobs_poll_upstream_calls_count"))
    cycles = (_sample("videojobs_poll_cycle_seconds_sum"),
              _sample("videojobs_poll_cycle_seconds_count"))
    result = _poll(world)
    assert result.upstream_calls == 1
    assert _sample("videojobs_poll_upstream_calls_sum") == calls[0] + 1
    assert _sample("videojobs_poll_upstream_calls_count") == calls[1] + 1
    assert _sample("videojobs_poll_cycle_seconds_count") == cycles[1] + 1
    took = _sample("videojobs_poll_cycle_seconds_sum") - cycles[0]
    assert 0 < took < 30


def test_a_cycle_reports_what_it_discovered_finished_and_announced(
    world: TrackingWorld,
) -> None:
    subscribe(world, "all")
    subscribe(world, "failed", channel="C2")
    world.cycle()
    world.clock.advance(30)
    new = [world.running(create_time=world.clock() - timedelta(seconds=20 - i // 10))
           for i in range(120)]
    result = _poll(world)
    assert (result.discovered, result.finished, result.announced) == (120, 0, 0)
    tracked = new[:110]
    _track_created(world, tracked, channel="C3")
    world.clock.advance(30)
    for job in new:
        world.sim.set_state(job, "FAILED")
    result = _poll(world)
    # The overlap lists the jobs again; every tracked end is recorded (two chunks), and
    # every watched end is announced in both channels.
    assert (result.discovered, result.finished, result.announced) == (120, 110, 240)
    assert world.tracking.poller.active.count() == 0


def test_each_end_is_recorded_with_what_its_message_needs(world: TrackingWorld) -> None:
    subscribe(world, "failed", channel="C2")
    world.cycle()
    world.clock.advance(30)
    tracked = world.running(create_time=world.clock() - timedelta(seconds=20))
    watched = world.running(create_time=world.clock() - timedelta(seconds=10))
    track(world, tracked)
    thread = tracking_message(world).ts
    world.cycle()
    world.clock.advance(30)
    for job in (tracked, watched):
        world.sim.set_state(job, "FAILED")
    world.tracking.poller.poll()
    rows = {(r.kind, r.payload["job"]["job_id"]): r for r in world.tracking.outbox.rows()}
    # The C2 subscription also hears of the job tracked in C1.
    assert sorted(rows) == sorted([("track", tracked), ("sub", tracked), ("sub", watched)])
    mine, news = rows["track", tracked], rows["sub", watched]
    assert (mine.kind, mine.channel, mine.dedupe_key) == (
        "track", "C1", track_key("C1", tracked, "FAILED"))
    assert (mine.payload["thread_ts"], mine.payload["requested_by"]) == (thread, "U1")
    assert mine.payload["job"]["state"] == "FAILED" and mine.created_at == world.clock()
    [closed] = world.tracking.store.in_message("C1", thread)
    # Closed now (retention counts from it) at the end state.
    assert (closed.closed, closed.closed_at, closed.last_state) == (True, world.clock(), "FAILED")
    [sub] = world.tracking.store.channel_subscriptions("C2")
    assert (news.kind, news.channel, news.dedupe_key) == (
        "sub", "C2", subscription_key("C2", watched, "FAILED"))
    assert news.payload["subscription"] == sub.id and news.created_at == world.clock()
    assert news.payload["job"]["state"] == "FAILED"


def test_a_channel_tracking_the_job_is_skipped_and_the_next_channel_still_told(
    world: TrackingWorld,
) -> None:
    subscribe(world, "all", channel="C1")
    subscribe(world, "all", channel="C2")
    world.cycle()
    world.clock.advance(30)
    job = world.running(create_time=world.clock() - timedelta(seconds=5))
    track(world, job, channel="C1")
    world.cycle()
    world.sim.set_state(job, "SUCCEED")
    assert _poll(world).announced == 1
    assert sorted((r.kind, r.channel) for r in world.tracking.outbox.rows()) == [
        ("sub", "C2"), ("track", "C1")]


# -- discovery and its watermark ------------------------------------------------------------


def test_discovery_pages_over_cycles_oldest_first_without_gaps(world: TrackingWorld) -> None:
    poller = Poller(world.tracking.store, world.tracking.outbox, world.client,
                    clock=world.clock, discovery_max_pages=1)
    subscribe(world, "failed")
    _poll(world, poller)
    world.clock.advance(1300)
    # Five seconds apart: the two minutes a listing re-reads hold 24 jobs, not a page.
    created = [world.clock() - timedelta(seconds=1250 - 5 * i) for i in range(250)]
    jobs = [world.running(create_time=when) for when in created]
    state = PollState(world.tracking.store)
    marks = []
    discovered = []
    for _ in range(3):
        mark = len(world.sim.requests)
        result = _poll(world, poller)
        listings = [r for r in world.list_requests(mark) if _param(r, "state") is None
                    and _param(r, "job_ids") is None]
        assert len(listings) == 1  # one page per cycle
        discovered.append(result.discovered)
        marks.append(state.get(DISCOVERY))
    # Each page starts two minutes (24 jobs) before the last mark.
    assert marks == [created[99], created[174], created[249]]
    assert discovered == [100, 100, 100]
    assert {r.job_id for r in poller.active.all()} == set(jobs)


def test_the_watermark_is_the_newest_job_listed(world: TrackingWorld) -> None:
    subscribe(world, "all")
    world.cycle()
    world.clock.advance(60)
    newest = world.clock() - timedelta(seconds=5)
    world.running(create_time=newest)
    world.running(create_time=world.clock() - timedelta(seconds=50))
    world.cycle()
    assert PollState(world.tracking.store).get(DISCOVERY) == newest


def test_a_job_dated_in_the_future_does_not_carry_the_watermark_past_now(
    world: TrackingWorld,
) -> None:
    subscribe(world, "failed")
    world.cycle()
    world.clock.advance(30)
    world.running(create_time=world.clock() + timedelta(hours=1))  # a skewed host
    world.cycle()
    assert PollState(world.tracking.store).get(DISCOVERY) == world.clock() + timedelta(
        minutes=2)
    world.clock.advance(30)
    later = world.running(create_time=world.clock() - timedelta(seconds=5))
    world.cycle()
    world.sim.set_state(later, "FAILED")
    world.cycle()
    assert [later in t for t in _news(world)] == [True]


def test_the_first_listing_keeps_its_mark_even_when_it_finds_nothing(
    world: TrackingWorld,
) -> None:
    subscribe(world, "failed")
    world.cycle()  # nothing created since: the mark is now all the same
    assert PollState(world.tracking.store).get(DISCOVERY) == world.clock()
    world.clock.advance(60)
    job = world.running()
    world.clock.advance(600)  # the next cycle comes late (a slow deploy)
    world.cycle()
    world.sim.set_state(job, "FAILED")
    world.cycle()
    assert [job in t for t in _news(world)] == [True]


def test_a_script_listings_first_mark_is_kept_too(world: TrackingWorld) -> None:
    subscribe(world, "failed", script_id="script-a")
    world.cycle()
    state = PollState(world.tracking.store)
    assert state.get(script_discovery("script-a")) == world.clock()
    world.clock.advance(60)
    job = world.running(script_id="script-a")
    world.clock.advance(600)
    world.cycle()
    world.sim.set_state(job, "FAILED")
    world.cycle()
    assert [job in t for t in _news(world)] == [True]


def test_without_plain_subscriptions_the_mark_follows_the_clock(world: TrackingWorld) -> None:
    subscribe(world, "failed")
    world.cycle()
    world.tracking.service.unsubscribe(ctx(), Unsubscribe(1))
    subscribe(world, "failed", script_id="script-a")  # a script listing only
    for _ in range(3):
        world.clock.advance(3600)
        world.cycle()
    state = PollState(world.tracking.store)
    assert state.get(DISCOVERY) == world.clock()
    world.clock.advance(30)
    subscribe(world, "all")
    mark = len(world.sim.requests)
    world.cycle()
    plain = [r for r in world.list_requests(mark) if _param(r, "state") is None
             and _param(r, "script_id") is None]
    assert [_param(r, "create_since") for r in plain] == [
        format_time(world.clock() - timedelta(seconds=30) - timedelta(minutes=2))]


def test_each_script_filter_has_its_own_listing(world: TrackingWorld) -> None:
    subscribe(world, "failed", script_id="script-b")
    subscribe(world, "failed", channel="C2", script_id="script-a")
    world.cycle()
    world.clock.advance(30)
    a = world.running(script_id="script-a", create_time=world.clock() - timedelta(seconds=9))
    b = world.running(script_id="script-b", create_time=world.clock() - timedelta(seconds=8))
    mark = len(world.sim.requests)
    world.cycle()
    listings = [_param(r, "script_id") for r in world.list_requests(mark)
                if _param(r, "state") is None and _param(r, "job_ids") is None]
    assert listings == ["script-a", "script-b"]  # none without a script filter
    assert {(r.job_id, r.script_id) for r in world.tracking.poller.active.all()} == {
        (a, "script-a"), (b, "script-b")}
    state = PollState(world.tracking.store)
    assert state.get(script_discovery("script-a")) == world.sim.store.get(a).create_time
    assert state.get(script_discovery("script-b")) == world.sim.store.get(b).create_time
    for job in (a, b):
        world.sim.set_state(job, "FAILED")
    world.cycle()
    assert [b in t for t in _news(world)] == [True]
    assert [a in t for t in _news(world, "C2")] == [True]


def test_a_discovered_job_that_already_ended_is_announced_not_watched(
    world: TrackingWorld,
) -> None:
    subscribe(world, "failed", asset_name="promo")
    world.cycle()
    world.clock.advance(30)
    quick = world.running(asset_name="promo", create_time=world.clock() - timedelta(seconds=9))
    slow = world.running(asset_name="promo", create_time=world.clock() - timedelta(seconds=8))
    other = world.running(asset_name="other", create_time=world.clock() - timedelta(seconds=7))
    world.sim.set_state(quick, "FAILED")
    result = _poll(world)
    assert (result.discovered, result.announced) == (3, 1)
    assert [r.job_id for r in world.tracking.poller.active.all()] == [slow]
    world.clock.advance(600)
    world.cycle()
    for job in (slow, other):
        world.sim.set_state(job, "FAILED")
    world.cycle()  # the watched job's end, checked against the asset filter
    assert [r.payload["job"]["job_id"] for r in world.tracking.outbox.rows()] == [quick, slow]


def test_a_scripts_job_discovered_already_ended_is_announced(world: TrackingWorld) -> None:
    subscribe(world, "failed", script_id="script-a")
    world.cycle()
    world.clock.advance(30)
    quick = world.running(script_id="script-a", create_time=world.clock() - timedelta(seconds=9))
    world.sim.set_state(quick, "FAILED")  # created and failed between two cycles
    assert _poll(world).announced == 1
    assert [r.payload["job"]["job_id"] for r in world.tracking.outbox.rows()] == [quick]


# -- the active set ---------------------------------------------------------------------


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
    assert world.tracking.poller.active.count() == 0 and _news(world) == []


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
        _poll(world)
    assert [r.job_id for r in active.all()] == [kept]
    assert "watched job deleted-job no longer exists upstream; forgetting it" in [
        r.getMessage() for r in caplog.records]


def test_a_job_both_tracked_and_watched_is_swept_from_its_known_creation(
    world: TrackingWorld,
) -> None:
    _sweeps_only(world)
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
    sweep = next(r for r in world.list_requests(mark) if _param(r, "state") is not None)
    assert _param(sweep, "create_since") == format_time(world.clock() - timedelta(hours=3))


def test_the_sweep_reads_recent_ends_across_pages_after_the_last_check(
    world: TrackingWorld,
) -> None:
    _sweeps_only(world)
    old = world.clock() - timedelta(hours=2)
    history = [world.running(create_time=old) for _ in range(5)]
    for job in history:
        world.sim.set_state(job, "SUCCEED")  # ended long before the last check
    world.clock.advance(3600)
    ids = [world.running(create_time=old + timedelta(seconds=10 + i)) for i in range(150)]
    _track_created(world, ids)
    world.cycle()
    assert PollState(world.tracking.store).get(ACTIVE_CHECKED) == world.clock()
    world.clock.advance(30)
    for job in ids:
        world.sim.set_state(job, "FAILED")
    mark = len(world.sim.requests)
    result = _poll(world)
    requests = world.list_requests(mark)
    # One sweep page (nothing unfinished), two pages of recent ends: no look-up by id.
    assert result.upstream_calls == 3 and result.finished == 150
    ends = requests[1]
    assert _params(ends) == {
        "state": "BLOCK,CANCELED,FAILED,SUCCEED",
        "create_since": format_time(old + timedelta(seconds=10)), "sort_key": "update_time",
        "sort_dir": "desc", "limit": "100", "offset": "0"}


def test_without_an_earlier_check_the_missing_are_confirmed_by_id(world: TrackingWorld) -> None:
    _sweeps_only(world)
    world.cycle()  # nothing active yet: the check's moment is still recorded
    assert PollState(world.tracking.store).get(ACTIVE_CHECKED) == world.clock()
    world.clock.advance(10)
    ids = [world.running(create_time=world.clock() - timedelta(seconds=5 - i))
           for i in range(3)]
    _track_created(world, ids)
    world.clock.advance(10)
    for job in ids:
        world.sim.set_state(job, "FAILED")
    # One sweep and one listing of recent ends, not three look-ups by id.
    assert _poll(world).upstream_calls == 2


def test_the_sweep_lists_unfinished_jobs_oldest_first_and_records_their_changes(
    world: TrackingWorld,
) -> None:
    _sweeps_only(world)
    ids = [world.running(create_time=world.clock() - timedelta(minutes=30 - i))
           for i in range(3)]
    _track_created(world, ids)
    world.sim.set_state(ids[1], "WAITING")
    mark = len(world.sim.requests)
    assert _poll(world).upstream_calls == 1
    [sweep] = world.list_requests(mark)
    assert _params(sweep) == {
        "state": "PROCESSING,WAITING",
        "create_since": format_time(world.clock() - timedelta(minutes=30)),
        "sort_key": "create_time", "sort_dir": "asc", "limit": "100", "offset": "0"}
    assert {r.job_id: r.last_state for r in world.tracking.store.pollable()} == {
        ids[0]: "PROCESSING", ids[1]: "WAITING", ids[2]: "PROCESSING"}


def test_jobs_of_unknown_creation_are_swept_without_a_start(world: TrackingWorld) -> None:
    _sweeps_only(world)
    ids = [world.running(create_time=world.clock() - timedelta(days=2)) for _ in range(3)]
    world.tracking.store.add_tracked("C1", [(i, "PROCESSING", None) for i in ids],
                                     message_ts="1.1", requested_by="U1", now=world.clock())
    world.cycle()
    world.clock.advance(30)
    world.sim.set_state(ids[0], "FAILED")
    world.sim.set_state(ids[1], "SUCCEED")
    mark = len(world.sim.requests)
    result = _poll(world)
    assert result.finished == 2 and result.upstream_calls == 2
    sweep, ends = world.list_requests(mark)
    # No start: the server's own window.
    assert _param(sweep, "create_since") is None and _param(ends, "create_since") is None
    assert _param(sweep, "state") == "PROCESSING,WAITING"


@pytest.mark.parametrize(("before_check", "pages", "update_times"), [
    (timedelta(hours=1), 1, True),  # the first page reaches before the last check
    (timedelta(hours=1), 1, False),  # told by the end times when answers lack updates
    (ENDED_MARGIN, 2, True),  # exactly at the cut-off is not before it
])
def test_the_recent_ends_stop_at_a_page_reaching_before_the_last_check(
    world: TrackingWorld, before_check: timedelta, pages: int, update_times: bool,
) -> None:
    _sweeps_only(world)
    source = world.client if update_times else _NoUpdateTimes(world.client)
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
    _track_created(world, [lost])
    poller.poll()  # the last check
    world.clock.advance(600)
    mark = len(world.sim.requests)
    result = _poll(world, poller)
    # The sweep, the pages of ends (a page older than the last check ends them), then
    # the job by id: the listing, then its detail operation.
    ends = [r for r in world.list_requests(mark) if _param(r, "sort_key") == "update_time"]
    assert len(ends) == pages
    assert result.upstream_calls == 1 + pages + 2
    assert world.tracking.store.pollable()[0].job_id == lost


def test_a_backlog_of_ends_is_read_ten_pages_deep_then_by_id(world: TrackingWorld) -> None:
    _sweeps_only(world)
    ids = [world.running(create_time=world.clock() - timedelta(hours=2)) for _ in range(1010)]
    _track_created(world, ids)
    world.cycle()
    world.clock.advance(30)
    for job in ids:
        world.sim.set_state(job, "FAILED")
    mark = len(world.sim.requests)
    result = _poll(world)
    ends = [r for r in world.list_requests(mark) if _param(r, "sort_key") == "update_time"]
    assert len(ends) == 10  # ENDED_MAX_PAGES; the other 10 jobs one by one
    assert result.finished == 1010 and result.upstream_calls == 1 + 10 + 10


def test_a_job_missing_from_the_first_of_two_batches_is_still_looked_up(
    world: TrackingWorld,
) -> None:
    old = world.running(create_time=world.clock() - timedelta(days=40))
    ids = [world.running(create_time=world.clock() - timedelta(minutes=300 - i))
           for i in range(150)]
    _track_created(world, [old, *ids])
    world.sim.faults.list_month_only = True  # only the detail operation finds the old one
    world.sim.set_state(old, "FAILED")
    result = _poll(world)
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
    _track_created(world, ids)
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
    sweep = [r for r in world.list_requests(mark) if _param(r, "state") == "PROCESSING,WAITING"]
    # The sweep starts at the oldest job of the first batch not looked up by id.
    assert _param(sweep[0], "create_since") == format_time(
        world.sim.store.get(ids[100 * honoured]).create_time)


def test_a_job_ids_batch_missing_a_job_confirms_it_by_id_before_sweeping(
    world: TrackingWorld,
) -> None:
    old = world.running(create_time=world.clock() - timedelta(days=40),
                        job_type="PHOTO_DIGITAL_HUMAN_VIDEO")
    ids = [world.running(create_time=world.clock() - timedelta(minutes=300 - i))
           for i in range(150)]
    _track_created(world, [old, *ids])
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


# -- a callback -------------------------------------------------------------------------


def test_a_callback_is_recorded_up_to_the_default_retention_of_seven_days(
    world: TrackingWorld, caplog: pytest.LogCaptureFixture,
) -> None:
    poller = Poller(world.tracking.store, world.tracking.outbox, world.client,
                    clock=world.clock)
    subscribe(world, "failed")
    world.cycle()
    world.clock.advance(10)
    jobs = [world.running(), world.running()]
    for job in jobs:
        world.sim.set_state(job, "FAILED")
    world.clock.advance(7 * 86_400)
    assert poller.observe(jobs[0]) == 1  # ended exactly seven days ago
    world.clock.advance(1)
    with caplog.at_level(logging.INFO, logger="bot.tracking.polling.poller"):
        assert poller.observe(jobs[1]) == 0
    ended = world.clock() - timedelta(days=7, seconds=1)
    assert [r.getMessage() for r in caplog.records if r.name == "bot.tracking.polling.poller"] == [
        f"callback about job {jobs[1]} that ended {ended}: older than the retention, ignored"]


def _paths(world: TrackingWorld, since: int) -> list[str]:
    return [r.path.removeprefix(f"/v1/{PROJECT_ID}/") for r in world.sim.requests[since:]]


class _NoUpdateTimes:
    """The real client, with answers that leave out ``lastupdate_time`` (it is not in
    every version of the API's answers)."""

    def __init__(self, inner: MetaStudioClient) -> None:
        self.inner = inner

    def find_job(self, job_id: str, *, job_type: str | None = None) -> Found:
        found = self.inner.find_job(job_id, job_type=job_type)
        job = found.job.model_copy(update={"lastupdate_time": None}) if found.job else None
        return Found(job, found.requests)

    def scan(self, query: Any, **kw: Any) -> Any:
        for page in self.inner.scan(query, **kw):
            yield Page(tuple(j.model_copy(update={"lastupdate_time": None}) for j in page.jobs),
                       page.count, page.request_id)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_a_callbacks_age_is_its_end_time_when_the_answer_has_no_update_time(
    world: TrackingWorld,
) -> None:
    poller = Poller(world.tracking.store, world.tracking.outbox,
                    _NoUpdateTimes(world.client),  # type: ignore[arg-type]
                    clock=world.clock)
    subscribe(world, "failed")
    world.cycle()
    world.clock.advance(10)
    job = world.running()
    world.sim.set_state(job, "FAILED")
    world.clock.advance(8 * 86_400)
    assert poller.observe(job) == 0
    assert world.tracking.outbox.rows() == []


def test_a_callback_about_a_watched_job_reads_its_detail_and_forgets_it(
    world: TrackingWorld,
) -> None:
    subscribe(world, "failed", script_id="s1")
    world.cycle()
    world.clock.advance(30)
    job = world.running(script_id="s1", job_type="PHOTO_DIGITAL_HUMAN_VIDEO",
                        create_time=world.clock() - timedelta(seconds=5))
    world.cycle()
    [row] = world.tracking.poller.active.all()
    assert (row.script_id, row.job_type) == ("s1", "PHOTO_DIGITAL_HUMAN_VIDEO")
    world.sim.set_state(job, "FAILED")
    mark = len(world.sim.requests)
    assert world.tracking.poller.observe(job) == 1
    # The watched row knows the type: one detail request, no listing.
    assert _paths(world, mark) == [f"photo-digital-human-videos/{job}"]
    assert world.tracking.poller.active.count() == 0
    assert world.tracking.poller.observe(job) == 0  # said once
    [sent] = world.tracking.outbox.rows()
    assert (sent.kind, sent.channel, sent.payload["job"]["job_id"]) == ("sub", "C1", job)


def test_a_callback_about_a_watched_job_of_unknown_type_keeps_the_rows_script(
    world: TrackingWorld,
) -> None:
    subscribe(world, "failed", script_id="s1")
    world.cycle()
    job = world.running(script_id="s1", create_time=world.clock() - timedelta(hours=1))
    # Watched from an answer that did not say the job's type.
    with world.tracking.store.begin() as conn:
        world.tracking.poller.active.watch(conn, Job(job_id=job, state=JobState.PROCESSING),
                                           world.clock(), script_id="s1")
    world.clock.advance(30)
    world.sim.set_state(job, "FAILED")
    mark = len(world.sim.requests)
    assert world.tracking.poller.observe(job) == 1
    assert _paths(world, mark) == ["digital-human-videos"]  # the list's look-up only


def test_a_callback_about_an_unwatched_job_learns_its_script_when_a_filter_needs_it(
    world: TrackingWorld,
) -> None:
    subscribe(world, "failed", script_id="s1")
    subscribe(world, "all", channel="C2")
    world.cycle()
    world.clock.advance(30)
    # Listed late (created an hour ago): no listing has seen it, nothing watches it.
    job = world.running(script_id="s1", create_time=world.clock() - timedelta(hours=1))
    world.sim.set_state(job, "FAILED")
    mark = len(world.sim.requests)
    assert world.tracking.poller.observe(job) == 2
    assert _paths(world, mark) == ["digital-human-videos", f"2d-digital-human-videos/{job}"]
    assert sorted(r.channel for r in world.tracking.outbox.rows()) == ["C1", "C2"]


def test_a_callback_about_a_job_only_its_detail_finds_uses_the_details_script(
    world: TrackingWorld,
) -> None:
    subscribe(world, "failed", script_id="s1")
    world.cycle()
    world.clock.advance(30)
    job = world.running(script_id="s1", create_time=world.clock() - timedelta(days=40))
    world.sim.faults.list_month_only = True
    world.sim.set_state(job, "FAILED")
    mark = len(world.sim.requests)
    assert world.tracking.poller.observe(job) == 1
    # The listing misses it; the detail answer already names the script: no second one.
    assert _paths(world, mark) == ["digital-human-videos", f"2d-digital-human-videos/{job}"]


def test_a_callback_checks_the_subscriptions_filters_against_the_job(
    world: TrackingWorld,
) -> None:
    subscribe(world, "failed", asset_name="promo")
    subscribe(world, "failed", channel="C2", job_type=QueryJobType.PHOTO)
    world.cycle()
    world.clock.advance(30)
    promo = world.running(asset_name="promo")
    other = world.running(asset_name="other")
    for job in (promo, other):
        world.sim.set_state(job, "FAILED")
    assert world.tracking.poller.observe(promo) == 1
    assert world.tracking.poller.observe(other) == 0
    assert [(r.channel, r.payload["job"]["job_id"]) for r in world.tracking.outbox.rows()] == [
        ("C1", promo)]


def test_a_callback_without_script_filters_costs_one_request(world: TrackingWorld) -> None:
    subscribe(world, "failed", channel="C2")
    world.cycle()
    world.clock.advance(30)
    job = world.running(script_id="s1", create_time=world.clock() - timedelta(hours=1))
    other = world.running(script_id="s2", create_time=world.clock() - timedelta(hours=1))
    world.sim.set_state(job, "FAILED")
    world.sim.set_state(other, "FAILED")
    mark = len(world.sim.requests)
    assert world.tracking.poller.observe(job) == 1
    assert _paths(world, mark) == ["digital-human-videos"]
    world.clock.advance(10)
    subscribe(world, "failed", script_id="s1")
    world.cycle()  # adopted
    # Now the detail tells the script: s2, not for the s1 filter.
    mark = len(world.sim.requests)
    assert world.tracking.poller.observe(other) == 1
    assert _paths(world, mark) == ["digital-human-videos", f"2d-digital-human-videos/{other}"]
    assert [r.channel for r in world.tracking.outbox.rows()] == ["C2", "C2"]


def test_a_callback_closes_every_tracking_of_the_job(world: TrackingWorld) -> None:
    job = world.running()
    track(world, job)
    track(world, job, channel="C2")
    world.sim.set_state(job, "SUCCEED")
    assert world.tracking.poller.observe(job) == 2
    assert world.tracking.store.pollable() == []
    assert sorted((r.kind, r.channel) for r in world.tracking.outbox.rows()) == [
        ("track", "C1"), ("track", "C2")]


def test_a_callback_leaves_a_subscription_not_yet_adopted_to_its_adoption(
    world: TrackingWorld,
) -> None:
    job = world.running()
    subscribe(world, "all")
    world.clock.advance(10)
    world.sim.set_state(job, "SUCCEED")
    assert world.tracking.poller.observe(job) == 0
    assert world.tracking.poller.poll().announced == 1


def test_a_callback_about_an_unfinished_or_unknown_job_records_nothing(
    world: TrackingWorld,
) -> None:
    subscribe(world, "all")
    world.cycle()
    job = world.running()
    track(world, job)
    assert world.tracking.poller.observe(job) == 0
    assert world.tracking.poller.observe("no-such-job") == 0
    assert world.tracking.outbox.rows() == [] and len(world.tracking.store.pollable()) == 1


# -- matching, unit by unit ------------------------------------------------------------


def _sub(**fields: Any) -> Subscription:
    values: dict[str, Any] = dict(
        id=1, channel="C1", outcome="all", job_type=None, asset_name=None, script_id=None,
        created_by="U1", created_at=T0, paused_reason=None, swept_at=None)
    values.update(fields)
    return Subscription(**values)


def _job(**fields: Any) -> Job:
    return Job.model_validate({"job_id": "j1", "state": "FAILED", **fields})


def test_api_filters_name_each_filter_the_subscription_has() -> None:
    assert _api_filters(_sub()) == {}
    assert _api_filters(_sub(job_type="PHOTO_DIGITAL_HUMAN_VIDEO", asset_name="promo",
                             script_id="s1")) == {
        "job_type": QueryJobType.PHOTO, "asset_name": "promo", "script_id": "s1"}
    assert _api_filters(_sub(job_type="2D_DIGITAL_HUMAN_VIDEO")) == {
        "job_type": QueryJobType.VIDEO_2D}


@pytest.mark.parametrize(("sub", "job", "script", "matches"), [
    (_sub(), _job(), None, True),
    (_sub(script_id="s1"), _job(), "s1", True),
    (_sub(script_id="s1"), _job(), "s2", False),
    (_sub(script_id="s1"), _job(), None, False),
    (_sub(), _job(), "s2", True),
    (_sub(asset_name="promo"), _job(output_asset_config={"asset_name": "promo"}), None, True),
    (_sub(asset_name="promo"), _job(output_asset_config={"asset_name": "other"}), None, False),
    (_sub(asset_name="promo"), _job(), None, False),
    (_sub(job_type="PHOTO_DIGITAL_HUMAN_VIDEO"),
     _job(job_type="PHOTO_DIGITAL_HUMAN_VIDEO"), None, True),
    (_sub(job_type="PHOTO_DIGITAL_HUMAN_VIDEO"),
     _job(job_type="DIGITAL_HUMAN_PHOTO_VIDEO"), None, True),
    (_sub(job_type="PHOTO_DIGITAL_HUMAN_VIDEO"), _job(job_type="2D_DIGITAL_HUMAN_VIDEO"),
     None, False),
    (_sub(job_type="2D_DIGITAL_HUMAN_VIDEO"), _job(job_type="2D_DIGITAL_HUMAN_VIDEO"),
     None, True),
    (_sub(job_type="2D_DIGITAL_HUMAN_VIDEO"), _job(job_type="PHOTO_DIGITAL_HUMAN_VIDEO"),
     None, False),
    (_sub(job_type="2D_DIGITAL_HUMAN_VIDEO"), _job(), None, False),
    (_sub(job_type="2D_DIGITAL_HUMAN_VIDEO", asset_name="promo", script_id="s1"),
     _job(job_type="2D_DIGITAL_HUMAN_VIDEO", output_asset_config={"asset_name": "promo"}),
     "s1", True),
])
def test_matching_filters(sub: Subscription, job: Job, script: str | None,
                          matches: bool) -> None:
    assert _matches_filters(sub, job, script) is matches


def test_after_baseline_compares_whole_seconds_of_the_end_or_last_update() -> None:
    made = datetime(2025, 3, 1, 9, 0, 0, 700_000, tzinfo=UTC)
    sub = _sub(created_at=made)
    second = "2025-03-01T09:00:00Z"
    before = "2025-03-01T08:59:59Z"
    assert _after_baseline(sub, _job(end_time=second))
    assert not _after_baseline(sub, _job(end_time=before))
    assert _after_baseline(sub, _job(lastupdate_time=second))
    assert not _after_baseline(sub, _job(lastupdate_time=before))
    # The end time wins over a later update.
    assert not _after_baseline(sub, _job(end_time=before, lastupdate_time=second))
    assert _after_baseline(sub, _job(end_time=second, lastupdate_time=before))
    assert _after_baseline(_sub(created_at=T0.replace(microsecond=1)),
                           _job(end_time="2025-03-01T09:00:00Z"))
    # No time at all: news once the subscription has been adopted.
    assert not _after_baseline(sub, _job())
    assert _after_baseline(_sub(swept_at=made), _job())


def test_script_and_type_of_a_detail_answer() -> None:
    assert _script_of(None) is None
    assert _script_of(_job()) is None
    assert _script_of(_job(script_id="s1")) == "s1"
    assert _script_of(_job(script_id=12)) == "12"
    assert _script_of(_job(script_id="")) is None
    assert _script_of(_job(other="x")) is None
    assert _type_of(_job(job_type="PHOTO_DIGITAL_HUMAN_VIDEO")) == str(JobType.PHOTO)
    assert _type_of(_job()) is None


def test_subscription_outcomes_cover_their_states() -> None:
    assert OUTCOME_STATES["failed"] == {JobState.FAILED, JobState.BLOCK}
    assert OUTCOME_STATES["finished"] == {JobState.SUCCEED}
    assert OUTCOME_STATES["all"] == {JobState.SUCCEED, JobState.FAILED, JobState.BLOCK,
                                      JobState.CANCELED}

