"""Counting jobs for ``summary`` and the ``failed`` triage block: how many are in each
state, which error codes recur, how long successes ran. Reads through :class:`JobsAPI`
(the cached client in production), paging 100 at a time."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime

from ..metastudio.api import JobsAPI
from ..metastudio.models import FINISHED_STATES, Job, JobPage, JobState
from ..metastudio.query import JobQuery, SortKey

#: A summary reads every job of its window up to this many, else counts per state.
SUMMARY_FULL_READ = 500
#: Jobs of each outcome sampled for error codes and durations past SUMMARY_FULL_READ.
SAMPLE_SIZE = 200
#: The API's largest page (docs/metastudio-api.md).
PAGE = 100


@dataclass(frozen=True)
class ErrorGroup:
    """How many jobs failed with one ``error_code`` / ``error_msg``."""

    error_code: str | None
    error_msg: str | None
    count: int


@dataclass(frozen=True)
class SummaryStats:
    """What the router counted for one window."""

    window_label: str
    #: State name -> count: all six states, plus any unknown one upstream sent.
    counts: dict[str, int]
    #: failed / finished; None when nothing finished.
    failure_rate: float | None
    top_errors: list[ErrorGroup]
    mean_succeeded_seconds: float | None
    #: When error codes and durations came from a capped sample: its size.
    sampled: int | None = None
    #: The oldest job still WAITING (any window: a stuck queue may predate this one),
    #: and the instant the summary was made, for its age.
    oldest_waiting: Job | None = None
    now: datetime | None = None
    #: ``quota`` warning line when video minutes run low.
    quota_warning: str | None = None


def collect(jobs: JobsAPI, query: JobQuery, cap: int, *,
            first: JobPage | None = None) -> tuple[int, list[Job]]:
    """(count of all matches, up to ``cap`` of them), 100 a page. Once the first page
    has told the count, the other pages' offsets are known and they are asked for side
    by side: a slow API costs two waits, not one a page. A job a server sends twice (one
    ignoring ``offset``) is kept once."""
    first = first or jobs.list_jobs(query.page(0, 100))
    found = list(first.jobs)
    wanted = min(first.count, cap)
    if len(found) >= wanted:
        return first.count, found[:cap]
    if len(found) < PAGE:
        # A short first page of a longer listing: the offsets cannot be known ahead.
        found.extend(jobs.iter_jobs(query.page(len(found), PAGE), max_jobs=cap - len(found)))
        return first.count, found[:cap]
    offsets = range(len(found), wanted, PAGE)
    with ThreadPoolExecutor(max_workers=len(offsets)) as pool:
        pages = list(pool.map(lambda offset: jobs.list_jobs(query.page(offset, PAGE)), offsets))
    seen = {job.job_id for job in found}
    for page in pages:
        for job in page.jobs:
            if job.job_id not in seen:
                seen.add(job.job_id)
                found.append(job)
    return first.count, found[:cap]


def error_groups(failures: list[Job]) -> list[ErrorGroup]:
    """Failures grouped by (error code, message), most frequent first."""
    counts = Counter(
        (job.error_info.error_code if job.error_info else None,
         job.error_info.error_msg if job.error_info else None)
        for job in failures
    )
    return [ErrorGroup(code, msg, n) for (code, msg), n in counts.most_common()]


def summarize(jobs: JobsAPI, base: JobQuery, label: str) -> SummaryStats:
    """The statistics of every job matching ``base``: read in full up to
    :data:`SUMMARY_FULL_READ` jobs, else exact counts per state and sampled details."""
    first = jobs.list_jobs(base.page(0, 100))
    if first.count <= SUMMARY_FULL_READ:
        _, found = collect(jobs, base, SUMMARY_FULL_READ, first=first)
        return _stats(label, Counter(job.state_name for job in found), found, None)
    counts, sample = _counts_and_samples(jobs, base)
    return _stats(label, counts, sample, len(sample))


#: The states whose jobs a one-round summary reads (100 newest each): failures for the
#: error codes, successes for the run times. The other states are only counted.
READ_STATES = (JobState.FAILED, JobState.SUCCEED)


def state_queries(base: JobQuery) -> dict[JobState, JobQuery]:
    """A one-round summary's reads of ``base``'s window: one per state, its answer's
    ``count`` exact, the first page of :data:`READ_STATES` (newest first, the same query
    as that state's listing, so a cached listing serves it) and one job of the others."""
    return {
        state: base.model_copy(update={
            "states": (state,), "sort_key": SortKey.CREATE_TIME, "sort_dir": "desc",
            "offset": 0, "limit": PAGE if state in READ_STATES else 1})
        for state in JobState
    }


def from_state_pages(label: str, pages: dict[JobState, JobPage]) -> SummaryStats:
    """The statistics from one page per state (:func:`state_queries`): counts exact,
    error codes and run times from the newest :data:`PAGE` failures and successes (a
    sample, said so, when there were more)."""
    counts = Counter({state.value: page.count for state, page in pages.items()})
    found = [job for state in READ_STATES for job in pages[state].jobs
             if job.state is state]
    more = any(pages[state].count > len(pages[state].jobs) for state in READ_STATES)
    return _stats(label, counts, found, len(found) if more else None)


def oldest_waiting(jobs: JobsAPI) -> Job | None:
    """The job that has waited longest (one call: WAITING, oldest first, limit 1)."""
    page = jobs.list_jobs(JobQuery(states=(JobState.WAITING,), sort_key=SortKey.CREATE_TIME,
                                   sort_dir="asc", limit=1))
    return page.jobs[0] if page.jobs else None


def _counts_and_samples(jobs: JobsAPI, base: JobQuery) -> tuple[Counter[str], list[Job]]:
    """Too many jobs to read: one ``limit=1`` call per state gives exact counts (the
    answer's ``count``), and a capped read of failures and successes gives the error
    codes and durations. The calls run side by side; a slow API costs one wait."""
    # One thread per call (a count per state, two samples): all wait at once.
    with ThreadPoolExecutor(max_workers=len(JobState) + 2) as pool:
        counts = dict(zip(
            JobState,
            pool.map(lambda s: jobs.list_jobs(
                base.model_copy(update={"states": (s,), "limit": 1})).count, JobState),
            strict=True,
        ))
        samples = pool.map(
            lambda s: collect(jobs, base.model_copy(update={"states": (s,)}), SAMPLE_SIZE)[1],
            (JobState.FAILED, JobState.SUCCEED),
        )
        found = [job for sample in samples for job in sample]
    return Counter({state.value: n for state, n in counts.items()}), found


def _stats(label: str, counts: Counter[str], jobs: list[Job], sampled: int | None) -> SummaryStats:
    for state in JobState:
        counts.setdefault(state.value, 0)
    finished = sum(counts[s.value] for s in FINISHED_STATES)
    failed = counts[JobState.FAILED.value]
    durations = [j.run_seconds for j in jobs if j.state is JobState.SUCCEED and j.run_seconds]
    return SummaryStats(
        window_label=label,
        counts=dict(counts),
        failure_rate=failed / finished if finished else None,
        top_errors=error_groups([j for j in jobs if j.state is JobState.FAILED])[:5],
        mean_succeeded_seconds=sum(durations) / len(durations) if durations else None,
        sampled=sampled,
    )
