"""Alembic environment: always run programmatically by ``Store.migrate`` with an open
connection in ``config.attributes["connection"]`` (there is no alembic.ini)."""

from __future__ import annotations

from alembic import context

from bot.tracking.store.tables import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    # SQLite cannot ALTER most things in place: batch mode copies the table.
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
