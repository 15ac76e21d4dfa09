"""The poller: each cycle learns what changed upstream at a cost of what changed, not of
what the project holds, and records each end with its notifications in one transaction.
docs/polling.md tells the design; in short, one cycle:

1. **Adopts** new subscriptions (once each): their unfinished jobs join the active set,
   and jobs that ended since the subscription was made are announced.
2. **Discovers** jobs created since the watermark (``create_since`` = mark - overlap,
   oldest first, streamed page by page; the mark advances with each recorded page).
   Unfinished jobs some subscription could announce join the active set; finished
   ones are announced at once. Cost: ceil(new / 100).
3. **Checks the active set** (watched and tracked jobs, and the jobs workflow steps wait
   for) by id: ``job_ids`` batches of 100, ceil(active / 100). When the server ignores
   ``job_ids``: one ``state=WAITING,PROCESSING`` sweep since the oldest active job; the jobs
   missing from it have ended, and are read from one ``sort_key=update_time`` listing
   of recent ends, or confirmed by id.

Callbacks (:meth:`Poller.observe`) go through the same recording (waiting steps
included, :mod:`.waits`), so a callback and a poll seeing one end announce it once
(the outbox's and seen outcomes' UNIQUE keys).
Upstream errors end the cycle (logged, counted in ``failed_cycles``); what was recorded
stays, and the next cycle goes on from there.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from ...domain.records import Subscription, TrackedJob
from ...metastudio.api import JobsAPI
from ...metastudio.client import lookup_since
from ...metastudio.errors import MetaStudioError
from ...metastudio.models import FINISHED_STATES, UNFINISHED_STATES, Job, JobState, JobType
from ...metastudio.query import MAX_LIMIT, JobQuery, QueryJobType, SortKey
from ...telemetry.metrics import POLL_CYCLE, POLL_UPSTREAM_CALLS
from ..delivery.oncall import (
    PAGED_STATES,
    channel_groups,
    enqueue_direct_messages,
    escalation_groups,
)
from ..delivery.outbox import Outbox, subscription_key, track_key
from ..delivery.pages import INCIDENT_LINE, PageStore
from ..store.database import Store
from .active import ActiveSet, WatchedJob
from .waits import StepWaits
from .watermark import ACTIVE_CHECKED, DISCOVERY, PollState, script_discovery

log = logging.getLogger(__name__)

#: What each ``subscribe`` outcome announces. BLOCK (frozen) needs a human like FAILED.
OUTCOME_STATES: dict[str, frozenset[JobState]] = {
    "failed": frozenset({JobState.FAILED, JobState.BLOCK}),
    "finished": frozenset({JobState.SUCCEED}),
    "all": FINISHED_STATES,
}
#: Discovery re-reads this much before the watermark: clock skew between MetaStudio's
#: hosts, and jobs that become visible in the list a little after their create_time.
DISCOVERY_OVERLAP = timedelta(minutes=2)
#: Pages one discovery listing may read per cycle; the rest of a long gap follows in the
#: next cycles (the watermark advances page by page).
DISCOVERY_MAX_PAGES = 200
#: Job ends recorded per transaction (see ``_apply_tracked``).
END_CHUNK = 100
#: How far before the last check of the active set the "recently ended" listing reads
#: (clock skew between the bot and MetaStudio).
ENDED_MARGIN = timedelta(minutes=2)
#: Pages of the "recently ended" listing before the rest is confirmed job by job.
ENDED_MAX_PAGES = 10
_UNFINISHED = tuple(sorted(UNFINISHED_STATES))


@dataclass
class PollResult:
    upstream_calls: int = 0
    finished: int = 0
    announced: int = 0
    discovered: int = 0
    error: str | None = None


class _Counter:
    """Requests made in one cycle."""

    def __init__(self) -> None:
        self.calls = 0


class Poller:
    """Polls MetaStudio for the store's tracked jobs and subscriptions.

    ``source`` is any :class:`~bot.metastudio.api.JobsAPI`; the poller uses only its
    fresh reads, so the cached client serves (and is fed by) the poller as it is.
    ``retention``: a callback about a job that ended longer ago than this is ignored
    (its seen outcomes may have been pruned).
    """

    def __init__(
        self,
        store: Store,
        outbox: Outbox,
        source: JobsAPI,
        *,
        clock: Callable[[], datetime],
        retention: timedelta = timedelta(days=7),
        incident_window: timedelta = timedelta(hours=1),
        overlap: timedelta = DISCOVERY_OVERLAP,
        discovery_max_pages: int = DISCOVERY_MAX_PAGES,
    ) -> None:
        self.store = store
        self.outbox = outbox
        self.source = source
        self.clock = clock
        self.retention = retention
        #: Failures of one cause this close together are one incident (docs/oncall.md).
        self.incident_window = incident_window
        self.pages = PageStore(store)
        self.overlap = overlap
        self.discovery_max_pages = discovery_max_pages
        self.state = PollState(store)
        self.active = ActiveSet(store)
        #: Workflow steps waiting for jobs to end (their jobs join the active set).
        self.waits = StepWaits(store, outbox)
        self.failed_cycles = 0

    # -- a cycle ------------------------------------------------------------------------

    def poll(self) -> PollResult:
        """One cycle. Never raises for upstream errors (see ``PollResult.error``)."""
        started = time.monotonic()
        now = self.clock()
        result = PollResult()
        counter = _Counter()
        try:
            subs = self.store.active_subscriptions()
            self._adopt([s for s in subs if s.swept_at is None], now, counter, result)
            self._discover(subs, now, counter, result)
            self._check_active(subs, now, counter, result)
        except MetaStudioError as e:
            self.failed_cycles += 1
            log.warning("poll cycle failed, retrying next cycle: %s", e)
            result.error = str(e)
        result.upstream_calls = counter.calls
        POLL_UPSTREAM_CALLS.observe(counter.calls)
        POLL_CYCLE.observe(time.monotonic() - started)
        return result

    # -- 1. adoption --------------------------------------------------------------------

    def _adopt(
        self, new: list[Subscription], now: datetime, counter: _Counter, result: PollResult
    ) -> None:
        """A new subscription hears of every job that ends after it was made: watch its
        unfinished jobs, and announce those that ended between its creation and now."""
        for sub in new:
            filters = _api_filters(sub)
            unfinished = JobQuery(states=_UNFINISHED, create_since=lookup_since(now),
                                  sort_key=SortKey.CREATE_TIME, sort_dir="asc",
                                  limit=MAX_LIMIT, **filters)
            for page in self.source.scan(unfinished):
                counter.calls += 1
                with self.store.begin() as conn:
                    for job in page.jobs:
                        if not job.is_finished and _matches_filters(sub, job, sub.script_id):
                            self.active.watch(conn, job, now, script_id=sub.script_id)
            result.announced += self._recently_ended(
                [sub], filters, since=sub.created_at - ENDED_MARGIN, now=now, counter=counter)
            self.store.mark_swept([sub.id], now)

    def _recently_ended(
        self, subs: list[Subscription], filters: dict[str, Any], *, since: datetime,
        now: datetime, counter: _Counter,
    ) -> int:
        """Announce jobs ended (updated) since ``since``, newest first, for ``subs``."""
        states = tuple(sorted(set().union(*(OUTCOME_STATES[s.outcome] for s in subs))))
        query = JobQuery(states=states, create_since=lookup_since(now),
                         sort_key=SortKey.UPDATE_TIME, sort_dir="desc", limit=MAX_LIMIT,
                         **filters)
        announced = 0
        for page in self.source.scan(query, max_pages=ENDED_MAX_PAGES):
            counter.calls += 1
            older = False
            with self.store.begin() as conn:
                for job in page.jobs:
                    updated = job.lastupdate_time or job.end_time
                    if updated is not None and updated < since:
                        older = True
                        continue
                    script = subs[0].script_id if len(subs) == 1 else None
                    announced += self._announce(conn, job, subs, now, script_id=script)
            if older:
                break
        return announced

    # -- 2. discovery -------------------------------------------------------------------

    def _discover(
        self, subs: list[Subscription], now: datetime, counter: _Counter, result: PollResult
    ) -> None:
        """List what was created since each watermark (one listing, plus one per
        ``script_id`` filter), recording page by page."""
        plain = [s for s in subs if s.script_id is None]
        scripts = sorted({s.script_id for s in subs if s.script_id is not None})
        if not plain:
            # Nobody to tell: the mark follows the clock, listing nothing (a subscription
            # made later adopts what existed before it).
            self.state.advance(DISCOVERY, now)
        else:
            self._discover_one(DISCOVERY, None, plain, now, counter, result)
        for script_id in scripts:
            mine = [s for s in subs if s.script_id == script_id]
            self._discover_one(script_discovery(script_id), script_id, mine, now, counter,
                               result)

    def _discover_one(
        self, key: str, script_id: str | None, subs: list[Subscription], now: datetime,
        counter: _Counter, result: PollResult,
    ) -> None:
        mark = self.state.get(key)
        if mark is None:
            # First listing: from now (adoption covered what existed before).
            self.state.advance(key, now)
            mark = now
        query = JobQuery(create_since=mark - self.overlap, script_id=script_id,
                         sort_key=SortKey.CREATE_TIME, sort_dir="asc", limit=MAX_LIMIT)
        for page in self.source.scan(query, max_pages=self.discovery_max_pages):
            counter.calls += 1
            newest = max((j.create_time for j in page.jobs if j.create_time), default=None)
            with self.store.begin() as conn:
                for job in page.jobs:
                    result.announced += self._take(conn, job, subs, now, script_id)
                    result.discovered += 1
                if newest is not None:
                    # The page and the mark past it commit together: a crash re-reads it.
                    self.state.advance(key, min(newest, now + self.overlap), conn)

    def _take(
        self, conn: sa.Connection, job: Job, subs: list[Subscription], now: datetime,
        script_id: str | None,
    ) -> int:
        """One discovered job: announced if it has ended, watched if some subscription
        could announce it later, else forgotten."""
        matching = [s for s in subs if _matches_filters(s, job, script_id)]
        if not matching:
            return 0
        if job.is_finished:
            return self._announce(conn, job, matching, now, script_id=script_id)
        self.active.watch(conn, job, now, script_id=script_id)
        return 0

    # -- 3. the active set ----------------------------------------------------------------

    def _check_active(
        self, subs: list[Subscription], now: datetime, counter: _Counter, result: PollResult,
    ) -> None:
        """Every active job's state, recorded batch by batch: memory holds the active
        ids and one batch of answers and rows, not the whole set's."""
        created: dict[str, datetime | None] = {}
        for job_id, when in [*self.store.pollable_ids(), *self.active.ids(),
                             *self.waits.ids(now)]:
            if created.get(job_id) is None:
                created[job_id] = when
        if not created:
            self.state.advance(ACTIVE_CHECKED, now)
            return
        checked_before = self.state.get(ACTIVE_CHECKED)

        def record(jobs: dict[str, Job]) -> None:
            if not jobs:
                return
            result.finished += self._apply_tracked(self.store.pollable_for(jobs), jobs, now,
                                                   subs)
            result.announced += self._apply_watched(
                self.active.get_many(jobs), jobs, set(), subs, now)
            self.waits.ended(jobs, now)

        gone = self._fetch_active(created, checked_before, counter, record)
        self._apply_watched(self.active.get_many(gone), {}, gone, subs, now)
        self.waits.gone(gone, now)
        self.state.advance(ACTIVE_CHECKED, now)

    def _fetch_active(
        self, created: dict[str, datetime | None], checked_before: datetime | None,
        counter: _Counter, record: Callable[[dict[str, Job]], None],
    ) -> set[str]:
        """Read every active job's current state, handing each answer to ``record`` as
        it comes; returns the ids that no longer exist."""
        ids = list(created)
        rest: list[str] = []
        absent: list[str] = []
        if self.source.use_job_ids():
            for start in range(0, len(ids), MAX_LIMIT):
                batch = ids[start : start + MAX_LIMIT]
                found = self.source.lookup_batch(batch)
                counter.calls += 1
                if found is None:
                    rest = ids[start:]
                    break
                record(found)
                absent += [i for i in batch if i not in found]
        else:
            rest = ids
        if rest:
            missing = self._sweep_unfinished(rest, created, counter, record)
            absent += self._recent_ends(missing, created, checked_before, counter, record)
        gone = set()
        for job_id in absent:
            # Not in the list (older than its month, or deleted): the detail operations.
            found_one = self.source.find_job(job_id)
            counter.calls += found_one.requests
            if found_one.job is None:
                gone.add(job_id)
            else:
                record({job_id: found_one.job})
        return gone

    def _sweep_unfinished(
        self, ids: list[str], created: dict[str, datetime | None], counter: _Counter,
        record: Callable[[dict[str, Job]], None],
    ) -> list[str]:
        """The server ignores ``job_ids``: one sweep of unfinished jobs since the oldest
        of ``ids``; returns the ids it did not show (they have ended, or are unknown)."""
        wanted = set(ids)
        known = [c for i in ids if (c := created[i]) is not None]
        # The oldest: every wanted job was created at or after it, so none is missed.
        since = min(known) if known else None
        query = JobQuery(states=_UNFINISHED, create_since=since,
                         sort_key=SortKey.CREATE_TIME, sort_dir="asc", limit=MAX_LIMIT)
        for page in self.source.scan(query):
            counter.calls += 1
            found = {job.job_id: job for job in page.jobs if job.job_id in wanted}
            wanted.difference_update(found)
            record(found)
        return [i for i in ids if i in wanted]

    def _recent_ends(
        self, missing: list[str], created: dict[str, datetime | None],
        checked_before: datetime | None, counter: _Counter,
        record: Callable[[dict[str, Job]], None],
    ) -> list[str]:
        """Active jobs missing from the unfinished sweep ended since the last check: one
        listing of ends by update time, newest first, finds most of them at once. Returns
        those it did not find."""
        if not missing or checked_before is None:
            return missing
        wanted = set(missing)
        known = [c for i in missing if (c := created[i]) is not None]
        cutoff = checked_before - ENDED_MARGIN
        query = JobQuery(states=tuple(sorted(FINISHED_STATES)),
                         create_since=min(known) if known else None,
                         sort_key=SortKey.UPDATE_TIME, sort_dir="desc", limit=MAX_LIMIT)
        for page in self.source.scan(query, max_pages=ENDED_MAX_PAGES):
            counter.calls += 1
            found = {job.job_id: job for job in page.jobs if job.job_id in wanted}
            wanted.difference_update(found)
            record(found)
            older = any((j.lastupdate_time or j.end_time or cutoff) < cutoff for j in page.jobs)
            if older or not wanted:
                break
        return [i for i in missing if i in wanted]

    # -- recording ------------------------------------------------------------------------

    def _apply_tracked(
        self, tracked: list[TrackedJob], jobs: dict[str, Job], now: datetime,
        subs: Sequence[Subscription] = (),
    ) -> int:
        finished = 0
        ended = [(row, jobs[row.job_id]) for row in tracked
                 if row.job_id in jobs and jobs[row.job_id].is_finished]
        # Ends commit in chunks, not one transaction each: a burst of 500 ends is 5
        # commits, so its notifications are ready for the sender at once. Each close
        # still commits with its own notification.
        for start in range(0, len(ended), END_CHUNK):
            with self.store.begin() as conn:
                for row, job in ended[start : start + END_CHUNK]:
                    finished += self._finish_tracked(conn, row, job, now, subs)
        for row in tracked:
            current = jobs.get(row.job_id)
            if current and not current.is_finished and current.state_name != row.last_state:
                self.store.set_state(row.id, current.state_name)
        return finished

    def _finish_tracked(
        self, conn: sa.Connection, row: TrackedJob, job: Job, now: datetime,
        subs: Sequence[Subscription] = (),
    ) -> int:
        """Close a tracked job with one reply in its tracking thread, mentioning who
        tracked it and, on a failure, paging the groups of every subscription of that
        channel the end matches (the thread is where that channel hears of the job)."""
        # The close and its notification commit together, or neither does.
        if not self.store.finish_tracked(conn, row.id, job.state_name, now):
            return 0
        here = [s.id for s in _announcing(subs, job, script_id=None) if s.channel == row.channel]
        # A mute snoozes the page; the person who tracked the job still hears of it.
        groups = channel_groups(conn, here, row.channel, job, now) or []
        self.outbox.enqueue_merging_groups(
            conn, kind="track", channel=row.channel,
            dedupe_key=track_key(row.channel, row.job_id, job.state_name),
            payload={"job": job.model_dump(mode="json"), "thread_ts": row.message_ts,
                     "requested_by": row.requested_by, "mention_groups": groups},
            now=now,
        )
        enqueue_direct_messages(self.outbox, conn, job, now)
        return 1

    def _apply_watched(
        self, watched: dict[str, WatchedJob], jobs: dict[str, Job], gone: set[str],
        subs: list[Subscription], now: datetime,
    ) -> int:
        announced = 0
        changes = []
        ended: list[tuple[WatchedJob, Job]] = []
        for job_id, row in watched.items():
            job = jobs.get(job_id)
            if job_id in gone:
                log.info("watched job %s no longer exists upstream; forgetting it", job_id)
                with self.store.begin() as conn:
                    self.active.forget(conn, job_id)
            elif job is None:
                continue
            elif job.is_finished:
                ended.append((row, job))
            elif job.state_name != row.last_state:
                changes.append((job_id, job.state_name))
        for start in range(0, len(ended), END_CHUNK):
            with self.store.begin() as conn:
                for row, job in ended[start : start + END_CHUNK]:
                    announced += self._end_watched(conn, row, job, subs, now)
        self.active.set_states(changes)
        return announced

    def _end_watched(
        self, conn: sa.Connection, row: WatchedJob, job: Job, subs: list[Subscription],
        now: datetime,
    ) -> int:
        # Forgetting and announcing commit together; a poller that lost the race to
        # forget it still tries to announce, and the UNIQUE keys make that a no-op.
        self.active.forget(conn, row.job_id)
        matching = [s for s in subs if _matches_filters(s, job, row.script_id)]
        # A job watched only for a DM (its tracking was untracked) still owes it.
        enqueue_direct_messages(self.outbox, conn, job, now)
        return self._announce(conn, job, matching, now, script_id=row.script_id)

    def _announce(
        self, conn: sa.Connection, job: Job, subs: Sequence[Subscription], now: datetime,
        *, script_id: str | None,
    ) -> int:
        """Enqueue ``job``'s end once per channel whose subscriptions announce it,
        paging the union of their groups (docs/delivery.md, "Who hears what"); each
        (subscription, job, state) is considered once. A channel tracking the job hears
        of it in its tracking thread instead, whose reply pages the same groups."""
        state = job.state_name
        if job.state == JobState.SUCCEED:
            # A success recovers the open incidents of its job type in every channel
            # whose subscriptions see the job (any outcome: docs/oncall.md).
            for channel in dict.fromkeys(s.channel for s in subs if _after_baseline(s, job)):
                self.pages.recover(conn, self.outbox, channel, job, now)
        wanted = _announcing(subs, job, script_id=script_id)
        if not wanted:
            return 0
        tracking = self.store.tracked_channels(conn, job.job_id)
        seen = self.store.seen_by(conn, [s.id for s in wanted], job.job_id)
        by_channel: dict[str, list[Subscription]] = {}
        for sub in wanted:
            by_channel.setdefault(sub.channel, []).append(sub)
        announced = 0
        for channel, here in by_channel.items():
            new = [s for s in here if (s.id, state) not in seen
                   and self.store.mark_seen(conn, s.id, job.job_id, state, now)]
            if not new:
                continue
            # None: the channel muted it (seen all the same, so never announced late).
            groups = channel_groups(conn, [s.id for s in here], channel, job, now)
            if channel in tracking:
                # A subscription adopted after the tracking reply was written: page its
                # groups there too (no row yet: the reply, when written, pages them).
                if groups:
                    self.outbox.add_groups(conn, track_key(channel, job.job_id, state),
                                           groups, now=now)
                continue
            if groups is None:
                continue
            announced += self._announce_in(conn, channel, here, job, groups, now)
        return announced

    def _announce_in(self, conn: sa.Connection, channel: str, here: list[Subscription],
                     job: Job, groups: list[str], now: datetime) -> int:
        """The channel's announcement of ``job``: a failure of a cause already failing
        there is a line of that incident (it paged once already); the first failure of
        a cause starts an incident; an announcement that pages is recorded as a page,
        so it is repeated and escalated while nobody acknowledges it."""
        key = subscription_key(channel, job.job_id, job.state_name)
        escalate = escalation_groups(conn, [s.id for s in here])
        told = self.outbox.by_key(key, conn)
        if told is not None:
            # A second reason to tell this channel of this end (another subscription,
            # adopted later): its groups join the page that told it, never lost.
            target = told.dedupe_key
            if told.kind == INCIDENT_LINE:
                incident = self.pages.incident_of(conn, int(told.payload["incident"]))
                target = incident.announce_key if incident is not None else target
            if groups and self.outbox.add_groups(conn, target, groups, now=now):
                self.pages.open_page(conn, key=target, channel=channel, groups=groups,
                                     escalate_groups=escalate, summary=target, now=now)
            return 0
        payload: dict[str, Any] = {"job": job.model_dump(mode="json"),
                                   "subscriptions": [s.id for s in here],
                                   "mention_groups": groups}
        if job.state in PAGED_STATES:
            incident = self.pages.open_incident(conn, channel, job, self.incident_window, now)
            if incident is not None:
                self.pages.add_failure(conn, incident, job, now)
                line = self.outbox.enqueue(
                    conn, kind=INCIDENT_LINE, channel=channel, dedupe_key=key,
                    payload={"job": payload["job"], "incident": incident.id}, now=now)
                # The line pages nobody: the incident's message paged its groups once.
                # A group it did not page (a subscription made since the incident
                # opened) joins that page instead, a cc in its thread, never lost.
                if groups and self.outbox.add_groups(conn, incident.announce_key, groups,
                                                     now=now):
                    self.pages.open_page(conn, key=incident.announce_key, channel=channel,
                                         groups=groups, escalate_groups=escalate,
                                         summary=incident.announce_key, now=now)
                return int(line)
            payload["incident"] = self.pages.start_incident(conn, channel, job, key, now)
        announced = self.outbox.enqueue_merging_groups(
            conn, kind="sub", channel=channel, dedupe_key=key, payload=payload, now=now)
        if groups:
            summary = f"{job.state_name} {job.job_id}"
            self.pages.open_page(conn, key=key, channel=channel, groups=groups,
                                 escalate_groups=escalate, summary=summary, now=now)
        return int(announced)

    # -- push -----------------------------------------------------------------------------

    def observe(self, job_id: str) -> int:
        """A callback said ``job_id`` ended: look it up (never trusting the callback's
        word) and record its end as a poll would. Returns notifications enqueued. Raises
        :class:`MetaStudioError` when the look-up fails (the next poll reconciles)."""
        now = self.clock()
        with self.store.begin() as conn:
            row = self.active.get(conn, job_id)
        job_type = row.job_type if row is not None else None
        found = self.source.find_job(job_id, job_type=job_type)
        job = found.job
        if job is None or not job.is_finished:
            return 0
        ended = job.end_time or job.lastupdate_time
        if ended is not None and ended < now - self.retention:
            log.info("callback about job %s that ended %s: older than the retention, "
                     "ignored", job_id, ended)
            return 0
        subs = self.store.active_subscriptions()
        script_id = row.script_id if row is not None else _script_of(job)
        if script_id is None and any(s.script_id for s in subs) and row is None:
            # A script filter needs the job's script, which only the detail operation says.
            script_id = _script_of(self.source.find_job(job_id, job_type=_type_of(job)).job)
        enqueued = 0
        with self.store.begin() as conn:
            for tracked in self.store.open_tracked(conn, job_id):
                enqueued += self._finish_tracked(conn, tracked, job, now, subs)
            if row is not None:
                self.active.forget(conn, job_id)
            enqueue_direct_messages(self.outbox, conn, job, now)
            matching = [s for s in subs if s.swept_at is not None
                        and _matches_filters(s, job, script_id)]
            enqueued += self._announce(conn, job, matching, now, script_id=script_id)
            enqueued += self.waits.end(conn, job, now)
        return enqueued


# -- matching ---------------------------------------------------------------------------


def _api_filters(sub: Subscription) -> dict[str, Any]:
    """The subscription's filters as list parameters (all but the outcome)."""
    filters: dict[str, Any] = {}
    if sub.job_type is not None:
        filters["job_type"] = QueryJobType(sub.job_type)
    if sub.asset_name is not None:
        filters["asset_name"] = sub.asset_name
    if sub.script_id is not None:
        filters["script_id"] = sub.script_id
    return filters


def _matches_filters(sub: Subscription, job: Job, script_id: str | None) -> bool:
    """Whether ``job`` passes the subscription's filters (the outcome aside).
    ``script_id`` is the job's script when known (answers do not carry it)."""
    if sub.script_id is not None and sub.script_id != script_id:
        return False
    if sub.asset_name is not None and job.asset_name != sub.asset_name:
        return False
    if sub.job_type is not None:
        # docs/metastudio-api.md, "Formats": answers may spell photo jobs DIGITAL_HUMAN_PHOTO_VIDEO.
        if sub.job_type == QueryJobType.PHOTO:
            return job.is_photo
        return job.job_type == JobType.VIDEO_2D
    return True


def _announcing(subs: Iterable[Subscription], job: Job, *,
                script_id: str | None) -> list[Subscription]:
    """The subscriptions that announce ``job``'s end: its outcome, its filters, and an
    end after the subscription was made."""
    return [s for s in subs if job.state in OUTCOME_STATES[s.outcome]
            and _matches_filters(s, job, script_id) and _after_baseline(s, job)]


def _after_baseline(sub: Subscription, job: Job) -> bool:
    """Only jobs ending after the subscription was made are news (no flood of history on
    the first poll). A job without end or update time counts as news once the
    subscription has been adopted (its jobs ended before that were not news)."""
    ended = job.end_time or job.lastupdate_time
    if ended is not None:
        # MetaStudio's times are whole seconds (``YYYY-MM-DDTHH:MM:SSZ``, truncated): a
        # job ending later in the second of subscribing reports a time before the
        # baseline. Compare whole seconds, so it is not lost as history.
        return ended >= sub.created_at.replace(microsecond=0)
    return sub.swept_at is not None


def _script_of(job: Job | None) -> str | None:
    """The ``script_id`` a detail answer carries (the list's answers do not)."""
    if job is None or not job.model_extra:
        return None
    value = job.model_extra.get("script_id")
    return str(value) if value else None


def _type_of(job: Job) -> str | None:
    return str(job.job_type) if job.job_type is not None else None
