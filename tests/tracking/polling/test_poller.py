"""Poll cycles cost what changed: ceil(new/100) to discover, ceil(active/100) to watch,
and each end is recorded once. Jobs are created at different times, as in a project.
What a cycle reports: its requests and duration (and their metrics), a failed cycle
counted and logged, what it discovered, finished and announced, and the row each end
leaves for its message."""

from __future__ import annotations

import logging
import math
import threading
from datetime import timedelta
from typing import Any

import pytest
from prometheus_client import REGISTRY

from bot.metastudio.client import JobIdsSupport, MetaStudioClient
from bot.metastudio.query import format_time
from bot.simulator import RecordedRequest, Simulator
from bot.tracking.delivery.outbox import Outbox, subscription_key, track_key
from bot.tracking.polling.poller import Poller
from bot.tracking.polling.watermark import DISCOVERY, PollState
from bot.tracking.store.database import Store
from tests.fixtures.tracking import (
    AK,
    FAST_RETRY,
    FAST_TIMEOUTS,
    PROJECT_ID,
    SK,
    UPSTREAM_DOWN,
    FakeClock,
    TrackingWorld,
)
from tests.tracking.helpers import subscribe, track, tracking_message
from tests.tracking.polling.helpers import checked_poll, track_created


def _track_many(world: TrackingWorld, n: int, channel: str = "C1") -> list[str]:
    """``n`` running jobs created a minute apart (the oldest first), tracked."""
    ids = [world.running(create_time=world.clock() - timedelta(minutes=n - i))
           for i in range(n)]
    created = {i: world.clock() - timedelta(minutes=n - k) for k, i in enumerate(ids)}
    world.tracking.store.add_tracked(
        channel, [(i, "PROCESSING", created[i].replace(microsecond=0)) for i in ids],
        message_ts="1.1", requested_by="U1", now=world.clock())
    return ids


def _poll_calls(world: TrackingWorld, poller: Poller | None = None) -> int:
    """One poll; the requests it counted are the requests MetaStudio received."""
    mark = world.sim.request_count("")
    result = (poller or world.tracking.poller).poll()
    assert result.error is None
    assert result.upstream_calls == world.sim.request_count("") - mark
    return result.upstream_calls


def _sends_job_ids(request: RecordedRequest) -> bool:
    return any(name == "job_ids" for name, _ in request.params)


def _param(request: RecordedRequest, name: str) -> str | None:
    return next((v for k, v in request.params if k == name), None)


def test_300_tracked_jobs_cost_three_requests(world: TrackingWorld) -> None:
    ids = _track_many(world, 300)
    for job in ids[::50]:
        world.sim.set_state(job, "FAILED")
    assert _poll_calls(world) == 3  # no subscription: nothing to discover
    assert len(world.tracking.outbox.rows()) == 6


def test_a_subscription_adds_one_discovery_request_once_adopted(world: TrackingWorld) -> None:
    _track_many(world, 250)
    subscribe(world, "failed", channel="C2")
    world.cycle()  # adoption: the 250 running jobs join the active set
    assert world.tracking.poller.active.count() == 250
    world.clock.advance(30)
    for _ in range(30):
        world.running()
    # ceil(30 new / 100) + ceil(250 active / 100)
    assert _poll_calls(world) == 1 + 3
    world.clock.advance(30)
    assert _poll_calls(world) == 1 + math.ceil(280 / 100)


def test_one_answer_with_a_count_above_the_batch_does_not_switch_to_sweeps(
    world: TrackingWorld, tracking_client: MetaStudioClient,
) -> None:
    _track_many(world, 5)
    world.sim.faults.count_offset = 1000  # a server that counts differently
    for _ in range(3):
        world.cycle()
    assert tracking_client.supports_job_ids is not False
    assert all(_sends_job_ids(r) for r in world.list_requests())


def test_ignoring_job_ids_is_decided_on_several_answers_and_looked_at_again(
    world: TrackingWorld,
) -> None:
    now = [0.0]
    support = JobIdsSupport(strikes=3, recheck=600, clock=lambda: now[0])
    client = MetaStudioClient(world.sim.url, PROJECT_ID, world.client.transport.auth,
                              retry=FAST_RETRY, timeouts=FAST_TIMEOUTS, job_ids=support)
    poller = Poller(world.tracking.store, world.tracking.outbox, client, clock=world.clock)
    world.running(create_time=world.clock() - timedelta(days=1))  # untracked, and first
    ids = _track_many(world, 150)  # in an unfiltered page: a stranger in every answer
    world.sim.ignore_job_ids = True

    probes = []
    for _ in range(4):
        mark = len(world.sim.requests)
        _poll_calls(world, poller)
        probes.append(sum(_sends_job_ids(r) for r in world.list_requests(mark)))
    assert probes == [1, 1, 1, 0]  # three strikes, then sweeps only
    assert support.honoured is False

    now[0] += 601  # time to look again: the server was upgraded meanwhile
    world.sim.ignore_job_ids = False
    world.sim.set_state(ids[0], "SUCCEED")
    mark = len(world.sim.requests)
    assert _poll_calls(world, poller) == 2
    assert all(_sends_job_ids(r) for r in world.list_requests(mark))
    assert support.honoured is True
    assert len(world.tracking.outbox.rows()) == 1
    client.close()


def test_the_sweep_starts_at_the_oldest_active_job(world: TrackingWorld) -> None:
    world.sim.ignore_job_ids = True
    world.tracking.poller.source.job_ids.record(False)  # type: ignore[attr-defined]
    world.tracking.poller.source.job_ids.record(False)  # type: ignore[attr-defined]
    world.tracking.poller.source.job_ids.record(False)  # type: ignore[attr-defined]
    oldest = world.running(create_time=world.clock() - timedelta(days=6))
    track(world, oldest)
    ids = _track_many(world, 120, channel="C2")
    untracked = [world.running(create_time=world.clock() - timedelta(days=8))
                 for _ in range(5)]  # older than every tracked job: never swept
    world.sim.set_state(ids[5], "SUCCEED")
    world.sim.set_state(untracked[0], "SUCCEED")

    mark = len(world.sim.requests)
    calls = _poll_calls(world)
    sweep = world.list_requests(mark)[0]
    assert set(_param(sweep, "state").split(",")) == {"WAITING", "PROCESSING"}
    assert _param(sweep, "create_since") == format_time(world.clock() - timedelta(days=6))
    # Two pages of the 120 unfinished tracked jobs, then ids[5] confirmed by id (no
    # earlier check to read recent ends from); the oldest was in the sweep.
    assert calls == 2 + 1
    [row] = world.tracking.outbox.rows()
    assert row.payload["job"]["job_id"] == ids[5]


def test_jobs_missing_from_the_sweep_are_read_from_the_recent_ends(
    world: TrackingWorld,
) -> None:
    world.sim.ignore_job_ids = True
    for _ in range(3):
        world.tracking.poller.source.job_ids.record(False)  # type: ignore[attr-defined]
    ids = _track_many(world, 50)
    world.cycle()
    world.clock.advance(30)
    for job in ids[:20]:
        world.sim.set_state(job, "FAILED")
    mark = len(world.sim.requests)
    # The sweep, then one listing of recent ends finds all twenty: not 20 look-ups.
    assert _poll_calls(world) == 2
    assert _param(world.list_requests(mark)[1], "sort_key") == "update_time"
    assert len(world.tracking.outbox.rows()) == 20


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
                   clock=world.clock)
    # Both read the job as unfinished before either records it.
    tracked = world.tracking.store.pollable()
    jobs = world.client.get_jobs([job])
    assert world.tracking.poller._apply_tracked(tracked, jobs, world.clock()) == 1
    assert other._apply_tracked(tracked, jobs, world.clock()) == 0
    assert len(world.tracking.outbox.rows()) == 1


def test_a_job_older_than_the_lists_month_is_found_by_its_detail_operation(
    world: TrackingWorld,
) -> None:
    job = world.running(create_time=world.clock() - timedelta(days=40),
                        job_type="PHOTO_DIGITAL_HUMAN_VIDEO")
    track(world, job)
    world.sim.faults.list_month_only = True  # the strictest reading: no list finds it

    world.sim.set_state(job, "SUCCEED")
    mark = len(world.sim.requests)
    world.cycle()

    [reply] = world.slack.thread("C1", tracking_message(world).ts)
    assert "succeeded" in reply.text
    paths = [r.path for r in world.sim.requests[mark:]]
    assert f"/v1/{PROJECT_ID}/photo-digital-human-videos/{job}" in paths


def test_a_server_whose_count_lies_while_ignoring_offset_costs_two_requests(
    world: TrackingWorld,
) -> None:
    subscribe(world, "all")
    world.cycle()
    world.clock.advance(30)
    for i in range(150):
        world.running(create_time=world.clock() - timedelta(seconds=150 - i))
    world.sim.faults.ignore_offset_count = 1_000_000
    # Discovery reads the first page again at offset 100: nothing new, it stops.
    assert _poll_calls(world) <= 2 + 2
    assert AK and SK  # the fixtures' credentials signed every request


class _Lockstep:
    """A JobsAPI whose listings start only when both pollers have reached theirs: the
    ordering the test controls, so the two discoveries overlap every time."""

    def __init__(self, inner: MetaStudioClient, barrier: threading.Barrier) -> None:
        self.inner, self.barrier = inner, barrier

    def scan(self, query: Any, **kw: Any) -> Any:
        self.barrier.wait(timeout=20)
        return self.inner.scan(query, **kw)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@pytest.mark.postgres
def test_two_workers_on_postgresql_share_the_watermark_without_gaps_or_doubles(
    postgres_url: str, tracking_simulator: Simulator, tracking_client: MetaStudioClient,
    clock: FakeClock,
) -> None:
    stores = [Store(postgres_url) for _ in range(2)]
    for store in stores:
        store.migrate()
    barrier = threading.Barrier(2)
    pollers = [Poller(s, Outbox(s), _Lockstep(tracking_client, barrier), clock=clock)  # type: ignore[arg-type]
               for s in stores]
    stores[0].add_subscription("C1", outcome="all", job_type=None, asset_name=None,
                               script_id=None, created_by="U1", now=clock())
    sim = tracking_simulator
    ended: set[str] = set()
    running: list[str] = []
    for round_ in range(6):
        clock.advance(30)
        for i in range(25):  # created over the last 30 s, in no particular order
            job = sim.add_job(state="PROCESSING",
                              create_time=clock() - timedelta(seconds=(i * 7) % 29))
            running.append(job)
        for job in running[round_ * 10 : round_ * 10 + 12]:
            if job not in ended:
                sim.set_state(job, "FAILED" if len(ended) % 2 else "SUCCEED")
                ended.add(job)
        results: list[Any] = []
        threads = [threading.Thread(target=lambda p=p, out=results: out.append(p.poll()))
                   for p in pollers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert [r.error for r in results] == [None, None]

    rows = Outbox(stores[0]).rows()
    # Each end once (a "recovered" reply is about an incident, not an end of its own).
    announced = [r.payload["job"]["job_id"] for r in rows if r.kind != "recovered"]
    assert sorted(announced) == sorted(ended)  # every end once: no gap, no double
    newest = max(sim.store.get(j).create_time for j in running)
    assert PollState(stores[1]).get(DISCOVERY) == newest  # one shared mark
    for store in stores:
        store.close()


def test_discovery_resumes_from_the_watermark_after_a_restart(world: TrackingWorld) -> None:
    subscribe(world, "all")
    world.cycle()
    world.clock.advance(600)
    newest = world.clock() - timedelta(seconds=100)
    for seconds in (400, 300, 100):
        world.running(create_time=world.clock() - timedelta(seconds=seconds))
    world.cycle()
    world.clock.advance(30)
    restarted = world.restart()
    mark = len(world.sim.requests)
    restarted.cycle()
    discovery = next(r for r in world.list_requests(mark) if _param(r, "state") is None)
    assert _param(discovery, "create_since") == format_time(newest - timedelta(minutes=2))


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
    result = checked_poll(world)
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
    result = checked_poll(world)
    assert (result.discovered, result.finished, result.announced) == (120, 0, 0)
    tracked = new[:110]
    track_created(world, tracked, channel="C3")
    world.clock.advance(30)
    for job in new:
        world.sim.set_state(job, "FAILED")
    result = checked_poll(world)
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
    for code, job in enumerate((tracked, watched)):  # two causes: two announcements in C2
        world.sim.set_state(job, "FAILED", error_code=f"MSS.0000000{code}")
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
    assert news.payload["subscriptions"] == [sub.id] and news.created_at == world.clock()
    assert news.payload["job"]["state"] == "FAILED"
    assert news.payload["mention_groups"] == [] and mine.payload["mention_groups"] == []


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
    assert checked_poll(world).announced == 1
    assert sorted((r.kind, r.channel) for r in world.tracking.outbox.rows()) == [
        ("sub", "C2"), ("track", "C1")]
