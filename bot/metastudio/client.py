"""The endpoint itself: GET /v1/{project_id}/digital-human-videos, with paging and batch
look-up by id. Implements :class:`bot.metastudio.api.JobsAPI`."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, time, timedelta
from urllib.parse import quote

import requests
from pydantic import ValidationError
from requests.auth import AuthBase

from .errors import BadResponseError
from .models import Job, JobPage
from .query import MAX_LIMIT, JobQuery
from .shape import page_problem
from .transport import DEFAULT_RETRY, DEFAULT_TIMEOUTS, RetryPolicy, Timeouts, Transport

#: How far back a look-up by id reaches. docs/metastudio-api.md: without create_since the list may
#: cover only about the last month, so an older job would look like "no such job".
LOOKUP_REACH = timedelta(days=3 * 365)


def lookup_since(now: datetime | None = None) -> datetime:
    """The create_since of every look-up by id: a UTC midnight (stable all day, so equal
    look-ups stay equal queries) :data:`LOOKUP_REACH` back."""
    today = (now or datetime.now(UTC)).astimezone(UTC).date()
    return datetime.combine(today, time(0), tzinfo=UTC) - LOOKUP_REACH

log = logging.getLogger(__name__)


class MetaStudioClient:
    """MetaStudio's "Querying Video Production Tasks" endpoint.

    >>> client = MetaStudioClient("https://metastudio.cn-north-4.myhuaweicloud.com",
    ...                           "0d69...cd79", AkSkAuth(ak, sk, "0d69...cd79"))
    >>> client.get_jobs(["26f06524-4f75-4b3a-a853-b649a21aaf66"])
    {'26f06524-...': Job(...)}

    Errors are :class:`bot.metastudio.errors.MetaStudioError` subclasses.
    """

    def __init__(
        self,
        base_url: str,
        project_id: str,
        auth: AuthBase,
        *,
        session: requests.Session | None = None,
        timeouts: Timeouts = DEFAULT_TIMEOUTS,
        retry: RetryPolicy = DEFAULT_RETRY,
        max_concurrency: int = 64,
    ) -> None:
        self.project_id = project_id
        self.transport = Transport(base_url, auth, session=session, timeouts=timeouts,
                                   retry=retry, max_concurrency=max_concurrency)
        # The project id is one path segment, whatever characters it holds.
        self.path = f"/v1/{quote(project_id, safe='')}/digital-human-videos"
        self._job_ids_honoured: bool | None = None

    @property
    def supports_job_ids(self) -> bool | None:
        """Whether the server filters by ``job_ids``: None until a batch look-up has shown
        it. When False, :meth:`get_jobs` costs one request per id, and a poller does
        better listing unfinished jobs by state."""
        return self._job_ids_honoured

    def list_jobs(self, query: JobQuery) -> JobPage:
        """One page of jobs matching ``query`` (one upstream call)."""
        answer = self.transport.get(self.path, query.to_params())
        problem = page_problem(answer.body)
        if problem is not None:
            raise BadResponseError(f"MetaStudio's answer was malformed: {problem}",
                                   status=answer.status, request_id=answer.request_id)
        try:
            return JobPage.from_body(answer.body, answer.request_id)
        except ValidationError as e:
            raise BadResponseError(
                "MetaStudio's answer was malformed: not a job list",
                status=answer.status, request_id=answer.request_id,
            ) from e

    def iter_jobs(self, query: JobQuery, *, max_jobs: int | None = None) -> Iterator[Job]:
        """Every job matching ``query`` from its offset on, in pages of 100 (the API's
        maximum), until ``count``. Stops on an empty page too, so a server whose count
        is wrong cannot make it loop; a job seen twice (the list shifted) is yielded once.
        """
        offset, seen = query.offset, set[str]()
        while max_jobs is None or len(seen) < max_jobs:
            left = MAX_LIMIT if max_jobs is None else min(MAX_LIMIT, max_jobs - len(seen))
            page = self.list_jobs(query.page(offset, left))
            for job in page.jobs:
                if job.job_id in seen:
                    continue
                seen.add(job.job_id)
                yield job
                if max_jobs is not None and len(seen) >= max_jobs:
                    return
            offset += len(page.jobs)
            if not page.jobs or offset >= page.count:
                return

    def get_jobs(self, job_ids: Sequence[str]) -> dict[str, Job]:
        """Jobs by id; ids that do not exist are absent. One request per 100 ids via
        ``job_ids``. Because a server may ignore ``job_ids`` and answer an unfiltered page
        (docs/metastudio-api.md, "job_ids"), each answer is checked; if it was not
        filtered, that batch is looked up id by id with ``job_id``, and so is every later batch.

        A malformed id raises ``ValueError`` (pydantic's) before any request."""
        wanted = list(dict.fromkeys(job_ids))
        found: dict[str, Job] = {}
        for start in range(0, len(wanted), MAX_LIMIT):
            batch = wanted[start : start + MAX_LIMIT]
            if self._job_ids_honoured is not False:
                jobs = self.lookup_batch(batch)
                if jobs is not None:
                    found.update(jobs)
                    continue
            for job_id in batch:
                job = self.get_job(job_id)
                if job is not None:
                    found[job_id] = job
        return found

    def get_job(self, job_id: str) -> Job | None:
        """One job by id (the documented ``job_id`` filter), or None if there is none."""
        page = self.list_jobs(JobQuery(job_id=job_id, limit=1, create_since=lookup_since()))
        # Checked, like job_ids: a server ignoring the filter must not yield another job.
        return next((job for job in page.jobs if job.job_id == job_id), None)

    def lookup_batch(self, batch: Sequence[str]) -> dict[str, Job] | None:
        """Up to 100 jobs by id in one request (``job_ids``), checked: None when the
        server ignored the filter (docs/metastudio-api.md: an older deployment answers an
        unfiltered page), which :attr:`supports_job_ids` remembers."""
        page = self.list_jobs(
            JobQuery(job_ids=tuple(batch), limit=MAX_LIMIT, create_since=lookup_since())
        )
        asked = set(batch)
        strangers = [job.job_id for job in page.jobs if job.job_id not in asked]
        if strangers or page.count > len(batch):
            if self._job_ids_honoured is not False:
                log.warning(
                    "MetaStudio ignores job_ids (asked %d ids, got count=%d with %d others; "
                    "request id %s)", len(batch), page.count, len(strangers), page.request_id,
                )
            self._job_ids_honoured = False
            return None
        self._job_ids_honoured = True
        return {job.job_id: job for job in page.jobs}

    def close(self) -> None:
        self.transport.close()
