"""``report``, ``reports``, ``unreport``: the answers to the report commands
(:class:`ReportCommands` implements :class:`bot.commands.types.ReportCommandsAPI`). The
parsing is :mod:`bot.commands.reports`'s; the scheduler is :mod:`.watches.reports`."""

from __future__ import annotations

import logging
from datetime import datetime
from zoneinfo import ZoneInfo

from ..commands.reports import USAGE
from ..commands.types import Context, ListReports, ScheduleReport, Unreport
from ..domain.messaging import ChannelUnavailable, DeliveryError, Messenger
from ..domain.reply import Reply
from ..views.format import escape, local_time
from ..views.reports import schedule_text
from .watches.reports import MAX_PER_CHANNEL, ReportStore, Schedule

log = logging.getLogger(__name__)


class ReportCommands:
    """Answers the report commands of one workspace."""

    def __init__(self, store: ReportStore, messenger: Messenger) -> None:
        self.store = store
        self.messenger = messenger

    def handle(self, command: ScheduleReport | ListReports | Unreport, ctx: Context,
               now: datetime) -> Reply:
        if isinstance(command, ScheduleReport):
            return self.schedule(ctx, command, now)
        if isinstance(command, ListReports):
            return self.list(ctx, now)
        return self.remove(ctx, command)

    def schedule(self, ctx: Context, command: ScheduleReport, now: datetime) -> Reply:
        """Add the report and say so in the channel (which also proves the bot can post
        there: a channel it cannot post to gets no report)."""
        existing = self.store.channel_reports(ctx.channel_id)
        tz = ZoneInfo(command.tz) if command.tz else ctx.tz
        schedule = Schedule(command.cadence, command.minute_of_day, tz, command.weekday)
        for report in existing:
            if report.kind == command.kind and report.schedule == schedule:
                when = schedule_text(report.cadence, report.weekday, report.minute_of_day,
                                     report.tz)
                return Reply(text=f"That report is already scheduled as #{report.id} "
                                  f"({report.kind}, {when}); nothing added.")
        if len(existing) >= MAX_PER_CHANNEL:
            return Reply(text=f"This channel already has {MAX_PER_CHANNEL} reports; "
                              "`/videojobs unreport ID` one first.")
        report = self.store.add(ctx.channel_id, schedule=schedule, kind=command.kind,
                                created_by=ctx.user_id, now=now)
        when = schedule_text(report.cadence, report.weekday, report.minute_of_day, report.tz)
        first = local_time(schedule.next_after(now), tz)
        try:
            self.messenger.post(ctx.channel_id, text=(
                f"🗓️ <@{ctx.user_id}> scheduled a {command.kind} report here, {when} "
                f"(report #{report.id}; first one {first})."))
        except ChannelUnavailable as e:
            self.store.remove(ctx.channel_id, report.id)
            return Reply(text=f"I can't post in this channel (`{e.error}`). "
                              "Invite me with `/invite @videojobs`, then try again.")
        except DeliveryError as e:
            log.warning("report #%d confirmation not posted: %s", report.id, e)
        return Reply(text=f"Scheduled report #{report.id}: {command.kind}, {when}; first one "
                          f"{first}. `/videojobs unreport {report.id}` stops it.")

    def list(self, ctx: Context, now: datetime) -> Reply:
        found = self.store.channel_reports(ctx.channel_id)
        if not found:
            return Reply(text="This channel has no scheduled reports. " + USAGE)
        lines = [
            f"#{r.id} {r.kind}, "
            f"{schedule_text(r.cadence, r.weekday, r.minute_of_day, r.tz)}, by <@{r.created_by}>;"
            f" next {local_time(r.schedule.next_after(now), r.schedule.tz)}"
            for r in found
        ]
        return Reply(text=escape(f"Scheduled reports of this channel ({len(found)})") + "\n"
                     + "\n".join(lines))

    def remove(self, ctx: Context, command: Unreport) -> Reply:
        if self.store.remove(ctx.channel_id, command.report_id):
            return Reply(text=f"Report #{command.report_id} stopped.")
        return Reply(text=f"This channel has no report #{command.report_id}.")
