"""The cached client in detail (mutation testing, bench/MUTATION.md): its default TTLs and
size, exact hit and miss counts (and their metric), what ``refresh`` bypasses on every
read, what is passed through to the inner client, the second look into the cache after
a miss, single flight per key (never across keys), and ``invalidate``. An in-memory
inner client and injected clocks: nothing sleeps."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

import pytest
from prometheus_client import REGISTRY

from bot.metastudio.cache import CachedJobsClient, CacheStats
from bot.metastudio.client import Found
from bot.metastudio.models import Job, JobPage
from bot.metastudio.paging import Page
from bot.metastudio.query import JobQuery

#: How long a test waits for another thread to reach a point (never reached = failure).
WAIT = 2.0


def job(job_id: str, state: str = "PROCESSING") -> Job:
    return Job.model_validate({"job_id": job_id, "state": state})


class Inner:
    """A JobsAPI in memory that records every call with its arguments. ``gate``, when
    cleared, holds ``get_jobs`` and ``list_jobs`` calls until set; ``entered`` is set
    when such a call is waiting there."""

    def __init__(self, *jobs: Job) -> None:
        self.jobs = {j.job_id: j for j in jobs}
        self.calls: list[tuple[str, object]] = []
        self.gate = threading.Event()
        self.gate.set()
        self._lock = threading.Lock()

    def _call(self, name: str, arg: object) -> None:
        with self._lock:
            self.calls.append((name, arg))
        assert self.gate.wait(10)

    def list_jobs(self, query: JobQuery) -> JobPage:
        self._call("list_jobs", query)
        wanted = [j for j in self.jobs.values() if not query.states or j.state in query.states]
        return JobPage(count=len(wanted), jobs=tuple(wanted))

    def iter_jobs(self, query: JobQuery, *, max_jobs: int | None = None) -> Iterator[Job]:
        self.calls.append(("iter_jobs", (query, max_jobs)))
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
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def cached(inner: Inner, clock: Clock, **kw: float) -> CachedJobsClient:
    return CachedJobsClient(inner, clock=clock, **kw)  # type: ignore[arg-type]


def lookups(result: str) -> float:
    return REGISTRY.get_sample_value("videojobs_cache_lookups_total", {"result": result}) or 0.0


# -- defaults ----------------------------------------------------------------------------


def test_the_default_ttls_are_15_s_and_10_minutes() -> None:
    clock = Clock()
    inner = Inner(job("run"), job("done", "SUCCEED"))
    client = cached(inner, clock)
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
    inner = Inner(job("first"), job("j0"))
    client = cached(inner, clock)
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
    inner = Inner(job("a"), job("b"))
    client = cached(inner, clock)
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
    inner = Inner(job("a"))
    client = cached(inner, clock)
    client.get_job("a")
    inner.jobs["a"] = job("a", "SUCCEED")

    assert client.get_job("a").state == "PROCESSING"  # type: ignore[union-attr]
    assert client.get_job("a", refresh=True).state == "SUCCEED"  # type: ignore[union-attr]
    assert client.get_jobs(["a"], refresh=True)["a"].state == "SUCCEED"
    assert client.get_job("a").state == "SUCCEED"  # type: ignore[union-attr]
    assert inner.names() == ["get_jobs"] * 3


def test_refresh_bypasses_a_cached_walk_and_passes_its_arguments() -> None:
    clock = Clock()
    inner = Inner(job("a"), job("b", "SUCCEED"), job("c"))
    client = cached(inner, clock)
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
    inner = Inner(job("a"), job("b", "SUCCEED"))
    client = cached(inner, clock)

    running = client.list_jobs(JobQuery(states=("PROCESSING",)))
    done = client.list_jobs(JobQuery(states=("SUCCEED",)))

    assert [j.job_id for j in running.jobs] == ["a"]
    assert [j.job_id for j in done.jobs] == ["b"]


# -- a second look after a miss ---------------------------------------------------------


def test_a_job_remembered_after_the_miss_is_not_fetched_again() -> None:
    # Another flight (here: a remember) stores the job between this call's miss and
    # its own flight: the flight looks again and serves it from memory.
    clock = Clock()
    inner = Inner(job("a"))
    client = cached(inner, clock)
    count = client._count

    def count_then_remember(**kw: int) -> None:
        count(**kw)
        client.remember([job("a", "SUCCEED")])

    client._count = count_then_remember  # type: ignore[method-assign]
    assert client.get_jobs(["a"])["a"].state == "SUCCEED"
    assert inner.calls == []
    # With refresh, memory is not looked at, not even the second time.
    assert client.get_jobs(["a"], refresh=True)["a"].state == "PROCESSING"
    assert inner.calls == [("get_jobs", ("a",))]


def test_a_listing_stored_after_the_miss_is_not_fetched_again() -> None:
    clock = Clock()
    inner = Inner(job("a"))
    client = cached(inner, clock)
    count = client._count
    nested: list[JobPage] = []
    started = threading.Event()

    def count_then_list(**kw: int) -> None:
        count(**kw)
        if kw.get("misses") and not started.is_set():
            started.set()
            nested.append(client.list_jobs(JobQuery()))  # another caller's flight

    client._count = count_then_list  # type: ignore[method-assign]
    page = client.list_jobs(JobQuery())

    assert page is nested[0]
    assert inner.names() == ["list_jobs"]


# -- single flight -----------------------------------------------------------------------


def run_while_held(inner: Inner, first, second) -> tuple[object, object]:
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
    inner = Inner(job("a"), job("b"))
    client = cached(inner, Clock())

    got_a, got_b = run_while_held(inner, lambda: client.get_jobs(["a"]),
                                  lambda: client.get_jobs(["b"]))

    assert set(got_a) == {"a"} and set(got_b) == {"b"}  # type: ignore[arg-type]


def test_other_listings_do_not_share_a_flight() -> None:
    inner = Inner(job("a"), job("b", "SUCCEED"))
    client = cached(inner, Clock())

    running, done = run_while_held(
        inner, lambda: client.list_jobs(JobQuery(states=("PROCESSING",))),
        lambda: client.list_jobs(JobQuery(states=("SUCCEED",))))

    assert [j.job_id for j in running.jobs] == ["a"]  # type: ignore[attr-defined]
    assert [j.job_id for j in done.jobs] == ["b"]  # type: ignore[attr-defined]


# -- the poller's fresh reads ------------------------------------------------------------


def test_fresh_reads_pass_their_arguments_and_remember_what_they_found() -> None:
    inner = Inner(job("a"), job("b"))
    client = cached(inner, Clock())
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
    inner = Inner(job("a"), job("b"))
    client = cached(inner, Clock())
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
    inner = Inner(job("a"))
    client = cached(inner, Clock())
    client.get_job("a")

    client.get_job("a", refresh=refresh)

    assert len(inner.calls) == (2 if refresh else 1)
