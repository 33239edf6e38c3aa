"""Every published column is documented: the columns DuckDB really builds for each model in
`models/marts/` (a real `dbt run` on a three-user fixture: the data tests are not what this
checks) against the descriptions in the marts' YAML, read from the manifest that same run
parsed. Both ways: an undocumented column fails, and so does a YAML entry for a column the
model does not produce."""

import datetime as dt
import json

import duckdb
import pytest

from tests.dbt_fixtures import ingest_fixture, run_dbt

MARTS_FOLDER = "models/marts/"
AS_OF = "2025-03-10"
FILES = {
    "events/events.csv": "user_id,event_name,occurred_at\n"
    "a,session_start,2025-03-01T09:00:00Z\n"
    "a,create_report,2025-03-08T09:00:00Z\n"
    "b,session_start,2025-03-02T10:00:00Z\n"
    "c,session_start,2025-03-10T11:00:00Z\n",
    "users/users.csv": "user_id,signup_at,plan\n"
    "a,2025-03-01T08:00:00Z,pro\n"
    "b,2025-03-02T08:00:00Z,free\n",
}


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> tuple[dict[str, dict], dict[str, list[str]]]:
    """(mart name -> its manifest node, mart name -> the columns of the table dbt built)."""
    root = tmp_path_factory.mktemp("published_docs")
    warehouse = ingest_fixture(root, FILES, dt.datetime(2025, 3, 11))
    result = run_dbt("run", warehouse, root, {"as_of_date": AS_OF})
    assert result.returncode == 0, result.stdout[-4000:]
    con = duckdb.connect(str(warehouse), read_only=True)
    manifest = json.loads((root / "target" / "manifest.json").read_text())
    marts = {
        node["name"]: node
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and node["original_file_path"].startswith(MARTS_FOLDER)
    }
    built = {
        name: [
            column
            for (column,) in con.execute(
                "select column_name from information_schema.columns "
                "where table_schema = ? and table_name = ? order by ordinal_position",
                [node["schema"], node["alias"]],
            ).fetchall()
        ]
        for name, node in marts.items()
    }
    con.close()
    return marts, built


def test_the_marts_folder_holds_the_published_marts(project):
    """The folder filter finds a mart of each domain, and each mart was built."""
    marts, built = project
    assert {"users", "cohort_retention", "user_daily_health"} <= set(marts), sorted(marts)
    assert [name for name, columns in built.items() if not columns] == []


def test_every_mart_has_a_description(project):
    marts, _ = project
    assert [name for name, node in marts.items() if not node["description"].strip()] == []


def test_every_published_column_has_a_description(project):
    marts, built = project
    missing = {
        name: [
            column
            for column in built[name]
            if not marts[name]["columns"].get(column, {}).get("description", "").strip()
        ]
        for name in marts
    }
    assert {name: columns for name, columns in missing.items() if columns} == {}


def test_every_documented_column_exists(project):
    marts, built = project
    unknown = {name: sorted(set(marts[name]["columns"]) - set(built[name])) for name in marts}
    assert {name: columns for name, columns in unknown.items() if columns} == {}
