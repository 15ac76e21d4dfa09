"""The pollers' shared state (discovery watermark), the active set of watched jobs,
accepted callback signatures, tracked jobs' close time, and the indexes each cycle's
queries and the retention pass use (docs/polling.md).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.tracking.store.tables import UtcDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "poll_state",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("moment", UtcDateTime, nullable=False),
    )
    op.create_table(
        "watched_jobs",
        sa.Column("job_id", sa.String(64), primary_key=True),
        sa.Column("create_time", UtcDateTime),
        sa.Column("job_type", sa.String(64)),
        sa.Column("asset_name", sa.String(256)),
        sa.Column("script_id", sa.String(256)),
        sa.Column("last_state", sa.String(32)),
        sa.Column("discovered_at", UtcDateTime, nullable=False),
    )
    op.create_index("ix_watched_create_time", "watched_jobs", ["create_time"])
    op.create_table(
        "callback_receipts",
        sa.Column("secret", sa.String(128), primary_key=True),
        sa.Column("received_at", UtcDateTime, nullable=False),
    )
    op.create_index("ix_callback_receipts_received_at", "callback_receipts", ["received_at"])
    with op.batch_alter_table("tracked_jobs") as batch:
        batch.add_column(sa.Column("closed_at", UtcDateTime))
    op.create_index("ix_tracked_job_id", "tracked_jobs", ["job_id"])
    op.create_index("ix_tracked_message", "tracked_jobs", ["channel", "message_ts"])
    op.create_index("ix_tracked_open", "tracked_jobs", ["closed", "closed_at"])
    op.create_index("ix_seen_at", "seen_outcomes", ["seen_at"])
    op.create_index("ix_outbox_sent", "outbox", ["status", "sent_at"])
    op.create_index("ix_outbox_digest", "outbox", ["digest_id"])


def downgrade() -> None:
    for name, table in (("ix_outbox_digest", "outbox"), ("ix_outbox_sent", "outbox"),
                        ("ix_seen_at", "seen_outcomes"), ("ix_tracked_open", "tracked_jobs"),
                        ("ix_tracked_message", "tracked_jobs"),
                        ("ix_tracked_job_id", "tracked_jobs")):
        op.drop_index(name, table_name=table)
    with op.batch_alter_table("tracked_jobs") as batch:
        batch.drop_column("closed_at")
    op.drop_table("callback_receipts")
    op.drop_table("watched_jobs")
    op.drop_table("poll_state")
