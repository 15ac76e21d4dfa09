"""What the tracking store hands to commands and views: a tracked job, a subscription,
a channel's noise settings. Plain values, so views draw them without knowing the store."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class TrackedJob:
    id: int
    channel: str
    job_id: str
    message_ts: str
    requested_by: str
    last_state: str | None
    job_created_at: datetime | None
    created_at: datetime
    paused_reason: str | None
    closed: bool
    closed_at: datetime | None = None
    #: Tracked under a message that is not its tracking message (a shortcut's, an
    #: announcement): never redrawn as one.
    thread_only: bool = False


@dataclass(frozen=True)
class Subscription:
    id: int
    channel: str
    outcome: str
    job_type: str | None
    asset_name: str | None
    script_id: str | None
    created_by: str
    created_at: datetime
    paused_reason: str | None
    swept_at: datetime | None


@dataclass(frozen=True)
class ChannelNoise:
    """A channel's noise settings now."""

    #: None: the global BROADCAST_FAILURES applies.
    broadcast_failures: bool | None
    muted_until: datetime | None
    #: job id -> until, for mutes still running.
    muted_jobs: dict[str, datetime]


@dataclass(frozen=True)
class AuditEntry:
    """One recorded action: who did what to what, where, and how it went."""

    at: datetime
    user_id: str
    channel: str
    action: str  # cancel | retry | acknowledge | snooze | mute | unmute
    target: str
    result: str


@dataclass(frozen=True)
class RetryRecord:
    """A failed job someone re-created from Slack (docs/oncall.md, "Retry"): who, where,
    the attempt's output asset name, when its create was first sent and how it went
    (``sending``, ``in_doubt``, ``created`` with ``new_job_id``)."""

    job_id: str
    user_id: str
    channel: str
    asset_name: str
    photo: bool
    state: str
    sent_at: datetime
    new_job_id: str | None
    updated_at: datetime
