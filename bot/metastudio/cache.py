"""The cached client: a layer over any :class:`~bot.metastudio.api.JobsAPI`.

- Listings are kept ``ttl`` seconds, keyed by :meth:`JobQuery.cache_key`.
- Jobs are also kept one by one, so :meth:`CachedJobsClient.get_jobs` serves what it has
  and fetches only the rest. A running job is kept ``ttl``; a finished one (it will not
  change) ``finished_ttl``, but never past the expiry of its signed URLs, so a card never
  shows a dead thumbnail or preview link.
- Concurrent identical misses make one upstream call (single flight); the others wait
  for its result, or its exception. Errors are never cached.

:class:`CachedAssets` is the same layer over the asset library, with a short TTL: an
announcement or a status reply looks each asset up once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar, cast

from cachetools import TLRUCache, TTLCache

from ..telemetry.metrics import CACHE_LOOKUPS
from .api import JobsAPI, StagedLookupAPI
from .assets import Asset, AssetLookup, AssetSummary
from .client import Found, Lookup
from .models import Job, JobDetail, JobPage, signed_url_expiry
from .paging import MAX_PAGES, Page
from .query import JobQuery

T = TypeVar("T")
_MISSING = object()

#: The reference: preview_video_url "is valid for 24 hours" from the answer.
PREVIEW_URL_LIFETIME = timedelta(hours=24)
#: Drop a job this long before a URL in it expires, so Slack still fetches it in time.
URL_EXPIRY_MARGIN = timedelta(minutes=1)


@dataclass(frozen=True)
class CacheStats:
    hits: int
    misses: int


class _SingleFlight:
    """At most one call per key at a time; callers arriving meanwhile share its outcome."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: dict[Hashable, Future[Any]] = {}

    def do(self, key: Hashable, fn: Callable[[], T]) -> T:
        with self._lock:
            call = self._calls.get(key)
            leader = call is None
            if leader:
                call = self._calls[key] = Future()
        assert call is not None
        if not leader:
            return cast(T, call.result())
        try:
            result = fn()
        except BaseException as e:
            call.set_exception(e)
            raise
        else:
            call.set_result(result)
            return result
        finally:
            with self._lock:
                del self._calls[key]


class CachedJobsClient:
    """A :class:`JobsAPI` that answers from memory when it can.

    ``clock`` (monotonic seconds) drives expiry and ``wall_clock`` reads signed URLs'
    expiry; tests inject both and never sleep. Every read takes ``refresh=True`` to
    bypass the cache (the Refresh button); the fresh answer replaces the cached one.
    """

    def __init__(
        self,
        inner: JobsAPI,
        *,
        ttl: float = 15.0,
        finished_ttl: float = 600.0,
        maxsize: int = 4096,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.inner = inner
        self.ttl = ttl
        self.finished_ttl = finished_ttl
        self._wall_clock = wall_clock
        self._lock = threading.RLock()
        self._lists: TTLCache[Hashable, Any] = TTLCache(maxsize, ttl, timer=clock)
        self._jobs: TLRUCache[str, Job] = TLRUCache(maxsize, self._job_expiry, timer=clock)
        #: Details (with the configuration) by job id, kept as long as the job would be.
        self._details: TLRUCache[str, Job] = TLRUCache(maxsize // 4 or 1, self._job_expiry,
                                                       timer=clock)
        self._flights = _SingleFlight()
        self._hits = 0
        self._misses = 0

    # -- JobsAPI -----------------------------------------------------------------------

    def list_jobs(self, query: JobQuery, *, refresh: bool = False) -> JobPage:
        """One page, from the cache when a fresh copy is there."""
        return self._cached(self._lists, ("list", query.cache_key()),
                            lambda: self._remembered(self.inner.list_jobs(query)), refresh)

    def iter_jobs(
        self, query: JobQuery, *, max_jobs: int | None = None, refresh: bool = False
    ) -> Iterator[Job]:
        """Every matching job; the whole walk is cached as one entry."""

        def walk() -> tuple[Job, ...]:
            jobs = tuple(self.inner.iter_jobs(query, max_jobs=max_jobs))
            self.remember(jobs)
            return jobs

        return iter(self._cached(self._lists, ("iter", query.cache_key(), max_jobs), walk,
                                 refresh))

    def get_jobs(self, job_ids: Sequence[str], *, refresh: bool = False) -> dict[str, Job]:
        """Jobs by id: cached ones from memory, only the others from upstream."""
        return self._by_ids("jobs", job_ids, refresh, self.inner.get_jobs)

    def list_by_ids(self, job_ids: Sequence[str], *, refresh: bool = False) -> dict[str, Job]:
        """Jobs by id as the list endpoint returns them (the inner client's
        :meth:`~bot.metastudio.client.MetaStudioClient.list_by_ids`): cached ones from
        memory, the others in one flight. Ids it did not return are absent."""
        inner = self.inner
        upstream = (inner.list_by_ids if isinstance(inner, StagedLookupAPI)
                    else inner.get_jobs)
        return self._by_ids("listed", job_ids, refresh, upstream)

    def _by_ids(self, kind: str, job_ids: Sequence[str], refresh: bool,
                upstream: Callable[[list[str]], dict[str, Job]]) -> dict[str, Job]:
        wanted = list(dict.fromkeys(job_ids))
        found = {} if refresh else self._from_memory(wanted)
        missing = [job_id for job_id in wanted if job_id not in found]
        self._count(hits=len(found), misses=len(missing))
        if missing:

            def fetch() -> dict[str, Job]:
                # A flight that finished between our miss and now may have brought some.
                jobs = {} if refresh else self._from_memory(missing)
                rest = [job_id for job_id in missing if job_id not in jobs]
                if rest:
                    fetched = upstream(rest)
                    self.remember(fetched.values())
                    jobs.update(fetched)
                return jobs

            found.update(self._flights.do((kind, frozenset(missing), refresh), fetch))
        return {job_id: found[job_id] for job_id in wanted if job_id in found}

    def find_older(self, job_ids: Sequence[str]) -> Lookup:
        """The inner client's detail look-ups of ids the list did not return (always
        fresh: such ids are rare, and mostly typos); what they find is remembered."""
        if not isinstance(self.inner, StagedLookupAPI):
            return Lookup()  # its list_by_ids looked everywhere already
        lookup = self.inner.find_older(job_ids)
        self.remember(lookup.found.values())
        return lookup

    def get_job(self, job_id: str, *, refresh: bool = False) -> Job | None:
        """One job by id, or None."""
        return self.get_jobs([job_id], refresh=refresh).get(job_id)

    # -- fresh reads (the poller's): never served from the cache, but remembered ------

    def scan(self, query: JobQuery, *, max_pages: int = MAX_PAGES) -> Iterator[Page]:
        """The inner client's fresh pages; their jobs are remembered one by one (a sweep
        is never kept whole)."""
        for page in self.inner.scan(query, max_pages=max_pages):
            self.remember(page.jobs)
            yield page

    def lookup_batch(self, batch: Sequence[str]) -> dict[str, Job] | None:
        """The inner client's checked ``job_ids`` look-up, remembered."""
        jobs = self.inner.lookup_batch(batch)
        if jobs is not None:
            self.remember(jobs.values())
        return jobs

    def find_job(self, job_id: str, *, job_type: str | None = None) -> Found:
        """The inner client's fresh look-up, remembered."""
        found = self.inner.find_job(job_id, job_type=job_type)
        if found.job is not None:
            self.remember([found.job])
        return found

    def use_job_ids(self) -> bool:
        return self.inner.use_job_ids()

    def get_detail(self, job_id: str, *, job_type: str | None = None,
                   refresh: bool = False) -> JobDetail | None:
        """The inner client's detail (``show_script=true``), kept like a job of its state
        (a finished job's configuration no longer changes); ``refresh`` asks again. The
        inner client must provide it (:class:`bot.metastudio.api.DetailsAPI`)."""
        get_detail = getattr(self.inner, "get_detail", None)
        if get_detail is None:
            return None
        if not refresh:
            with self._lock:
                cached = self._details.get(job_id)
            if isinstance(cached, JobDetail):
                self._count(hits=1)
                return cached
        self._count(misses=1)

        def fetch() -> JobDetail | None:
            detail = get_detail(job_id, job_type=job_type)
            if isinstance(detail, JobDetail):
                with self._lock:
                    self._details[job_id] = detail
                return detail
            return None

        return self._flights.do(("detail", job_id, refresh), fetch)

    # -- cache management ----------------------------------------------------------------

    def remember(self, jobs: Iterable[Job]) -> None:
        """Store jobs fetched elsewhere (the poller), replacing older copies."""
        with self._lock:
            for job in jobs:
                if job.job_id:
                    self._jobs[job.job_id] = job

    def invalidate(self, job_id: str | None = None) -> None:
        """Forget one job (and its detail), or everything when ``job_id`` is None."""
        with self._lock:
            if job_id is None:
                self._jobs.clear()
                self._lists.clear()
                self._details.clear()
            else:
                self._jobs.pop(job_id, None)
                self._details.pop(job_id, None)

    def stats(self) -> CacheStats:
        with self._lock:
            return CacheStats(hits=self._hits, misses=self._misses)

    # -- internals -----------------------------------------------------------------------

    def _cached(
        self, cache: TTLCache[Hashable, Any], key: Hashable, fetch: Callable[[], T], refresh: bool
    ) -> T:
        if not refresh:
            with self._lock:
                value = cache.get(key, _MISSING)
            if value is not _MISSING:
                self._count(hits=1)
                return cast(T, value)
        self._count(misses=1)

        def load() -> T:
            # A flight that finished between our miss and now has filled the cache.
            if not refresh:
                with self._lock:
                    value = cache.get(key, _MISSING)
                if value is not _MISSING:
                    return cast(T, value)
            value = fetch()
            with self._lock:
                cache[key] = value
            return value

        return self._flights.do((key, refresh), load)

    def _from_memory(self, job_ids: Iterable[str]) -> dict[str, Job]:
        with self._lock:
            jobs = {job_id: self._jobs.get(job_id) for job_id in job_ids}
        return {job_id: job for job_id, job in jobs.items() if job is not None}

    def _remembered(self, page: JobPage) -> JobPage:
        self.remember(page.jobs)
        return page

    def _count(self, *, hits: int = 0, misses: int = 0) -> None:
        with self._lock:
            self._hits += hits
            self._misses += misses
        if hits:
            CACHE_LOOKUPS.labels(result="hit").inc(hits)
        if misses:
            CACHE_LOOKUPS.labels(result="miss").inc(misses)

    def _job_expiry(self, _key: str, job: Job, now: float) -> float:
        """TLRUCache's time-to-use: ``now`` + how long ``job`` may be served."""
        if not job.is_finished:
            return now + self.ttl
        keep = timedelta(seconds=self.finished_ttl)
        if job.preview_video_url:
            keep = min(keep, PREVIEW_URL_LIFETIME - URL_EXPIRY_MARGIN)
        wall_now = self._wall_clock()
        for url in (job.cover_url, job.preview_video_url):
            expires = signed_url_expiry(url)
            if expires is not None:
                keep = min(keep, expires - URL_EXPIRY_MARGIN - wall_now)
        return now + max(0.0, keep.total_seconds())


#: Assets change state rarely but matter when they do (a freeze, an unfreeze): a minute
#: serves one announcement or status reply and the clicks right after it.
ASSET_TTL = 60.0


class CachedAssets:
    """An :class:`~bot.metastudio.assets.AssetLookup` that remembers for ``ttl`` seconds.

    Summaries are kept one by one, so a batch asks upstream only for the ids it has not
    seen lately; an id MetaStudio did not return is remembered as absent too (one
    announcement asks once, not once per job). ``asset`` answers are kept the same way;
    errors never are. ``clock`` (monotonic seconds) is injected by tests.
    """

    def __init__(self, inner: AssetLookup, *, ttl: float = ASSET_TTL, maxsize: int = 4096,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.inner = inner
        self.ttl = ttl
        self._lock = threading.Lock()
        self._summaries: TTLCache[str, AssetSummary | None] = TTLCache(maxsize, ttl, timer=clock)
        self._assets: TTLCache[str, Asset] = TTLCache(maxsize, ttl, timer=clock)
        self._flights = _SingleFlight()
        self._hits = 0
        self._misses = 0

    def summaries(self, asset_ids: Iterable[str]) -> dict[str, AssetSummary]:
        """Summaries by id, from memory when seen within ``ttl``, the rest in one call."""
        wanted = [asset_id for asset_id in dict.fromkeys(asset_ids) if asset_id]
        known = self._known(wanted)
        missing = [asset_id for asset_id in wanted if asset_id not in known]
        self._count(hits=len(known), misses=len(missing))
        if missing:

            def fetch() -> dict[str, AssetSummary | None]:
                fetched = self.inner.summaries(missing)
                answer = {asset_id: fetched.get(asset_id) for asset_id in missing}
                with self._lock:
                    self._summaries.update(answer)
                return answer

            known.update(self._flights.do(("summaries", frozenset(missing)), fetch))
        return {asset_id: summary for asset_id in wanted
                if (summary := known.get(asset_id)) is not None}

    def asset(self, asset_id: str) -> Asset:
        """One asset, from memory when fetched within ``ttl``."""
        with self._lock:
            cached = self._assets.get(asset_id)
        if cached is not None:
            self._count(hits=1)
            return cached
        self._count(misses=1)

        def fetch() -> Asset:
            asset = self.inner.asset(asset_id)
            with self._lock:
                self._assets[asset_id] = asset
                self._summaries[asset_id] = asset.summary()
            return asset

        return self._flights.do(("asset", asset_id), fetch)

    def invalidate(self, asset_id: str | None = None) -> None:
        """Forget one asset, or all of them."""
        with self._lock:
            if asset_id is None:
                self._summaries.clear()
                self._assets.clear()
            else:
                self._summaries.pop(asset_id, None)
                self._assets.pop(asset_id, None)

    def stats(self) -> CacheStats:
        with self._lock:
            return CacheStats(hits=self._hits, misses=self._misses)

    def _known(self, asset_ids: Iterable[str]) -> dict[str, AssetSummary | None]:
        with self._lock:
            known = {asset_id: self._summaries.get(asset_id, _MISSING) for asset_id in asset_ids}
        return {asset_id: cast(AssetSummary | None, summary)
                for asset_id, summary in known.items() if summary is not _MISSING}

    def _count(self, *, hits: int = 0, misses: int = 0) -> None:
        with self._lock:
            self._hits += hits
            self._misses += misses
