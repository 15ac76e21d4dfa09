"""The App Home tab: what it shows a person (:class:`HomeBuilder`) and when it is
published (:class:`HomePublisher`).

Rendering costs at most one upstream round: the person's tracked jobs by id, today's
failures and the unfinished jobs are asked for side by side through the cached client,
so people opening Home together share answers, and a repeat within the cache's time
costs nothing. Publishing is paced: ``views.publish`` is rate-limited per user and per
workspace (https://docs.slack.dev/reference/methods/views.publish, Tier 4), so opens of
one person coalesce into one publish per ``per_user_interval``, all publishes stay under
``workspace_per_minute``, and a 429's Retry-After is waited out by a timer, never by a
blocked thread. docs/surfaces.md has the whole story.
"""

from __future__ import annotations

import copy
import heapq
import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from cachetools import TTLCache
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from .messaging import RateLimited
from .metastudio.api import JobsAPI
from .metastudio.models import Job, JobState
from .metastudio.query import JobQuery
from .tracking.models import subscriptions, tracked_jobs
from .tracking.reports import error_groups
from .tracking.store import Store, Subscription, TrackedJob
from .views.home import HomeData, home_view

log = logging.getLogger(__name__)

#: Unfinished jobs older than this are shown as stuck (a simple line; a smarter
#: per-type one can replace :func:`simple_stuck`).
STUCK_AFTER = timedelta(hours=2)
#: Tracked jobs shown (the newest); the tab holds 100 blocks.
MAX_TRACKED = 25


def simple_stuck(unfinished: Sequence[Job], now: datetime,
                 line: timedelta = STUCK_AFTER) -> list[Job]:
    """Unfinished jobs created more than ``line`` ago, oldest first."""
    old = [j for j in unfinished if not j.is_finished and j.create_time is not None
           and now - j.create_time > line]
    return sorted(old, key=lambda j: j.create_time or now)


class Memberships:
    """The channels a person is in (``users.conversations``), cached for ``ttl`` s.
    A Slack failure means "no channels known", never an error on the tab."""

    def __init__(self, client: WebClient, *, ttl: float = 300.0) -> None:
        self.client = client
        self._cache: TTLCache[str, tuple[str, ...]] = TTLCache(10_000, ttl)
        self._lock = threading.Lock()

    def channels_of(self, user_id: str) -> tuple[str, ...]:
        with self._lock:
            cached = self._cache.get(user_id)
        if cached is not None:
            return cached
        found: list[str] = []
        cursor = None
        try:
            while True:
                response = self.client.users_conversations(
                    user=user_id, types="public_channel,private_channel", limit=200,
                    exclude_archived=True, cursor=cursor)
                found += [c["id"] for c in response.get("channels") or []]
                cursor = (response.get("response_metadata") or {}).get("next_cursor")
                if not cursor:
                    break
        except (SlackApiError, OSError, KeyError, TypeError) as e:
            log.info("users.conversations for %s failed (%s); no channels shown", user_id, e)
            return ()
        with self._lock:
            self._cache[user_id] = tuple(found)
        return tuple(found)


class HomeBuilder:
    """Gathers a person's Home tab. ``jobs`` should be the cached client."""

    def __init__(
        self,
        jobs: JobsAPI,
        store: Store,
        memberships: Memberships,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        stuck: Callable[[Sequence[Job], datetime], list[Job]] = simple_stuck,
    ) -> None:
        self.jobs = jobs
        self.store = store
        self.memberships = memberships
        self.clock = clock
        self.stuck = stuck
        self._pool = ThreadPoolExecutor(6, thread_name_prefix="home")

    def data(self, user_id: str, tz: ZoneInfo, notice: str | None = None) -> HomeData:
        now = self.clock()
        tracked = self._tracked(user_id)
        channels = self.memberships.channels_of(user_id)
        subs = self._subscriptions(channels)
        midnight = datetime.combine(now.astimezone(tz).date(), datetime.min.time(), tzinfo=tz)
        failed_query = JobQuery(states=(JobState.FAILED,), create_since=midnight,
                                sort_key="create_time", sort_dir="desc", limit=100)
        # No create_since: a fixed query, so everyone's tab shares one cached answer.
        unfinished_query = JobQuery(states=(JobState.WAITING, JobState.PROCESSING),
                                    sort_key="create_time", sort_dir="asc", limit=100)
        # The one upstream round: three independent calls side by side.
        by_id = self._pool.submit(self.jobs.get_jobs, [t.job_id for t in tracked])
        failed = self._pool.submit(self.jobs.list_jobs, failed_query)
        unfinished = self._pool.submit(self.jobs.list_jobs, unfinished_query)
        failures = failed.result()
        return HomeData(
            user_id=user_id, now=now, tz=tz, notice=notice,
            tracked=[(t, by_id.result().get(t.job_id)) for t in tracked],
            subscriptions=subs,
            failed_today=failures.count,
            failure_groups=error_groups(list(failures.jobs)),
            failures_sampled=failures.count > len(failures.jobs),
            stuck=self.stuck(list(unfinished.result().jobs), now),
        )

    def _tracked(self, user_id: str) -> list[TrackedJob]:
        query = tracked_jobs.select().where(
            tracked_jobs.c.requested_by == user_id, tracked_jobs.c.closed.is_(False)
        ).order_by(tracked_jobs.c.id.desc()).limit(MAX_TRACKED)
        with self.store.begin() as conn:
            return [TrackedJob(**row._mapping) for row in conn.execute(query)]

    def _subscriptions(self, channels: Sequence[str]) -> list[Subscription]:
        if not channels:
            return []
        query = subscriptions.select().where(subscriptions.c.channel.in_(list(channels)))
        with self.store.begin() as conn:
            rows = conn.execute(query.order_by(subscriptions.c.id))
            return [Subscription(**row._mapping) for row in rows]


# -- publishing -----------------------------------------------------------------------------


class Timer(Protocol):
    def call_at(self, when: float, fn: Callable[[], None]) -> None:
        """Run ``fn`` at monotonic time ``when`` (or soon after)."""
        ...


class ThreadTimer:
    """One daemon thread keeping a heap of due calls; each runs on a small pool so a
    slow render never delays the others' timers. (The standard library's
    ``threading.Timer`` would start a thread per call.)"""

    def __init__(self, workers: int = 4) -> None:
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()
        self._cond = threading.Condition()
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="home-timer")
        threading.Thread(target=self._loop, name="home-timer", daemon=True).start()

    def call_at(self, when: float, fn: Callable[[], None]) -> None:
        with self._cond:
            heapq.heappush(self._heap, (when, next(self._order), fn))
            self._cond.notify()

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._heap or self._heap[0][0] > time.monotonic():
                    self._cond.wait(self._heap[0][0] - time.monotonic() if self._heap else None)
                _, _, fn = heapq.heappop(self._heap)
            self._pool.submit(fn)


@dataclass
class _UserState:
    tz: ZoneInfo
    busy: bool = False
    dirty: bool = False
    scheduled: bool = False
    not_before: float = 0.0
    notice: str | None = None


@dataclass
class PublishStats:
    published: int = 0
    coalesced: int = 0
    rate_limited: int = 0
    failed: int = 0
    users: set[str] = field(default_factory=set)


class HomePublisher:
    """``opened(user, tz)`` publishes the user's tab now, or once later.

    Per user: one publish at a time, at most one per ``per_user_interval`` seconds;
    opens arriving meanwhile become one trailing publish. Per workspace: at most
    ``workspace_per_minute`` publishes in any ``workspace_window`` (60) seconds. A 429
    holds that user until its Retry-After, then publishes once. ``clock`` is monotonic
    seconds.
    """

    def __init__(
        self,
        render: Callable[[str, ZoneInfo, str | None], dict[str, Any]],
        publish: Callable[[str, dict[str, Any]], None],
        *,
        timer: Timer,
        clock: Callable[[], float] = time.monotonic,
        per_user_interval: float = 10.0,
        workspace_per_minute: int = 90,
        workspace_window: float = 60.0,
    ) -> None:
        self.render = render
        self.publish = publish
        self.timer = timer
        self.clock = clock
        self.per_user_interval = per_user_interval
        self.workspace_per_minute = workspace_per_minute
        self.workspace_window = workspace_window
        self.stats = PublishStats()
        self._users: dict[str, _UserState] = {}
        self._recent: deque[float] = deque()
        self._lock = threading.Lock()

    def opened(self, user_id: str, tz: ZoneInfo, *, notice: str | None = None) -> None:
        """The user opened (or needs a fresh) Home tab; ``notice`` is shown on top once."""
        with self._lock:
            state = self._users.get(user_id)
            if state is None:
                state = self._users[user_id] = _UserState(tz)
            state.tz = tz
            if notice:
                state.notice = notice
        self._attempt(user_id, opened=True)

    def _attempt(self, user_id: str, *, opened: bool) -> None:
        now = self.clock()
        with self._lock:
            state = self._users[user_id]
            if not opened:
                state.scheduled = False
            if state.busy or state.scheduled:
                state.dirty = state.dirty or state.busy
                self.stats.coalesced += 1
                return
            wait = max(state.not_before - now, self._workspace_wait(now))
            if wait > 0:
                state.scheduled = True
                self.timer.call_at(now + wait, lambda: self._attempt(user_id, opened=False))
                self.stats.coalesced += opened
                return
            state.busy = True
            self._recent.append(now)
            tz, notice, state.notice = state.tz, state.notice, None
        self._publish_now(user_id, tz, notice)

    def _publish_now(self, user_id: str, tz: ZoneInfo, notice: str | None) -> None:
        retry: float | None = None
        try:
            self.publish(user_id, self.render(user_id, tz, notice))
        except RateLimited as e:
            retry = e.retry_after
            log.info("views.publish rate-limited for %s: again in %g s", user_id, retry)
        except Exception:
            log.exception("Home tab of %s not published", user_id)
            with self._lock:
                self.stats.failed += 1
        now = self.clock()
        with self._lock:
            state = self._users[user_id]
            state.busy = False
            if retry is not None:
                self.stats.rate_limited += 1
                state.not_before = now + max(retry, self.per_user_interval)
                state.notice = state.notice or notice
                state.dirty = True
            else:
                self.stats.published += 1
                self.stats.users.add(user_id)
                state.not_before = now + self.per_user_interval
            if state.dirty and not state.scheduled:
                state.dirty = False
                state.scheduled = True
                self.timer.call_at(state.not_before,
                                   lambda: self._attempt(user_id, opened=False))

    def _workspace_wait(self, now: float) -> float:
        while self._recent and now - self._recent[0] >= self.workspace_window:
            self._recent.popleft()
        if len(self._recent) < self.workspace_per_minute:
            return 0.0
        return self._recent[0] + self.workspace_window - now


def slack_publish(client: WebClient) -> Callable[[str, dict[str, Any]], None]:
    """``views.publish`` with a 429 turned into :class:`RateLimited` (no retry handlers:
    the publisher's timer waits, not the thread)."""
    plain = copy.copy(client)
    plain.retry_handlers = []

    def publish(user_id: str, view: dict[str, Any]) -> None:
        try:
            plain.views_publish(user_id=user_id, view=view)
        except SlackApiError as e:
            if e.response.status_code == 429:
                header = e.response.headers.get("Retry-After") or e.response.headers.get(
                    "retry-after") or "1"
                raise RateLimited("views.publish rate limited",
                                  retry_after=float(header)) from e
            raise

    return publish


def build_home(jobs: JobsAPI, store: Store, client: WebClient, **pacing: Any) -> HomePublisher:
    """The publisher the ``app_home_opened`` listener feeds; ``pacing`` overrides
    :class:`HomePublisher`'s ``per_user_interval`` / ``workspace_per_minute``."""
    builder = HomeBuilder(jobs, store, Memberships(client))

    def render(user_id: str, tz: ZoneInfo, notice: str | None) -> dict[str, Any]:
        return home_view(builder.data(user_id, tz, notice))

    return HomePublisher(render, slack_publish(client), timer=ThreadTimer(), **pacing)
