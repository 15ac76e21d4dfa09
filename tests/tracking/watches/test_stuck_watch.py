"""``subscribe stuck`` below the service (bot/tracking/watches/stuck.py): the watcher
against the simulator over HTTP, its outbox rows read directly. Which channel is told
what, once, with which payload; the check's interval; ends, jobs gone upstream, mutes,
and the line learnt from the week's history."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from bot.domain import stuck as stuck_module
from bot.metastudio.client import MetaStudioClient
from bot.metastudio.errors import MetaStudioError
from bot.metastudio.query import QueryJobType
from bot.simulator import Simulator
from bot.tracking.delivery.oncall import OnCallStore
from bot.tracking.delivery.outbox import Notification, Outbox
from bot.tracking.store.database import Store
from bot.tracking.store.tables import stuck_announced
from bot.tracking.watches.stuck import MAX_NAMED, STUCK, STUCK_END, StuckWatch, StuckWatcher
from tests.fixtures.simulator import add_past_waits
from tests.fixtures.tracking import UPSTREAM_DOWN, FakeClock
from tests.tracking import fast_store

# SQLite stores copied from one migrated database (see tests/tracking/fast_store.py).
migrated_sqlite, store = fast_store.migrated_sqlite, fast_store.store

LATE = timedelta(hours=2)


@pytest.fixture
def watcher(store: Store, outbox: Outbox, tracking_client: MetaStudioClient,
            clock: FakeClock) -> StuckWatcher:
    return StuckWatcher(store, outbox, tracking_client, clock=clock)


def _rows(outbox: Outbox, kind: str = STUCK, channel: str | None = None) -> list[Notification]:
    return [r for r in outbox.rows() if r.kind == kind and channel in (None, r.channel)]


def _named(row: Notification) -> list[str]:
    return [s["job"]["job_id"] for s in row.payload["stuck_jobs"]]


def _late(sim: Simulator, clock: FakeClock, *, age: timedelta = LATE, **kw: object) -> str:
    return sim.add_job(state="WAITING", create_time=clock() - age, **kw)


def _announced(store: Store) -> set[tuple[str, str, bool]]:
    with store.begin() as conn:
        return {(r.channel, r.job_id, r.ended) for r in conn.execute(sa.select(
            stuck_announced.c.channel, stuck_announced.c.job_id, stuck_announced.c.ended))}


def test_watch_records_a_channel_once_and_replaces_only_the_filters_given(
    watcher: StuckWatcher, clock: FakeClock,
) -> None:
    t0 = clock()
    assert watcher.watch_of("C1") is None
    assert watcher.watch("C1", job_type=None, group_id="S1", created_by="U1", now=t0)
    assert watcher.watch("C2", job_type="PHOTO_DIGITAL_HUMAN_VIDEO", group_id=None,
                         created_by="U2", now=t0)
    assert watcher.watch_of("C1") == StuckWatch("C1", None, "S1", "U1", t0)
    later = t0 + timedelta(hours=1)
    assert not watcher.watch("C1", job_type="2D_DIGITAL_HUMAN_VIDEO", group_id=None,
                             created_by="U9", now=later)
    # The type given replaces the old one; the group not given stays (issue #21, 5); who
    # subscribed and when stay.
    assert watcher.watch_of("C1") == StuckWatch("C1", "2D_DIGITAL_HUMAN_VIDEO", "S1", "U1", t0)
    assert watcher.watch_of("C2") == StuckWatch("C2", "PHOTO_DIGITAL_HUMAN_VIDEO", None,
                                                "U2", t0)


def test_unwatch_forgets_the_channels_watch_and_announcements_only(
    watcher: StuckWatcher, tracking_simulator: Simulator, clock: FakeClock, store: Store,
) -> None:
    job = _late(tracking_simulator, clock)
    for channel in ("C1", "C2"):
        watcher.watch(channel, job_type=None, group_id=None, created_by="U1", now=clock())
    assert watcher.run_once() == 2
    assert _announced(store) == {("C1", job, False), ("C2", job, False)}
    assert watcher.unwatch("C1")
    assert not watcher.unwatch("C1")
    assert watcher.watch_of("C1") is None and watcher.watch_of("C2") is not None
    assert _announced(store) == {("C2", job, False)}


def test_each_channel_is_told_once_in_one_message(
    watcher: StuckWatcher, tracking_simulator: Simulator, clock: FakeClock, outbox: Outbox,
) -> None:
    older = _late(tracking_simulator, clock, age=3 * LATE)
    newer = _late(tracking_simulator, clock)
    _late(tracking_simulator, clock, age=timedelta(minutes=10))  # not past its line
    watcher.watch("C1", job_type=None, group_id="S1", created_by="U1", now=clock())
    watcher.watch("C2", job_type=None, group_id=None, created_by="U1", now=clock())
    assert watcher.run_once() == 2
    [c1] = _rows(outbox, channel="C1")
    [c2] = _rows(outbox, channel="C2")
    assert _named(c1) == [older, newer] == _named(c2)
    assert c1.dedupe_key == f"stuck:C1:{clock().isoformat()}"
    payload = c1.payload
    assert payload["job"]["job_id"] == older
    # Each named job as JSON, the same as the message's first job.
    assert payload["stuck_jobs"][0]["job"] == payload["job"]
    assert str(payload["job"]["create_time"]).endswith("Z")
    assert (payload["stuck_more"], payload["mention_group"]) == (0, "S1")
    assert c2.payload["mention_group"] is None
    first = payload["stuck_jobs"][0]
    assert (first["phase"], first["age"], first["line"]) == (
        "waiting", (3 * LATE).total_seconds(), 30 * 60.0)

    # A new stuck job later: only it is told, to each channel.
    clock.advance(600)
    newest = _late(tracking_simulator, clock)
    assert watcher.run_once() == 2
    assert [_named(r) for r in _rows(outbox, channel="C1")][1:] == [[newest]]
    assert [_named(r) for r in _rows(outbox, channel="C2")][1:] == [[newest]]
    clock.advance(600)
    assert watcher.run_once() == 0


def test_a_channel_subscribing_later_hears_of_jobs_told_elsewhere(
    watcher: StuckWatcher, tracking_simulator: Simulator, clock: FakeClock, outbox: Outbox,
) -> None:
    job = _late(tracking_simulator, clock)
    watcher.watch("C1", job_type=None, group_id=None, created_by="U1", now=clock())
    assert watcher.run_once() == 1
    watcher.watch("C2", job_type=None, group_id=None, created_by="U1", now=clock())
    clock.advance(300)
    assert watcher.run_once() == 1
    [row] = _rows(outbox, channel="C2")
    assert _named(row) == [job]


def test_at_most_twenty_jobs_are_named(
    watcher: StuckWatcher, tracking_simulator: Simulator, clock: FakeClock, outbox: Outbox,
) -> None:
    jobs = [_late(tracking_simulator, clock, age=LATE + timedelta(minutes=i))
            for i in range(MAX_NAMED + 2)]
    watcher.watch("C1", job_type=None, group_id=None, created_by="U1", now=clock())
    assert watcher.run_once() == 1
    [row] = _rows(outbox)
    assert _named(row) == list(reversed(jobs))[:MAX_NAMED]
    assert row.payload["stuck_more"] == 2


@pytest.mark.parametrize(("job_type", "told"), [
    (None, {"2d", "photo"}), (QueryJobType.PHOTO, {"photo"}), (QueryJobType.VIDEO_2D, {"2d"}),
])
def test_a_watch_by_type_hears_of_that_type_only(
    watcher: StuckWatcher, tracking_simulator: Simulator, clock: FakeClock, outbox: Outbox,
    job_type: str | None, told: set[str],
) -> None:
    ids = {"2d": _late(tracking_simulator, clock),
           "photo": _late(tracking_simulator, clock, job_type="PHOTO_DIGITAL_HUMAN_VIDEO")}
    watcher.watch("C1", job_type=job_type, group_id=None, created_by="U1", now=clock())
    assert watcher.run_once() == 1
    [row] = _rows(outbox)
    assert set(_named(row)) == {ids[name] for name in told}


def test_nothing_stuck_queues_nothing(
    watcher: StuckWatcher, tracking_simulator: Simulator, clock: FakeClock, outbox: Outbox,
) -> None:
    _late(tracking_simulator, clock, job_type="PHOTO_DIGITAL_HUMAN_VIDEO")
    watcher.watch("C1", job_type=QueryJobType.VIDEO_2D, group_id=None, created_by="U1",
                  now=clock())
    assert watcher.run_once() == 0
    assert outbox.rows() == []


def test_the_check_waits_five_minutes_and_only_while_someone_watches(
    watcher: StuckWatcher, tracking_simulator: Simulator, clock: FakeClock,
) -> None:
    assert watcher.run_once() == 0
    assert tracking_simulator.requests == []  # nobody watches: no upstream call
    watcher.watch("C1", job_type=None, group_id=None, created_by="U1", now=clock())
    clock.advance(1)
    watcher.run_once()  # the first check is not held back by the unwatched call
    after_first = len(tracking_simulator.requests)
    assert after_first > 0
    clock.advance(5 * 60 - 1)
    assert watcher.run_once() == 0
    assert len(tracking_simulator.requests) == after_first
    clock.advance(1)
    job = _late(tracking_simulator, clock)
    assert watcher.run_once() == 1  # five minutes to the second
    assert len(tracking_simulator.requests) > after_first
    assert job


def test_a_given_interval_is_used(
    store: Store, outbox: Outbox, tracking_client: MetaStudioClient,
    tracking_simulator: Simulator, clock: FakeClock,
) -> None:
    watcher = StuckWatcher(store, outbox, tracking_client, clock=clock,
                           every=timedelta(minutes=1))
    watcher.watch("C1", job_type=None, group_id=None, created_by="U1", now=clock())
    watcher.run_once()
    before = len(tracking_simulator.requests)
    clock.advance(60)
    watcher.run_once()
    assert len(tracking_simulator.requests) > before


def test_an_upstream_failure_is_retried_next_cycle(
    watcher: StuckWatcher, tracking_simulator: Simulator, clock: FakeClock, outbox: Outbox,
    caplog: pytest.LogCaptureFixture,
) -> None:
    job = _late(tracking_simulator, clock)
    watcher.watch("C1", job_type=None, group_id=None, created_by="U1", now=clock())
    tracking_simulator.faults.fail_next(**UPSTREAM_DOWN)
    with caplog.at_level("WARNING", logger="bot.tracking.watches.stuck"):
        assert watcher.run_once() == 0
    [record] = [r for r in caplog.records if r.name == "bot.tracking.watches.stuck"]
    assert record.getMessage().startswith("stuck check failed, retrying next cycle: ")
    [error] = record.args  # type: ignore[misc]
    assert isinstance(error, MetaStudioError) and str(error) in record.getMessage()
    clock.advance(1)  # not five minutes: a failed check does not count
    assert watcher.run_once() == 1
    assert _named(_rows(outbox)[0]) == [job]


def test_an_end_is_told_once_per_channel_with_when_it_was_stuck(
    watcher: StuckWatcher, tracking_simulator: Simulator, clock: FakeClock, outbox: Outbox,
    store: Store,
) -> None:
    ends, stays = _late(tracking_simulator, clock), _late(tracking_simulator, clock)
    told_at = clock()
    for channel in ("C1", "C2"):
        watcher.watch(channel, job_type=None, group_id=None, created_by="U1", now=clock())
    assert watcher.run_once() == 2
    tracking_simulator.set_state(ends, "FAILED")
    clock.advance(300)
    assert watcher.run_once() == 2
    end_rows = _rows(outbox, STUCK_END)
    assert sorted(r.dedupe_key for r in end_rows) == [
        f"stuck_end:C1:{ends}", f"stuck_end:C2:{ends}"]
    row = end_rows[0]
    assert row.payload["job"]["job_id"] == ends and row.payload["job"]["state"] == "FAILED"
    assert row.payload["stuck_since"] == told_at.isoformat()
    assert _announced(store) == {("C1", ends, True), ("C2", ends, True),
                                 ("C1", stays, False), ("C2", stays, False)}
    clock.advance(300)
    assert watcher.run_once() == 0
    tracking_simulator.set_state(stays, "SUCCEED")
    clock.advance(300)
    assert watcher.run_once() == 2
    assert len(_rows(outbox, STUCK_END)) == 4


def test_a_job_gone_upstream_or_in_an_odd_state(
    watcher: StuckWatcher, tracking_simulator: Simulator, clock: FakeClock, outbox: Outbox,
    store: Store,
) -> None:
    odd = tracking_simulator.add_job(state="SUSPENDED")  # unknown: counted as unfinished
    ended = tracking_simulator.add_job(state="SUCCEED")
    watcher.watch("C1", job_type=None, group_id=None, created_by="U1", now=clock())
    with store.begin() as conn:
        for job in ("ghost", odd, ended):
            conn.execute(stuck_announced.insert().values(
                channel="C1", job_id=job, announced_at=clock(), ended=False))
    assert watcher.run_once() == 1
    assert [r.dedupe_key for r in _rows(outbox, STUCK_END)] == [f"stuck_end:C1:{ended}"]
    assert _announced(store) == {("C1", "ghost", True), ("C1", odd, False),
                                 ("C1", ended, True)}


def test_a_muted_channel_or_job_is_not_told_later(
    watcher: StuckWatcher, tracking_simulator: Simulator, clock: FakeClock, outbox: Outbox,
    store: Store,
) -> None:
    quiet = _late(tracking_simulator, clock, age=3 * LATE)
    loud = _late(tracking_simulator, clock)
    OnCallStore(store).mute("C1", quiet, clock() + timedelta(hours=1))
    OnCallStore(store).mute("C2", None, clock() + timedelta(hours=1))
    for channel in ("C1", "C2"):
        watcher.watch(channel, job_type=None, group_id=None, created_by="U1", now=clock())
    assert watcher.run_once() == 1
    [row] = _rows(outbox)
    assert row.channel == "C1" and _named(row) == [loud]
    assert row.payload["job"]["job_id"] == loud
    clock.advance(2 * 3600)
    assert watcher.run_once() == 0  # recorded as told while muted


def test_the_line_is_learnt_from_the_weeks_history_not_the_floor(
    watcher: StuckWatcher, tracking_simulator: Simulator, clock: FakeClock, outbox: Outbox,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # 2D jobs waited about two hours this week: a job waiting 90 min (past the 30 min
    # floor) is usual, one waiting 3 h is stuck.
    monkeypatch.setattr(stuck_module, "MIN_SAMPLES", 5)
    add_past_waits(tracking_simulator, clock, (100, 105, 110, 115, 120, 125), days_ago=1)
    _late(tracking_simulator, clock, age=timedelta(minutes=90))
    late = _late(tracking_simulator, clock, age=timedelta(hours=3))
    watcher.watch("C1", job_type=None, group_id=None, created_by="U1", now=clock())
    assert watcher.run_once() == 1
    [row] = _rows(outbox)
    assert _named(row) == [late]
