"""The active set: unfinished jobs that some subscription could announce, watched by id
until they end (docs/polling.md). Tracked jobs are watched through ``tracked_jobs``."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from ...metastudio.models import Job
from ..store.database import Store
from ..store.tables import watched_jobs


@dataclass(frozen=True)
class WatchedJob:
    job_id: str
    create_time: datetime | None
    job_type: str | None
    asset_name: str | None
    script_id: str | None
    last_state: str | None
    discovered_at: datetime


class ActiveSet:
    """Rows of ``watched_jobs``."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def watch(
        self, conn: sa.Connection, job: Job, now: datetime, *, script_id: str | None = None
    ) -> bool:
        """Watch ``job`` (unfinished) inside the caller's transaction; True if it is new.
        A ``script_id`` learnt from a filtered listing is kept."""
        added = self.store.insert_ignore(conn, watched_jobs, dict(
            job_id=job.job_id, create_time=job.create_time,
            job_type=str(job.job_type) if job.job_type is not None else None,
            asset_name=job.asset_name, script_id=script_id, last_state=job.state_name,
            discovered_at=now,
        ))
        if not added and script_id is not None:
            conn.execute(watched_jobs.update().where(
                watched_jobs.c.job_id == job.job_id, watched_jobs.c.script_id.is_(None)
            ).values(script_id=script_id))
        return added

    def get(self, conn: sa.Connection, job_id: str) -> WatchedJob | None:
        row = conn.execute(watched_jobs.select().where(watched_jobs.c.job_id == job_id)).first()
        return WatchedJob(**row._mapping) if row is not None else None

    def all(self) -> list[WatchedJob]:
        """Every watched job, oldest first."""
        with self.store.begin() as conn:
            rows = conn.execute(watched_jobs.select().order_by(
                watched_jobs.c.create_time, watched_jobs.c.job_id))
            return [WatchedJob(**row._mapping) for row in rows]

    def ids(self) -> list[tuple[str, datetime | None]]:
        """(job_id, create_time) of every watched job: what a cycle keeps in memory."""
        with self.store.begin() as conn:
            return [(row.job_id, row.create_time) for row in conn.execute(
                sa.select(watched_jobs.c.job_id, watched_jobs.c.create_time))]

    def get_many(self, job_ids: Iterable[str]) -> dict[str, WatchedJob]:
        """The watched rows of these jobs (a batch of answers)."""
        ids = list(job_ids)
        if not ids:
            return {}
        with self.store.begin() as conn:
            rows = conn.execute(watched_jobs.select().where(watched_jobs.c.job_id.in_(ids)))
            return {row.job_id: WatchedJob(**row._mapping) for row in rows}

    def count(self) -> int:
        with self.store.begin() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(watched_jobs)).scalar_one()

    def forget(self, conn: sa.Connection, job_id: str) -> bool:
        """Stop watching, inside the transaction that records the end; False if another
        poller already did."""
        return conn.execute(watched_jobs.delete().where(
            watched_jobs.c.job_id == job_id)).rowcount == 1

    def set_states(self, changes: Iterable[tuple[str, str]]) -> None:
        """Record unfinished state changes (WAITING -> PROCESSING)."""
        changes = list(changes)
        if not changes:
            return
        with self.store.begin() as conn:
            for job_id, state in changes:
                conn.execute(watched_jobs.update().where(watched_jobs.c.job_id == job_id)
                             .values(last_state=state))
