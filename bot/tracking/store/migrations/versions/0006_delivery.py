"""Delivery state shared by every sender: per-channel leases and holds (pacing,
Retry-After, backoff), and the workspace-wide pause (docs/delivery.md).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.tracking.store.tables import UtcDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outbox_channels",
        sa.Column("channel", sa.String(32), primary_key=True),
        sa.Column("lease_owner", sa.String(128)),
        sa.Column("lease_until", UtcDateTime),
        sa.Column("hold_until", UtcDateTime),
        sa.Column("hold_reason", sa.Text),
    )
    op.create_table(
        "delivery_state",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("since", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
    )
    op.create_index("ix_outbox_channel_due", "outbox", ["channel", "status", "next_attempt_at"])


def downgrade() -> None:
    op.drop_index("ix_outbox_channel_due", table_name="outbox")
    op.drop_table("delivery_state")
    op.drop_table("outbox_channels")
