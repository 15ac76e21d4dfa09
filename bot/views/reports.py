"""Scheduled reports as channel messages, and the lines of ``reports``. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from slack_sdk.models.blocks import Block

from ..domain.reply import Reply
from ..domain.runbook import DEFAULT, Runbook
from ..domain.stats import ErrorGroup, SummaryStats
from ..metastudio.models import Job
from .blocks import context
from .format import local_time
from .listings import listing_reply
from .summary import summary_reply

#: Failed jobs listed one per row under the error-code groups; the rest are one
#: ``/videojobs failed`` away.
ROWS = 20
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@dataclass(frozen=True)
class ReportWindow:
    cadence: str
    since: datetime
    until: datetime
    tz: ZoneInfo
    report_id: int

    @property
    def label(self) -> str:
        """``2026-11-30 09:00 CET → 2026-12-01 09:00 CET``."""
        return f"{local_time(self.since, self.tz)} → {local_time(self.until, self.tz)}"


def failed_report(window: ReportWindow, total: int, failures: list[Job],
                  groups: list[ErrorGroup], *, runbook: Runbook = DEFAULT) -> Reply:
    """Failures of the window grouped by error code, then the newest ones."""
    title = f"❌ {window.cadence.capitalize()} report: {total} failed job" \
            f"{'s' * (total != 1)} · {window.label}"
    reply = listing_reply(title, failures[:ROWS], total, window.tz, error_groups=groups,
                          groups_capped=total > len(failures), runbook=runbook)
    reply.blocks.append(_footer(window))
    return reply


def summary_report(window: ReportWindow, stats: SummaryStats) -> Reply:
    """The summary of the window (counts, failure rate, top errors, mean run time)."""
    reply = summary_reply(stats, post_value=None)
    reply.text = f"{window.cadence.capitalize()} report. {reply.text}"
    reply.blocks.append(_footer(window))
    return reply


def _footer(window: ReportWindow) -> Block:
    return context(f"Scheduled report #{window.report_id} · "
                   f"`/videojobs unreport {window.report_id}` stops it.")


def schedule_text(cadence: str, weekday: int | None, minute_of_day: int, tz: str) -> str:
    """``daily at 09:00 (Europe/Berlin)``, ``every Monday at 09:00 (UTC)``."""
    hour, minute = divmod(minute_of_day, 60)
    when = f"every {WEEKDAYS[weekday]}" if cadence == "weekly" and weekday is not None \
        else "daily"
    return f"{when} at {hour:02d}:{minute:02d} ({tz})"
