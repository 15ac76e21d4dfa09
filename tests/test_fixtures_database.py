"""The database fixtures isolate tests from each other."""

import sqlalchemy as sa


def test_each_database_starts_empty(database_url):
    engine = sa.create_engine(database_url)
    with engine.begin() as conn:
        assert sa.inspect(conn).get_table_names() == []
        conn.execute(sa.text("CREATE TABLE probe (id INTEGER PRIMARY KEY)"))
        conn.execute(sa.text("INSERT INTO probe VALUES (1)"))
        assert conn.execute(sa.text("SELECT count(*) FROM probe")).scalar_one() == 1
    engine.dispose()
