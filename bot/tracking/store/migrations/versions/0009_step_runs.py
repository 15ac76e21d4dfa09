"""Workflow Builder steps: one row per custom step execution, and the waits of "Wait
for video job to end" (job, deadline, the execution's token) until they complete.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.tracking.store.tables import UtcDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "step_runs",
        sa.Column("execution_id", sa.String(64), primary_key=True),
        sa.Column("callback_id", sa.String(64), nullable=False),
        sa.Column("started_at", UtcDateTime, nullable=False),
        sa.Column("job_id", sa.String(64)),
        sa.Column("job_created_at", UtcDateTime),
        sa.Column("deadline", UtcDateTime),
        sa.Column("token", sa.Text),
        sa.Column("ended_at", UtcDateTime),
    )
    op.create_index("ix_step_runs_waiting", "step_runs", ["ended_at", "deadline"])
    op.create_index("ix_step_runs_job", "step_runs", ["job_id"])
    op.create_index("ix_step_runs_started", "step_runs", ["started_at"])


def downgrade() -> None:
    op.drop_index("ix_step_runs_started", table_name="step_runs")
    op.drop_index("ix_step_runs_job", table_name="step_runs")
    op.drop_index("ix_step_runs_waiting", table_name="step_runs")
    op.drop_table("step_runs")
