"""Slack event ids already let through, so an event Slack retries (``X-Slack-Retry-Num``,
the same ``event_id``) is handled once, whichever process the retry reaches
(docs/operations.md, "Events API retries").

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.tracking.store.tables import UtcDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "event_receipts",
        sa.Column("event_id", sa.String(64), primary_key=True),
        sa.Column("received_at", UtcDateTime, nullable=False),
    )
    op.create_index("ix_event_receipts_received_at", "event_receipts", ["received_at"])


def downgrade() -> None:
    op.drop_index("ix_event_receipts_received_at", table_name="event_receipts")
    op.drop_table("event_receipts")
