"""Typed commands and the context of a request (the answer is :class:`bot.domain.reply.Reply`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal, Protocol
from zoneinfo import ZoneInfo

from ..domain.reply import Reply
from ..metastudio.models import JobState
from ..metastudio.query import QueryJobType


@dataclass(frozen=True)
class Window:
    """A time window as the user typed it; ``bot.commands.windows.resolve`` turns it into
    UTC bounds in the user's timezone."""

    kind: Literal["today", "yesterday", "hours", "days", "since", "range"]
    text: str
    amount: int = 0
    start: date | None = None
    end: date | None = None


TODAY = Window(kind="today", text="today")


@dataclass(frozen=True)
class Help:
    #: The unknown word the user typed, and the closest valid one.
    unknown: str | None = None
    suggestion: str | None = None


@dataclass(frozen=True)
class Status:
    job_ids: tuple[str, ...]


@dataclass(frozen=True)
class Listing:
    """``failed``, ``<state>`` and ``list``: the API's filters combined."""

    states: tuple[JobState, ...] = ()
    job_type: QueryJobType | None = None
    asset_name: str | None = None
    script_id: str | None = None
    sort_dir: Literal["asc", "desc"] = "desc"
    window: Window | None = None
    offset: int = 0


@dataclass(frozen=True)
class Summary:
    window: Window = TODAY


@dataclass(frozen=True)
class Track:
    job_ids: tuple[str, ...]
    #: ``notify=me``: also a DM to the person when each job ends.
    notify_me: bool = False


@dataclass(frozen=True)
class Untrack:
    job_id: str


@dataclass(frozen=True)
class Tracked:
    pass


@dataclass(frozen=True)
class Subscribe:
    #: ``stuck``: told when an unfinished job passes the stuck line, and when it ends.
    outcome: Literal["failed", "finished", "all", "stuck"] = "failed"
    job_type: QueryJobType | None = None
    asset_name: str | None = None
    script_id: str | None = None
    #: ``notify=@group``: the Slack user group (id) mentioned on failures.
    notify_group: str | None = None
    #: ``escalate=@group``: paged when a page stays unacknowledged (docs/oncall.md).
    escalate_group: str | None = None


@dataclass(frozen=True)
class Unsubscribe:
    subscription_id: int | None = None
    #: ``unsubscribe stuck``.
    stuck: bool = False


@dataclass(frozen=True)
class Subscriptions:
    pass


@dataclass(frozen=True)
class Stuck:
    """Unfinished jobs older than ``older_than`` (seconds), or than their type's usual
    wait or run time when None."""

    older_than: int | None = None


@dataclass(frozen=True)
class Quota:
    pass


@dataclass(frozen=True)
class Retry:
    """``retry ID``: re-create a failed job from its own parameters (asks first)."""

    job_id: str


@dataclass(frozen=True)
class Audit:
    """``audit [WINDOW]``: who canceled, retried, acknowledged or muted what."""

    window: Window | None = None


@dataclass(frozen=True)
class Mute:
    """Snooze the channel's subscription announcements: of one job, or all (None)."""

    job_id: str | None
    seconds: int


@dataclass(frozen=True)
class Unmute:
    """Lift every mute of the channel, or one job's (``job_id``)."""

    job_id: str | None = None


@dataclass(frozen=True)
class ChannelSettings:
    """``settings``: show them, or ``broadcast=on|off|default``."""

    broadcast: Literal["on", "off", "default"] | None = None


@dataclass(frozen=True)
class Invalid:
    """Bad input: one line saying what was wrong and what is accepted."""

    message: str


# -- scheduled reports (bot/commands/reports.py parses and answers them) -------------


@dataclass(frozen=True)
class ScheduleReport:
    """``report daily 09:00 failed [tz=Area/City]``, ``report weekly mon 09:00 summary``."""

    cadence: Literal["daily", "weekly"]
    minute_of_day: int
    kind: Literal["failed", "summary"]
    weekday: int | None = None
    #: None: the requester's Slack timezone.
    tz: str | None = None


@dataclass(frozen=True)
class ListReports:
    pass


@dataclass(frozen=True)
class Unreport:
    report_id: int


Command = (
    Help
    | Status
    | Listing
    | Summary
    | Track
    | Untrack
    | Tracked
    | Subscribe
    | Unsubscribe
    | Subscriptions
    | Stuck
    | Quota
    | Retry
    | Audit
    | Mute
    | Unmute
    | ChannelSettings
    | ScheduleReport
    | ListReports
    | Unreport
    | Invalid
)


@dataclass(frozen=True)
class Context:
    """Who asked, where, and in which timezone (users.info ``tz``, else the fallback)."""

    user_id: str
    channel_id: str
    tz: ZoneInfo
    team_id: str | None = None
    #: Slack channel name, for display only.
    channel_name: str | None = None
    #: The thread of the channel message a button was pressed on (its root's ts); None
    #: for typed commands and ephemeral messages, which have no thread to answer in.
    thread_ts: str | None = None


class ReportCommandsAPI(Protocol):
    """The report side of the router (``bot.tracking.report_service`` implements it)."""

    def handle(self, command: ScheduleReport | ListReports | Unreport, ctx: Context,
               now: datetime) -> Reply: ...


class TrackingCommands(Protocol):
    """The tracking side of the router (``bot.tracking.service`` implements it)."""

    def track(self, ctx: Context, command: Track, now: datetime) -> Reply: ...
    def untrack(self, ctx: Context, command: Untrack) -> Reply: ...
    def tracked(self, ctx: Context) -> Reply: ...
    def subscribe(self, ctx: Context, command: Subscribe, now: datetime) -> Reply: ...
    def unsubscribe(self, ctx: Context, command: Unsubscribe) -> Reply: ...
    def subscriptions(self, ctx: Context) -> Reply: ...
    def mute(self, ctx: Context, command: Mute, now: datetime) -> Reply: ...
    def unmute(self, ctx: Context, command: Unmute) -> Reply: ...
    def settings(self, ctx: Context, command: ChannelSettings, now: datetime) -> Reply: ...
    def note_in_thread(self, ctx: Context, job_id: str, line: str) -> None: ...
    def acknowledge(self, ctx: Context, page_key: str, now: datetime) -> Reply: ...
    def snooze(self, ctx: Context, page_key: str, now: datetime) -> Reply: ...
    def audit(self, ctx: Context, since: datetime | None, until: datetime | None) -> Reply: ...
    def record(self, ctx: Context, action: str, target: str, result: str,
               now: datetime) -> None: ...
    def claim(self, key: str, user_id: str, now: datetime) -> str | None: ...
    def release(self, key: str, user_id: str) -> None: ...
    def track_retry(self, ctx: Context, job_id: str, new_job_id: str, thread_ts: str | None,
                    now: datetime) -> str | None: ...
