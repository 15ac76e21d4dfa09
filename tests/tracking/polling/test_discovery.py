"""Discovery (bot/tracking/polling/poller.py) and its watermarks: new jobs paged over
cycles oldest first without gaps, the mark at the newest job listed (never past now, kept
from the first listing, following the clock without plain subscriptions), one listing
per script filter with its own mark, and jobs discovered already ended announced, not
watched."""

from __future__ import annotations

from datetime import timedelta

from bot.commands.types import Unsubscribe
from bot.metastudio.query import format_time
from bot.tracking.polling.poller import Poller
from bot.tracking.polling.watermark import DISCOVERY, PollState, script_discovery
from tests.fixtures.tracking import TrackingWorld
from tests.tracking.helpers import ctx, subscribe
from tests.tracking.polling.helpers import announcements, checked_poll, param


def test_discovery_pages_over_cycles_oldest_first_without_gaps(world: TrackingWorld) -> None:
    poller = Poller(world.tracking.store, world.tracking.outbox, world.client,
                    clock=world.clock, discovery_max_pages=1)
    subscribe(world, "failed")
    checked_poll(world, poller)
    world.clock.advance(1300)
    # Five seconds apart: the two minutes a listing re-reads hold 24 jobs, not a page.
    created = [world.clock() - timedelta(seconds=1250 - 5 * i) for i in range(250)]
    jobs = [world.running(create_time=when) for when in created]
    state = PollState(world.tracking.store)
    marks = []
    discovered = []
    for _ in range(3):
        mark = len(world.sim.requests)
        result = checked_poll(world, poller)
        listings = [r for r in world.list_requests(mark) if param(r, "state") is None
                    and param(r, "job_ids") is None]
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
    assert [later in t for t in announcements(world)] == [True]


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
    assert [job in t for t in announcements(world)] == [True]


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
    assert [job in t for t in announcements(world)] == [True]


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
    plain = [r for r in world.list_requests(mark) if param(r, "state") is None
             and param(r, "script_id") is None]
    assert [param(r, "create_since") for r in plain] == [
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
    listings = [param(r, "script_id") for r in world.list_requests(mark)
                if param(r, "state") is None and param(r, "job_ids") is None]
    assert listings == ["script-a", "script-b"]  # none without a script filter
    assert {(r.job_id, r.script_id) for r in world.tracking.poller.active.all()} == {
        (a, "script-a"), (b, "script-b")}
    state = PollState(world.tracking.store)
    assert state.get(script_discovery("script-a")) == world.sim.store.get(a).create_time
    assert state.get(script_discovery("script-b")) == world.sim.store.get(b).create_time
    for job in (a, b):
        world.sim.set_state(job, "FAILED")
    world.cycle()
    assert [b in t for t in announcements(world)] == [True]
    assert [a in t for t in announcements(world, "C2")] == [True]


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
    result = checked_poll(world)
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
    assert checked_poll(world).announced == 1
    assert [r.payload["job"]["job_id"] for r in world.tracking.outbox.rows()] == [quick]
