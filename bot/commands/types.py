"""Typed commands, the context of a request, and the reply the router returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal, Protocol
from zoneinfo import ZoneInfo

from slack_sdk.models.blocks import Block

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


@dataclass(frozen=True)
class Untrack:
    job_id: str


@dataclass(frozen=True)
class Tracked:
    pass


@dataclass(frozen=True)
class Subscribe:
    outcome: Literal["failed", "finished", "all"] = "failed"
    job_type: QueryJobType | None = None
    asset_name: str | None = None
    script_id: str | None = None


@dataclass(frozen=True)
class Unsubscribe:
    subscription_id: int | None = None


@dataclass(frozen=True)
class Subscriptions:
    pass


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


@dataclass
class Reply:
    """What the router answers; listeners send it through ``respond``, the console prints it."""

    text: str
    blocks: list[Block] = field(default_factory=list)
    response_type: Literal["ephemeral", "in_channel"] = "ephemeral"
    replace_original: bool = False

    def to_payload(self) -> dict[str, Any]:
        """The JSON body for ``respond`` / a ``response_url``."""
        payload: dict[str, Any] = {
            "text": self.text,
            "response_type": self.response_type,
            "replace_original": self.replace_original,
        }
        if self.blocks:
            payload["blocks"] = [b.to_dict() for b in self.blocks]
        return payload


class TrackingCommands(Protocol):
    """The tracking side of the router (``bot.tracking.commands`` implements it)."""

    def track(self, ctx: Context, command: Track, now: datetime) -> Reply: ...
    def untrack(self, ctx: Context, command: Untrack) -> Reply: ...
    def tracked(self, ctx: Context) -> Reply: ...
    def subscribe(self, ctx: Context, command: Subscribe, now: datetime) -> Reply: ...
    def unsubscribe(self, ctx: Context, command: Unsubscribe) -> Reply: ...
    def subscriptions(self, ctx: Context) -> Reply: ...
