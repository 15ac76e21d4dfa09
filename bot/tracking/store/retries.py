"""The retries of failed jobs (table ``retries``, docs/oncall.md, "Retry"): what keeps
a press of Retry from creating a second job when MetaStudio's answer to the first was
lost. MetaStudio takes no idempotency key, so the record of an attempt (its output asset
name, when it was first sent) is what the next press looks for the job by."""

from __future__ import annotations

from datetime import datetime

from ...domain.records import RetryRecord
from .database import Store
from .tables import retries

SENDING, IN_DOUBT, CREATED = "sending", "in_doubt", "created"


class RetryStore:
    def __init__(self, store: Store) -> None:
        self.store = store

    def get(self, job_id: str) -> RetryRecord | None:
        with self.store.begin() as conn:
            row = conn.execute(retries.select().where(retries.c.job_id == job_id)).first()
        return RetryRecord(**row._mapping) if row is not None else None

    def sending(self, job_id: str, *, user_id: str, channel: str, asset_name: str,
                photo: bool, now: datetime) -> RetryRecord:
        """Record a create about to be sent. A row already there (an attempt in doubt,
        found to have made nothing) keeps its asset name and first ``sent_at``: sending
        the same name again cannot make a second job (MetaStudio refuses a name taken)."""
        with self.store.begin() as conn:
            if not self.store.insert_ignore(conn, retries, {
                    "job_id": job_id, "user_id": user_id, "channel": channel,
                    "asset_name": asset_name, "photo": photo, "state": SENDING,
                    "sent_at": now, "new_job_id": None, "updated_at": now}):
                conn.execute(retries.update().where(retries.c.job_id == job_id).values(
                    state=SENDING, user_id=user_id, channel=channel, updated_at=now))
            row = conn.execute(retries.select().where(retries.c.job_id == job_id)).one()
        return RetryRecord(**row._mapping)

    def in_doubt(self, job_id: str, now: datetime) -> None:
        self._set(job_id, state=IN_DOUBT, updated_at=now)

    def created(self, job_id: str, new_job_id: str, now: datetime) -> None:
        self._set(job_id, state=CREATED, new_job_id=new_job_id, updated_at=now)

    def forget(self, job_id: str) -> None:
        """MetaStudio refused the create: nothing was made, a later press starts over."""
        with self.store.begin() as conn:
            conn.execute(retries.delete().where(retries.c.job_id == job_id,
                                                retries.c.state != CREATED))

    def _set(self, job_id: str, **values: object) -> None:
        with self.store.begin() as conn:
            conn.execute(retries.update().where(retries.c.job_id == job_id).values(**values))

