"""The tracking tables, as SQLAlchemy Core.

The schema's history lives in ``migrations/versions``; these definitions describe the
head revision and are what the queries use. Times are stored as naive UTC and read back
timezone-aware (:class:`UtcDateTime`), the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime. SQLite keeps no offset, so every value is stored as naive
    UTC and read back with ``tzinfo=UTC``."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        return value.replace(tzinfo=UTC) if value is not None else None


metadata = sa.MetaData()

#: A job a channel asked about with ``track``; ``message_ts`` is the tracking message
#: that notifications thread under (several jobs of one command share it).
tracked_jobs = sa.Table(
    "tracked_jobs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("channel", sa.String(32), nullable=False),
    sa.Column("job_id", sa.String(64), nullable=False),
    sa.Column("message_ts", sa.String(32), nullable=False),
    sa.Column("requested_by", sa.String(32), nullable=False),
    sa.Column("last_state", sa.String(32)),
    #: The job's create_time: the poller's create_since sweep starts at the oldest one.
    sa.Column("job_created_at", UtcDateTime),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("paused_reason", sa.Text),
    sa.Column("closed", sa.Boolean, nullable=False, default=False),
    sa.UniqueConstraint("channel", "job_id", name="uq_tracked_channel_job"),
)

subscriptions = sa.Table(
    "subscriptions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("channel", sa.String(32), nullable=False, index=True),
    sa.Column("outcome", sa.String(16), nullable=False),  # failed | finished | all
    sa.Column("job_type", sa.String(64)),
    sa.Column("asset_name", sa.String(256)),
    sa.Column("script_id", sa.String(256)),
    sa.Column("created_by", sa.String(32), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("paused_reason", sa.Text),
    #: Set by the first poll that looked for this subscription's jobs (revision 0002).
    sa.Column("swept_at", UtcDateTime),
)

#: Each (subscription, job, outcome) announced once.
seen_outcomes = sa.Table(
    "seen_outcomes",
    metadata,
    sa.Column(
        "subscription_id",
        sa.Integer,
        sa.ForeignKey("subscriptions.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("job_id", sa.String(64), primary_key=True),
    sa.Column("outcome", sa.String(32), primary_key=True),
    sa.Column("seen_at", UtcDateTime, nullable=False),
)

#: The transactional outbox: one row per notification, written in the transaction that
#: recorded the state change, delivered by a sender holding a lease.
outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),  # track | sub | digest
    sa.Column("channel", sa.String(32), nullable=False),
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Column("dedupe_key", sa.String(255), nullable=False, unique=True),
    sa.Column("status", sa.String(16), nullable=False, default="pending"),
    #: Claims so far; above 1, an earlier attempt may have posted before it could record.
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    #: Transient failures so far: drives the backoff and the give-up limit.
    sa.Column("failures", sa.Integer, nullable=False, default=0),
    sa.Column("next_attempt_at", UtcDateTime, nullable=False),
    sa.Column("lease_owner", sa.String(128)),
    sa.Column("lease_until", UtcDateTime),
    sa.Column("posted_ts", sa.String(32)),
    sa.Column("last_error", sa.Text),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("sent_at", UtcDateTime),
    #: The digest row this notification was folded into (revision 0002).
    sa.Column("digest_id", sa.Integer, sa.ForeignKey("outbox.id", name="fk_outbox_digest")),
    sa.Index("ix_outbox_due", "status", "next_attempt_at"),
)

# -- scheduled reports and uploaded covers (revision 0003) ----------------------

#: A report a channel asked for with ``report daily|weekly …``; the worker enqueues one
#: outbox row per occurrence (see bot/tracking/watches/reports.py and docs/surfaces.md).
reports = sa.Table(
    "reports",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("channel", sa.String(32), nullable=False, index=True),
    sa.Column("cadence", sa.String(8), nullable=False),  # daily | weekly
    #: Weekly reports: 0 = Monday … 6 = Sunday; None for daily ones.
    sa.Column("weekday", sa.Integer),
    #: Local wall-clock time of day, minutes after midnight, in ``tz``.
    sa.Column("minute_of_day", sa.Integer, nullable=False),
    sa.Column("tz", sa.String(64), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),  # failed | summary
    sa.Column("created_by", sa.String(32), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    #: The newest occurrence already enqueued: a restart or a second process does not
    #: enqueue it again, and after an outage only the newest missed one is.
    sa.Column("last_occurrence", UtcDateTime),
)

#: A finished job's cover uploaded to Slack once (``files.getUploadURLExternal`` +
#: ``files.completeUploadExternal``); notifications show it with ``slack_file``.
slack_covers = sa.Table(
    "slack_covers",
    metadata,
    sa.Column("job_id", sa.String(64), primary_key=True),
    sa.Column("file_id", sa.String(32), nullable=False),
    sa.Column("uploaded_at", UtcDateTime, nullable=False),
)


# -- discovery, the active set, push and retention (revision 0004) -----------
# docs/polling.md explains how these tables are used.

#: Small shared state of the pollers, one row per key: the discovery watermark (the
#: newest create_time discovered), when the active set was last checked, the last prune.
poll_state = sa.Table(
    "poll_state",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("moment", UtcDateTime, nullable=False),
)

#: The active set: unfinished jobs some subscription could announce, watched by id until
#: they end (tracked jobs are watched through ``tracked_jobs``). A row is deleted in the
#: transaction that records the job's end.
watched_jobs = sa.Table(
    "watched_jobs",
    metadata,
    sa.Column("job_id", sa.String(64), primary_key=True),
    sa.Column("create_time", UtcDateTime),
    sa.Column("job_type", sa.String(64)),
    sa.Column("asset_name", sa.String(256)),
    #: Known when a ``script_id`` listing found the job (answers do not say it).
    sa.Column("script_id", sa.String(256)),
    sa.Column("last_state", sa.String(32)),
    sa.Column("discovered_at", UtcDateTime, nullable=False),
    sa.Index("ix_watched_create_time", "create_time"),
)

#: MSS_A callback signatures already accepted: a replayed callback is refused.
callback_receipts = sa.Table(
    "callback_receipts",
    metadata,
    sa.Column("secret", sa.String(128), primary_key=True),
    sa.Column("received_at", UtcDateTime, nullable=False, index=True),
)

#: When a tracked job was closed (retention prunes old closed rows).
tracked_jobs.append_column(sa.Column("closed_at", UtcDateTime))
sa.Index("ix_tracked_job_id", tracked_jobs.c.job_id)
sa.Index("ix_tracked_message", tracked_jobs.c.channel, tracked_jobs.c.message_ts)
sa.Index("ix_tracked_open", tracked_jobs.c.closed, tracked_jobs.c.closed_at)
sa.Index("ix_seen_at", seen_outcomes.c.seen_at)
sa.Index("ix_outbox_sent", outbox.c.status, outbox.c.sent_at)
sa.Index("ix_outbox_digest", outbox.c.digest_id)

# -- on-call (revision 0005) ---------------------------------------------------

#: People to DM when a job ends (``track … notify=me``, the Notify me button).
job_watchers = sa.Table(
    "job_watchers",
    metadata,
    sa.Column("job_id", sa.String(64), primary_key=True),
    sa.Column("user_id", sa.String(32), primary_key=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
)

#: The Slack user group a subscription mentions on failures (``notify=@group``).
subscription_mentions = sa.Table(
    "subscription_mentions",
    metadata,
    sa.Column(
        "subscription_id",
        sa.Integer,
        sa.ForeignKey("subscriptions.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("group_id", sa.String(32), nullable=False),
)

#: Per-channel noise settings: ``settings broadcast=on|off`` (None: the global
#: BROADCAST_FAILURES) and ``mute all DURATION``.
channel_settings = sa.Table(
    "channel_settings",
    metadata,
    sa.Column("channel", sa.String(32), primary_key=True),
    sa.Column("broadcast_failures", sa.Boolean),
    sa.Column("muted_until", UtcDateTime),
    #: The last failure sent to the channel too: one broadcast per burst.
    sa.Column("last_broadcast_at", UtcDateTime),
)

#: ``mute JOB_ID DURATION``: one job's subscription announcements snoozed in a channel.
job_mutes = sa.Table(
    "job_mutes",
    metadata,
    sa.Column("channel", sa.String(32), primary_key=True),
    sa.Column("job_id", sa.String(64), primary_key=True),
    sa.Column("until", UtcDateTime, nullable=False),
)

#: ``subscribe stuck``: one per channel, optionally for one job type, maybe paging a group.
stuck_watches = sa.Table(
    "stuck_watches",
    metadata,
    sa.Column("channel", sa.String(32), primary_key=True),
    sa.Column("job_type", sa.String(64)),
    sa.Column("group_id", sa.String(32)),
    sa.Column("created_by", sa.String(32), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
)

#: Jobs a channel was told are stuck (once), and whether their end was told too.
stuck_announced = sa.Table(
    "stuck_announced",
    metadata,
    sa.Column("channel", sa.String(32), primary_key=True),
    sa.Column("job_id", sa.String(64), primary_key=True),
    sa.Column("announced_at", UtcDateTime, nullable=False),
    sa.Column("ended", sa.Boolean, nullable=False),
)

# -- delivery (docs/delivery.md; revision 0006) ---------------------------

sa.Index("ix_outbox_channel_due", outbox.c.channel, outbox.c.status, outbox.c.next_attempt_at)

#: One row per channel the outbox has posted to. ``lease_*``: the sender that owns the
#: channel's rows for its current pass. ``hold_until``: nothing is posted to the channel
#: before it (Slack's Retry-After, the pacing of the last sender, a transient backoff).
outbox_channels = sa.Table(
    "outbox_channels",
    metadata,
    sa.Column("channel", sa.String(32), primary_key=True),
    sa.Column("lease_owner", sa.String(128)),
    sa.Column("lease_until", UtcDateTime),
    sa.Column("hold_until", UtcDateTime),
    sa.Column("hold_reason", sa.Text),
)

#: Process-independent delivery facts, by name: ``workspace`` is present while Slack
#: refuses the token itself (every sender pauses; ``/healthz`` shows ``reason``).
delivery_state = sa.Table(
    "delivery_state",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("since", UtcDateTime, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
)

# -- Slack's Events API retries (revision 0007) --------------------------------

#: Events let through to Bolt, by Slack's ``event_id``: a retry of one is acked and
#: dropped (bot/slack/request_front.py). Pruned after ``retention.EVENT_KEEP``.
event_receipts = sa.Table(
    "event_receipts",
    metadata,
    sa.Column("event_id", sa.String(64), primary_key=True),
    sa.Column("received_at", UtcDateTime, nullable=False),
    sa.Index("ix_event_receipts_received_at", "received_at"),
)

# -- on-call from the failure itself (docs/oncall.md; revision 0008) ----------------

#: A Cancel or Retry press in progress: whoever claimed ``key`` (``cancel:JOB``) first
#: acts, every other press at the same moment is told who does (one POST upstream).
action_claims = sa.Table(
    "action_claims",
    metadata,
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("user_id", sa.String(32), nullable=False),
    sa.Column("claimed_at", UtcDateTime, nullable=False),
)

#: Who canceled, retried, acknowledged, snoozed or muted what, and how it went.
audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("at", UtcDateTime, nullable=False),
    sa.Column("user_id", sa.String(32), nullable=False),
    sa.Column("channel", sa.String(32), nullable=False),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("target", sa.String(128), nullable=False),
    sa.Column("result", sa.Text, nullable=False),
    sa.Index("ix_audit_log_at", "at"),
)

#: An announcement that paged user groups, keyed by its outbox key: acknowledged or not,
#: snoozed until when, and how far its reminders got (0: none, 1: repeated, 2: escalated;
#: ``next_at`` is when the next one is due).
pages = sa.Table(
    "pages",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("page_key", sa.String(200), nullable=False, unique=True),
    sa.Column("channel", sa.String(32), nullable=False),
    sa.Column("groups", sa.JSON, nullable=False),
    sa.Column("escalate_groups", sa.JSON, nullable=False),
    sa.Column("summary", sa.Text, nullable=False),
    sa.Column("message_ts", sa.String(32)),
    sa.Column("acked_by", sa.String(32)),
    sa.Column("acked_at", UtcDateTime),
    sa.Column("snoozed_by", sa.String(32)),
    sa.Column("snoozed_until", UtcDateTime),
    sa.Column("repeats", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_at", UtcDateTime),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Index("ix_pages_next_at", "next_at"),
)

#: Failures of one error code and job type in one channel, close together: one live
#: message (``announce_key`` is its outbox row) instead of one each.
incidents = sa.Table(
    "incidents",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("channel", sa.String(32), nullable=False),
    sa.Column("error_code", sa.String(64), nullable=False),
    sa.Column("job_type", sa.String(64), nullable=False),
    sa.Column("first_at", UtcDateTime, nullable=False),
    sa.Column("last_at", UtcDateTime, nullable=False),
    sa.Column("count", sa.Integer, nullable=False),
    sa.Column("assets", sa.JSON, nullable=False),
    sa.Column("announce_key", sa.String(200), nullable=False, unique=True),
    sa.Column("recovered_at", UtcDateTime),
    sa.Index("ix_incidents_open", "channel", "error_code", "job_type", "recovered_at"),
)

#: ``escalate=@group``: paged when the subscription's page stays unacknowledged.
subscription_mentions.append_column(sa.Column("escalate_group_id", sa.String(32)))
stuck_watches.append_column(sa.Column("escalate_group_id", sa.String(32)))

# -- Workflow Builder steps (docs/surfaces.md, "Workflow steps"; revision 0009) ------

#: One row per custom step execution (``function_executed``), written before the step
#: runs: Slack delivering the event twice runs it once. A "Wait for video job to end"
#: keeps ``job_id``, its ``deadline`` and the execution's token (to complete it with,
#: https://docs.slack.dev/reference/events/function_executed) until its one completion,
#: an outbox row keyed ``step:<execution id>``, is decided: ``ended_at``. The token is
#: dropped once the completion is delivered.
step_runs = sa.Table(
    "step_runs",
    metadata,
    sa.Column("execution_id", sa.String(64), primary_key=True),
    sa.Column("callback_id", sa.String(64), nullable=False),
    sa.Column("started_at", UtcDateTime, nullable=False),
    sa.Column("job_id", sa.String(64)),
    #: The job's create_time: the poller's sweep starts at the oldest watched job.
    sa.Column("job_created_at", UtcDateTime),
    sa.Column("deadline", UtcDateTime),
    sa.Column("token", sa.Text),
    sa.Column("ended_at", UtcDateTime),
    sa.Index("ix_step_runs_waiting", "ended_at", "deadline"),
    sa.Index("ix_step_runs_job", "job_id"),
    sa.Index("ix_step_runs_started", "started_at"),
)

# -- Retry (docs/oncall.md, "Retry"; revision 0010) -------------------------------------

#: A failed job re-created from Slack: ``state`` is ``sending`` while its create is out,
#: ``in_doubt`` when it got no clear answer (look for the job by ``asset_name`` and
#: ``sent_at`` before sending again), ``created`` once ``new_job_id`` is known. A create
#: MetaStudio refused leaves no row.
retries = sa.Table(
    "retries",
    metadata,
    sa.Column("job_id", sa.String(64), primary_key=True),
    sa.Column("user_id", sa.String(32), nullable=False),
    sa.Column("channel", sa.String(32), nullable=False),
    sa.Column("asset_name", sa.String(256), nullable=False),
    sa.Column("photo", sa.Boolean, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("sent_at", UtcDateTime, nullable=False),
    sa.Column("new_job_id", sa.String(64)),
    sa.Column("updated_at", UtcDateTime, nullable=False),
)

#: The job is tracked in the thread of a message that is not a tracking message (the
#: shortcut's message, a failure announcement): replies go there, but that message is
#: never redrawn as a tracking message.
tracked_jobs.append_column(sa.Column("thread_only", sa.Boolean, nullable=False,
                                     default=False, server_default=sa.false()))

# -- leases and liveness (docs/delivery.md, docs/polling.md; revision 0011) -------------

#: A piece of work one process at a time does (``poller``: polling MetaStudio and the
#: watches), held until ``lease_until`` and kept alive while its owner lives; ``taken``
#: counts the times it changed hands.
leases = sa.Table(
    "leases",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("owner", sa.String(128)),
    sa.Column("lease_until", UtcDateTime),
    sa.Column("taken", sa.Integer, nullable=False, default=0, server_default="0"),
)

#: The tracking processes alive now (each beats every third of its lease): senders
#: count them to take their fair share of the channels.
live_processes = sa.Table(
    "live_processes",
    metadata,
    sa.Column("owner", sa.String(128), primary_key=True),
    sa.Column("alive_until", UtcDateTime, nullable=False),
    sa.Column("started_at", UtcDateTime, nullable=False),
    # The advisory lock this process holds while it lives, on PostgreSQL (presence.py).
    sa.Column("lock_key", sa.Integer),
)
