"""Storage: the tables (``tables``), the store with every SQL statement (``database``),
the Alembic migrations and the retention pass."""
