"""The endpoint itself: GET /v1/{project_id}/digital-human-videos, with paging and batch
look-up by id, and the per-type detail operations. Implements
:class:`bot.metastudio.api.JobsAPI`."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from datetime import time as day_time
from functools import partial
from urllib.parse import quote

import requests
from pydantic import ValidationError
from requests.auth import AuthBase

from .assets import summary_path
from .errors import BadResponseError, MetaStudioError, NotFoundError
from .models import Job, JobDetail, JobPage, JobType
from .paging import MAX_PAGES, Page, walk_jobs, walk_pages
from .query import MAX_LIMIT, JobQuery
from .shape import page_problem
from .side_by_side import run_all, settle
from .transport import DEFAULT_RETRY, DEFAULT_TIMEOUTS, RetryPolicy, Timeouts, Transport

#: How far back a look-up by id reaches. docs/metastudio-api.md: without create_since the list may
#: cover only about the last month, so an older job would look like "no such job".
LOOKUP_REACH = timedelta(days=3 * 365)


def lookup_since(now: datetime | None = None) -> datetime:
    """The create_since of every look-up by id: a UTC midnight (stable all day, so equal
    look-ups stay equal queries) :data:`LOOKUP_REACH` back."""
    today = (now or datetime.now(UTC)).astimezone(UTC).date()
    return datetime.combine(today, day_time(0), tzinfo=UTC) - LOOKUP_REACH

log = logging.getLogger(__name__)

#: docs/metastudio-api.md: the per-type detail operations, for jobs the list cannot find.
DETAIL_PATHS = (
    ("2d-digital-human-videos", JobType.VIDEO_2D),
    ("photo-digital-human-videos", JobType.PHOTO),
)


@dataclass
class Lookup:
    """What :meth:`MetaStudioClient.find_older` found, and the ids it could not check."""

    found: dict[str, Job] = field(default_factory=dict)
    errors: dict[str, MetaStudioError] = field(default_factory=dict)


@dataclass(frozen=True)
class Found:
    """A look-up's answer and how many requests it took."""

    job: Job | None
    requests: int


class JobIdsSupport:
    """Whether the server filters by ``job_ids`` (docs/metastudio-api.md: an older deployment
    ignores it and answers an unfiltered page), decided on evidence from several answers
    and looked at again later.

    An answer holding jobs that were not asked for is one strike; ``strikes`` in a row
    decide "ignored". A ``count`` above the batch with only asked-for jobs proves nothing
    either way. Once "ignored", a look-up is worth trying again every ``recheck``
    seconds; one filtered answer decides "honoured" again.
    """

    def __init__(
        self, *, strikes: int = 3, recheck: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.strikes = strikes
        self.recheck = recheck
        self._clock = clock
        self._lock = threading.Lock()
        self._misses = 0
        self._honoured: bool | None = None
        self._decided_at = 0.0

    @property
    def honoured(self) -> bool | None:
        """True or False once decided; None until then."""
        return self._honoured

    def worth_asking(self) -> bool:
        """Whether a ``job_ids`` look-up should be tried now."""
        with self._lock:
            return self._honoured is not False or (
                self._clock() - self._decided_at >= self.recheck)

    def record(self, filtered: bool | None, *, request_id: str | None = None) -> None:
        """One answer's evidence: True filtered, False unfiltered, None inconclusive."""
        if filtered is None:
            return
        with self._lock:
            if filtered:
                if self._honoured is False:
                    log.warning("MetaStudio filters by job_ids again (request id %s)",
                                request_id)
                self._misses, self._honoured = 0, True
                return
            self._misses += 1
            if self._misses < self.strikes:
                return
            if self._honoured is not False:
                log.warning("MetaStudio ignores job_ids (%d unfiltered answers in a row, the "
                            "last request id %s): listing by state instead, checking again "
                            "in %g s", self._misses, request_id, self.recheck)
            self._honoured = False
            self._decided_at = self._clock()


class MetaStudioClient:
    """MetaStudio's "Querying Video Production Tasks" endpoint, and the per-type detail
    operations for jobs the list does not return.

    >>> client = MetaStudioClient("https://metastudio.cn-north-4.myhuaweicloud.com",
    ...                           "0d69...cd79", AkSkAuth(ak, sk, "0d69...cd79"))
    >>> client.get_jobs(["26f06524-4f75-4b3a-a853-b649a21aaf66"])
    {'26f06524-...': Job(...)}

    Every answer is fresh (:class:`bot.metastudio.cache.CachedJobsClient` is the layer
    that remembers). Errors are :class:`bot.metastudio.errors.MetaStudioError` subclasses.
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
        job_ids: JobIdsSupport | None = None,
        max_concurrency: int = 64,
        side_by_side: bool = True,
    ) -> None:
        self.project_id = project_id
        #: False: the previous design's reads one after another, for the benchmark that
        #: compares against it (``VIDEOJOBS_SEQUENTIAL_READS``); never in production.
        self.side_by_side = side_by_side
        # The asset summary is a POST that only reads: retried like a GET (assets.py).
        self.transport = Transport(base_url, auth, session=session, timeouts=timeouts,
                                   retry=retry, max_concurrency=max_concurrency,
                                   retry_posts=(summary_path(project_id),))
        # The project id is one path segment, whatever characters it holds.
        self.project_path = f"/v1/{quote(project_id, safe='')}"
        self.path = f"{self.project_path}/digital-human-videos"
        self.job_ids = job_ids or JobIdsSupport()

    @property
    def supports_job_ids(self) -> bool | None:
        """Whether the server filters by ``job_ids``: None until answers have shown it
        (see :class:`JobIdsSupport`)."""
        return self.job_ids.honoured

    def list_jobs(self, query: JobQuery, *, refresh: bool = False) -> JobPage:
        """One page of jobs matching ``query`` (one upstream call; always fresh)."""
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

    def iter_jobs(
        self, query: JobQuery, *, max_jobs: int | None = None, refresh: bool = False
    ) -> Iterator[Job]:
        """Every job matching ``query`` from its offset on, in pages of 100 (the API's
        maximum), bounded as :mod:`bot.metastudio.paging` says."""
        return walk_jobs(self.list_jobs, query, max_jobs=max_jobs)

    def scan(self, query: JobQuery, *, max_pages: int = MAX_PAGES) -> Iterator[Page]:
        """Fresh pages of ``query``, one request each, streamed (the poller's sweeps)."""
        return walk_pages(self.list_jobs, query, max_pages=max_pages)

    def get_jobs(self, job_ids: Sequence[str], *, refresh: bool = False) -> dict[str, Job]:
        """Jobs by id; ids that do not exist are absent: :meth:`list_by_ids`, then
        :meth:`find_older` for the ids the list did not return (jobs older than the
        list's month). A look-up that failed for an id neither read found raises its
        :class:`MetaStudioError`.

        A malformed id raises ``ValueError`` (pydantic's) before any request."""
        found = self.list_by_ids(job_ids)
        rest = [job_id for job_id in dict.fromkeys(job_ids) if job_id not in found]
        if rest:
            older = self.find_older(rest)
            if older.errors:
                raise next(iter(older.errors.values()))
            found.update(older.found)
        return found

    def list_by_ids(self, job_ids: Sequence[str]) -> dict[str, Job]:
        """The jobs the list endpoint returns for these ids: one request per 100 ids via
        ``job_ids`` while the server honours it (each answer checked, see
        :class:`JobIdsSupport`), else one ``job_id`` read per id, side by side. Ids it did
        not return are absent (:meth:`find_older` looks further)."""
        wanted = list(dict.fromkeys(job_ids))
        found: dict[str, Job] = {}
        alone: list[str] = []
        for start in range(0, len(wanted), MAX_LIMIT):
            batch = wanted[start : start + MAX_LIMIT]
            jobs = self.lookup_batch(batch) if self.job_ids.worth_asking() else None
            if jobs is None:
                alone.extend(batch)
            else:
                found.update(jobs)
        reads = [partial(self._listed, job_id) for job_id in alone]
        results = run_all(reads) if self.side_by_side else [read() for read in reads]
        for job_id, job in zip(alone, results, strict=True):
            if job is not None:
                found[job_id] = job
        return found

    def find_older(self, job_ids: Sequence[str]) -> Lookup:
        """Each id in both per-type detail operations (jobs older than the list's month),
        every read side by side: the answer costs one wait, not one per read. A job either
        operation returns is found, whatever the other answered; an id that neither
        found and that a read failed for (not a 404) is in ``errors``, as nothing can be
        said of it."""
        wanted = list(dict.fromkeys(job_ids))
        if not self.side_by_side:
            return self._older_one_by_one(wanted)
        reads = [partial(self._detail_at, job_id, segment, kind, [], Job)
                 for job_id in wanted for segment, kind in DETAIL_PATHS]
        outcomes = iter(settle(reads))
        lookup = Lookup()
        for job_id in wanted:
            answers = [next(outcomes) for _ in DETAIL_PATHS]
            job = next((a.value for a in answers if a.error is None and a.value is not None),
                       None)
            if job is not None:
                lookup.found[job_id] = job
                continue
            error = next((a.error for a in answers if a.error is not None), None)
            if error is not None:
                if not isinstance(error, MetaStudioError):
                    raise error
                lookup.errors[job_id] = error
        return lookup

    def _older_one_by_one(self, job_ids: list[str]) -> Lookup:
        """The previous design (one read after another), kept for the benchmark that
        compares against it (``VIDEOJOBS_SEQUENTIAL_READS``)."""
        lookup = Lookup()
        for job_id in job_ids:
            try:
                job = self.find_detail(job_id).job
            except MetaStudioError as e:
                lookup.errors[job_id] = e
                continue
            if job is not None:
                lookup.found[job_id] = job
        return lookup

    def _listed(self, job_id: str) -> Job | None:
        """One id through the list's ``job_id`` filter, checked like ``job_ids``."""
        page = self.list_jobs(JobQuery(job_id=job_id, limit=1, create_since=lookup_since()))
        # Checked, like job_ids: a server ignoring the filter must not yield another job.
        return next((job for job in page.jobs if job.job_id == job_id), None)

    def get_job(self, job_id: str, *, refresh: bool = False) -> Job | None:
        """One job by id, or None if there is none (see :meth:`find_job`)."""
        return self.find_job(job_id).job

    def find_job(self, job_id: str, *, job_type: str | None = None) -> Found:
        """One job by id: the list's ``job_id`` filter, then the detail operations (the
        one for ``job_type`` when it is known)."""
        if job_type is not None:
            detail = self.find_detail(job_id, job_type=job_type)
            if detail.job is not None:
                return detail
            spent = detail.requests
        else:
            spent = 0
        job = self._listed(job_id)
        if job is not None:
            return Found(job, spent + 1)
        detail = self.find_detail(job_id)
        return Found(detail.job, spent + 1 + detail.requests)

    def find_detail(self, job_id: str, *, job_type: str | None = None) -> Found:
        """The job from ``GET .../2d-digital-human-videos/{job_id}`` or
        ``.../photo-digital-human-videos/{job_id}`` (only the one for ``job_type`` when
        given): the list's fields plus ``script_id`` and the configuration."""
        return self._detail(job_id, job_type, [], Job)

    def get_detail(self, job_id: str, *, job_type: str | None = None,
                   refresh: bool = False) -> JobDetail | None:
        """The job's detail with its configuration (``show_script=true``): the assets it
        uses (:meth:`JobDetail.asset_refs`) and what a re-creation can send back
        (:mod:`bot.domain.recreate`). Asks the detail operation of ``job_type`` when it
        is known, else the 2D one and then the photo one; None when neither knows the job.
        Always fresh; ``refresh`` is for the cached client's signature."""
        found = self._detail(job_id, job_type, [("show_script", "true")], JobDetail)
        return found.job if isinstance(found.job, JobDetail) else None

    def _detail(self, job_id: str, job_type: str | None, params: list[tuple[str, str]],
                model: type[Job]) -> Found:
        requests_made = 0
        for segment, kind in DETAIL_PATHS:
            if job_type is not None and (kind == JobType.PHOTO) != _is_photo(job_type):
                continue
            requests_made += 1
            job = self._detail_at(job_id, segment, kind, params, model)
            if job is not None:
                return Found(job, requests_made)
        return Found(None, requests_made)

    def _detail_at(self, job_id: str, segment: str, kind: JobType,
                   params: list[tuple[str, str]], model: type[Job]) -> Job | None:
        """The job from one detail operation; None on its 404."""
        try:
            answer = self.transport.get(
                f"{self.project_path}/{segment}/{quote(job_id, safe='')}", params)
        except NotFoundError:
            return None
        body = {"job_id": job_id, "job_type": kind.value, **answer.body}
        try:
            job = model.model_validate(body)
        except ValidationError as e:
            raise BadResponseError(
                "MetaStudio's answer does not look like a job",
                status=answer.status, request_id=answer.request_id,
            ) from e
        return job if job.job_id == job_id else None

    def lookup_batch(self, batch: Sequence[str]) -> dict[str, Job] | None:
        """Up to 100 jobs by id in one request (``job_ids``), checked: None when the
        answer was not filtered. Its evidence goes to :attr:`job_ids`."""
        page = self.list_jobs(
            JobQuery(job_ids=tuple(batch), limit=MAX_LIMIT, create_since=lookup_since())
        )
        asked = set(batch)
        strangers = [job.job_id for job in page.jobs if job.job_id not in asked]
        if strangers:
            log.info("a job_ids answer was not filtered (asked %d ids, got count=%d with %d "
                     "others; request id %s)", len(batch), page.count, len(strangers),
                     page.request_id)
            self.job_ids.record(False, request_id=page.request_id)
            return None
        # A count above the batch without strangers proves nothing (a server may count
        # differently); only asked-for jobs came back, so they are usable.
        self.job_ids.record(None if page.count > len(batch) else True,
                            request_id=page.request_id)
        return {job.job_id: job for job in page.jobs}

    def use_job_ids(self) -> bool:
        """Whether a poller should look its jobs up with ``job_ids`` now."""
        return self.job_ids.worth_asking()

    def close(self) -> None:
        self.transport.close()


def _is_photo(job_type: str) -> bool:
    try:
        return JobType(job_type).is_photo
    except ValueError:
        return False
