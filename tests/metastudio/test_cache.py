"""CachedJobsClient over a recording in-memory JobsAPI: TTLs, per-job entries, single
flight. The injected clocks mean no test sleeps."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta

import pytest

from bot.metastudio.cache import CachedJobsClient
from bot.metastudio.errors import UnavailableError
from bot.metastudio.models import Job, JobPage
from bot.metastudio.query import JobQuery
from tests.concurrency import run_concurrently

NOW = datetime(2024, 7, 4, 12, 0, tzinfo=UTC)


def job(job_id: str, state: str = "PROCESSING", **asset: str) -> Job:
    return Job.model_validate(
        {"job_id": job_id, "state": state, "output_asset_config": asset or None}
    )


def signed(expires: datetime) -> str:
    return f"https://obs.example/cover.png?AccessKeyId=X&Expires={int(expires.timestamp())}&Signature=s"


class RecordingJobs:
    """A JobsAPI that counts calls; ``gate`` holds calls until set, ``error`` fails them."""

    def __init__(self, *jobs: Job) -> None:
        self.jobs = {j.job_id: j for j in jobs}
        self.calls: list[tuple[str, object]] = []
        self.gate = threading.Event()
        self.gate.set()
        self.error: Exception | None = None

    def _call(self, name: str, arg: object) -> None:
        self.calls.append((name, arg))
        self.gate.wait(5)
        if self.error:
            raise self.error

    def list_jobs(self, query: JobQuery) -> JobPage:
        self._call("list_jobs", query)
        jobs = tuple(self.jobs.values())
        return JobPage(count=len(jobs), jobs=jobs)

    def iter_jobs(self, query: JobQuery, *, max_jobs: int | None = None) -> Iterator[Job]:
        self._call("iter_jobs", query)
        return iter(list(self.jobs.values())[:max_jobs])

    def get_jobs(self, job_ids: Sequence[str]) -> dict[str, Job]:
        self._call("get_jobs", tuple(job_ids))
        return {i: self.jobs[i] for i in job_ids if i in self.jobs}


class Clock:
    def __init__(self) -> None:
        self.monotonic = 1000.0
        self.wall = NOW

    def advance(self, seconds: float) -> None:
        self.monotonic += seconds
        self.wall += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def cached(inner: RecordingJobs, clock: Clock) -> CachedJobsClient:
    return CachedJobsClient(
        inner, ttl=15, finished_ttl=600,
        clock=lambda: clock.monotonic, wall_clock=lambda: clock.wall,
    )


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
        clock=lambda: clock.monotonic, wall_clock=lambda: clock.wall,
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
