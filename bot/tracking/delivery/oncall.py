"""On-call state beside tracking, and who hears of a job's end (docs/delivery.md, "Who
hears what"): people to DM when a job ends, the user groups a channel's subscriptions
page, and each channel's noise settings (broadcast override, mutes).

The poller calls :func:`enqueue_direct_messages` and :func:`channel_groups` inside the
transaction that records a job's end, so a DM or a page commits with it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from ...domain.records import ChannelNoise
from ...metastudio.models import Job, JobState
from ..store.database import Store
from ..store.tables import (
    channel_settings,
    job_mutes,
    job_watchers,
    subscription_mentions,
    tracked_jobs,
)
from .outbox import Outbox

#: Outbox kind of a direct message to the person who asked (its channel is a user id:
#: chat.postMessage posts to the app's DM with that user).
DIRECT = "dm"
#: End states a subscription's user group is mentioned on: the ones needing a human.
PAGED_STATES = frozenset({JobState.FAILED, JobState.BLOCK})
#: Failures this close together are one burst: only the first is broadcast.
BURST = timedelta(minutes=10)


def direct_key(user_id: str, job_id: str, state: str) -> str:
    return f"dm:{user_id}:{job_id}:{state}"


class OnCallStore:
    """The on-call tables, for the commands that change them."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def add_watcher(self, job_id: str, user_id: str, now: datetime) -> bool:
        """DM ``user_id`` when ``job_id`` ends; False if already asked."""
        with self.store.begin() as conn:
            return self.store.insert_ignore(conn, job_watchers, dict(
                job_id=job_id, user_id=user_id, created_at=now))

    def watchers(self, job_id: str) -> list[str]:
        """Who asked for a DM when ``job_id`` ends."""
        with self.store.begin() as conn:
            return list(conn.execute(sa.select(job_watchers.c.user_id).where(
                job_watchers.c.job_id == job_id)).scalars())

    def tracking_ts(self, channel: str, job_id: str) -> str | None:
        """The tracking message (its ts) a job has in ``channel``, if it is tracked there."""
        with self.store.begin() as conn:
            return conn.execute(sa.select(tracked_jobs.c.message_ts).where(
                tracked_jobs.c.channel == channel, tracked_jobs.c.job_id == job_id)).scalar()

    def set_mention(self, subscription_id: int, group_id: str | None,
                    escalate_group_id: str | None = None) -> None:
        """Mention ``group_id`` (a Slack user group id) on the subscription's failures,
        and page ``escalate_group_id`` when nobody acknowledges; None stops mentioning
        (an escalation group not given keeps the one set before)."""
        with self.store.begin() as conn:
            before = conn.execute(sa.select(subscription_mentions.c.escalate_group_id).where(
                subscription_mentions.c.subscription_id == subscription_id)).scalar()
            conn.execute(subscription_mentions.delete().where(
                subscription_mentions.c.subscription_id == subscription_id))
            if group_id:
                conn.execute(subscription_mentions.insert().values(
                    subscription_id=subscription_id, group_id=group_id,
                    escalate_group_id=escalate_group_id or before))

    def escalations(self, subscription_ids: list[int]) -> dict[int, str]:
        """subscription id -> escalation group id, for the ones that have one."""
        if not subscription_ids:
            return {}
        with self.store.begin() as conn:
            rows = conn.execute(sa.select(
                subscription_mentions.c.subscription_id,
                subscription_mentions.c.escalate_group_id,
            ).where(subscription_mentions.c.subscription_id.in_(subscription_ids),
                    subscription_mentions.c.escalate_group_id.is_not(None)))
            return {sub_id: group for sub_id, group in rows}

    def mentions(self, subscription_ids: list[int]) -> dict[int, str]:
        """subscription id -> group id, for the ones that mention a group."""
        if not subscription_ids:
            return {}
        with self.store.begin() as conn:
            rows = conn.execute(sa.select(
                subscription_mentions.c.subscription_id, subscription_mentions.c.group_id
            ).where(subscription_mentions.c.subscription_id.in_(subscription_ids)))
            return {sub_id: group for sub_id, group in rows}

    def set_broadcast(self, channel: str, broadcast: bool | None) -> None:
        """Per-channel override of BROADCAST_FAILURES; None goes back to the global."""
        self._settings(channel, broadcast_failures=broadcast)

    def mute(self, channel: str, job_id: str | None, until: datetime) -> None:
        """Snooze the channel's subscription announcements (of one job, or all) until
        ``until``."""
        if job_id is None:
            self._settings(channel, muted_until=until)
            return
        with self.store.begin() as conn:
            conn.execute(job_mutes.delete().where(
                job_mutes.c.channel == channel, job_mutes.c.job_id == job_id))
            conn.execute(job_mutes.insert().values(channel=channel, job_id=job_id, until=until))

    def unmute(self, channel: str) -> bool:
        """Lift every mute of the channel; False if there was none."""
        with self.store.begin() as conn:
            jobs = conn.execute(job_mutes.delete().where(job_mutes.c.channel == channel))
            whole = conn.execute(channel_settings.update().where(
                channel_settings.c.channel == channel,
                channel_settings.c.muted_until.is_not(None)).values(muted_until=None))
            return bool(jobs.rowcount or whole.rowcount)

    def unmute_job(self, channel: str, job_id: str) -> bool:
        """Lift one job's mute; False if it had none."""
        with self.store.begin() as conn:
            return bool(conn.execute(job_mutes.delete().where(
                job_mutes.c.channel == channel, job_mutes.c.job_id == job_id)).rowcount)

    def noise(self, channel: str, now: datetime) -> ChannelNoise:
        with self.store.begin() as conn:
            return channel_noise(conn, channel, now)

    def _settings(self, channel: str, **values: Any) -> None:
        with self.store.begin() as conn:
            if not self.store.insert_ignore(conn, channel_settings,
                                            dict(channel=channel, **values)):
                conn.execute(channel_settings.update()
                             .where(channel_settings.c.channel == channel).values(**values))


def channel_noise(conn: sa.Connection, channel: str, now: datetime) -> ChannelNoise:
    """The channel's noise settings now, inside the caller's transaction."""
    row = conn.execute(channel_settings.select().where(
        channel_settings.c.channel == channel)).first()
    muted_until = row.muted_until if row is not None else None
    jobs = {job_id: until for job_id, until in conn.execute(
        sa.select(job_mutes.c.job_id, job_mutes.c.until).where(
            job_mutes.c.channel == channel, job_mutes.c.until > now))}
    return ChannelNoise(
        broadcast_failures=row.broadcast_failures if row is not None else None,
        muted_until=muted_until if muted_until is not None and muted_until > now else None,
        muted_jobs=jobs,
    )


def broadcast_failures(store: Store, channel: str, *, default: bool,
                       now: datetime | None = None) -> bool:
    """Whether this failure in ``channel``'s threads is also sent to the channel: its
    ``settings broadcast=…``, else ``default`` (BROADCAST_FAILURES); and, given ``now``,
    only the first failure of a burst (none broadcast in the last :data:`BURST`), taken
    atomically so two senders never both broadcast."""
    with store.begin() as conn:
        value = conn.execute(sa.select(channel_settings.c.broadcast_failures).where(
            channel_settings.c.channel == channel)).scalar()
        if not (default if value is None else bool(value)):
            return False
        if now is None:
            return True
        if store.insert_ignore(conn, channel_settings,
                               dict(channel=channel, last_broadcast_at=now)):
            return True
        claimed = conn.execute(channel_settings.update().where(
            channel_settings.c.channel == channel,
            sa.or_(channel_settings.c.last_broadcast_at.is_(None),
                   channel_settings.c.last_broadcast_at <= now - BURST),
        ).values(last_broadcast_at=now))
        return claimed.rowcount == 1


def enqueue_direct_messages(outbox: Outbox, conn: sa.Connection, job: Job, now: datetime) -> int:
    """Inside the transaction recording ``job``'s end: one DM to each person who asked
    to be told, then forget them. Returns how many were queued."""
    watchers = list(conn.execute(sa.select(job_watchers.c.user_id).where(
        job_watchers.c.job_id == job.job_id)).scalars())
    queued = 0
    for user_id in watchers:
        queued += outbox.enqueue(
            conn, kind=DIRECT, channel=user_id,
            dedupe_key=direct_key(user_id, job.job_id or "", job.state_name),
            payload={"job": job.model_dump(mode="json"), "requested_by": user_id,
                     "direct": True},
            now=now,
        )
    if watchers:
        conn.execute(job_watchers.delete().where(job_watchers.c.job_id == job.job_id))
    return queued


def channel_groups(
    conn: sa.Connection, subscription_ids: list[int], channel: str, job: Job, now: datetime
) -> list[str] | None:
    """The user groups to page in ``channel`` for ``job``'s end: the union of the groups
    of every matching subscription (``subscription_ids``), sorted, on the states that
    need a human; None when the channel muted the job (or everything)."""
    noise = channel_noise(conn, channel, now)
    if noise.muted_until is not None or (job.job_id or "") in noise.muted_jobs:
        return None
    if job.state not in PAGED_STATES or not subscription_ids:
        return []
    groups = conn.execute(sa.select(subscription_mentions.c.group_id).where(
        subscription_mentions.c.subscription_id.in_(subscription_ids))).scalars()
    return sorted(set(groups))


def escalation_groups(conn: sa.Connection, subscription_ids: list[int]) -> list[str]:
    """The union of the escalation groups (``escalate=@group``) of these subscriptions."""
    if not subscription_ids:
        return []
    found = conn.execute(sa.select(subscription_mentions.c.escalate_group_id).where(
        subscription_mentions.c.subscription_id.in_(subscription_ids),
        subscription_mentions.c.escalate_group_id.is_not(None))).scalars()
    return sorted(set(found))

