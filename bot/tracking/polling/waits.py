"""Workflow steps waiting for a job to end ("Wait for video job to end"), fed by the same
poller and callbacks that feed notifications: a waited-for job is one more id in the
active set's ``job_ids`` look-ups (docs/polling.md), however many steps wait for it, so
100 waits on 100 jobs cost at most one more request a cycle. Nothing polls per step.

A wait is a ``step_runs`` row (job, deadline, the execution's token) and, written in the
same transaction, its one completion: an outbox row (:mod:`..delivery.completions`) due
at the deadline with the timeout error. When the job ends before that row is claimed,
the transaction that records the end turns it into the success, due at once; when the
job no longer exists, into that error. So a wait survives restarts (it is rows), and
completes exactly once (one row, delivered once).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from ...domain.steps import ended_outputs
from ...metastudio.models import Job
from ..delivery import completions
from ..delivery.outbox import PENDING, Outbox
from ..store.database import Store
from ..store.tables import outbox, step_runs


class StepWaits:
    """``step_runs`` rows, for the step listener (``first``, ``wait``) and the poller
    (``ids``, ``ended``, ``gone``)."""

    def __init__(self, store: Store, outbox: Outbox) -> None:
        self.store = store
        self.outbox = outbox

    # -- the steps ------------------------------------------------------------------------

    def first(self, execution_id: str, callback_id: str, now: datetime) -> bool:
        """Record that a step's execution runs; False when it ran already (Slack
        delivered its ``function_executed`` again)."""
        with self.store.begin() as conn:
            return self.store.insert_ignore(conn, step_runs, dict(
                execution_id=execution_id, callback_id=callback_id, started_at=now))

    def wait(self, execution_id: str, token: str, job: Job, *, deadline: datetime,
             timeout_error: str, now: datetime) -> None:
        """Wait for ``job`` (unfinished when looked at) until ``deadline``, when the step
        completes with ``timeout_error`` unless the job ended first."""
        with self.store.begin() as conn:
            conn.execute(step_runs.update().where(step_runs.c.execution_id == execution_id)
                         .values(job_id=job.job_id, job_created_at=job.create_time,
                                 deadline=deadline, token=token))
            key = completions.step_key(execution_id)
            self.outbox.enqueue(conn, kind=completions.KIND,
                                channel=completions.DESTINATION, dedupe_key=key,
                                payload=completions.failed(execution_id, timeout_error),
                                now=now)
            conn.execute(outbox.update().where(outbox.c.dedupe_key == key)
                         .values(next_attempt_at=deadline))

    # -- the poller -----------------------------------------------------------------------

    def ids(self, now: datetime) -> list[tuple[str, datetime | None]]:
        """(job_id, create_time) of every job a step still waits for, each once."""
        with self.store.begin() as conn:
            rows = conn.execute(sa.select(step_runs.c.job_id,
                                          sa.func.min(step_runs.c.job_created_at))
                                .where(*_open(now)).group_by(step_runs.c.job_id))
            return [(row[0], row[1]) for row in rows]

    def ended(self, jobs: dict[str, Job], now: datetime) -> int:
        """Complete the waits of the jobs in ``jobs`` that have ended (one transaction);
        the number of waits completed."""
        finished = [job for job in jobs.values() if job.is_finished]
        if not finished:
            return 0
        with self.store.begin() as conn:
            return sum(self.end(conn, job, now) for job in finished)

    def end(self, conn: sa.Connection, job: Job, now: datetime) -> int:
        """``job`` ended: its waits complete with it, inside the caller's transaction (the
        one that records the end)."""
        return self._decide(conn, job.job_id, now,
                            lambda execution: completions.succeeded(execution,
                                                                    ended_outputs(job)))

    def gone(self, job_ids: Iterable[str], now: datetime) -> int:
        """These jobs no longer exist upstream: their waits complete with that error."""
        done = 0
        with self.store.begin() as conn:
            for job_id in job_ids:
                error = f"Job `{job_id}` no longer exists in MetaStudio."
                done += self._decide(conn, job_id, now,
                                     lambda execution, e=error: completions.failed(execution, e))
        return done

    def _decide(self, conn: sa.Connection, job_id: str, now: datetime,
                payload: Any) -> int:
        executions = list(conn.execute(sa.select(step_runs.c.execution_id).where(
            step_runs.c.job_id == job_id, *_open(now))).scalars())
        for execution in executions:
            # Only a row no sender has claimed: a claimed one is the timeout on its way
            # (its deadline passed), and it stays what it is.
            conn.execute(outbox.update().where(
                outbox.c.dedupe_key == completions.step_key(execution),
                outbox.c.status == PENDING, outbox.c.lease_owner.is_(None),
            ).values(payload=payload(execution), next_attempt_at=now))
            conn.execute(step_runs.update().where(step_runs.c.execution_id == execution)
                         .values(ended_at=now))
        return len(executions)


def _open(now: datetime) -> tuple[sa.ColumnElement[bool], ...]:
    """A wait not decided yet, whose deadline is still ahead."""
    return (step_runs.c.job_id.is_not(None), step_runs.c.ended_at.is_(None),
            step_runs.c.deadline > now)
