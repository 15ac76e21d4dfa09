"""With a slow MetaStudio a command's reads must wait together, not one after another
(docs/operations.md, "Load"): a summary's three reads, and the pages of a listing whose
count the first page told. Proved with barriers the reads must meet at, not with clocks:
a read made alone waits at its barrier until the test fails it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.commands.router import Router
from bot.commands.types import Context
from bot.domain import stats
from bot.metastudio.models import Job, JobPage
from bot.metastudio.operations import Resource
from bot.metastudio.query import JobQuery

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
MEET_SECONDS = 10.0


def job(n: int, state: str = "SUCCEED") -> Job:
    return Job.model_validate({
        "job_id": f"{n:032x}", "state": state, "job_type": "2D_DIGITAL_HUMAN_VIDEO",
        "create_time": (NOW - timedelta(minutes=n)).isoformat(),
        "lastupdate_time": (NOW - timedelta(minutes=n - 1)).isoformat(),
    })


class Listing:
    """A JobsAPI over ``total`` jobs whose reads past the first page must meet at
    ``barrier``; ``ignore_offset`` answers every page with the first one's jobs."""

    def __init__(self, total: int, barrier: threading.Barrier | None,
                 ignore_offset: bool = False) -> None:
        self.jobs = [job(n) for n in range(total)]
        self.barrier = barrier
        self.ignore_offset = ignore_offset
        self.offsets: list[int] = []

    def list_jobs(self, query: JobQuery) -> JobPage:
        offset = 0 if self.ignore_offset else query.offset
        self.offsets.append(query.offset)
        if query.offset and self.barrier is not None:
            self.barrier.wait(MEET_SECONDS)
        rows = self.jobs[offset:offset + query.limit]
        return JobPage(count=len(self.jobs), jobs=rows)

    def iter_jobs(self, query: JobQuery, *, max_jobs: int | None = None) -> Iterator[Job]:
        raise AssertionError("pages of a known count are not walked one by one")


def test_the_pages_after_the_first_are_asked_for_side_by_side() -> None:
    listing = Listing(350, threading.Barrier(3))  # offsets 100, 200 and 300 meet

    count, found = stats.collect(listing, JobQuery(), 500)

    assert count == 350
    assert [j.job_id for j in found] == [j.job_id for j in listing.jobs]
    assert sorted(listing.offsets) == [0, 100, 200, 300]


def test_side_by_side_pages_stop_at_the_cap() -> None:
    listing = Listing(10_000, threading.Barrier(1))

    count, found = stats.collect(listing, JobQuery(), 200)

    assert count == 10_000 and len(found) == 200
    assert sorted(listing.offsets) == [0, 100]


def test_a_server_ignoring_offset_does_not_count_a_job_twice() -> None:
    listing = Listing(300, None, ignore_offset=True)

    count, found = stats.collect(listing, JobQuery(), 500)

    assert count == 300
    assert len(found) == 100 == len({j.job_id for j in found})


def test_a_short_first_page_is_walked_page_by_page() -> None:
    class Short(Listing):
        def list_jobs(self, query: JobQuery) -> JobPage:
            return JobPage(count=len(self.jobs), jobs=self.jobs[:40])

        def iter_jobs(self, query: JobQuery, *, max_jobs: int | None = None) -> Iterator[Job]:
            self.offsets.append(query.offset)
            return iter(self.jobs[query.offset:query.offset + (max_jobs or 0)])

    listing = Short(120, None)

    count, found = stats.collect(listing, JobQuery(), 500)

    assert count == 120 and len(found) == 120 and listing.offsets == [40]


class MeetingJobs(Listing):
    """Every read (the summary's first page, the oldest waiting job) meets at the barrier."""

    def list_jobs(self, query: JobQuery) -> JobPage:
        assert self.barrier is not None
        self.barrier.wait(MEET_SECONDS)
        return JobPage(count=len(self.jobs), jobs=self.jobs[:query.limit])


class MeetingQuota:
    def __init__(self, barrier: threading.Barrier) -> None:
        self.barrier = barrier

    def resources_usage(self) -> list[Resource]:
        self.barrier.wait(MEET_SECONDS)
        return []

    def cancel(self, job_id: str) -> None:
        raise AssertionError("not asked")


def test_a_summarys_reads_wait_together() -> None:
    # A read per state, the oldest waiting job, the quota: eight reads in one round.
    barrier = threading.Barrier(6 + 1 + 1)
    router = Router(MeetingJobs(20, barrier), operations=MeetingQuota(barrier),
                    clock=lambda: NOW)

    reply = router.handle("summary 24h", Context(user_id="U1", channel_id="C1",
                                                  tz=ZoneInfo("UTC")))

    assert "20" in reply.text or any("20" in str(b.to_dict()) for b in reply.blocks)
    assert not barrier.broken


@pytest.mark.parametrize("total", [0, 100])
def test_one_page_is_one_read(total: int) -> None:
    listing = Listing(total, threading.Barrier(1))

    count, found = stats.collect(listing, JobQuery(), 500)

    assert (count, len(found)) == (total, total) and listing.offsets == [0]
