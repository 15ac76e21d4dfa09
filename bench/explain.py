"""``python -m bench.explain [POSTGRES_URL]``: the plans PostgreSQL chooses for the
queries a poll cycle, a send pass and the retention pass run, on tables holding a
million rows (docs/polling.md keeps the gist). Not part of ``python -m bench``: it needs
a PostgreSQL server, and its output is plans, not figures.

The schema is the migrations' head, in a schema of its own that is dropped afterwards.
"""

from __future__ import annotations

import sys
import uuid
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from bot.tracking.store.database import Store
from bot.tracking.store.tables import outbox, poll_state, seen_outcomes, tracked_jobs, watched_jobs

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"

FILL = """
INSERT INTO subscriptions (channel, outcome, created_by, created_at, swept_at)
  SELECT 'C' || g, 'all', 'U1', now(), now() FROM generate_series(1, 50) g;
INSERT INTO tracked_jobs (channel, job_id, message_ts, requested_by, last_state,
                          job_created_at, created_at, closed, closed_at)
  SELECT 'C' || (g % 50), 'job-t-' || g, '1.' || (g / 10), 'U1',
         CASE WHEN g % 100 = 0 THEN 'PROCESSING' ELSE 'SUCCEED' END,
         now() - (g || ' seconds')::interval, now() - (g || ' seconds')::interval,
         g % 100 <> 0, CASE WHEN g % 100 <> 0 THEN now() - (g || ' seconds')::interval END
  FROM generate_series(1, 200000) g;
INSERT INTO seen_outcomes (subscription_id, job_id, outcome, seen_at)
  SELECT 1 + g % 50, 'job-s-' || g, 'SUCCEED', now() - (g || ' seconds')::interval
  FROM generate_series(1, 300000) g;
INSERT INTO outbox (kind, channel, payload, dedupe_key, status, attempts, failures,
                    next_attempt_at, created_at, sent_at)
  SELECT 'sub', 'C' || (g % 50), '{}', 'sub:' || g,
         CASE WHEN g % 1000 = 0 THEN 'pending' ELSE 'sent' END, 1, 0,
         now() - (g || ' seconds')::interval, now() - (g || ' seconds')::interval,
         CASE WHEN g % 1000 <> 0 THEN now() - (g || ' seconds')::interval END
  FROM generate_series(1, 490000) g;
INSERT INTO watched_jobs (job_id, create_time, last_state, discovered_at)
  SELECT 'job-w-' || g, now() - (g || ' seconds')::interval, 'PROCESSING', now()
  FROM generate_series(1, 10000) g;
INSERT INTO poll_state (key, moment) VALUES ('discovery', now());
"""


def queries(now: datetime) -> dict[str, sa.Executable]:
    cut = now - timedelta(days=7)
    return {
        "pollable tracked jobs": tracked_jobs.select().where(
            tracked_jobs.c.closed.is_(False), tracked_jobs.c.paused_reason.is_(None)),
        "tracked channels of a job": sa.select(tracked_jobs.c.channel).where(
            tracked_jobs.c.job_id == "job-t-77"),
        "tracking message's jobs": tracked_jobs.select().where(
            tracked_jobs.c.channel == "C7", tracked_jobs.c.message_ts == "1.7"),
        "active set, oldest first": watched_jobs.select().order_by(
            watched_jobs.c.create_time, watched_jobs.c.job_id),
        "watermark": sa.select(poll_state.c.moment).where(poll_state.c.key == "discovery"),
        "seen outcomes of a job": sa.select(seen_outcomes).where(
            seen_outcomes.c.subscription_id.in_([1, 2, 3]),
            seen_outcomes.c.job_id == "job-s-5"),
        "outbox claim": sa.select(outbox.c.id).where(
            outbox.c.status == "pending", outbox.c.next_attempt_at <= now,
            outbox.c.digest_id.is_(None),
            sa.or_(outbox.c.lease_until.is_(None), outbox.c.lease_until < now),
        ).order_by(outbox.c.id).limit(200).with_for_update(skip_locked=True),
        "outbox depth": sa.select(sa.func.count()).select_from(outbox).where(
            outbox.c.status == "pending", outbox.c.kind != "digest"),
        "outbox dedupe (insert)": sa.select(outbox.c.id).where(
            outbox.c.dedupe_key == "sub:77"),
        "retention: sent outbox": sa.select(outbox.c.id).where(
            outbox.c.status == "sent", outbox.c.sent_at < cut).limit(5000),
        "retention: closed tracked": sa.select(tracked_jobs.c.id).where(
            tracked_jobs.c.closed.is_(True), tracked_jobs.c.closed_at < cut).limit(5000),
        "retention: seen outcomes": seen_outcomes.delete().where(seen_outcomes.c.seen_at < cut),
    }


def main(argv: list[str]) -> int:
    base = argv[0] if argv else DEFAULT_URL
    schema = "explain_" + uuid.uuid4().hex[:8]
    admin = sa.create_engine(base)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    url = sa.engine.make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    store = Store(url.render_as_string(hide_password=False))
    try:
        store.migrate()
        with store.begin() as conn:
            for statement in FILL.split(";"):
                if statement.strip():
                    conn.execute(sa.text(statement))
        with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("ANALYZE"))
            total = conn.execute(sa.text(
                "SELECT (SELECT count(*) FROM tracked_jobs) + (SELECT count(*) FROM outbox)"
                " + (SELECT count(*) FROM seen_outcomes) + (SELECT count(*) FROM watched_jobs)"
            )).scalar_one()
            print(f"rows: {total:,}")
            for name, query in queries(datetime.now(UTC)).items():
                sql = query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})
                plan = conn.execute(sa.text(f"EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) {sql}"))
                lines = [row[0] for row in plan]
                if name.startswith("retention: seen"):
                    conn.execute(sa.text("SELECT 1"))
                print(f"\n## {name}")
                print("\n".join(lines))
    finally:
        store.close()
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
