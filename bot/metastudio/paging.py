"""Paging through the list endpoint, bounded: the one primitive the client, the poller and
the router page with.

Pages are streamed (one page in memory at a time, plus the ids of the last few pages).
A walk ends at the first of:

- an empty page, or ``offset`` reaching the answer's ``count``;
- a page that adds nothing new (every job on it was on one of the last pages: a server
  that ignores ``offset`` answers the same page again, however large its ``count``);
- ``max_pages`` requests (a server sending endless fresh pages cannot make it loop).

A job seen again on a following page (the list shifted between two requests) is
dropped from that page. Hand-written: no library pages this API.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from .models import Job, JobPage
from .query import MAX_LIMIT, JobQuery

log = logging.getLogger(__name__)

#: A sane default ceiling: 500 pages are 50,000 jobs, far more than any listing a person
#: reads, and a poller that needs more continues in its next cycle.
MAX_PAGES = 500
#: How many previous pages' ids a walk remembers to drop repeats.
REMEMBERED_PAGES = 3


@dataclass(frozen=True)
class Page:
    """One answer of a walk (one request): its jobs not seen on the previous pages (maybe
    none), the answer's count, and its request id."""

    jobs: tuple[Job, ...]
    count: int
    request_id: str | None


def walk_pages(
    fetch: Callable[[JobQuery], JobPage],
    query: JobQuery,
    *,
    max_pages: int = MAX_PAGES,
    max_jobs: int | None = None,
) -> Iterator[Page]:
    """Pages of ``query`` from its offset on, ``MAX_LIMIT`` jobs each (fewer to stay
    within ``max_jobs``), each fetched by ``fetch`` (one request) only when the caller
    asks for it. See the module docstring for when the walk stops."""
    offset, yielded, pages = query.offset, 0, 0
    recent: deque[frozenset[str]] = deque(maxlen=REMEMBERED_PAGES)
    while pages < max_pages and (max_jobs is None or yielded < max_jobs):
        limit = MAX_LIMIT if max_jobs is None else min(MAX_LIMIT, max_jobs - yielded)
        answer = fetch(query.page(offset, limit))
        pages += 1
        fresh = tuple(job for job in answer.jobs
                      if not any(job.job_id in seen for seen in recent))
        if max_jobs is not None:
            fresh = fresh[: max_jobs - yielded]
        yielded += len(fresh)
        # Every answer is yielded, even one that adds nothing: callers count requests.
        yield Page(fresh, answer.count, answer.request_id)
        if not fresh:
            if answer.jobs:
                log.warning("MetaStudio answered offset %d with jobs already seen (count=%d, "
                            "request id %s): stopping this listing", offset, answer.count,
                            answer.request_id)
            return
        recent.append(frozenset(job.job_id for job in answer.jobs))
        offset += len(answer.jobs)
        if offset >= answer.count:
            return
    if pages >= max_pages:
        log.warning("stopped a listing after %d pages (count said more)", pages)


def walk_jobs(
    fetch: Callable[[JobQuery], JobPage],
    query: JobQuery,
    *,
    max_pages: int = MAX_PAGES,
    max_jobs: int | None = None,
) -> Iterator[Job]:
    """The jobs of :func:`walk_pages`, one by one."""
    for page in walk_pages(fetch, query, max_pages=max_pages, max_jobs=max_jobs):
        yield from page.jobs
