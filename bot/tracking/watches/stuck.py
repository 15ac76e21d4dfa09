"""``subscribe stuck``: a channel is told once when an unfinished job passes the stuck
line (the 95th percentile of its type's recent waits or runs, see
:mod:`bot.domain.stuck`), and again when that job finally ends.

A check reads the unfinished jobs and the week's history through the cached client,
at most every ``every`` (default 5 minutes), and only while some channel subscribes:
the line moves slowly, and a job an hour late is not news to the second. Newly stuck
jobs of one channel become one message; each end is one message. What was announced is
recorded in the transaction that queues the message, so nothing is said twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from ...domain import stuck
from ...domain.stuck import StuckJob
from ...metastudio.api import JobsAPI
from ...metastudio.errors import MetaStudioError
from ...metastudio.query import QueryJobType
from ..delivery.oncall import channel_noise
from ..delivery.outbox import Outbox
from ..delivery.pages import PageStore
from ..store.database import Store
from ..store.tables import stuck_announced, stuck_watches

log = logging.getLogger(__name__)

#: Outbox kinds: newly stuck jobs of a channel (one row), and a stuck job's end.
STUCK, STUCK_END = "stuck", "stuck_end"
#: Newly stuck jobs named in one message at most (the rest are counted).
MAX_NAMED = 20


@dataclass(frozen=True)
class StuckWatch:
    channel: str
    job_type: str | None
    group_id: str | None
    created_by: str
    created_at: datetime
    #: ``escalate=@group``: paged when the announcement stays unacknowledged.
    escalate_group_id: str | None = None


class StuckWatcher:
    """Announces stuck jobs to the channels that subscribed; ``run_once`` per cycle."""

    def __init__(self, store: Store, outbox: Outbox, jobs: JobsAPI, *,
                 clock: Callable[[], datetime], every: timedelta = timedelta(minutes=5)):
        self.store = store
        self.outbox = outbox
        self.jobs = jobs
        self.clock = clock
        self.every = every
        self._last: datetime | None = None

    # -- subscriptions ------------------------------------------------------------------

    def watch(self, channel: str, *, job_type: str | None, group_id: str | None,
              created_by: str, now: datetime, escalate_group_id: str | None = None) -> bool:
        """Subscribe ``channel``; False if it already was. An option given replaces the
        existing one; one not given (None) keeps it, so ``subscribe stuck`` again never
        erases a type filter or a group said before."""
        values = dict(job_type=job_type, group_id=group_id, created_by=created_by,
                      created_at=now, escalate_group_id=escalate_group_id)
        with self.store.begin() as conn:
            if self.store.insert_ignore(conn, stuck_watches, dict(channel=channel, **values)):
                return True
            given = {k: v for k, v in (("job_type", job_type), ("group_id", group_id),
                                       ("escalate_group_id", escalate_group_id))
                     if v is not None}
            if given:
                conn.execute(stuck_watches.update()
                             .where(stuck_watches.c.channel == channel).values(**given))
            return False

    def unwatch(self, channel: str) -> bool:
        with self.store.begin() as conn:
            conn.execute(stuck_announced.delete().where(stuck_announced.c.channel == channel))
            return bool(conn.execute(stuck_watches.delete().where(
                stuck_watches.c.channel == channel)).rowcount)

    def watch_of(self, channel: str) -> StuckWatch | None:
        with self.store.begin() as conn:
            row = conn.execute(stuck_watches.select().where(
                stuck_watches.c.channel == channel)).first()
        return StuckWatch(**row._mapping) if row is not None else None

    # -- the check ----------------------------------------------------------------------

    def run_once(self) -> int:
        """Announce what is due; returns how many messages were queued. Upstream errors
        are logged and the check is tried again next cycle."""
        now = self.clock()
        if self._last is not None and now - self._last < self.every:
            return 0
        with self.store.begin() as conn:
            watches = [StuckWatch(**r._mapping) for r in conn.execute(stuck_watches.select())]
        if not watches:
            return 0
        try:
            unfinished, lines = stuck.read(self.jobs, now, learn=True)
            found = stuck.find_stuck(unfinished, now, older_than=None, lines=lines)
            queued = sum(self._announce(watch, found, now) for watch in watches)
            open_ids = {job.job_id for job in unfinished}
            queued += self._ends(open_ids, now)
        except MetaStudioError as e:
            log.warning("stuck check failed, retrying next cycle: %s", e)
            return 0
        self._last = now
        return queued

    def _announce(self, watch: StuckWatch, found: list[StuckJob], now: datetime) -> int:
        mine = [s for s in found if _matches(watch, s)]
        if not mine:
            return 0
        with self.store.begin() as conn:
            told = set(conn.execute(sa.select(stuck_announced.c.job_id).where(
                stuck_announced.c.channel == watch.channel)).scalars())
            new = [s for s in mine if s.job.job_id not in told]
            if not new:
                return 0
            for s in new:
                self.store.insert_ignore(conn, stuck_announced, dict(
                    channel=watch.channel, job_id=s.job.job_id, announced_at=now, ended=False))
            # `mute all` snoozes this too; what passed the line meanwhile is not told late.
            new = [s for s in new if not _muted(conn, watch.channel, s.job.job_id or "", now)]
            if not new:
                return 0
            payload = {
                "job": new[0].job.model_dump(mode="json"),
                "stuck_jobs": [{"job": s.job.model_dump(mode="json"), "phase": s.phase,
                                "age": s.age, "line": s.line} for s in new[:MAX_NAMED]],
                "stuck_more": max(0, len(new) - MAX_NAMED),
                "mention_group": watch.group_id,
            }
            key = f"stuck:{watch.channel}:{now.isoformat()}"
            if watch.group_id:  # it pages: Acknowledge, Snooze, reminders (docs/oncall.md)
                PageStore(self.store).open_page(
                    conn, key=key, channel=watch.channel, groups=[watch.group_id],
                    escalate_groups=[watch.escalate_group_id] if watch.escalate_group_id else [],
                    summary=f"{len(new)} stuck", now=now)
            return int(self.outbox.enqueue(conn, kind=STUCK, channel=watch.channel,
                                           dedupe_key=key, payload=payload, now=now))

    def _ends(self, open_ids: set[str], now: datetime) -> int:
        """Announced jobs no longer unfinished: look each up, tell its end once."""
        with self.store.begin() as conn:
            pending = list(conn.execute(sa.select(
                stuck_announced.c.channel, stuck_announced.c.job_id,
                stuck_announced.c.announced_at).where(stuck_announced.c.ended.is_(False))))
        gone = [row for row in pending if row.job_id not in open_ids]
        if not gone:
            return 0
        ended = self.jobs.get_jobs(sorted({row.job_id for row in gone}))
        queued = 0
        for row in gone:
            job = ended.get(row.job_id)
            if job is not None and not job.is_finished:
                continue  # still running: the listing of unfinished jobs was capped
            with self.store.begin() as conn:
                conn.execute(stuck_announced.update().where(
                    stuck_announced.c.channel == row.channel,
                    stuck_announced.c.job_id == row.job_id).values(ended=True))
                if job is None:
                    continue  # gone upstream: nothing to tell
                queued += int(self.outbox.enqueue(
                    conn, kind=STUCK_END, channel=row.channel,
                    dedupe_key=f"stuck_end:{row.channel}:{row.job_id}",
                    payload={"job": job.model_dump(mode="json"),
                             "stuck_since": row.announced_at.isoformat()},
                    now=now))
        return queued


def _muted(conn: sa.Connection, channel: str, job_id: str, now: datetime) -> bool:
    noise = channel_noise(conn, channel, now)
    return noise.muted_until is not None or job_id in noise.muted_jobs


def _matches(watch: StuckWatch, found: StuckJob) -> bool:
    if watch.job_type is None:
        return True
    if watch.job_type == QueryJobType.PHOTO:
        return found.job.is_photo
    return not found.job.is_photo
