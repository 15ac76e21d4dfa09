"""Retries from Slack (docs/oncall.md, "Retry"): one row per failed job someone
re-created, holding the attempt's output asset name and when its create was first sent,
so a create in doubt is looked for before it is sent again; and tracked jobs whose
thread hangs under a message that is not a tracking message (a shortcut's message, a
failure announcement), which is then never redrawn as one.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.tracking.store.tables import UtcDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "retries",
        sa.Column("job_id", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("asset_name", sa.String(256), nullable=False),
        sa.Column("photo", sa.Boolean, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("sent_at", UtcDateTime, nullable=False),
        sa.Column("new_job_id", sa.String(64)),
        sa.Column("updated_at", UtcDateTime, nullable=False),
    )
    op.add_column("tracked_jobs", sa.Column("thread_only", sa.Boolean, nullable=False,
                                            server_default=sa.false()))


def downgrade() -> None:
    op.drop_column("tracked_jobs", "thread_only")
    op.drop_table("retries")
