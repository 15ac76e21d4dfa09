"""The poller: one cycle asks MetaStudio about every tracked unfinished job and every
subscription, and records each end state with its notification in one transaction.

Upstream budget (README.md, "How fast"): at most ceil(T/100)+1 requests a cycle for T
tracked unfinished jobs.

- Tracked jobs: ``job_ids`` look-ups of 100 (the API's page size), ceil(T/100) requests.
  A server that ignores ``job_ids`` answers an unfiltered page; the client's fallback
  would then cost one request per job, so the poller instead sweeps everything created
  since the oldest tracked job (``create_since``, pages of 100, oldest first) and keeps
  the tracked ids. Every tracked job was created inside that window, so none is missed.
- Subscriptions: one shared sweep of end states created within the look-back window,
  newest first (the ``+1``; more pages only past 100 finished jobs in the window). When
  the tracked sweep already covers the window it serves the subscriptions too. A
  subscription with a ``script_id`` filter gets its own sweep, since answers do not say
  which script a job used.

Upstream errors end the cycle (logged, counted in ``failed_cycles``); nothing is
recorded, and the next cycle tries again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from ..metastudio.client import MetaStudioClient
from ..metastudio.errors import MetaStudioError
from ..metastudio.models import FINISHED_STATES, Job, JobState, JobType
from ..metastudio.query import MAX_LIMIT, JobQuery, QueryJobType, SortKey
from ..metrics import POLL_CYCLE, POLL_UPSTREAM_CALLS
from .oncall import enqueue_direct_messages, subscription_extras
from .outbox import Outbox, subscription_key, track_key
from .store import Store, Subscription, TrackedJob

log = logging.getLogger(__name__)

#: What each ``subscribe`` outcome announces. BLOCK (frozen) needs a human like FAILED.
OUTCOME_STATES: dict[str, frozenset[JobState]] = {
    "failed": frozenset({JobState.FAILED, JobState.BLOCK}),
    "finished": frozenset({JobState.SUCCEED}),
    "all": FINISHED_STATES,
}


class JobCache(Protocol):
    def remember(self, jobs: Iterable[Job]) -> None: ...


@dataclass
class PollResult:
    upstream_calls: int = 0
    finished: int = 0
    announced: int = 0
    error: str | None = None


@dataclass
class _Fetch:
    """What one cycle learnt from upstream."""

    tracked: dict[str, Job] = field(default_factory=dict)
    #: Sweep results per script_id group (None: the shared sweep).
    finished: dict[str | None, list[Job]] = field(default_factory=dict)
    calls: int = 0


class Poller:
    """Polls MetaStudio for the store's tracked jobs and subscriptions.

    ``source`` must answer fresh (the plain client, not the cached one); ``cache``, if
    given, is fed what the poller saw so status cards reuse it.
    """

    def __init__(
        self,
        store: Store,
        outbox: Outbox,
        source: MetaStudioClient,
        *,
        lookback: timedelta,
        clock: Callable[[], datetime],
        cache: JobCache | None = None,
    ) -> None:
        self.store = store
        self.outbox = outbox
        self.source = source
        self.lookback = lookback
        self.clock = clock
        self.cache = cache
        self.failed_cycles = 0
        self._job_ids_ignored = source.supports_job_ids is False

    def poll(self) -> PollResult:
        """One cycle. Never raises for upstream errors (see ``PollResult.error``)."""
        started = time.monotonic()
        now = self.clock()
        tracked = self.store.pollable()
        subs = self.store.active_subscriptions()
        fetch = _Fetch()
        result = PollResult()
        try:
            self._fetch(tracked, subs, now, fetch)
        except MetaStudioError as e:
            self.failed_cycles += 1
            log.warning("poll cycle failed, retrying next cycle: %s", e)
            result.error = str(e)
        else:
            if self.cache is not None:
                self.cache.remember([*fetch.tracked.values(),
                                     *(j for jobs in fetch.finished.values() for j in jobs)])
            result.finished = self._apply_tracked(tracked, fetch.tracked, now)
            result.announced = self._apply_subscriptions(subs, fetch.finished, now)
        result.upstream_calls = fetch.calls
        POLL_UPSTREAM_CALLS.observe(fetch.calls)
        POLL_CYCLE.observe(time.monotonic() - started)
        return result

    # -- fetching -------------------------------------------------------------------------

    def _fetch(
        self, tracked: list[TrackedJob], subs: list[Subscription], now: datetime, out: _Fetch
    ) -> None:
        ids = list(dict.fromkeys(t.job_id for t in tracked))
        window_start = now - self.lookback
        groups: dict[str | None, set[JobState]] = {}
        for sub in subs:
            groups.setdefault(sub.script_id, set()).update(OUTCOME_STATES[sub.outcome])
        if ids and not self._job_ids_ignored:
            self._by_job_ids(ids, out)
        if ids and self._job_ids_ignored:
            starts = [t.job_created_at for t in tracked]
            # A job whose create time is unknown: no create_since, the API's default span.
            since = None if None in starts else min(s for s in starts if s is not None)
            covers_window = None in groups and since is not None
            if covers_window and since is not None:  # (covers_window implies it)
                since = min(since, window_start)
            wanted = set(ids)
            swept = list(self._walk(JobQuery(create_since=since, sort_key=SortKey.CREATE_TIME,
                                              sort_dir="asc", limit=MAX_LIMIT), out))
            out.tracked = {j.job_id: j for j in swept if j.job_id in wanted}
            if covers_window:
                states = groups.pop(None)
                out.finished[None] = [j for j in swept if j.state in states
                                      and j.create_time and j.create_time >= window_start]
        for script_id, states in groups.items():
            query = JobQuery(states=tuple(sorted(states)), create_since=window_start,
                             script_id=script_id, sort_key=SortKey.CREATE_TIME,
                             sort_dir="desc", limit=MAX_LIMIT)
            out.finished[script_id] = list(self._walk(query, out))

    def _by_job_ids(self, ids: list[str], out: _Fetch) -> None:
        """Batches of 100 via ``job_ids``; stops at the first sign the server ignores it
        (a job not asked for, or a count above the batch), leaving the rest to a sweep."""
        for start in range(0, len(ids), MAX_LIMIT):
            batch = ids[start : start + MAX_LIMIT]
            jobs = self.source.lookup_batch(batch)
            out.calls += 1
            if jobs is None:
                log.warning("polling tracked jobs with a create_since sweep from now on")
                self._job_ids_ignored = True
                out.tracked.clear()
                return
            out.tracked.update(jobs)

    def _walk(self, query: JobQuery, out: _Fetch) -> Iterator[Job]:
        """Every job matching ``query``, page by page, counting requests. A job seen
        twice (the list shifted between pages) is yielded once."""
        offset, seen = 0, set()
        while True:
            page = self.source.list_jobs(query.page(offset, MAX_LIMIT))
            out.calls += 1
            for job in page.jobs:
                if job.job_id not in seen:
                    seen.add(job.job_id)
                    yield job
            offset += len(page.jobs)
            if not page.jobs or offset >= page.count:
                return

    # -- recording ------------------------------------------------------------------------

    def _apply_tracked(
        self, tracked: list[TrackedJob], jobs: dict[str, Job], now: datetime
    ) -> int:
        finished = 0
        for row in tracked:
            job = jobs.get(row.job_id)
            if job is None:
                continue
            if job.is_finished:
                with self.store.begin() as conn:
                    # The close and its notification commit together, or neither does.
                    if self.store.finish_tracked(conn, row.id, job.state_name):
                        self.outbox.enqueue(
                            conn, kind="track", channel=row.channel,
                            dedupe_key=track_key(row.channel, row.job_id, job.state_name),
                            payload={"job": job.model_dump(mode="json"),
                                     "thread_ts": row.message_ts,
                                     "requested_by": row.requested_by},
                            now=now,
                        )
                        enqueue_direct_messages(self.outbox, conn, job, now)
                        finished += 1
            elif job.state_name != row.last_state:
                self.store.set_state(row.id, job.state_name)
        return finished

    def _apply_subscriptions(
        self, subs: list[Subscription], finished: dict[str | None, list[Job]], now: datetime
    ) -> int:
        candidates = [(sub, job) for sub in subs for job in finished.get(sub.script_id, ())
                      if _matches(sub, job)]
        if not candidates:
            self.store.mark_swept([s.id for s in subs if s.script_id in finished], now)
            return 0
        job_ids = {job.job_id for _, job in candidates}
        seen = self.store.seen([s.id for s in subs], job_ids)
        # A job tracked in the channel is told in its tracking thread instead.
        tracked = self.store.tracked_pairs(job_ids)
        announced = 0
        for sub, job in candidates:
            state = job.state_name
            if (sub.id, job.job_id, state) in seen or (sub.channel, job.job_id) in tracked:
                continue
            if not _after_baseline(sub, job):
                if sub.swept_at is None and not (job.end_time or job.lastupdate_time):
                    # Ended at an unknown time before the first sweep: history, not news.
                    with self.store.begin() as conn:
                        self.store.mark_seen(conn, sub.id, job.job_id, state, now)
                continue
            with self.store.begin() as conn:
                # None: the channel muted it (seen all the same, so never announced late).
                extras = subscription_extras(conn, sub.id, sub.channel, job, now)
                new = self.store.mark_seen(conn, sub.id, job.job_id, state, now)
                if new and extras is not None:
                    announced += self.outbox.enqueue(
                        conn, kind="sub", channel=sub.channel,
                        dedupe_key=subscription_key(sub.channel, job.job_id, state),
                        payload={"job": job.model_dump(mode="json"), "subscription": sub.id,
                                 **extras},
                        now=now,
                    )
        self.store.mark_swept([s.id for s in subs if s.script_id in finished], now)
        return announced


def _matches(sub: Subscription, job: Job) -> bool:
    if job.state not in OUTCOME_STATES[sub.outcome]:
        return False
    if sub.asset_name is not None and job.asset_name != sub.asset_name:
        return False
    if sub.job_type is not None:
        # docs/metastudio-api.md, "Formats": answers may spell photo jobs DIGITAL_HUMAN_PHOTO_VIDEO.
        if sub.job_type == QueryJobType.PHOTO:
            return job.is_photo
        return job.job_type == JobType.VIDEO_2D
    return True


def _after_baseline(sub: Subscription, job: Job) -> bool:
    """Only jobs ending after the subscription was made are news (no flood of history on
    the first poll). A job without end or update time counts as news once the first
    sweep after subscribing has passed, i.e. it was not among the jobs already ended."""
    ended = job.end_time or job.lastupdate_time
    if ended is not None:
        # MetaStudio's times are whole seconds (``YYYY-MM-DDTHH:MM:SSZ``, truncated): a
        # job ending later in the second of subscribing reports a time before the
        # baseline. Compare whole seconds, so it is not lost as history.
        return ended >= sub.created_at.replace(microsecond=0)
    return sub.swept_at is not None

