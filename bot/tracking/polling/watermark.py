"""The pollers' shared moments, in the database: the discovery watermarks (the newest
``create_time`` each listing has recorded) and when the active set was last checked.

Every moment only moves forward (a compare-and-set on the row), so pollers in several
processes share it: each advances it only past jobs it has itself recorded, in the same
transaction, so no job is skipped, and the UNIQUE keys of what they record keep any job
seen by both from being announced twice (docs/polling.md).
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from ..store.database import Store
from ..store.tables import poll_state

#: The discovery listing of every job (subscriptions without a script filter).
DISCOVERY = "discovery"
#: When the active set was last found unfinished (the cut-off of "recently ended").
ACTIVE_CHECKED = "active_checked"
#: When the retention pass last ran.
PRUNED = "pruned"


def script_discovery(script_id: str) -> str:
    """The discovery listing of one ``script_id`` filter (answers do not name a job's
    script, so each filter is its own listing)."""
    return f"script:{script_id}"[:64]


class PollState:
    """Read and advance the moments of ``poll_state``."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def get(self, key: str, conn: sa.Connection | None = None) -> datetime | None:
        query = sa.select(poll_state.c.moment).where(poll_state.c.key == key)
        if conn is not None:
            return conn.execute(query).scalar_one_or_none()
        with self.store.begin() as own:
            return own.execute(query).scalar_one_or_none()

    def advance(self, key: str, moment: datetime, conn: sa.Connection | None = None) -> None:
        """Move ``key`` to ``moment`` unless it is already there or later."""
        if conn is None:
            with self.store.begin() as own:
                self._advance(own, key, moment)
        else:
            self._advance(conn, key, moment)

    def _advance(self, conn: sa.Connection, key: str, moment: datetime) -> None:
        if not self.store.insert_ignore(conn, poll_state, {"key": key, "moment": moment}):
            conn.execute(poll_state.update().where(
                poll_state.c.key == key, poll_state.c.moment < moment
            ).values(moment=moment))
