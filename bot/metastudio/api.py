"""What the bot needs from MetaStudio, as one protocol: the plain client and the cached
client both provide all of it, so routers, pollers and tests take either. Reads marked
*fresh* never answer from a cache (the poller's); the others may."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from .models import Job, JobDetail, JobPage
from .paging import MAX_PAGES, Page
from .query import JobQuery

if TYPE_CHECKING:
    from .client import Found, Lookup


class JobsAPI(Protocol):
    def list_jobs(self, query: JobQuery) -> JobPage:
        """One page of jobs matching ``query`` (one upstream call at most)."""
        ...

    def iter_jobs(self, query: JobQuery, *, max_jobs: int | None = None) -> Iterator[Job]:
        """Every job matching ``query``, paging with offset/limit 100, bounded
        (:mod:`bot.metastudio.paging`)."""
        ...

    def get_jobs(self, job_ids: Sequence[str]) -> dict[str, Job]:
        """Jobs by id, in batches of 100 via ``job_ids``; ids that do not exist are absent.
        Correct even when the server ignores ``job_ids`` (falls back to ``job_id``)."""
        ...

    def get_job(self, job_id: str, *, refresh: bool = False) -> Job | None:
        """One job by id, or None; ``refresh`` bypasses any cache."""
        ...

    # -- fresh reads, for the poller --------------------------------------------------

    def scan(self, query: JobQuery, *, max_pages: int = MAX_PAGES) -> Iterator[Page]:
        """Fresh pages of ``query``, streamed, one request each, bounded."""
        ...

    def lookup_batch(self, batch: Sequence[str]) -> dict[str, Job] | None:
        """Up to 100 jobs by id in one fresh request; None when the answer was not
        filtered by ``job_ids``."""
        ...

    def find_job(self, job_id: str, *, job_type: str | None = None) -> Found:
        """One job by id, fresh, with the number of requests it took."""
        ...

    def use_job_ids(self) -> bool:
        """Whether ``job_ids`` look-ups are worth trying now (see
        :class:`bot.metastudio.client.JobIdsSupport`)."""
        ...


@runtime_checkable
class DetailsAPI(Protocol):  # pragma: no mutate block (isinstance needs its members)
    """The job detail with its configuration (``show_script=true``); both clients
    provide it. Kept apart from :class:`JobsAPI` so a reader that needs only jobs (a
    test's fake, a benchmark's) need not provide it; callers check with ``isinstance``."""

    def get_detail(self, job_id: str, *, job_type: str | None = None,
                   refresh: bool = False) -> JobDetail | None:
        """The job's detail, or None when MetaStudio does not know the job."""
        ...


@runtime_checkable
class StagedLookupAPI(Protocol):
    """A look-up by id in two stages: the list endpoint, then the per-type detail
    operations for the ids it did not return. Both clients provide it; ``status``
    answers after the first stage and replaces its answer after the second
    (docs/operations.md, "Load"). Callers check with ``isinstance``."""

    def list_by_ids(self, job_ids: Sequence[str]) -> dict[str, Job]:
        """The jobs the list endpoint returns for these ids."""
        ...

    def find_older(self, job_ids: Sequence[str]) -> Lookup:
        """These ids in the detail operations, side by side; who could not be checked."""
        ...
