"""A mart that is a view over marts is published as the same view (computed on read in the
published DuckDB file, no Parquet copy); a view that reads anything else is published as a
table. Real DuckDB files, no dbt: the rule itself."""

import datetime as dt

import duckdb

from orchestration.publish import mart_views, publish_marts


def _warehouse(path):
    con = duckdb.connect(str(path))
    con.execute("create schema marts")
    con.execute("create schema intermediate")
    con.execute("create table marts.users as select 'u' || i as user_id from range(3) t(i)")
    con.execute(
        "create table marts.user_activity_daily as "
        "select 'u' || i as user_id, date '2025-01-01' + cast(i as integer) as activity_date "
        "from range(3) t(i)"
    )
    con.execute(
        "create table marts.spans as select 'u1' as user_id, date '2025-01-01' as valid_from, "
        "date '2025-01-03' as valid_to"
    )
    # dbt writes the relations a view reads with their database and schema
    con.execute(
        'create view marts.per_day as select s.user_id, d.day from "'
        + con.execute("select current_database()").fetchone()[0]
        + '"."marts"."spans" s join (select unnest(generate_series(date \'2025-01-01\', '
        "date '2025-01-05', interval 1 day))::date as day) d "
        "on d.day between s.valid_from and s.valid_to"
    )
    con.execute("create table intermediate.hidden as select 1 as x")
    con.execute("create view marts.reads_hidden as select x from intermediate.hidden")
    return con


def test_views_over_marts_stay_views_others_become_tables(tmp_path):
    con = _warehouse(tmp_path / "w.duckdb")
    assert set(mart_views(con)) == {"per_day"}
    manifest = publish_marts(con, tmp_path / "published", "run12345")
    assert manifest["tables"]["per_day"] == 3
    parquet = {p.stem for p in (tmp_path / "published" / "parquet").glob("*.parquet")}
    assert parquet == {"users", "user_activity_daily", "spans", "reads_hidden"}
    con.close()

    with duckdb.connect(str(tmp_path / "published" / "winback.duckdb"), read_only=True) as pub:
        views = pub.execute("select view_name from duckdb_views() where not internal").fetchall()
        assert views == [("per_day",)]
        days = [dt.date(2025, 1, 1), dt.date(2025, 1, 2), dt.date(2025, 1, 3)]
        assert pub.execute("select * from per_day order by day").fetchall() == [
            ("u1", day) for day in days
        ]
        assert pub.execute("select * from reads_hidden").fetchall() == [(1,)]
