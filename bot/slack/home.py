"""The App Home tab: what it shows a person (:class:`HomeBuilder`).

Rendering costs at most one upstream round: the person's tracked jobs by id, today's
failures and the unfinished jobs are asked for side by side through the cached client,
so people opening Home together share answers, and a repeat within the cache's time
costs nothing. When it is published is :mod:`bot.slack.home_publisher`'s business.
docs/surfaces.md has the whole story.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from cachetools import TTLCache
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from ..domain.stats import error_groups
from ..domain.stuck import LearnedStuck
from ..metastudio.api import JobsAPI
from ..metastudio.errors import MetaStudioError
from ..metastudio.models import Job, JobState
from ..metastudio.query import JobQuery
from ..tracking.store.database import Store
from ..views.errors import upstream_error_reply
from ..views.home import HomeData, home_view
from .home_publisher import HomePublisher, ThreadTimer, slack_publish

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
        tracked = self.store.tracked_by(user_id, limit=MAX_TRACKED)
        channels = self.memberships.channels_of(user_id)
        subs = self.store.subscriptions_in(channels)
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
        try:
            found, failures, open_jobs = by_id.result(), failed.result(), unfinished.result()
        except MetaStudioError as e:
            # The tab still shows what needs no upstream call, and says what went wrong.
            log.info("Home of %s without MetaStudio: %s", user_id, e)
            return HomeData(
                user_id=user_id, now=now, tz=tz, notice=notice,
                tracked=[(t, None) for t in tracked], subscriptions=subs,
                upstream_error=upstream_error_reply(e, doing="ask MetaStudio").text,
            )
        return HomeData(
            user_id=user_id, now=now, tz=tz, notice=notice,
            tracked=[(t, found.get(t.job_id)) for t in tracked],
            subscriptions=subs,
            failed_today=failures.count,
            failure_groups=error_groups(list(failures.jobs)),
            failures_sampled=failures.count > len(failures.jobs),
            stuck=self.stuck(list(open_jobs.jobs), now),
        )



def build_home(jobs: JobsAPI, store: Store, client: WebClient, **pacing: Any) -> HomePublisher:
    """The publisher the ``app_home_opened`` listener feeds; ``pacing`` overrides
    :class:`HomePublisher`'s ``per_user_interval`` / ``workspace_per_minute``."""
    builder = HomeBuilder(jobs, store, Memberships(client), stuck=LearnedStuck(jobs))

    def render(user_id: str, tz: ZoneInfo, notice: str | None) -> dict[str, Any]:
        return home_view(builder.data(user_id, tz, notice))

    return HomePublisher(render, slack_publish(client), timer=ThreadTimer(), **pacing)
