"""Scheduled reports, and the covers uploaded to Slack.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.tracking.store.tables import UtcDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reports",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("cadence", sa.String(8), nullable=False),
        sa.Column("weekday", sa.Integer),
        sa.Column("minute_of_day", sa.Integer, nullable=False),
        sa.Column("tz", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("created_by", sa.String(32), nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("last_occurrence", UtcDateTime),
    )
    op.create_index("ix_reports_channel", "reports", ["channel"])
    op.create_table(
        "slack_covers",
        sa.Column("job_id", sa.String(64), primary_key=True),
        sa.Column("file_id", sa.String(32), nullable=False),
        sa.Column("uploaded_at", UtcDateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("slack_covers")
    op.drop_index("ix_reports_channel", table_name="reports")
    op.drop_table("reports")
