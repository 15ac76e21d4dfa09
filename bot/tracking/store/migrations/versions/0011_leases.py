"""Polling once per database, take-over in seconds (docs/delivery.md, "Leases kept
alive"; docs/polling.md, "One poller per database"): named leases (``poller``: the
process that polls) and the tracking processes alive now, each with the moment its
liveness runs out unless it beats again.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.tracking.store.tables import UtcDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "leases",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("owner", sa.String(128)),
        sa.Column("lease_until", UtcDateTime),
        sa.Column("taken", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_table(
        "live_processes",
        sa.Column("owner", sa.String(128), primary_key=True),
        sa.Column("alive_until", UtcDateTime, nullable=False),
        sa.Column("started_at", UtcDateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("live_processes")
    op.drop_table("leases")
