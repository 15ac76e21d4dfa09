"""On-call from the failure itself (docs/oncall.md): pages waiting for an
acknowledgement and their escalation, incidents (failures of one cause), claims that make
a Cancel or Retry press act once, the audit log, and the escalation group of a
subscription.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.tracking.store.tables import UtcDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "action_claims",
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("claimed_at", UtcDateTime, nullable=False),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", UtcDateTime, nullable=False),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("target", sa.String(128), nullable=False),
        sa.Column("result", sa.Text, nullable=False),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.create_table(
        "pages",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("page_key", sa.String(200), nullable=False, unique=True),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("groups", sa.JSON, nullable=False),
        sa.Column("escalate_groups", sa.JSON, nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("message_ts", sa.String(32)),
        sa.Column("acked_by", sa.String(32)),
        sa.Column("acked_at", UtcDateTime),
        sa.Column("snoozed_by", sa.String(32)),
        sa.Column("snoozed_until", UtcDateTime),
        sa.Column("repeats", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_at", UtcDateTime),
        sa.Column("created_at", UtcDateTime, nullable=False),
    )
    op.create_index("ix_pages_next_at", "pages", ["next_at"])
    op.create_table(
        "incidents",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("error_code", sa.String(64), nullable=False),
        sa.Column("job_type", sa.String(64), nullable=False),
        sa.Column("first_at", UtcDateTime, nullable=False),
        sa.Column("last_at", UtcDateTime, nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("assets", sa.JSON, nullable=False),
        sa.Column("announce_key", sa.String(200), nullable=False, unique=True),
        sa.Column("recovered_at", UtcDateTime),
    )
    op.create_index("ix_incidents_open", "incidents",
                    ["channel", "error_code", "job_type", "recovered_at"])
    with op.batch_alter_table("subscription_mentions") as batch:
        batch.add_column(sa.Column("escalate_group_id", sa.String(32)))
    with op.batch_alter_table("stuck_watches") as batch:
        batch.add_column(sa.Column("escalate_group_id", sa.String(32)))


def downgrade() -> None:
    with op.batch_alter_table("stuck_watches") as batch:
        batch.drop_column("escalate_group_id")
    with op.batch_alter_table("subscription_mentions") as batch:
        batch.drop_column("escalate_group_id")
    op.drop_index("ix_incidents_open", table_name="incidents")
    op.drop_table("incidents")
    op.drop_index("ix_pages_next_at", table_name="pages")
    op.drop_table("pages")
    op.drop_index("ix_audit_log_at", table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_table("action_claims")
