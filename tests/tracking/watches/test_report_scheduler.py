"""Scheduled reports below the commands (bot/tracking/watches/reports.py), on SQLite and
PostgreSQL: the reports table's rows and filters, which occurrence is due (and that a
report never run or newer than its occurrence holds up no other), what an occurrence's
outbox row carries and records, and what a report says when it is built at delivery,
against the simulator over HTTP."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from bot.domain.reply import Reply
from bot.domain.stats import collect, error_groups, summarize
from bot.metastudio.client import MetaStudioClient
from bot.metastudio.models import JobState
from bot.metastudio.query import JobQuery, SortKey
from bot.simulator import Simulator
from bot.tracking.delivery.outbox import Outbox
from bot.tracking.store.database import Store
from bot.tracking.store.tables import outbox as outbox_table
from bot.tracking.store.tables import reports as reports_table
from bot.tracking.watches.reports import (
    REPORT_KIND,
    Due,
    Report,
    ReportRenderer,
    ReportScheduler,
    ReportStore,
    Schedule,
    report_key,
)
from bot.views.reports import ReportWindow, failed_report, summary_report
from tests.fixtures.tracking import FakeClock
from tests.tracking import fast_store

# SQLite stores copied from one migrated database (see tests/tracking/fast_store.py).
migrated_sqlite, store = fast_store.migrated_sqlite, fast_store.store

BERLIN = ZoneInfo("Europe/Berlin")
UTC_ZONE = ZoneInfo("UTC")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


CREATED = utc(2025, 3, 1, 7)


def _add(store: Store, channel: str = "C1", *, minute: int = 9 * 60, kind: str = "failed",
         cadence: str = "daily", weekday: int | None = None, tz: ZoneInfo = UTC_ZONE,
         now: datetime = CREATED) -> Report:
    return ReportStore(store).add(channel, schedule=Schedule(cadence, minute, tz, weekday),  # type: ignore[arg-type]
                                  kind=kind, created_by="U1", now=now)


def test_a_new_report_records_every_field(store: Store) -> None:
    report = _add(store, cadence="weekly", weekday=4, minute=75, tz=BERLIN, kind="summary")
    assert report == Report(id=report.id, channel="C1", cadence="weekly", weekday=4,
                            minute_of_day=75, tz="Europe/Berlin", kind="summary",
                            created_by="U1", created_at=utc(2025, 3, 1, 7),
                            last_occurrence=None)
    assert ReportStore(store).channel_reports("C1") == [report]


def test_reports_are_listed_per_channel_in_order(store: Store) -> None:
    a, b, c = _add(store, "C1"), _add(store, "C2"), _add(store, "C1", minute=60)
    reports = ReportStore(store)
    assert [r.id for r in reports.channel_reports("C1")] == [a.id, c.id]
    assert [r.id for r in reports.channel_reports("C2")] == [b.id]
    assert [r.id for r in reports.all()] == [a.id, b.id, c.id]


def _enqueue(store: Store, key: str, *, kind: str = REPORT_KIND, channel: str = "C1") -> None:
    with store.begin() as conn:
        Outbox(store).enqueue(conn, kind=kind, channel=channel, dedupe_key=key, payload={},
                              now=utc(2025, 3, 1))


def test_removing_a_report_drops_its_unclaimed_occurrences_only(store: Store) -> None:
    mine = _add(store)
    _add(store, "C2")
    for _n in range(8):
        _add(store)  # ids up to 10: "report:1:" must not match report 10's keys
    assert mine.id == 1
    _enqueue(store, "report:1:2025-03-01T09:00Z")
    _enqueue(store, "report:1:2025-03-02T09:00Z")
    _enqueue(store, "report:1:2025-02-28T09:00Z")
    _enqueue(store, "report:10:2025-03-01T09:00Z")
    _enqueue(store, "report:2:2025-03-01T09:00Z", channel="C2")
    _enqueue(store, "report:1:x", kind="sub")  # not a report row
    with store.begin() as conn:
        conn.execute(outbox_table.update().where(
            outbox_table.c.dedupe_key == "report:1:2025-03-02T09:00Z").values(lease_owner="s"))
        conn.execute(outbox_table.update().where(
            outbox_table.c.dedupe_key == "report:1:2025-02-28T09:00Z").values(status="sent"))
    reports = ReportStore(store)
    assert not reports.remove("C2", mine.id)  # another channel's number
    assert len(Outbox(store).rows()) == 6
    assert reports.remove("C1", mine.id)
    assert not reports.remove("C1", mine.id)
    assert {r.dedupe_key for r in Outbox(store).rows()} == {
        "report:1:2025-02-28T09:00Z", "report:1:2025-03-02T09:00Z", "report:1:x",
        "report:10:2025-03-01T09:00Z", "report:2:2025-03-01T09:00Z"}
    assert next(r.id for r in reports.channel_reports("C1")) == 3


def test_due_is_the_newest_passed_occurrence_not_enqueued_yet(store: Store) -> None:
    clock = FakeClock(utc(2025, 3, 1, 7))
    scheduler = ReportScheduler(store, Outbox(store), clock=clock)
    report = _add(store)
    assert scheduler.due(utc(2025, 3, 1, 8, 59)) == []  # yesterday's predates the report
    [due] = scheduler.due(utc(2025, 3, 1, 9))
    assert due == Due(report, date(2025, 3, 1), utc(2025, 3, 1, 9))
    # Created at exactly the occurrence: that one counts.
    exact = _add(store, "C2", now=utc(2025, 3, 1, 9))
    assert [d.report.id for d in scheduler.due(utc(2025, 3, 1, 9))] == [report.id, exact.id]
    assert scheduler.enqueue(due, utc(2025, 3, 1, 9))
    assert [d.report.id for d in scheduler.due(utc(2025, 3, 1, 9, 30))] == [exact.id]
    assert [d.report.id for d in scheduler.due(utc(2025, 3, 2, 9))] == [report.id, exact.id]


def test_an_unreadable_zone_skips_that_report_only(store: Store,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    broken = _add(store)
    good = _add(store, "C2")
    with store.begin() as conn:
        conn.execute(reports_table.update().where(reports_table.c.id == broken.id)
                     .values(tz="Mars/Olympus"))
    scheduler = ReportScheduler(store, Outbox(store), clock=FakeClock(utc(2025, 3, 1, 10)))
    with caplog.at_level("WARNING", logger="bot.tracking.watches.reports"):
        assert [d.report.id for d in scheduler.due(utc(2025, 3, 1, 10))] == [good.id]
    [message] = [r.getMessage() for r in caplog.records if r.name == "bot.tracking.watches.reports"]
    assert message.startswith(f"report #{broken.id} skipped: time zone 'Mars/Olympus': ")
    assert "Mars/Olympus'" in message.split(": ", 1)[1].split("'Mars/Olympus': ", 1)[1]


def test_an_occurrence_is_enqueued_with_its_window_and_recorded(
    store: Store, caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock(utc(2025, 3, 5, 9, 30))
    scheduler = ReportScheduler(store, Outbox(store), clock=clock)
    report = _add(store, cadence="weekly", weekday=2, minute=9 * 60, tz=BERLIN, kind="summary")
    other = _add(store, "C2", minute=23 * 60, now=clock())
    with caplog.at_level("INFO", logger="bot.tracking.watches.reports"):
        assert scheduler.run_due() == 1
    assert [r.getMessage() for r in caplog.records if r.name == "bot.tracking.watches.reports"] == [
        f"report #{report.id} for C1 enqueued (2025-03-05T08:00:00+00:00)"]
    [row] = Outbox(store).rows()
    occurrence = utc(2025, 3, 5, 8)
    assert (row.kind, row.channel, row.dedupe_key) == (
        REPORT_KIND, "C1", report_key(report.id, occurrence))
    assert row.payload == {"report_id": report.id, "kind": "summary", "cadence": "weekly",
                           "tz": "Europe/Berlin", "occurrence": occurrence.isoformat(),
                           "since": utc(2025, 2, 26, 8).isoformat(),
                           "until": occurrence.isoformat()}
    by_id = {r.id: r for r in ReportStore(store).all()}
    assert by_id[report.id].last_occurrence == occurrence
    assert by_id[other.id].last_occurrence is None
    assert scheduler.run_due() == 0


def test_recording_an_occurrence_never_moves_it_back(store: Store) -> None:
    scheduler = ReportScheduler(store, Outbox(store), clock=FakeClock(utc(2025, 3, 3, 10)))
    report = _add(store)
    old = Due(report, date(2025, 3, 2), utc(2025, 3, 2, 9))
    new = Due(report, date(2025, 3, 3), utc(2025, 3, 3, 9))
    assert scheduler.enqueue(new, utc(2025, 3, 3, 10))
    assert scheduler.enqueue(old, utc(2025, 3, 3, 10))  # a slow process: its own key
    [stored] = ReportStore(store).all()
    assert stored.last_occurrence == utc(2025, 3, 3, 9)
    newest = Due(report, date(2025, 3, 4), utc(2025, 3, 4, 9))
    assert scheduler.enqueue(newest, utc(2025, 3, 4, 10))
    [stored] = ReportStore(store).all()
    assert stored.last_occurrence == utc(2025, 3, 4, 9)  # and forward it moves
    with store.begin() as conn:
        keys = set(conn.execute(sa.select(outbox_table.c.dedupe_key)).scalars())
    assert keys == {report_key(report.id, d.occurrence) for d in (old, new, newest)}


def test_a_report_newer_than_its_occurrence_does_not_hold_up_the_next(store: Store) -> None:
    scheduler = ReportScheduler(store, Outbox(store), clock=FakeClock(utc(2025, 3, 1, 8, 30)))
    _add(store, minute=9 * 60)  # created 07:00: yesterday's 09:00 is older than it
    early = _add(store, "C2", minute=8 * 60)  # 08:00 today: due
    assert [d.report.id for d in scheduler.due(utc(2025, 3, 1, 8, 30))] == [early.id]


def test_a_report_that_never_runs_does_not_hold_up_the_others(store: Store) -> None:
    odd = _add(store, cadence="weekly", weekday=1)
    with store.begin() as conn:  # a row no command writes: no such weekday
        conn.execute(reports_table.update().where(reports_table.c.id == odd.id)
                     .values(weekday=7))
    good = _add(store, "C2", minute=8 * 60)
    scheduler = ReportScheduler(store, Outbox(store), clock=FakeClock(utc(2025, 3, 1, 8, 30)))
    assert [d.report.id for d in scheduler.due(utc(2025, 3, 1, 8, 30))] == [good.id]


# -- rendering at delivery time, against the simulator over HTTP ------------------------


def _render(store: Store, client: MetaStudioClient, clock: FakeClock, kind: str) -> Reply:
    report = _add(store, cadence="weekly", weekday=5, minute=9 * 60, tz=BERLIN, kind=kind,
                  now=clock() - timedelta(days=30))
    assert ReportScheduler(store, Outbox(store), clock=clock).run_due() == 1
    [row] = Outbox(store).rows()
    assert row.payload["report_id"] == report.id
    return ReportRenderer(client)(row)


def _window_jobs(sim: Simulator, clock: FakeClock) -> tuple[str, str]:
    newer = sim.add_job(state="FAILED", create_time=clock() - timedelta(hours=2),
                        error_code="MSS.00000004")
    older = sim.add_job(state="FAILED", create_time=clock() - timedelta(days=3),
                        error_code="MSS.00000004")
    sim.add_job(state="FAILED", create_time=clock() - timedelta(days=8))  # before the window
    sim.add_job(state="FAILED", create_time=clock() - timedelta(minutes=30))  # after it
    sim.add_job(state="SUCCEED", create_time=clock() - timedelta(hours=2))
    return newer, older


# Saturday 2025-03-01 09:00 UTC: the weekly Saturday 09:00 Berlin report (08:00 UTC) is due.
SATURDAY = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
WINDOW = ReportWindow("weekly", utc(2025, 2, 22, 8), utc(2025, 3, 1, 8), BERLIN, 1)


def test_a_failed_report_lists_the_windows_failures_newest_first(
    store: Store, tracking_client: MetaStudioClient, tracking_simulator: Simulator,
    clock: FakeClock,
) -> None:
    clock.now = SATURDAY
    newer, older = _window_jobs(tracking_simulator, clock)
    since = len(tracking_simulator.requests)
    reply = _render(store, tracking_client, clock, "failed")
    assert reply.text.startswith(f"❌ Weekly report: 2 failed jobs · {WINDOW.label}")
    # The failed listing of the window, newest first, grouped by error code.
    [request] = [r for r in tracking_simulator.requests[since:]
                 if r.path.endswith("/digital-human-videos")]
    assert {("sort_key", "create_time"), ("sort_dir", "desc"),
            ("state", "FAILED")} <= set(request.params)
    total, failures = collect(tracking_client, JobQuery(
        states=(JobState.FAILED,), create_since=WINDOW.since, create_until=WINDOW.until,
        sort_key=SortKey.CREATE_TIME, sort_dir="desc"), 1000)
    expected = failed_report(WINDOW, total, failures, error_groups(failures))
    assert str(reply.blocks) == str(expected.blocks) and "MSS.00000004" in str(reply.blocks)
    text = str(reply.blocks)
    assert newer in text and older in text and text.index(newer) < text.index(older)
    assert "Scheduled report #1 · `/videojobs unreport 1` stops it." in text


def test_a_summary_report_covers_the_window(
    store: Store, tracking_client: MetaStudioClient, tracking_simulator: Simulator,
    clock: FakeClock,
) -> None:
    clock.now = SATURDAY
    _window_jobs(tracking_simulator, clock)
    reply = _render(store, tracking_client, clock, "summary")
    stats = summarize(tracking_client, JobQuery(create_since=WINDOW.since,
                                                create_until=WINDOW.until), WINDOW.label)
    expected = summary_report(WINDOW, stats)
    assert reply.text == expected.text and reply.text.startswith("Weekly report. ")
    assert str(reply.blocks) == str(expected.blocks)
    assert WINDOW.label in str(reply.blocks)
