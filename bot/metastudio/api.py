"""What the bot needs from MetaStudio, as a protocol: the plain client and the cached
client both provide it, so routers, pollers and tests take either."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol

from .models import Job, JobPage
from .query import JobQuery


class JobsAPI(Protocol):
    def list_jobs(self, query: JobQuery) -> JobPage:
        """One page of jobs matching ``query`` (one upstream call at most)."""
        ...

    def iter_jobs(self, query: JobQuery, *, max_jobs: int | None = None) -> Iterator[Job]:
        """Every job matching ``query``, paging with offset/limit 100 until ``count``."""
        ...

    def get_jobs(self, job_ids: Sequence[str]) -> dict[str, Job]:
        """Jobs by id, in batches of 100 via ``job_ids``; ids that do not exist are absent.
        Correct even when the server ignores ``job_ids`` (falls back to ``job_id``)."""
        ...
