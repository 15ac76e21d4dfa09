"""``GET /healthz``: is the database there, and can it be written? Answered within a
second whatever the database does.

A lost PostgreSQL (packets dropped, not refused) used to hang each health check for as
long as the connection attempt took, one web thread each, until no thread was left for
Slack. Here one probe at a time runs on a thread of its own; every health request waits
at most ``timeout`` for it and shares the answer of the probe in flight.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

if TYPE_CHECKING:
    from ..tracking.process.worker import Tracking

log = logging.getLogger(__name__)

Health = tuple[bool, dict[str, Any]]

#: Seconds a health request waits for the probe (load balancers time out at a few).
HEALTH_TIMEOUT = 1.0


@runtime_checkable
class Ready(Protocol):
    """Something ``/healthz`` waits for: the answering process
    (:class:`bot.serve.answer_process.AnswerProcess`) answers only once started."""

    def ready(self) -> bool: ...


def probe_database(tracking: Tracking) -> Health:
    """Read the outbox depth; on SQLite also write (a full disk or a read-only file
    would otherwise look healthy: reads keep working)."""
    try:
        depth = tracking.outbox.depth()
    except SQLAlchemyError as e:
        log.warning("health check: the database did not answer (%s)", type(e).__name__)
        return False, {"status": "error", "database": "unreachable"}
    if tracking.store.dialect == "sqlite":
        try:
            _write_probe(tracking.store.engine)
        except SQLAlchemyError as e:
            log.warning("health check: the database cannot be written (%s)",
                        str(e.orig) if hasattr(e, "orig") else type(e).__name__)
            return False, {"status": "error", "database": "not writable", "outbox_depth": depth}
    return True, {"status": "ok", "outbox_depth": depth}


def _write_probe(engine: sa.Engine) -> None:
    # Rewriting the header's user_version (unused by Alembic) with its own value is the
    # smallest committed write SQLite has: one page, no table, no schema change.
    with engine.begin() as conn:
        version = conn.exec_driver_sql("PRAGMA user_version").scalar_one()
        conn.exec_driver_sql(f"PRAGMA user_version = {int(version)}")


class HealthCheck:
    """Calls ``probe`` on a background thread, never more than one at a time. The thread
    is a daemon: a probe stuck on a dead network path must not keep a stopping worker
    alive (an executor's threads are joined at exit)."""

    def __init__(self, probe: Callable[[], Health], *, timeout: float = HEALTH_TIMEOUT) -> None:
        self._probe = probe
        self.timeout = timeout
        self._lock = threading.Lock()
        self._inflight: Future[Health] | None = None

    def __call__(self) -> Health:
        with self._lock:
            if self._inflight is None or self._inflight.done():
                self._inflight = self._start()
            inflight = self._inflight
        try:
            return inflight.result(timeout=self.timeout)
        except FutureTimeout:
            log.warning("health check: the database did not answer within %.1f s", self.timeout)
            return False, {"status": "error", "database": "timeout"}
        except Exception as e:  # a probe bug must still answer, and say so
            log.error("health check failed: %s", type(e).__name__)
            return False, {"status": "error", "database": type(e).__name__}

    def _start(self) -> Future[Health]:
        future: Future[Health] = Future()

        def run() -> None:
            try:
                future.set_result(self._probe())
            except BaseException as e:
                future.set_exception(e)

        threading.Thread(target=run, name="healthz", daemon=True).start()
        return future
