"""Scheduled reports: local-time occurrences across DST changes (and the same on a server
in another time zone), keyed in UTC to the minute, one post per occurrence across
restarts and racing processes, one post after an outage, and what a report says.

Driven by the injected clock through the real worker cycle (simulator + fake Slack)."""

from __future__ import annotations

import multiprocessing
import threading
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.commands.types import Context, ListReports, ScheduleReport, Track, Unreport
from bot.tracking.delivery.outbox import Outbox
from bot.tracking.report_service import ReportCommands
from bot.tracking.store.database import Store
from bot.tracking.watches.reports import (
    REPORT_KIND,
    Report,
    ReportScheduler,
    ReportStore,
    Schedule,
    report_key,
)
from tests.fixtures.tracking import UPSTREAM_DOWN, FakeClock, TrackingWorld

BERLIN = ZoneInfo("Europe/Berlin")
UTC_ZONE = ZoneInfo("UTC")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# -- the schedule, pure ------------------------------------------------------------------


def test_daily_report_keeps_its_local_time_across_both_dst_changes():
    nine = Schedule("daily", 9 * 60, BERLIN)
    # 2025-03-30: clocks go forward (CET+1 -> CEST+2); 2025-10-26: back.
    assert nine.at(date(2025, 3, 29)) == utc(2025, 3, 29, 8, 0)
    assert nine.at(date(2025, 3, 30)) == utc(2025, 3, 30, 7, 0)
    assert nine.at(date(2025, 10, 25)) == utc(2025, 10, 25, 7, 0)
    assert nine.at(date(2025, 10, 26)) == utc(2025, 10, 26, 8, 0)
    # The window is one local day: 23 hours, then 25 hours long.
    since, until = nine.window(date(2025, 3, 30))
    assert until - since == timedelta(hours=23)
    since, until = nine.window(date(2025, 10, 26))
    assert until - since == timedelta(hours=25)


def test_a_time_skipped_or_repeated_by_dst_runs_once_that_day():
    skipped = Schedule("daily", 2 * 60 + 30, BERLIN)  # 02:30 does not exist on 03-30
    assert skipped.at(date(2025, 3, 30)) == utc(2025, 3, 30, 1, 30)  # 03:30 CEST
    repeated = Schedule("daily", 2 * 60 + 30, BERLIN)  # 02:30 happens twice on 10-26
    assert repeated.at(date(2025, 10, 26)) == utc(2025, 10, 26, 0, 30)  # the first one
    # Every minute of the repeated hour sees one and the same newest occurrence.
    seen = {repeated.latest(utc(2025, 10, 26, 0, 30) + timedelta(minutes=m))
            for m in range(0, 180)}
    assert seen == {(date(2025, 10, 26), utc(2025, 10, 26, 0, 30))}


def test_latest_and_next_occurrence_of_a_weekly_report():
    monday = Schedule("weekly", 9 * 60, ZoneInfo("America/New_York"), weekday=0)
    # 2025-03-09 (Sunday) the US clocks go forward: Monday 09:00 EDT is 13:00 UTC.
    assert monday.latest(utc(2025, 3, 10, 12, 59)) == (date(2025, 3, 3), utc(2025, 3, 3, 14))
    assert monday.latest(utc(2025, 3, 10, 13, 0)) == (date(2025, 3, 10), utc(2025, 3, 10, 13))
    assert monday.next_after(utc(2025, 3, 10, 13, 0)) == utc(2025, 3, 17, 13)
    since, until = monday.window(date(2025, 3, 10))
    assert until - since == timedelta(days=7, hours=-1)


def test_the_key_is_the_occurrence_in_utc_to_the_minute() -> None:
    local = datetime(2025, 3, 1, 9, 0, 59, tzinfo=BERLIN)
    assert report_key(7, local) == "report:7:2025-03-01T08:00Z"


def test_a_daily_schedule_runs_every_day_a_weekly_one_on_its_day() -> None:
    daily, weekly = Schedule("daily", 0, UTC_ZONE), Schedule("weekly", 0, UTC_ZONE, weekday=2)
    assert (daily.period_days, weekly.period_days) == (1, 7)
    assert all(daily.runs_on(date(2025, 3, d)) for d in range(1, 8))
    assert [d for d in range(1, 8) if weekly.runs_on(date(2025, 3, d))] == [5]  # Wednesday
    assert Schedule("daily", 9 * 60 + 15, UTC_ZONE).at(date(2025, 3, 1)) == utc(2025, 3, 1, 9, 15)
    assert weekly.window(date(2025, 3, 5)) == (utc(2025, 2, 26), utc(2025, 3, 5))
    assert daily.window(date(2025, 3, 5)) == (utc(2025, 3, 4), utc(2025, 3, 5))


def test_latest_is_at_or_before_now_and_next_after_is_after() -> None:
    nine = Schedule("daily", 9 * 60, UTC_ZONE)
    assert nine.latest(utc(2025, 3, 1, 9)) == (date(2025, 3, 1), utc(2025, 3, 1, 9))
    assert nine.latest(utc(2025, 3, 1, 8, 59)) == (date(2025, 2, 28), utc(2025, 2, 28, 9))
    assert nine.next_after(utc(2025, 3, 1, 9)) == utc(2025, 3, 2, 9)
    assert nine.next_after(utc(2025, 3, 1, 8, 59)) == utc(2025, 3, 1, 9)
    # A weekly report eight days back is still found; the day after it too.
    sunday = Schedule("weekly", 23 * 60 + 59, UTC_ZONE, weekday=6)
    assert sunday.latest(utc(2025, 3, 9, 23, 58)) == (date(2025, 3, 2), utc(2025, 3, 2, 23, 59))
    assert sunday.next_after(utc(2025, 3, 2, 23, 59)) == utc(2025, 3, 9, 23, 59)
    # Late on a local day whose UTC date is already the next one.
    tokyo = Schedule("daily", 8 * 60, ZoneInfo("Asia/Tokyo"))
    assert tokyo.latest(utc(2025, 3, 1, 23, 30)) == (date(2025, 3, 2), utc(2025, 3, 1, 23))
    assert tokyo.next_after(utc(2025, 3, 1, 22, 59)) == utc(2025, 3, 1, 23)


def test_a_reports_schedule_comes_from_its_row() -> None:
    row = dict(id=1, channel="C1", minute_of_day=90, tz="Europe/Berlin", kind="failed",
               created_by="U1", created_at=utc(2025, 3, 1), last_occurrence=None)
    weekly = Report(cadence="weekly", weekday=3, **row).schedule
    assert weekly == Schedule("weekly", 90, BERLIN, 3)
    assert Report(cadence="daily", weekday=None, **row).schedule == Schedule("daily", 90, BERLIN)
    assert Report(cadence="odd", weekday=None, **row).schedule.cadence == "daily"


def test_the_key_is_utc_on_a_server_in_another_time_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        assert report_key(7, datetime(2025, 3, 1, 9, 0, tzinfo=BERLIN)) == (
            "report:7:2025-03-01T08:00Z")
    finally:
        monkeypatch.undo()
        time.tzset()


def test_schedules_are_the_same_on_a_server_in_another_time_zone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import time

    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    try:
        nine = Schedule("daily", 9 * 60, BERLIN)
        at = nine.at(date(2025, 3, 1))
        assert at == utc(2025, 3, 1, 8) and at.utcoffset() == timedelta(0)
        assert nine.latest(utc(2025, 3, 1, 23, 30)) == (date(2025, 3, 1), utc(2025, 3, 1, 8))
        assert nine.next_after(utc(2025, 3, 1, 23, 30)) == utc(2025, 3, 2, 8)
    finally:
        monkeypatch.undo()
        time.tzset()


# -- through the worker ----------------------------------------------------------------------


def berlin_ctx(channel: str = "C1", user: str = "U1") -> Context:
    return Context(user_id=user, channel_id=channel, tz=BERLIN)


def commands(world: TrackingWorld) -> ReportCommands:
    return ReportCommands(ReportStore(world.tracking.store), world.messenger)


def schedule(world: TrackingWorld, text_kind: str = "failed", *, cadence: str = "daily",
             minute: int = 9 * 60, weekday: int | None = None, tz: str | None = None,
             channel: str = "C1") -> str:
    reply = commands(world).schedule(
        berlin_ctx(channel),
        ScheduleReport(cadence, minute, text_kind, weekday, tz),  # type: ignore[arg-type]
        world.clock())
    return reply.text


def reports_posted(world: TrackingWorld, channel: str = "C1"):
    return [m for m in world.slack.posts(channel) if "report" in m.text.lower()
            and "scheduled a" not in m.text]


def at(world: TrackingWorld, when: datetime) -> None:
    world.clock.now = when
    world.cycle()


def test_a_daily_report_is_posted_once_at_its_local_time(world: TrackingWorld):
    world.clock.now = utc(2025, 3, 1, 7, 30)  # 08:30 in Berlin
    answer = schedule(world)
    assert "Scheduled report #1" in answer and "2025-03-01 09:00 CET" in answer
    [confirmation] = world.slack.posts("C1")
    assert "<@U1> scheduled a failed report here, daily at 09:00 (Europe/Berlin)" in \
        confirmation.text

    at(world, utc(2025, 3, 1, 7, 59))
    assert reports_posted(world) == []
    at(world, utc(2025, 3, 1, 8, 0))
    assert len(reports_posted(world)) == 1
    at(world, utc(2025, 3, 1, 8, 1))
    world = world.restart()  # a restart does not post it again
    at(world, utc(2025, 3, 1, 12, 0))
    assert len(reports_posted(world)) == 1
    at(world, utc(2025, 3, 2, 8, 0))
    assert len(reports_posted(world)) == 2


def test_after_an_outage_one_report_is_posted_not_one_per_missed_day(world: TrackingWorld):
    world.clock.now = utc(2025, 3, 1, 7, 0)
    schedule(world)
    at(world, utc(2025, 3, 1, 8, 0))
    assert len(reports_posted(world)) == 1

    # Down from 2025-03-01 08:05 to 2025-03-05 10:00 (four 09:00s missed).
    world = world.restart()
    at(world, utc(2025, 3, 5, 10, 0))
    at(world, utc(2025, 3, 5, 10, 1))
    posted = reports_posted(world)
    assert len(posted) == 2
    # The one posted covers the newest missed day, 03-04 09:00 -> 03-05 09:00.
    assert "2025-03-04 09:00 CET → 2025-03-05 09:00 CET" in posted[-1].text + str(
        posted[-1].blocks)
    keys = [r.dedupe_key for r in world.tracking.outbox.rows() if r.kind == REPORT_KIND]
    assert keys == [report_key(1, utc(2025, 3, 1, 8)), report_key(1, utc(2025, 3, 5, 8))]


def test_the_post_follows_the_local_clock_across_spring_forward(world: TrackingWorld):
    world.clock.now = utc(2025, 3, 29, 7, 0)
    schedule(world)
    at(world, utc(2025, 3, 29, 8, 0))  # 09:00 CET
    assert len(reports_posted(world)) == 1
    at(world, utc(2025, 3, 30, 6, 59))
    assert len(reports_posted(world)) == 1
    at(world, utc(2025, 3, 30, 7, 0))  # 09:00 CEST: an hour earlier in UTC
    assert len(reports_posted(world)) == 2


def test_the_timezone_defaults_to_the_requester_and_tz_overrides_it(world: TrackingWorld):
    world.clock.now = utc(2025, 3, 1, 0, 30)
    schedule(world, tz="Asia/Tokyo")  # 09:00 JST = 00:00 UTC: past for today
    schedule(world)                   # 09:00 Berlin = 08:00 UTC
    at(world, utc(2025, 3, 1, 8, 0))
    [berlin] = reports_posted(world)
    assert "CET" in str(berlin.blocks) and "JST" not in str(berlin.blocks)
    at(world, utc(2025, 3, 2, 0, 0))
    tokyo = reports_posted(world)[-1]
    assert "2025-03-01 09:00 JST → 2025-03-02 09:00 JST" in str(tokyo.blocks)


def test_a_failed_report_groups_the_windows_failures_by_error_code(world: TrackingWorld):
    world.clock.now = utc(2025, 3, 1, 7, 0)
    schedule(world)
    in_window = utc(2025, 3, 1, 6, 0)
    for _ in range(3):
        world.sim.add_job(state="FAILED", create_time=in_window, error_code="MSS.10003001",
                          error_msg="Render timeout")
    world.sim.add_job(state="FAILED", create_time=in_window, asset_name="Launch teaser")
    world.sim.add_job(state="FAILED", create_time=utc(2025, 2, 27, 6))  # before the window
    world.sim.add_job(state="SUCCEED", create_time=in_window)

    at(world, utc(2025, 3, 1, 8, 0))

    [report] = reports_posted(world)
    text = str(report.blocks)
    assert "Daily report: 4 failed jobs" in text
    assert "3× `MSS.10003001` Render timeout" in text and "1× `MSS.00000004`" in text
    assert "Launch teaser" in text
    assert "/videojobs unreport 1" in text


def test_a_summary_report(world: TrackingWorld):
    world.clock.now = utc(2025, 3, 1, 7, 0)
    schedule(world, "summary", cadence="weekly", weekday=5)  # Saturday 2025-03-01
    world.sim.add_job(state="FAILED", create_time=utc(2025, 2, 26))
    world.sim.add_job(state="SUCCEED", create_time=utc(2025, 2, 27))
    world.sim.add_job(state="SUCCEED", create_time=utc(2025, 2, 20))  # a week too old

    at(world, utc(2025, 3, 1, 8, 0))

    [report] = reports_posted(world)
    assert report.text.startswith("Weekly report. Summary")
    assert "2 jobs" in report.text and "failure rate 50.0%" in report.text


def test_upstream_down_at_report_time_delays_the_report_and_loses_nothing(
        world: TrackingWorld):
    world.clock.now = utc(2025, 3, 1, 7, 0)
    schedule(world)
    world.sim.faults.fail_next(**UPSTREAM_DOWN)
    at(world, utc(2025, 3, 1, 8, 0))
    assert reports_posted(world) == []
    [row] = [r for r in world.tracking.outbox.rows() if r.kind == REPORT_KIND]
    assert row.status == "pending" and "report" in (row.last_error or "")
    at(world, utc(2025, 3, 1, 8, 1))
    assert len(reports_posted(world)) == 1


def test_unreport_stops_it_and_drops_an_occurrence_not_yet_posted(world: TrackingWorld):
    world.clock.now = utc(2025, 3, 1, 7, 0)
    schedule(world)
    service = commands(world)
    world.slack.rate_limit("chat.postMessage", retry_after=30)
    at(world, utc(2025, 3, 1, 8, 0))  # enqueued, then rate-limited
    assert service.remove(berlin_ctx(), Unreport(1)).text == "Report #1 stopped."
    assert service.remove(berlin_ctx(), Unreport(1)).text == "This channel has no report #1."
    at(world, utc(2025, 3, 2, 9, 0))
    assert reports_posted(world) == []
    assert "no scheduled reports" in service.list(berlin_ctx(), world.clock()).text


def test_reports_lists_the_channels_reports_with_their_next_run(world: TrackingWorld):
    world.clock.now = utc(2025, 3, 1, 7, 0)
    schedule(world)
    schedule(world, "summary", cadence="weekly", weekday=0, tz="UTC")
    schedule(world, channel="C2")
    text = commands(world).list(berlin_ctx(), world.clock()).text
    assert "#1 failed, daily at 09:00 (Europe/Berlin), by <@U1>; next 2025-03-01 09:00 CET" \
        in text
    assert "#2 summary, every Monday at 09:00 (UTC), by <@U1>; next 2025-03-03 09:00 UTC" \
        in text
    assert "#3" not in text


def test_a_channel_the_bot_cannot_post_in_gets_no_report(world: TrackingWorld):
    world.slack.channel_errors["C9"] = "channel_not_found"
    answer = schedule(world, channel="C9")
    assert "I can't post in this channel (`channel_not_found`)" in answer
    assert ReportStore(world.tracking.store).all() == []


def test_reports_per_channel_are_capped(world: TrackingWorld):
    for hour in range(10):  # ten different reports (an identical one is refused anyway)
        schedule(world, minute=hour * 60)
    assert "already has 10 reports" in schedule(world, minute=23 * 60)


# -- exactly once between processes -------------------------------------------------------


def test_two_schedulers_that_both_see_an_occurrence_due_enqueue_it_once(database_url: str):
    clock = FakeClock(utc(2025, 3, 1, 7, 0))
    first, second = Store(database_url), Store(database_url)
    first.migrate()
    try:
        ReportStore(first).add("C1", schedule=Schedule("daily", 9 * 60, BERLIN),
                               kind="failed", created_by="U1", now=clock())
        a = ReportScheduler(first, Outbox(first), clock=clock)
        b = ReportScheduler(second, Outbox(second), clock=clock)
        clock.now = utc(2025, 3, 1, 8, 0)
        # Both read the report as due before either writes (the ordering under test).
        due_a, due_b = a.due(clock()), b.due(clock())
        assert len(due_a) == len(due_b) == 1
        assert [a.enqueue(due_a[0], clock()), b.enqueue(due_b[0], clock())] == [True, False]
        # Even with the report's memory lost (restored from a backup), the key holds.
        with first.begin() as conn:
            conn.exec_driver_sql("UPDATE reports SET last_occurrence = NULL")
        assert a.run_due() == 0
        rows = [r for r in Outbox(first).rows() if r.kind == REPORT_KIND]
        assert [r.dedupe_key for r in rows] == [report_key(1, utc(2025, 3, 1, 8))]
    finally:
        first.close()
        second.close()


@pytest.mark.timeout(60)
def test_racing_threads_enqueue_each_occurrence_once(database_url: str):
    clock = FakeClock(utc(2025, 3, 1, 7, 0))
    setup = Store(database_url)
    setup.migrate()
    for channel in ("C1", "C2", "C3"):
        ReportStore(setup).add(channel, schedule=Schedule("daily", 9 * 60, BERLIN),
                               kind="summary", created_by="U1", now=clock())
    clock.now = utc(2025, 3, 1, 8, 0)
    threads, barrier, counts = 4, threading.Barrier(4), []
    stores = [Store(database_url) for _ in range(threads)]

    def race(store: Store) -> None:
        scheduler = ReportScheduler(store, Outbox(store), clock=clock)
        due = scheduler.due(clock())
        barrier.wait(timeout=30)
        counts.append(sum(scheduler.enqueue(d, clock()) for d in due))

    workers = [threading.Thread(target=race, args=(s,)) for s in stores]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=60)
    try:
        assert sum(counts) == 3 and len(counts) == threads
        keys = sorted(r.dedupe_key for r in Outbox(setup).rows())
        assert keys == sorted(report_key(i, utc(2025, 3, 1, 8)) for i in (1, 2, 3))
    finally:
        for s in [setup, *stores]:
            s.close()


def test_reports_command_round_trip_is_listed(world: TrackingWorld):
    world.clock.now = utc(2025, 3, 1, 7, 0)
    schedule(world)
    assert commands(world).handle(ListReports(), berlin_ctx(), world.clock()).text.startswith(
        "Scheduled reports of this channel (1)")



def test_a_report_is_never_folded_into_a_burst_digest(world: TrackingWorld):
    world.clock.now = utc(2025, 3, 1, 7, 0)
    schedule(world)
    jobs = [world.running() for _ in range(7)]
    # One tracking message: its seven ends are one burst to one destination.
    world.tracking.service.track(berlin_ctx(), Track(tuple(jobs)), world.clock())
    world.clock.now = utc(2025, 3, 1, 8, 0)
    for job in jobs:
        world.sim.set_state(job, "SUCCEED")
    world.cycle()
    rows = world.tracking.outbox.rows()
    assert {r.kind for r in rows} == {"track", "digest", REPORT_KIND}
    [report] = [r for r in rows if r.kind == REPORT_KIND]
    assert report.status == "sent" and report.digest_id is None
    assert len(reports_posted(world)) == 1


def test_a_report_posted_before_a_crash_is_not_posted_again(world: TrackingWorld):
    world.clock.now = utc(2025, 3, 1, 7, 0)
    schedule(world)
    at(world, utc(2025, 3, 1, 8, 0))
    assert len(reports_posted(world)) == 1
    # The process died after Slack took the message and before the outbox recorded it.
    with world.tracking.store.begin() as conn:
        conn.exec_driver_sql("UPDATE outbox SET status = 'pending', posted_ts = NULL, "
                             "sent_at = NULL WHERE kind = 'report'")
    world = world.restart()
    at(world, utc(2025, 3, 1, 8, 5))
    assert len(reports_posted(world)) == 1
    [row] = [r for r in world.tracking.outbox.rows() if r.kind == REPORT_KIND]
    # One post begun, before the crash; the restarted sender found it by its marker.
    assert row.status == "sent" and row.attempts == 1


def _race_in_a_process(url: str, when: datetime, barrier: Any, results: Any) -> None:
    """One worker process: sees the occurrences due, waits for the others, enqueues."""
    store = Store(url)
    try:
        scheduler = ReportScheduler(store, Outbox(store), clock=lambda: when)
        due = scheduler.due(when)
        barrier.wait(timeout=60)
        results.put(sum(scheduler.enqueue(d, when) for d in due))
    finally:
        store.close()


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_worker_processes_racing_enqueue_each_occurrence_once(database_url: str):
    setup = Store(database_url)
    setup.migrate()
    for channel in ("C1", "C2"):
        ReportStore(setup).add(channel, schedule=Schedule("daily", 9 * 60, BERLIN),
                               kind="failed", created_by="U1", now=utc(2025, 3, 1, 7))
    spawn = multiprocessing.get_context("spawn")
    barrier, results = spawn.Barrier(3), spawn.Queue()
    when = utc(2025, 3, 1, 8, 0)
    processes = [spawn.Process(target=_race_in_a_process,
                               args=(database_url, when, barrier, results))
                 for _ in range(3)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=90)
    try:
        assert [p.exitcode for p in processes] == [0, 0, 0]
        assert sum(results.get(timeout=5) for _ in processes) == 2
        keys = sorted(r.dedupe_key for r in Outbox(setup).rows())
        assert keys == [report_key(1, when), report_key(2, when)]
    finally:
        setup.close()


def test_a_broken_report_is_given_up_without_holding_up_the_others(world: TrackingWorld):
    world.clock.now = utc(2025, 3, 1, 7, 0)
    schedule(world)
    schedule(world, channel="C2")
    with world.tracking.store.begin() as conn:  # a zone tzdata no longer knows
        conn.exec_driver_sql("UPDATE reports SET tz = 'Mars/Olympus' WHERE id = 1")
    job = world.running()
    world.tracking.service.track(berlin_ctx(), Track((job,)), world.clock())
    world.sim.set_state(job, "SUCCEED")
    at(world, utc(2025, 3, 1, 8, 0))
    assert len(reports_posted(world, "C2")) == 1
    assert len(world.slack.thread("C1", world.slack.posts("C1")[1].ts)) == 1  # job's end


def test_a_report_row_that_cannot_be_built_fails_alone(world: TrackingWorld):
    world.clock.now = utc(2025, 3, 1, 7, 0)
    schedule(world)
    at(world, utc(2025, 3, 1, 8, 0))
    with world.tracking.store.begin() as conn:  # as if a newer version wrote the row
        conn.exec_driver_sql("UPDATE reports SET last_occurrence = NULL")
        conn.exec_driver_sql("DELETE FROM outbox")
    world.tracking.sender.rows.renderers[REPORT_KIND] = lambda row: 1 / 0
    job = world.running()
    world.tracking.service.track(berlin_ctx(), Track((job,)), world.clock())
    world.sim.set_state(job, "SUCCEED")
    at(world, utc(2025, 3, 1, 8, 1))
    rows = {r.kind: r for r in world.tracking.outbox.rows()}
    assert rows[REPORT_KIND].status == "failed"
    assert "could not be built" in (rows[REPORT_KIND].last_error or "")
    assert rows["track"].status == "sent"
