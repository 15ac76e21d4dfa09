"""Scheduled reports: when each is due, and putting each occurrence in the outbox once.

A report is posted at a local wall-clock time (``09:00`` in ``Europe/Berlin``), daily or
on one weekday. :class:`Schedule` turns that into UTC instants with :mod:`zoneinfo`, so
the post moves with daylight-saving time. Every worker cycle calls
:meth:`ReportScheduler.run_due`: for each report it finds the newest occurrence that has
passed and, if it was not enqueued yet, enqueues one outbox row keyed by report id and
occurrence. The key is UNIQUE, so two processes (or a restart in between) enqueue it
once; and since only the *newest* occurrence is considered, a worker that was down for
three days posts one report when it comes back, not three. The sender renders the row
(:class:`ReportRenderer`, upstream calls at delivery time) and posts it like any other
notification. docs/surfaces.md has the whole story.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa

from ...domain.runbook import DEFAULT, Runbook
from ...domain.stats import SummaryStats, collect, error_groups, summarize
from ...metastudio.api import JobsAPI
from ...metastudio.models import JobState
from ...metastudio.query import JobQuery
from ...views.reports import ReportWindow, failed_report, summary_report
from ..delivery.outbox import Notification, Outbox
from ..store.database import Store
from ..store.tables import outbox, reports

log = logging.getLogger(__name__)

#: The outbox ``kind`` of a report occurrence.
REPORT_KIND = "report"
#: Failures a failed-jobs report reads to group by error code.
FAILED_CAP = 1000
#: Reports one channel may have (each costs upstream calls on schedule).
MAX_PER_CHANNEL = 10

Cadence = Literal["daily", "weekly"]
Kind = Literal["failed", "summary"]


def report_key(report_id: int, occurrence: datetime) -> str:
    """The outbox dedupe key of one occurrence of one report."""
    return f"report:{report_id}:{occurrence.astimezone(UTC):%Y-%m-%dT%H:%MZ}"


@dataclass(frozen=True)
class Schedule:
    """``daily`` at ``minute_of_day`` local time in ``tz``, or ``weekly`` on ``weekday``
    (0 = Monday)."""

    cadence: Cadence
    minute_of_day: int
    tz: ZoneInfo
    weekday: int | None = None

    @property
    def period_days(self) -> int:
        return 7 if self.cadence == "weekly" else 1

    def at(self, day: date) -> datetime:
        """The UTC instant of this schedule's local time on the local date ``day``.

        ``fold=0``: a time the clocks pass twice (the hour repeated when they go back) is
        its first instance; a time that does not exist (the hour skipped when they go
        forward) is read with the offset before the change, i.e. one hour later on the
        wall clock. Either way each local date has exactly one occurrence.
        """
        hour, minute = divmod(self.minute_of_day, 60)
        local = datetime.combine(day, time(hour, minute), tzinfo=self.tz)
        return local.astimezone(UTC)

    def runs_on(self, day: date) -> bool:
        return self.weekday is None or day.weekday() == self.weekday

    def latest(self, now: datetime) -> tuple[date, datetime] | None:
        """The newest occurrence at or before ``now``: (its local date, UTC instant)."""
        today = now.astimezone(self.tz).date()
        # Tomorrow too: an occurrence's instant can fall on the next local date's side
        # of midnight only if it maps past a gap; checking one day ahead is harmless.
        for back in range(-1, 9):
            day = today - timedelta(days=back)
            if self.runs_on(day):
                at = self.at(day)
                if at <= now:
                    return day, at
        return None

    def next_after(self, now: datetime) -> datetime:
        """The first occurrence after ``now`` (what ``reports`` shows)."""
        today = now.astimezone(self.tz).date()
        for ahead in range(-1, 9):
            day = today + timedelta(days=ahead)
            if self.runs_on(day) and self.at(day) > now:
                return self.at(day)
        raise AssertionError("a weekly schedule runs within 8 days")

    def window(self, day: date) -> tuple[datetime, datetime]:
        """What the occurrence on ``day`` reports on: since the previous occurrence's
        local time (one or seven local days back: 23 or 25 hours across a change)."""
        return self.at(day - timedelta(days=self.period_days)), self.at(day)


@dataclass(frozen=True)
class Report:
    id: int
    channel: str
    cadence: str
    weekday: int | None
    minute_of_day: int
    tz: str
    kind: str
    created_by: str
    created_at: datetime
    last_occurrence: datetime | None

    @property
    def schedule(self) -> Schedule:
        cadence: Cadence = "weekly" if self.cadence == "weekly" else "daily"
        return Schedule(cadence, self.minute_of_day, ZoneInfo(self.tz), self.weekday)


class ReportStore:
    """The ``reports`` table."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def add(
        self, channel: str, *, schedule: Schedule, kind: str, created_by: str, now: datetime
    ) -> Report:
        with self.store.begin() as conn:
            row = conn.execute(reports.insert().values(
                channel=channel, cadence=schedule.cadence, weekday=schedule.weekday,
                minute_of_day=schedule.minute_of_day, tz=schedule.tz.key, kind=kind,
                created_by=created_by, created_at=now,
            ).returning(*reports.c)).one()
        return Report(**row._mapping)

    def remove(self, channel: str, report_id: int) -> bool:
        """Delete one of the channel's reports, and its occurrences not yet claimed by a
        sender (one being posted right now still goes out)."""
        with self.store.begin() as conn:
            removed = conn.execute(reports.delete().where(
                reports.c.id == report_id, reports.c.channel == channel)).rowcount > 0
            if removed:
                conn.execute(outbox.delete().where(
                    outbox.c.kind == REPORT_KIND, outbox.c.status == "pending",
                    outbox.c.lease_owner.is_(None),
                    outbox.c.dedupe_key.like(f"report:{report_id}:%"),
                ))
        return removed

    def channel_reports(self, channel: str) -> list[Report]:
        return self._select(reports.select().where(reports.c.channel == channel))

    def all(self) -> list[Report]:
        return self._select(reports.select())

    def _select(self, query: sa.Select[Any]) -> list[Report]:
        with self.store.begin() as conn:
            return [Report(**row._mapping) for row in conn.execute(query.order_by(reports.c.id))]


@dataclass(frozen=True)
class Due:
    report: Report
    day: date
    occurrence: datetime


class ReportScheduler:
    """Enqueues due report occurrences; ``clock`` returns aware UTC datetimes."""

    def __init__(self, store: Store, outbox: Outbox, *, clock: Callable[[], datetime]) -> None:
        self.reports = ReportStore(store)
        self.store = store
        self.outbox = outbox
        self.clock = clock

    def run_due(self) -> int:
        """Enqueue every report's newest passed occurrence not enqueued yet; returns how
        many this call enqueued (0 when another process got there first)."""
        now = self.clock()
        return sum(self.enqueue(due, now) for due in self.due(now))

    def due(self, now: datetime) -> list[Due]:
        """Reports whose newest occurrence up to ``now`` is newer than the last enqueued
        one (and not older than the report itself)."""
        found = []
        for report in self.reports.all():
            try:
                latest = report.schedule.latest(now)
            except (ZoneInfoNotFoundError, ValueError) as e:
                # One report's unreadable zone must not hold up the others.
                log.warning("report #%d skipped: time zone %r: %s", report.id, report.tz, e)
                continue
            if latest is None:
                continue
            day, occurrence = latest
            if occurrence < report.created_at:
                continue
            if report.last_occurrence is not None and occurrence <= report.last_occurrence:
                continue
            found.append(Due(report, day, occurrence))
        return found

    def enqueue(self, due: Due, now: datetime) -> bool:
        """Record ``due`` as the report's last occurrence and enqueue it, in one
        transaction. False if it was already enqueued (by anyone)."""
        report = due.report
        since, until = report.schedule.window(due.day)
        with self.store.begin() as conn:
            conn.execute(reports.update().where(
                reports.c.id == report.id,
                sa.or_(reports.c.last_occurrence.is_(None),
                       reports.c.last_occurrence < due.occurrence),
            ).values(last_occurrence=due.occurrence))
            # The UNIQUE dedupe key, not the update above, is what makes an occurrence
            # once-only: it holds even when two processes both read the report as due.
            added = self.outbox.enqueue(
                conn, kind=REPORT_KIND, channel=report.channel,
                dedupe_key=report_key(report.id, due.occurrence), now=now,
                payload={
                    "report_id": report.id, "kind": report.kind, "cadence": report.cadence,
                    "tz": report.tz, "occurrence": due.occurrence.isoformat(),
                    "since": since.isoformat(), "until": until.isoformat(),
                },
            )
        if added:
            log.info("report #%d for %s enqueued (%s)", report.id, report.channel,
                     due.occurrence.isoformat())
        return added


class ReportRenderer:
    """Builds a report occurrence's message at delivery time (upstream calls happen
    here, inside the sender's lease, so one process does them)."""

    def __init__(self, jobs: JobsAPI, *, runbook: Runbook = DEFAULT) -> None:
        self.jobs = jobs
        self.runbook = runbook

    def __call__(self, row: Notification) -> Any:
        payload = row.payload
        window = ReportWindow(
            cadence=str(payload["cadence"]),
            since=datetime.fromisoformat(payload["since"]),
            until=datetime.fromisoformat(payload["until"]),
            tz=ZoneInfo(payload["tz"]),
            report_id=int(payload["report_id"]),
        )
        if payload["kind"] == "summary":
            return summary_report(window, self.summary_stats(window))
        total, failures = collect(self.jobs, JobQuery(
            states=(JobState.FAILED,), create_since=window.since, create_until=window.until,
            sort_key="create_time", sort_dir="desc"), FAILED_CAP)
        return failed_report(window, total, failures, error_groups(failures),
                             runbook=self.runbook)

    def summary_stats(self, window: ReportWindow) -> SummaryStats:
        """The same statistics as ``/videojobs summary`` for the report's window."""
        base = JobQuery(create_since=window.since, create_until=window.until)
        return summarize(self.jobs, base, window.label)

