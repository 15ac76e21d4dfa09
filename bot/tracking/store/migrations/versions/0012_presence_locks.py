"""A death noticed at once (docs/delivery.md, "A death noticed at once"): the key of the
PostgreSQL advisory lock a tracking process holds while it lives, so the others can tell
that it died the moment its connection closed instead of waiting for its leases.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("live_processes") as batch:
        batch.add_column(sa.Column("lock_key", sa.Integer))


def downgrade() -> None:
    with op.batch_alter_table("live_processes") as batch:
        batch.drop_column("lock_key")
