"""Tracked jobs, subscriptions, seen outcomes and the outbox.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.tracking.store.tables import UtcDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tracked_jobs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("job_id", sa.String(64), nullable=False),
        sa.Column("message_ts", sa.String(32), nullable=False),
        sa.Column("requested_by", sa.String(32), nullable=False),
        sa.Column("last_state", sa.String(32)),
        sa.Column("job_created_at", UtcDateTime),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("paused_reason", sa.Text),
        sa.Column("closed", sa.Boolean, nullable=False),
        sa.UniqueConstraint("channel", "job_id", name="uq_tracked_channel_job"),
    )
    op.create_table(
        "subscriptions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("channel", sa.String(32), nullable=False, index=True),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("job_type", sa.String(64)),
        sa.Column("asset_name", sa.String(256)),
        sa.Column("script_id", sa.String(256)),
        sa.Column("created_by", sa.String(32), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("paused_reason", sa.Text),
    )
    op.create_table(
        "seen_outcomes",
        sa.Column(
            "subscription_id",
            sa.Integer,
            sa.ForeignKey("subscriptions.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("job_id", sa.String(64), primary_key=True),
        sa.Column("outcome", sa.String(32), primary_key=True),
        sa.Column("seen_at", UtcDateTime, nullable=False),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("dedupe_key", sa.String(255), nullable=False, unique=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", UtcDateTime, nullable=False),
        sa.Column("lease_owner", sa.String(128)),
        sa.Column("lease_until", UtcDateTime),
        sa.Column("posted_ts", sa.String(32)),
        sa.Column("last_error", sa.Text),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("sent_at", UtcDateTime),
    )
    op.create_index("ix_outbox_due", "outbox", ["status", "next_attempt_at"])


def downgrade() -> None:
    op.drop_table("outbox")
    op.drop_table("seen_outcomes")
    op.drop_table("subscriptions")
    op.drop_table("tracked_jobs")
