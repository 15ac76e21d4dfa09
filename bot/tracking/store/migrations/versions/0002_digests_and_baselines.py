"""Digest rows group the notifications they summarise; subscriptions remember their
first sweep (the baseline for jobs whose end time upstream leaves out).

Revision ID: 0002
Revises: 0001
Create Date: 2025-01-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.tracking.store.tables import UtcDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("digest_id", sa.Integer))
        batch.create_foreign_key("fk_outbox_digest", "outbox", ["digest_id"], ["id"])
    with op.batch_alter_table("subscriptions") as batch:
        batch.add_column(sa.Column("swept_at", UtcDateTime))


def downgrade() -> None:
    with op.batch_alter_table("subscriptions") as batch:
        batch.drop_column("swept_at")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_constraint("fk_outbox_digest", type_="foreignkey")
        batch.drop_column("digest_id")
