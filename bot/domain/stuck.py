"""Which unfinished jobs are stuck: older than a given age, or than the 95th percentile
of how long jobs of their type usually wait (WAITING) or run (PROCESSING), learned from
recently finished jobs. With too little history a fixed floor is the line."""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from ..metastudio.api import JobsAPI
from ..metastudio.models import Job, JobState
from ..metastudio.query import JobQuery, SortKey
from ..metastudio.side_by_side import run_all
from . import stats

#: Finished jobs learnt from: the last week, newest first, at most this many.
HISTORY = timedelta(days=7)
HISTORY_CAP = 500
#: Unfinished jobs read at most (the list covers about the last month by default).
UNFINISHED_CAP = 1000
#: Fewer samples than this for a type and phase: the floor alone is the line.
MIN_SAMPLES = 20
#: The line is never below these: a queue of quick jobs must not page anyone at 3 min.
FLOOR = {"waiting": 30 * 60, "running": 60 * 60}


@dataclass(frozen=True)
class StuckJob:
    """An unfinished job past its line: how long it has waited or run, and the line."""

    job: Job
    phase: str  # waiting | running
    age: float
    line: float


def kind(job: Job) -> str:
    return "photo" if job.is_photo else "2d"


def phase(job: Job) -> str:
    return "running" if job.state == JobState.PROCESSING else "waiting"


def learn_lines(finished: Iterable[Job]) -> dict[tuple[str, str], float]:
    """(kind, phase) -> seconds: the p95 of waits (create -> start) and runs (start ->
    end) of ``finished`` jobs, never below :data:`FLOOR`; the floor where samples are few."""
    samples: dict[tuple[str, str], list[float]] = defaultdict(list)
    for job in finished:
        if job.create_time and job.start_time:
            samples[kind(job), "waiting"].append((job.start_time - job.create_time).total_seconds())
        if job.start_time and job.end_time:
            samples[kind(job), "running"].append((job.end_time - job.start_time).total_seconds())
    lines = {}
    for k in ("2d", "photo"):
        for p, floor in FLOOR.items():
            values = [v for v in samples[k, p] if v >= 0]
            p95 = (statistics.quantiles(values, n=20, method="inclusive")[-1]
                   if len(values) >= MIN_SAMPLES else 0.0)
            lines[k, p] = max(float(floor), p95)
    return lines


def age(job: Job, now: datetime) -> float | None:
    since = job.start_time if job.state == JobState.PROCESSING else job.create_time
    return (now - since).total_seconds() if since else None


def find_stuck(unfinished: Iterable[Job], now: datetime, *, older_than: float | None,
               lines: dict[tuple[str, str], float]) -> list[StuckJob]:
    """Unfinished jobs past their line (``older_than`` seconds if given), oldest first."""
    found = []
    for job in unfinished:
        if job.is_finished or job.state not in (JobState.WAITING, JobState.PROCESSING):
            continue
        seconds = age(job, now)
        if seconds is None:
            continue
        line = older_than if older_than is not None else lines[kind(job), phase(job)]
        if seconds > line:
            found.append(StuckJob(job, phase(job), seconds, line))
    return sorted(found, key=lambda s: s.age, reverse=True)


def read(jobs: JobsAPI, now: datetime, *, learn: bool, side_by_side: bool = False
         ) -> tuple[list[Job], dict[tuple[str, str], float]]:
    """The unfinished jobs and, when ``learn``, the lines learnt from recent history
    (else the floors). Both reads go through ``jobs`` (the cached client); with
    ``side_by_side`` (a command someone waits for) at once, as neither needs the other's
    answer (docs/operations.md, "Reads side by side"), else one after the other (the
    stuck watch, in the background)."""
    reads = [partial(stats.collect, jobs, JobQuery(
        states=(JobState.WAITING, JobState.PROCESSING), sort_key=SortKey.CREATE_TIME,
        sort_dir="asc"), UNFINISHED_CAP)]
    if learn:
        reads.append(partial(stats.collect, jobs, JobQuery(
            states=(JobState.SUCCEED, JobState.FAILED), create_since=_minute(now - HISTORY),
            sort_key=SortKey.CREATE_TIME, sort_dir="desc"), HISTORY_CAP))
    answers = run_all(reads) if side_by_side else [read() for read in reads]
    unfinished = answers[0][1]
    history: list[Job] = answers[1][1] if learn else []
    return unfinished, learn_lines(history)


def _minute(moment: datetime) -> datetime:
    # A stable bound within the minute, so the cached client answers repeats.
    return moment.replace(second=0, microsecond=0)


class LearnedStuck:
    """``stuck(unfinished, now) -> jobs``, for surfaces that already hold the unfinished
    jobs (the App Home tab): the same lines as ``/videojobs stuck``, learnt from history
    at most every ``ttl`` (the week's history barely moves within minutes)."""

    def __init__(self, jobs: JobsAPI, *, ttl: timedelta = timedelta(minutes=10)) -> None:
        self.jobs = jobs
        self.ttl = ttl
        self._lines: dict[tuple[str, str], float] | None = None
        self._learnt_at: datetime | None = None

    def __call__(self, unfinished: Iterable[Job], now: datetime) -> list[Job]:
        if self._lines is None or self._learnt_at is None or now - self._learnt_at >= self.ttl:
            _, history = stats.collect(self.jobs, JobQuery(
                states=(JobState.SUCCEED, JobState.FAILED), create_since=_minute(now - HISTORY),
                sort_key=SortKey.CREATE_TIME, sort_dir="desc"), HISTORY_CAP)
            self._lines, self._learnt_at = learn_lines(history), now
        found = find_stuck(unfinished, now, older_than=None, lines=self._lines)
        return [s.job for s in found]
