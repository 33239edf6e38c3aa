"""The run's values (as-of date, incremental start, settings) reach dbt in the environment
(winback.settings.run_vars_environment, read by the run_var macro while executing), so a new
as-of date does not make dbt parse the whole project again, as a change of --vars does."""

import datetime as dt

import duckdb

from tests.dbt_fixtures import ingest_fixture, rows, run_dbt

EVENTS = "user_id,event_name,occurred_at\n" + "".join(
    f"u{day % 3},login,2025-01-{day:02d}T10:00:00Z\n" for day in range(1, 11)
)
SELECT = "+daily_activity"


def _warehouse(tmp_path):
    base = ingest_fixture(
        tmp_path, {"events/e.csv": EVENTS}, now=dt.datetime(2025, 1, 20, tzinfo=dt.UTC)
    )
    path = tmp_path / "warehouse.duckdb"
    path.write_bytes(base.read_bytes())
    return path


def _last_day(path) -> list[tuple]:
    with duckdb.connect(str(path), read_only=True) as con:
        return rows(con, "select max(activity_date) from marts.daily_activity")


def _log_of_last_invocation(tmp_path) -> str:
    log = (tmp_path / "logs" / "dbt.log").read_text()
    return log[log.rfind("Running with dbt=") :]


def test_a_new_as_of_date_is_used_without_parsing_the_project_again(tmp_path, monkeypatch):
    # dbt.log at debug, where dbt says how it parsed (the project's dbt.log keeps warnings)
    monkeypatch.setenv("DBT_LOG_LEVEL_FILE", "debug")
    path = _warehouse(tmp_path)
    # a value that would reach SQL is checked first: the build stops naming it
    result = run_dbt("run", path, tmp_path, {"as_of_date": "2025-01-05'; drop table x; --"}, SELECT)
    assert result.returncode != 0
    assert "as_of_date must be a date as YYYY-MM-DD" in result.stdout

    first = run_dbt("run", path, tmp_path, {"as_of_date": "2025-01-05"}, SELECT)
    assert first.returncode == 0, first.stdout[-3000:]
    assert _last_day(path) == [("2025-01-05",)]

    second = run_dbt(
        "run", path, tmp_path, {"as_of_date": "2025-01-08", "week_start": "sunday"}, SELECT
    )
    assert second.returncode == 0, second.stdout[-3000:]
    assert _last_day(path) == [("2025-01-08",)]
    log = _log_of_last_invocation(tmp_path)
    assert "Unable to do partial parsing" not in log
    assert "Partial parsing enabled: 0 files deleted, 0 files added, 0 files changed" in log
