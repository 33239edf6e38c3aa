"""The Great Expectations suite on a loaded batch passes on good data and fails on bad."""

import datetime as dt

import duckdb

from winback.contract import EVENTS, MESSAGES
from winback.expectations import validate_batch
from winback.ingest import ValidationSettings, ingest_file

NOW = ValidationSettings(now=dt.datetime(2024, 6, 1))


def load(tmp_path, rel, text):
    landing = tmp_path / "landing"
    (landing / rel).parent.mkdir(parents=True, exist_ok=True)
    (landing / rel).write_text(text)
    con = duckdb.connect()
    return con, ingest_file(con, landing, rel, NOW)


def test_suite_passes_on_what_ingestion_loaded(tmp_path):
    con, result = load(
        tmp_path,
        "events/a.csv",
        "user_id,event_name,occurred_at\nu1, Login ,2024-01-01\n,login,2024-01-01\nu2,x,bad\n",
    )
    validation = validate_batch(con, EVENTS, result, NOW)
    assert validation.success, validation.as_markdown()
    assert len(validation.outcomes) >= 8


def test_suite_catches_rows_that_bypassed_the_row_rules(tmp_path):
    con, result = load(
        tmp_path, "events/a.csv", "user_id,event_name,occurred_at\nu1,login,2024-01-01\n"
    )
    con.execute(
        "insert into raw.events (event_id, user_id, event_name, occurred_at, _source_file, _source_row) "
        "values ('x', null, 'not Normalised', timestamp '2099-01-01', 'events/a.csv', 2)"
    )
    validation = validate_batch(con, EVENTS, result, NOW)
    assert not validation.success
    failed = {o.column for o in validation.failed}
    assert failed == {"loaded_gap", "user_id__nulls", "event_name__values", "occurred_at__max"}


def test_suite_checks_accepted_values(tmp_path):
    con, result = load(
        tmp_path,
        "messages/m.csv",
        "message_id,user_id,channel,message_event,occurred_at\nm1,u1,email,open,2024-01-01\n",
    )
    assert validate_batch(con, MESSAGES, result, NOW).success
    con.execute("update raw.messages set channel = 'pigeon'")
    validation = validate_batch(con, MESSAGES, result, NOW)
    assert [o.column for o in validation.failed] == ["channel__values"]
    assert "pigeon" in validation.failed[0].observed


def test_the_warm_up_and_a_validation_at_once_make_one_context(tmp_path):
    """`winback run` makes GE's context in a background thread while its first file loads; a
    validation that comes meanwhile waits for it instead of making a second one."""
    from winback import expectations

    expectations._make_context.cache_clear()
    expectations._make_batch_definition.cache_clear()
    con, result = load(
        tmp_path, "events/a.csv", "user_id,event_name,occurred_at\nu1,login,2024-01-01\n"
    )
    thread = expectations.warm_up({"events", "messages"})
    validation = validate_batch(con, EVENTS, result, NOW)  # while the thread may still run
    thread.join(timeout=120)
    assert not thread.is_alive()
    assert validation.success, validation.as_markdown()
    assert expectations._make_context.cache_info().misses == 1
    assert expectations._make_batch_definition.cache_info().misses == 2  # events, messages
