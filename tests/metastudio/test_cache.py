"""CachedJobsClient over a recording in-memory JobsAPI: TTLs (and their defaults), the
size limit, per-job entries, exact hit and miss counts (and their metric), what
``refresh`` bypasses, what is passed through to the inner client, the second look into
the cache after a miss, single flight per key (never across keys), and ``invalidate``.
The injected clocks mean no test sleeps."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import REGISTRY
from pytest_mock import MockerFixture

from bot.metastudio.cache import CachedJobsClient, CacheStats
from bot.metastudio.client import Found, Lookup
from bot.metastudio.errors import UnavailableError
from bot.metastudio.models import Job, JobPage
from bot.metastudio.paging import Page
from bot.metastudio.query import JobQuery
from tests.concurrency import run_concurrently

NOW = datetime(2024, 7, 4, 12, 0, tzinfo=UTC)
#: How long a test waits for another thread to reach a point (never reached = failure).
WAIT = 2.0


def job(job_id: str, state: str = "PROCESSING", **asset: str) -> Job:
    return Job.model_validate(
        {"job_id": job_id, "state": state, "output_asset_config": asset or None}
    )


def signed(expires: datetime) -> str:
    return f"https://obs.example/cover.png?AccessKeyId=X&Expires={int(expires.timestamp())}&Signature=s"


class RecordingJobs:
    """A JobsAPI in memory that records every call with its arguments. ``gate``, when
    cleared, holds ``get_jobs``, ``list_jobs`` and ``iter_jobs`` calls until set;
    ``error``, when set, fails them."""

    def __init__(self, *jobs: Job) -> None:
        self.jobs = {j.job_id: j for j in jobs}
        self.calls: list[tuple[str, object]] = []
        self.gate = threading.Event()
        self.gate.set()
        self.error: Exception | None = None
        self._lock = threading.Lock()

    def _call(self, name: str, arg: object) -> None:
        with self._lock:
            self.calls.append((name, arg))
        assert self.gate.wait(10)
        if self.error:
            raise self.error

    def list_jobs(self, query: JobQuery) -> JobPage:
        self._call("list_jobs", query)
        wanted = [j for j in self.jobs.values() if not query.states or j.state in query.states]
        return JobPage(count=len(wanted), jobs=tuple(wanted))

    def iter_jobs(self, query: JobQuery, *, max_jobs: int | None = None) -> Iterator[Job]:
        self._call("iter_jobs", (query, max_jobs))
        wanted = [j for j in self.jobs.values() if not query.states or j.state in query.states]
        return iter(wanted[:max_jobs])

    def get_jobs(self, job_ids: Sequence[str]) -> dict[str, Job]:
        self._call("get_jobs", tuple(job_ids))
        return {i: self.jobs[i] for i in job_ids if i in self.jobs}

    def scan(self, query: JobQuery, *, max_pages: int = 1000) -> Iterator[Page]:
        self.calls.append(("scan", (query, max_pages)))
        yield Page(jobs=tuple(self.jobs.values()), count=len(self.jobs), request_id=None)

    def find_job(self, job_id: str, *, job_type: str | None = None) -> Found:
        self.calls.append(("find_job", (job_id, job_type)))
        return Found(self.jobs.get(job_id), 1)

    def lookup_batch(self, batch: Sequence[str]) -> dict[str, Job] | None:
        self.calls.append(("lookup_batch", tuple(batch)))
        return {i: self.jobs[i] for i in batch if i in self.jobs}

    def use_job_ids(self) -> bool:
        return True

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]


class Clock:
    """Monotonic seconds (``now``; calling the clock reads them) and the wall time;
    ``advance`` moves both."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.wall = NOW

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
        self.wall += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def cached(inner: RecordingJobs, clock: Clock) -> CachedJobsClient:
    return CachedJobsClient(
        inner, ttl=15, finished_ttl=600,
        clock=clock, wall_clock=lambda: clock.wall,
    )


def cached_by_default(inner: RecordingJobs, clock: Clock) -> CachedJobsClient:
    """The cached client with its default TTLs and size, on the test's monotonic clock."""
    return CachedJobsClient(inner, clock=clock)  # type: ignore[arg-type]


def lookups(result: str) -> float:
    return REGISTRY.get_sample_value("videojobs_cache_lookups_total", {"result": result}) or 0.0


def test_listing_is_served_from_cache_within_ttl_and_refetched_after(clock):
    inner = RecordingJobs(job("a"))
    client = cached(inner, clock)
    query = JobQuery(states=("FAILED", "SUCCEED"))

    client.list_jobs(query)
    client.list_jobs(JobQuery(states=("SUCCEED", "FAILED")))  # same key, other order
    clock.advance(14)
    client.list_jobs(query)
    assert len(inner.calls) == 1
    assert client.stats().hits == 2

    clock.advance(2)
    client.list_jobs(query)
    assert len(inner.calls) == 2


def test_refresh_bypasses_the_cache_and_replaces_the_entry(clock):
    inner = RecordingJobs(job("a"))
    client = cached(inner, clock)

    client.list_jobs(JobQuery())
    inner.jobs["a"] = job("a", "SUCCEED")
    fresh = client.list_jobs(JobQuery(), refresh=True)

    assert fresh.jobs[0].state == "SUCCEED"
    assert client.list_jobs(JobQuery()).jobs[0].state == "SUCCEED"
    assert len(inner.calls) == 2


def test_get_jobs_fetches_only_what_is_not_cached(clock):
    inner = RecordingJobs(job("a", "SUCCEED"), job("b"), job("c"))
    client = cached(inner, clock)

    client.get_jobs(["a", "b"])
    result = client.get_jobs(["a", "b", "c", "nope"])

    assert set(result) == {"a", "b", "c"}
    assert inner.calls == [("get_jobs", ("a", "b")), ("get_jobs", ("c", "nope"))]


def test_running_jobs_expire_after_ttl_finished_ones_after_finished_ttl(clock):
    inner = RecordingJobs(job("run"), job("done", "FAILED"))
    client = cached(inner, clock)
    client.get_jobs(["run", "done"])

    clock.advance(16)
    client.get_jobs(["run", "done"])
    assert inner.calls[-1] == ("get_jobs", ("run",))

    clock.advance(600)
    client.get_jobs(["done"])
    assert inner.calls[-1] == ("get_jobs", ("done",))


def test_finished_job_is_not_kept_past_its_cover_url_expiry(clock):
    cover = signed(NOW + timedelta(minutes=3))
    inner = RecordingJobs(job("done", "SUCCEED", cover_url=cover))
    client = cached(inner, clock)
    client.get_job("done")

    clock.advance(60)  # cover still valid for 2 min (minus the 1 min margin)
    client.get_job("done")
    assert len(inner.calls) == 1

    clock.advance(61)
    client.get_job("done")
    assert len(inner.calls) == 2


def test_finished_job_with_an_expired_cover_is_not_cached(clock):
    inner = RecordingJobs(job("done", "SUCCEED", cover_url=signed(NOW - timedelta(hours=1))))
    client = cached(inner, clock)

    client.get_job("done")
    client.get_job("done")

    assert len(inner.calls) == 2


def test_finished_photo_job_is_not_kept_past_the_24h_preview_url():
    clock = Clock()
    inner = RecordingJobs(job("photo", "SUCCEED", preview_video_url="https://obs.example/v.mp4"))
    client = CachedJobsClient(
        inner, ttl=15, finished_ttl=2 * 86400,
        clock=clock, wall_clock=lambda: clock.wall,
    )
    client.get_job("photo")

    clock.advance(86400 - 120)
    client.get_job("photo")
    assert len(inner.calls) == 1
    clock.advance(120)
    client.get_job("photo")
    assert len(inner.calls) == 2


def test_remember_refreshes_jobs_fetched_elsewhere(clock):
    inner = RecordingJobs(job("a"))
    client = cached(inner, clock)
    client.get_job("a")

    client.remember([job("a", "SUCCEED")])

    assert client.get_job("a").state == "SUCCEED"
    assert len(inner.calls) == 1


def test_invalidate_forgets_a_job(clock):
    inner = RecordingJobs(job("a"))
    client = cached(inner, clock)
    client.get_job("a")

    client.invalidate("a")
    client.get_job("a")

    assert len(inner.calls) == 2


def test_listings_fill_the_per_job_cache(clock):
    inner = RecordingJobs(job("a"), job("b"))
    client = cached(inner, clock)

    list(client.iter_jobs(JobQuery()))
    assert set(client.get_jobs(["a", "b"])) == {"a", "b"}
    assert [name for name, _ in inner.calls] == ["iter_jobs"]


def test_errors_are_not_cached(clock):
    inner = RecordingJobs(job("a"))
    inner.error = UnavailableError("down")
    client = cached(inner, clock)

    with pytest.raises(UnavailableError):
        client.list_jobs(JobQuery())
    inner.error = None
    assert client.list_jobs(JobQuery()).count == 1
    assert len(inner.calls) == 2


def test_concurrent_identical_misses_share_one_call_and_its_exception(clock):
    inner = RecordingJobs(job("a"))
    inner.gate.clear()
    inner.error = UnavailableError("down")
    client = cached(inner, clock)
    timer = threading.Timer(0.2, inner.gate.set)
    timer.start()

    results = run_concurrently(20, lambda: client.get_jobs(["a"]))

    assert len(inner.calls) == 1
    assert all(isinstance(r, UnavailableError) for r in results)


# -- defaults ----------------------------------------------------------------------------


def test_the_default_ttls_are_15_s_and_10_minutes() -> None:
    clock = Clock()
    inner = RecordingJobs(job("run"), job("done", "SUCCEED"))
    client = cached_by_default(inner, clock)
    client.list_jobs(JobQuery())  # remembers both jobs at 1000

    clock.now = 1014.9
    client.list_jobs(JobQuery())
    assert client.get_jobs(["run", "done"]).keys() == {"run", "done"}
    assert inner.names() == ["list_jobs"]

    clock.now = 1015.5
    client.list_jobs(JobQuery())  # refetched: both remembered again at 1015.5
    assert inner.names() == ["list_jobs"] * 2
    clock.now = 1015.5 + 15.5
    client.get_jobs(["run", "done"])
    assert inner.calls[-1] == ("get_jobs", ("run",))  # the finished one is kept longer
    clock.now = 1015.5 + 599.9
    client.get_jobs(["done"])
    assert inner.calls[-1] == ("get_jobs", ("run",))
    clock.now = 1015.5 + 600.5
    client.get_jobs(["done"])
    assert inner.calls[-1] == ("get_jobs", ("done",))


def test_at_most_4096_jobs_are_kept_by_default() -> None:
    clock = Clock()
    inner = RecordingJobs(job("first"), job("j0"))
    client = cached_by_default(inner, clock)
    client.remember([job("first")])
    client.remember(job(f"j{i}") for i in range(4095))  # 4096 in all

    client.remember([job("one-more")])  # the least recently used goes

    client.get_jobs(["j0"])
    assert inner.calls == []
    client.get_jobs(["first"])
    assert inner.calls == [("get_jobs", ("first",))]


# -- counting ----------------------------------------------------------------------------


def test_hits_and_misses_are_counted_exactly_and_exported() -> None:
    clock = Clock()
    inner = RecordingJobs(job("a"), job("b"))
    client = cached_by_default(inner, clock)
    hits, misses = lookups("hit"), lookups("miss")
    assert client.stats() == CacheStats(hits=0, misses=0)

    client.list_jobs(JobQuery())  # miss
    client.list_jobs(JobQuery())  # hit
    assert client.stats() == CacheStats(hits=1, misses=1)
    client.invalidate()
    client.get_jobs(["a", "b", "c"])  # three misses
    client.get_jobs(["a", "b", "c"])  # two hits, one miss
    assert client.stats() == CacheStats(hits=3, misses=5)
    assert (lookups("hit") - hits, lookups("miss") - misses) == (3, 5)


# -- refresh -----------------------------------------------------------------------------


def test_refresh_bypasses_the_job_entries() -> None:
    clock = Clock()
    inner = RecordingJobs(job("a"))
    client = cached_by_default(inner, clock)
    client.get_job("a")
    inner.jobs["a"] = job("a", "SUCCEED")

    assert client.get_job("a").state == "PROCESSING"  # type: ignore[union-attr]
    assert client.get_job("a", refresh=True).state == "SUCCEED"  # type: ignore[union-attr]
    assert client.get_jobs(["a"], refresh=True)["a"].state == "SUCCEED"
    assert client.get_job("a").state == "SUCCEED"  # type: ignore[union-attr]
    assert inner.names() == ["get_jobs"] * 3


def test_refresh_bypasses_a_cached_walk_and_passes_its_arguments() -> None:
    clock = Clock()
    inner = RecordingJobs(job("a"), job("b", "SUCCEED"), job("c"))
    client = cached_by_default(inner, clock)
    query = JobQuery(states=("PROCESSING",))

    assert [j.job_id for j in client.iter_jobs(query, max_jobs=1)] == ["a"]
    assert [j.job_id for j in client.iter_jobs(query, max_jobs=1)] == ["a"]
    assert inner.calls == [("iter_jobs", (query, 1))]
    # Another bound or another query is another walk.
    assert [j.job_id for j in client.iter_jobs(query)] == ["a", "c"]
    assert [j.job_id for j in client.iter_jobs(JobQuery(states=("SUCCEED",)))] == ["b"]
    inner.jobs["c"] = job("c", "SUCCEED")
    assert [j.job_id for j in client.iter_jobs(query, refresh=True)] == ["a"]
    assert len(inner.calls) == 4


def test_different_listings_are_different_entries() -> None:
    clock = Clock()
    inner = RecordingJobs(job("a"), job("b", "SUCCEED"))
    client = cached_by_default(inner, clock)

    running = client.list_jobs(JobQuery(states=("PROCESSING",)))
    done = client.list_jobs(JobQuery(states=("SUCCEED",)))

    assert [j.job_id for j in running.jobs] == ["a"]
    assert [j.job_id for j in done.jobs] == ["b"]


# -- a second look after a miss ---------------------------------------------------------


def test_a_job_remembered_after_the_miss_is_not_fetched_again(mocker: MockerFixture) -> None:
    # Another flight (here: a remember) stores the job between this call's miss and
    # its own flight: the flight looks again and serves it from memory.
    clock = Clock()
    inner = RecordingJobs(job("a"))
    client = cached_by_default(inner, clock)
    count = client._count

    def count_then_remember(**kw: int) -> None:
        count(**kw)
        client.remember([job("a", "SUCCEED")])

    mocker.patch.object(client, "_count", side_effect=count_then_remember)
    assert client.get_jobs(["a"])["a"].state == "SUCCEED"
    assert inner.calls == []
    # With refresh, memory is not looked at, not even the second time.
    assert client.get_jobs(["a"], refresh=True)["a"].state == "PROCESSING"
    assert inner.calls == [("get_jobs", ("a",))]


def test_a_listing_stored_after_the_miss_is_not_fetched_again(mocker: MockerFixture) -> None:
    clock = Clock()
    inner = RecordingJobs(job("a"))
    client = cached_by_default(inner, clock)
    count = client._count
    nested: list[JobPage] = []
    started = threading.Event()

    def count_then_list(**kw: int) -> None:
        count(**kw)
        if kw.get("misses") and not started.is_set():
            started.set()
            nested.append(client.list_jobs(JobQuery()))  # another caller's flight

    mocker.patch.object(client, "_count", side_effect=count_then_list)
    page = client.list_jobs(JobQuery())

    assert page is nested[0]
    assert inner.names() == ["list_jobs"]


# -- single flight -----------------------------------------------------------------------


def run_while_held(inner: RecordingJobs, first, second) -> tuple[object, object]:
    """Start ``first`` and hold it inside the inner client; run ``second`` meanwhile
    until it reaches the inner client too (or WAIT passes), then let both finish."""
    inner.gate.clear()
    with ThreadPoolExecutor(2) as pool:
        a = pool.submit(first)
        reached = threading.Event()
        while not inner.calls:
            reached.wait(0.005)
        b = pool.submit(second)
        for _ in range(int(WAIT / 0.005)):
            if len(inner.calls) >= 2:
                break
            reached.wait(0.005)
        inner.gate.set()
        return a.result(timeout=10), b.result(timeout=10)


def test_lookups_of_other_ids_do_not_share_a_flight() -> None:
    inner = RecordingJobs(job("a"), job("b"))
    client = cached_by_default(inner, Clock())

    got_a, got_b = run_while_held(inner, lambda: client.get_jobs(["a"]),
                                  lambda: client.get_jobs(["b"]))

    assert set(got_a) == {"a"} and set(got_b) == {"b"}  # type: ignore[arg-type]


def test_other_listings_do_not_share_a_flight() -> None:
    inner = RecordingJobs(job("a"), job("b", "SUCCEED"))
    client = cached_by_default(inner, Clock())

    running, done = run_while_held(
        inner, lambda: client.list_jobs(JobQuery(states=("PROCESSING",))),
        lambda: client.list_jobs(JobQuery(states=("SUCCEED",))))

    assert [j.job_id for j in running.jobs] == ["a"]  # type: ignore[attr-defined]
    assert [j.job_id for j in done.jobs] == ["b"]  # type: ignore[attr-defined]


class StagedJobs(RecordingJobs):
    """A RecordingJobs that also looks up in two stages (a StagedLookupAPI): its list
    endpoint returns only the ``listed`` ids; ``get_jobs`` finds every job it has."""

    def __init__(self, *jobs: Job, listed: set[str]) -> None:
        super().__init__(*jobs)
        self.listed = listed

    def list_by_ids(self, job_ids: Sequence[str]) -> dict[str, Job]:
        self._call("list_by_ids", tuple(job_ids))
        return {i: self.jobs[i] for i in job_ids if i in self.jobs and i in self.listed}

    def find_older(self, job_ids: Sequence[str]) -> Lookup:
        self.calls.append(("find_older", tuple(job_ids)))
        return Lookup(found={i: self.jobs[i] for i in job_ids if i in self.jobs})


def test_a_listing_by_ids_does_not_take_a_get_jobs_flight_for_the_same_ids() -> None:
    """Both look jobs up by id, but through other upstream operations: a status's first
    stage (the list endpoint) must not be answered by a detail look-up that happens to
    be in flight for the same ids."""
    inner = StagedJobs(job("new"), job("old"), listed={"new"})
    client = cached_by_default(inner, Clock())

    got, listed = run_while_held(inner, lambda: client.get_jobs(["new", "old"]),
                                 lambda: client.list_by_ids(["new", "old"]))

    assert set(got) == {"new", "old"}  # type: ignore[arg-type]
    assert set(listed) == {"new"}  # type: ignore[arg-type]  # "old" is for find_older
    assert sorted(inner.calls) == [("get_jobs", ("new", "old")),
                                   ("list_by_ids", ("new", "old"))]


# -- the poller's fresh reads ------------------------------------------------------------


def test_fresh_reads_pass_their_arguments_and_remember_what_they_found() -> None:
    inner = RecordingJobs(job("a"), job("b"))
    client = cached_by_default(inner, Clock())
    query = JobQuery(limit=100)

    assert [len(p.jobs) for p in client.scan(query, max_pages=7)] == [2]
    found = client.find_job("a", job_type="PHOTO_DIGITAL_HUMAN_VIDEO")
    assert found.job is not None and found.job.job_id == "a"
    missing = client.find_job("nope")
    assert missing == Found(None, 1)
    assert inner.calls == [("scan", (query, 7)),
                           ("find_job", ("a", "PHOTO_DIGITAL_HUMAN_VIDEO")),
                           ("find_job", ("nope", None))]

    inner.jobs["a"] = job("a", "SUCCEED")
    client.invalidate()
    client.find_job("a")
    assert client.get_job("a").state == "SUCCEED"  # type: ignore[union-attr]
    assert inner.names()[-1] == "find_job"


# -- invalidate --------------------------------------------------------------------------


def test_invalidating_one_job_keeps_the_others_and_the_listings() -> None:
    inner = RecordingJobs(job("a"), job("b"))
    client = cached_by_default(inner, Clock())
    client.list_jobs(JobQuery())

    client.invalidate("a")
    client.invalidate("never-seen")
    client.list_jobs(JobQuery())
    client.get_jobs(["a", "b"])

    assert inner.calls == [("list_jobs", JobQuery()), ("get_jobs", ("a",))]

    client.invalidate()
    client.list_jobs(JobQuery())
    client.get_jobs(["a", "b"])
    assert inner.names()[2:] == ["list_jobs"]  # the listing refilled both jobs
    client.invalidate()
    client.get_jobs(["b"])
    assert inner.calls[-1] == ("get_jobs", ("b",))


@pytest.mark.parametrize("refresh", [False, True])
def test_get_job_passes_refresh_on(refresh: bool) -> None:
    inner = RecordingJobs(job("a"))
    client = cached_by_default(inner, Clock())
    client.get_job("a")

    client.get_job("a", refresh=refresh)

    assert len(inner.calls) == (2 if refresh else 1)
