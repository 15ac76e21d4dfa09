"""Paging (bot/metastudio/paging.py): how a walk pages from the query's offset, and its
stopping rules, exactly: the count, an empty page, ``max_jobs``, the page ceiling, a
server that ignores ``offset``, and jobs repeated from the last pages. ``fetch`` is the
primitive's own seam (the client passes its ``list_jobs``): here it serves scripted
servers, including ones the simulator does not play (one that ignores ``offset``, one
that never ends), and records every query it was asked."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest

from bot.metastudio.models import Job, JobPage
from bot.metastudio.paging import MAX_PAGES, REMEMBERED_PAGES, walk_jobs, walk_pages
from bot.metastudio.query import MAX_LIMIT, JobQuery


def _jobs(*ids: str) -> tuple[Job, ...]:
    return tuple(Job(job_id=i) for i in ids)


class Server:
    """A listing of ``total`` jobs ``j0000``…, honest about offset and limit."""

    def __init__(self, total: int, *, count: int | None = None) -> None:
        self.ids = [f"j{i:04}" for i in range(total)]
        self.count = total if count is None else count
        self.asked: list[tuple[int, int]] = []

    def __call__(self, query: JobQuery) -> JobPage:
        self.asked.append((query.offset, query.limit))
        page = self.ids[query.offset: query.offset + query.limit]
        return JobPage(count=self.count, jobs=_jobs(*page), request_id=f"r{len(self.asked)}")


def _scripted(*answers: JobPage) -> tuple[Callable[[JobQuery], JobPage], list[JobQuery]]:
    asked: list[JobQuery] = []

    def fetch(query: JobQuery) -> JobPage:
        asked.append(query)
        return answers[min(len(asked), len(answers)) - 1]
    return fetch, asked


def test_a_walk_pages_by_full_pages_from_the_querys_offset() -> None:
    server = Server(250 + 7)
    pages = list(walk_pages(server, JobQuery(offset=7, limit=5)))
    assert server.asked == [(7, MAX_LIMIT), (107, MAX_LIMIT), (207, MAX_LIMIT)]
    assert [len(p.jobs) for p in pages] == [100, 100, 50]
    assert [(p.count, p.request_id) for p in pages] == [(257, "r1"), (257, "r2"), (257, "r3")]
    assert pages[0].jobs[0].job_id == "j0007"


def test_a_walk_stops_when_the_offset_reaches_the_count() -> None:
    server = Server(200)
    assert len(list(walk_jobs(server, JobQuery()))) == 200
    assert server.asked == [(0, 100), (100, 100)]  # no third request for an empty page


def test_a_walk_stops_at_an_empty_page_whatever_the_count() -> None:
    server = Server(150, count=10_000)
    assert len(list(walk_jobs(server, JobQuery()))) == 150
    assert server.asked == [(0, 100), (100, 100), (150, 100)]


def test_max_jobs_shrinks_the_last_request_and_cuts_the_page() -> None:
    server = Server(500)
    jobs = list(walk_jobs(server, JobQuery(), max_jobs=130))
    assert [j.job_id for j in jobs] == [f"j{i:04}" for i in range(130)]
    assert server.asked == [(0, 100), (100, 30)]
    assert list(walk_jobs(Server(5), JobQuery(), max_jobs=0)) == []


def test_max_jobs_cuts_a_page_longer_than_asked() -> None:
    fetch, asked = _scripted(JobPage(count=9, jobs=_jobs("a", "b", "c", "d")))
    assert [j.job_id for j in walk_jobs(fetch, JobQuery(), max_jobs=3)] == ["a", "b", "c"]
    assert len(asked) == 1 and asked[0].limit == 3


def test_max_pages_bounds_the_requests_and_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = Server(1000)
    with caplog.at_level(logging.WARNING, "bot.metastudio.paging"):
        pages = list(walk_pages(server, JobQuery(), max_pages=3))
    assert len(pages) == 3 and len(server.asked) == 3
    assert "stopped a listing after 3 pages (count said more)" in caplog.messages


def test_reaching_the_end_is_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, "bot.metastudio.paging"):
        list(walk_pages(Server(150), JobQuery(), max_pages=2))
    assert caplog.messages == []


def test_the_default_page_ceiling() -> None:
    assert MAX_PAGES == 500 and REMEMBERED_PAGES == 3
    fetch, asked = _scripted(*[JobPage(count=10**9, jobs=_jobs(f"p{n}")) for n in range(600)])
    assert len(list(walk_pages(fetch, JobQuery()))) == 500
    assert len(asked) == 500


def test_a_server_ignoring_offset_is_asked_twice_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    same = JobPage(count=10_000, jobs=_jobs("a", "b"), request_id="rq")
    fetch, asked = _scripted(same)
    with caplog.at_level(logging.WARNING, "bot.metastudio.paging"):
        pages = list(walk_pages(fetch, JobQuery()))
    assert [[j.job_id for j in p.jobs] for p in pages] == [["a", "b"], []]
    assert [q.offset for q in asked] == [0, 2]
    assert caplog.messages == [
        "MetaStudio answered offset 2 with jobs already seen (count=10000, request id rq): "
        "stopping this listing"]


def test_jobs_repeated_from_the_last_pages_are_dropped() -> None:
    fetch, asked = _scripted(
        JobPage(count=8, jobs=_jobs("a", "b")),
        JobPage(count=8, jobs=_jobs("b", "c")),  # the list shifted by one
        JobPage(count=8, jobs=_jobs("a", "d")),  # two pages back
        JobPage(count=8, jobs=_jobs("e", "f")),
    )
    pages = list(walk_pages(fetch, JobQuery()))
    assert [[j.job_id for j in p.jobs] for p in pages] == [["a", "b"], ["c"], ["d"], ["e", "f"]]
    assert [q.offset for q in asked] == [0, 2, 4, 6]


def test_only_the_last_three_pages_are_remembered() -> None:
    fetch, _ = _scripted(
        JobPage(count=10, jobs=_jobs("a")),
        JobPage(count=10, jobs=_jobs("b")),
        JobPage(count=10, jobs=_jobs("c")),
        JobPage(count=10, jobs=_jobs("d")),
        JobPage(count=10, jobs=_jobs("a", "e")),  # "a" was four pages back
        JobPage(count=10, jobs=()),
    )
    assert [j.job_id for j in walk_jobs(fetch, JobQuery())] == ["a", "b", "c", "d", "a", "e"]


def test_a_walk_fetches_only_when_asked() -> None:
    server = Server(300)
    pages = walk_pages(server, JobQuery())
    assert server.asked == []
    next(pages)
    assert server.asked == [(0, 100)]


def test_max_jobs_also_cuts_a_later_page_longer_than_asked() -> None:
    fetch, asked = _scripted(
        JobPage(count=9, jobs=_jobs("a", "b")),
        JobPage(count=9, jobs=_jobs("c", "d", "e")),  # asked for one, sent three
    )
    assert [j.job_id for j in walk_jobs(fetch, JobQuery(), max_jobs=3)] == ["a", "b", "c"]
    assert [q.limit for q in asked] == [3, 1]


def test_walk_jobs_passes_its_page_ceiling_on() -> None:
    server = Server(1000)
    assert len(list(walk_jobs(server, JobQuery(), max_pages=2))) == 200
    assert len(server.asked) == 2
