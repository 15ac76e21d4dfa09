"""On-call: people to DM when a job ends, user groups a subscription mentions,
per-channel noise settings (broadcast override, mutes), and ``subscribe stuck``.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.tracking.store.tables import UtcDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "job_watchers",
        sa.Column("job_id", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.String(32), primary_key=True),
        sa.Column("created_at", UtcDateTime, nullable=False),
    )
    op.create_table(
        "subscription_mentions",
        sa.Column("subscription_id", sa.Integer,
                  sa.ForeignKey("subscriptions.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("group_id", sa.String(32), nullable=False),
    )
    op.create_table(
        "channel_settings",
        sa.Column("channel", sa.String(32), primary_key=True),
        sa.Column("broadcast_failures", sa.Boolean),
        sa.Column("muted_until", UtcDateTime),
        sa.Column("last_broadcast_at", UtcDateTime),
    )
    op.create_table(
        "job_mutes",
        sa.Column("channel", sa.String(32), primary_key=True),
        sa.Column("job_id", sa.String(64), primary_key=True),
        sa.Column("until", UtcDateTime, nullable=False),
    )
    op.create_table(
        "stuck_watches",
        sa.Column("channel", sa.String(32), primary_key=True),
        sa.Column("job_type", sa.String(64)),
        sa.Column("group_id", sa.String(32)),
        sa.Column("created_by", sa.String(32), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
    )
    op.create_table(
        "stuck_announced",
        sa.Column("channel", sa.String(32), primary_key=True),
        sa.Column("job_id", sa.String(64), primary_key=True),
        sa.Column("announced_at", UtcDateTime, nullable=False),
        sa.Column("ended", sa.Boolean, nullable=False),
    )


def downgrade() -> None:
    for table in ("stuck_announced", "stuck_watches", "job_mutes", "channel_settings",
                  "subscription_mentions", "job_watchers"):
        op.drop_table(table)
