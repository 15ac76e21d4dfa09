"""The worker's video-minutes check (bot/tracking/watches/quota.py) against the simulator
over HTTP: asked only while a digest could form, at most every ten minutes (or the
interval given), the warn percent deciding what is low, and a failed call keeping the
last answer."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.metastudio.client import MetaStudioClient
from bot.metastudio.errors import MetaStudioError
from bot.metastudio.operations import JobOperations
from bot.simulator import Simulator
from bot.tracking.watches.quota import QuotaWatch
from bot.views.quota import warning_line
from tests.fixtures.tracking import UPSTREAM_DOWN, FakeClock

LOW = [{"business_type": "VIDEO_2D", "amount": 100, "usage": 95, "unit": "MIN"}]
PLENTY = [{"business_type": "VIDEO_2D", "amount": 100, "usage": 10, "unit": "MIN"}]


def _calls(sim: Simulator) -> int:
    return sum(r.path.endswith("/resources-usage") for r in sim.requests)


def _watch(client: MetaStudioClient, clock: FakeClock, **kw: object) -> QuotaWatch:
    operations = JobOperations.of(client)
    assert operations is not None
    return QuotaWatch(operations, clock=clock, **{"warn_percent": 10.0,
                                                  "digest_threshold": 3, **kw})


def test_asked_only_when_more_than_the_digest_threshold_waits(
    tracking_simulator: Simulator, tracking_client: MetaStudioClient, clock: FakeClock,
) -> None:
    tracking_simulator.resources = LOW
    watch = _watch(tracking_client, clock)
    assert watch.run_once(0) is None and watch.run_once(3) is None
    assert _calls(tracking_simulator) == 0
    line = watch.run_once(4)
    assert _calls(tracking_simulator) == 1
    expected = warning_line(JobOperations.of(tracking_client).resources_usage(), 10.0)
    assert line is not None and line == expected and "under 10%" in line
    assert watch.current() == line
    # Below the threshold again: no call, and the last answer stands.
    clock.advance(3600)
    before = _calls(tracking_simulator)
    assert watch.run_once(3) == line and _calls(tracking_simulator) == before


def test_the_warn_percent_decides_what_is_low(
    tracking_simulator: Simulator, tracking_client: MetaStudioClient, clock: FakeClock,
) -> None:
    tracking_simulator.resources = LOW  # 5 % left
    assert _watch(tracking_client, clock, warn_percent=4.0).run_once(10) is None
    clock.advance(3600)
    line = _watch(tracking_client, clock, warn_percent=6.0).run_once(10)
    assert line is not None and "under 6%" in line


def test_at_most_one_call_every_ten_minutes(
    tracking_simulator: Simulator, tracking_client: MetaStudioClient, clock: FakeClock,
) -> None:
    tracking_simulator.resources = LOW
    watch = _watch(tracking_client, clock)  # the default interval
    assert watch.run_once(10) is not None
    clock.advance(10 * 60 - 1)
    tracking_simulator.resources = PLENTY
    assert watch.run_once(10) is not None  # not asked again yet
    assert _calls(tracking_simulator) == 1
    clock.advance(1)  # ten minutes to the second: asked
    assert watch.run_once(10) is None
    assert _calls(tracking_simulator) == 2
    clock.advance(10 * 60 - 1)
    watch.run_once(10)
    assert _calls(tracking_simulator) == 2  # counted from the last call, not the first


def test_a_given_interval_is_used(
    tracking_simulator: Simulator, tracking_client: MetaStudioClient, clock: FakeClock,
) -> None:
    watch = _watch(tracking_client, clock, every=timedelta(minutes=2))
    watch.run_once(10)
    clock.advance(120)
    watch.run_once(10)
    assert _calls(tracking_simulator) == 2


def test_a_failed_call_keeps_the_last_answer_and_waits_like_a_good_one(
    tracking_simulator: Simulator, tracking_client: MetaStudioClient, clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    tracking_simulator.resources = LOW
    watch = _watch(tracking_client, clock)
    line = watch.run_once(10)
    assert line is not None
    clock.advance(600)
    tracking_simulator.faults.fail_next(**UPSTREAM_DOWN)
    with caplog.at_level("INFO", logger="bot.tracking.watches.quota"):
        assert watch.run_once(10) == line
    [record] = [r for r in caplog.records if r.name == "bot.tracking.watches.quota"]
    assert record.getMessage().startswith("resources usage unavailable, keeping the last answer")
    [error] = record.args  # type: ignore[misc]
    assert isinstance(error, MetaStudioError) and str(error) in record.getMessage()
    before = _calls(tracking_simulator)
    clock.advance(60)
    assert watch.run_once(10) == line and _calls(tracking_simulator) == before
