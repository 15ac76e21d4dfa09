"""The run loop and its wiring."""

from __future__ import annotations

import logging
import os
import re
import socket
import threading
import time
from datetime import timedelta
from itertools import pairwise

import pytest
from pytest_mock import MockerFixture

from bot.metastudio.cache import CachedJobsClient
from bot.tracking.process.worker import run_worker
from bot.wiring.tracking import build_tracking, sender_policy
from tests.fixtures.tracking import TrackingWorld
from tests.tracking.helpers import track, tracking_message


def test_the_loop_survives_a_failing_cycle_and_stops_when_told(
    world: TrackingWorld, caplog: pytest.LogCaptureFixture, mocker: MockerFixture
) -> None:
    caplog.set_level(logging.INFO, "bot.tracking.process.worker")
    world.tracking.interval = 0.05
    job = world.running()
    track(world, job)
    world.sim.set_state(job, "SUCCEED")
    stop = threading.Event()
    real_send, calls = world.tracking.sender.send_due, []

    def send_due():
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("database went away")
        stop.set()  # the cycle in progress still completes
        return real_send()

    mocker.patch.object(world.tracking.sender, "send_due", side_effect=send_due)
    loop = threading.Thread(target=run_worker, args=(world.tracking, stop))
    loop.start()
    loop.join(timeout=10)
    assert not loop.is_alive() and len(calls) == 2
    assert len(world.slack.thread("C1", tracking_message(world).ts)) == 1
    assert world.tracking.sender.stopping is stop  # a pass pacing its posts stops too
    logged = [(r.levelname, r.getMessage()) for r in caplog.records
              if r.name == "bot.tracking.process.worker"]
    assert logged == [("INFO", "tracking worker started (every 0.05 s)"),
                      ("ERROR", "tracking cycle failed; trying again next cycle"),
                      ("INFO", "tracking worker stopped")]
    assert "database went away" in caplog.text  # with its traceback


def test_the_sender_policy_comes_from_the_delivery_settings(world: TrackingWorld) -> None:
    world = world.restart(broadcast_failures=False, digest_threshold=7,
                          delivery_lease_seconds=90, poll_interval_seconds=30,
                          delivery_channel_rate=0.5, delivery_backoff_seconds=3,
                          delivery_max_backoff_seconds=300, delivery_give_up_hours=5,
                          delivery_probe_seconds=11, delivery_probe_max_seconds=700)
    policy = sender_policy(world.settings)
    assert (policy.broadcast_failures, policy.digest_threshold, policy.channel_rate) == (
        False, 7, 0.5)
    assert (policy.lease, policy.pass_budget, policy.backoff, policy.max_backoff,
            policy.give_up_after, policy.probe_every, policy.max_probe_every) == (
        timedelta(seconds=90), timedelta(seconds=30), timedelta(seconds=3),
        timedelta(seconds=300), timedelta(hours=5), timedelta(seconds=11),
        timedelta(seconds=700))
    assert world.tracking.sender.policy == policy
    assert sender_policy(world.restart(poll_interval_seconds=2).settings).pass_budget == (
        timedelta(seconds=10))  # at least 10 s


def test_each_sender_names_itself_by_host_process_and_a_random_suffix(
    world: TrackingWorld,
) -> None:
    tracking = build_tracking(world.settings, world.client, world.messenger, clock=world.clock)
    host, pid, suffix = tracking.sender.owner.rsplit(":", 2)
    assert (host, pid) == (socket.gethostname(), str(os.getpid()))
    assert re.fullmatch(r"[0-9a-f]{8}", suffix)
    tracking.store.close()


def test_the_poller_reads_fresh_states_and_feeds_the_cache(world: TrackingWorld) -> None:
    # The cache reads signed cover URLs' expiry on the simulator's timeline.
    cached = CachedJobsClient(world.client, ttl=15, finished_ttl=600, wall_clock=world.clock)
    tracking = build_tracking(world.settings, cached, world.messenger, clock=world.clock)
    job = world.running()
    tracking.store.add_tracked("C1", [(job, "PROCESSING", world.clock())], message_ts="1.1",
                               requested_by="U1", now=world.clock())
    assert cached.get_jobs([job])[job].state == "PROCESSING"  # now in the cache
    world.sim.set_state(job, "SUCCEED")
    assert tracking.poller.poll().finished == 1  # not fooled by the cached copy
    mark = world.sim.request_count()
    assert cached.get_jobs([job])[job].state == "SUCCEED"
    assert world.sim.request_count() == mark  # served from what the poller saw
    tracking.store.close()


def test_cycles_start_every_interval_however_long_each_takes(
    world: TrackingWorld, mocker: MockerFixture
) -> None:
    world.tracking.interval = 0.3
    stop, starts = threading.Event(), []

    def slow_cycle():
        starts.append(time.monotonic())
        time.sleep(0.2)  # a cycle that uses two thirds of the interval
        if len(starts) == 4:
            stop.set()

    mocker.patch.object(world.tracking, "run_once", side_effect=slow_cycle)
    run_worker(world.tracking, stop)

    gaps = [b - a for a, b in pairwise(starts)]
    assert all(0.28 < gap < 0.4 for gap in gaps), gaps  # not 0.5 = interval + cycle


def test_the_poller_takes_the_cached_client_as_it_is(world: TrackingWorld) -> None:
    cached = CachedJobsClient(world.client, ttl=15, finished_ttl=600, wall_clock=world.clock)
    tracking = build_tracking(world.settings, cached, world.messenger, clock=world.clock)
    assert tracking.poller.source is cached  # one interface: no unwrapping
    tracking.store.close()


def test_the_retention_pass_runs_at_most_hourly(
    world: TrackingWorld, mocker: MockerFixture
) -> None:
    world.tracking.prune_every = timedelta(hours=1)
    import bot.tracking.process.worker as worker

    prune = mocker.spy(worker, "prune")
    world.cycle()
    world.clock.advance(1800)
    world.cycle()
    world.clock.advance(1800)  # exactly an hour after the first run: due
    world.cycle()
    restarted = world.restart()  # the last run is in the database, not the process
    restarted.cycle()
    runs = [call.kwargs["now"] for call in prune.call_args_list]
    assert len(runs) == 2 and runs[1] - runs[0] == timedelta(hours=1)


def test_the_retention_setting_reaches_the_poller_and_the_pruning(
    world: TrackingWorld,
) -> None:
    world = world.restart(retention_days=2)
    assert world.tracking.poller.retention == timedelta(days=2)
    assert world.tracking.retention == timedelta(days=2)


def test_a_jobs_client_without_operations_gets_no_quota_watch(world: TrackingWorld) -> None:
    class ListingOnly:  # a JobsAPI with no MetaStudio transport behind it (no cancel, no usage)
        def __getattr__(self, name: str) -> object:
            return getattr(world.client, name)

        transport = None

    tracking = build_tracking(world.settings, ListingOnly(), world.messenger, clock=world.clock)
    assert tracking.quota is None
    tracking.store.close()
    with_usage = build_tracking(world.settings, world.client, world.messenger, clock=world.clock)
    assert with_usage.quota is not None
    with_usage.store.close()
