"""Database growth: rows and bytes after a simulated week at 1,000 new jobs an hour with
``subscribe all``, with retention applied, next to what the week wrote.

The poller and sender as production builds them (``build_tracking``, real client over
loopback, SQLite file) on a simulated clock that moves one hour per cycle; Slack is an
instant in-process messenger here (this measures the database, not posting; the notify
benchmark posts for real). ``RETENTION_DAYS`` is 1 so that a week shows the plateau.
Reported: rows and file bytes at the end of day 2 and of day 7 (flat: ratio near 1),
and the rows the week wrote in all (what the database would hold without retention).
"""

from __future__ import annotations

import itertools
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from bot.settings import Settings
from bot.simulator import SimClock, Simulator
from bot.tracking.store.tables import metadata
from bot.wiring.metastudio import build_jobs_client
from bot.wiring.tracking import build_tracking

from .common import PROJECT_ID, Row

NAME = "database"
TOKEN = "TOKEN-BENCH"
CYCLE = timedelta(hours=1)


class _InstantSlack:
    """Accepts every post at once (a Messenger)."""

    def __init__(self) -> None:
        self._ts = itertools.count(1)

    def post(self, channel: str, *, text: str, blocks=None, thread_ts=None,
             reply_broadcast: bool = False) -> str:
        return f"1700000000.{next(self._ts):06d}"

    def update(self, channel: str, ts: str, *, text: str, blocks=None) -> None:
        pass


def _size(engine: sa.Engine, db: Path) -> tuple[int, int]:
    with engine.connect() as conn:
        rows = sum(conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
                   for t in metadata.sorted_tables)
    return rows, db.stat().st_size


def run(quick: bool = False) -> list[Row]:
    days = 2 if quick else 7
    rate = 20 if quick else 150  # quick: a smoke run for tests/test_bench.py
    start = datetime.now(UTC).replace(microsecond=0)
    sim = Simulator(PROJECT_ID, token=TOKEN, clock=SimClock.frozen(start),
                    project_jobs=2_000, new_per_hour=rate, ahead=timedelta(days=days))
    handle = sim.serve()
    try:
        # In memory-backed storage when there is one: this measures size, not fsyncs.
        shm = "/dev/shm" if Path("/dev/shm").is_dir() else None
        with tempfile.TemporaryDirectory(prefix="bench-database-", dir=shm) as tmp:
            db = Path(tmp) / "week.sqlite3"
            settings = Settings(database_url=f"sqlite:///{db}", slack_bot_token="xoxb-bench",
                                metastudio_endpoint=sim.url, metastudio_project_id=PROJECT_ID,
                                metastudio_auth_token=TOKEN, retention_days=1,
                                # Posting is instant here: Slack's pacing only adds waits.
                                delivery_channel_rate=1000.0)
            jobs = build_jobs_client(settings)
            tracking = build_tracking(settings, jobs, _InstantSlack(), clock=sim.now)
            tracking.prune_every = CYCLE
            tracking.store.add_subscription("C1", outcome="all", job_type=None,
                                            asset_name=None, script_id=None,
                                            created_by="U1", now=sim.now())
            sizes: dict[int, tuple[int, int]] = {}
            written = 0
            for hour in range(1, days * 24 + 1):
                sim.advance(CYCLE.total_seconds())
                result = tracking.poller.poll()
                if result.error:
                    raise RuntimeError(result.error)
                written += result.announced
                # An hour's ends at once: passes until all are out (a pass takes 200).
                for _ in range(50):
                    tracking.sender.send_due()
                    if tracking.outbox.depth() == 0:
                        break
                tracking.prune_if_due()
                if hour % 24 == 0:
                    sizes[hour // 24] = _size(tracking.store.engine, db)
            tracking.store.close()
            jobs.inner.close()
    finally:
        handle.stop()
    (rows2, bytes2), (rows_end, bytes_end) = sizes[2], sizes[days]
    return [
        Row(NAME, f"rows after day {days} ({rate:,} jobs/h, subscribe all, retention 1 day)",
            rows_end, "", "rows after day 2", rows2, limit="flat once retention applies",
            note=f"{written:,} notifications written over {days} days"),
        Row(NAME, f"file bytes after day {days}", bytes_end, "", "file bytes after day 2",
            bytes2, limit="flat once retention applies"),
    ]
