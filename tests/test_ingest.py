"""Ingestion of single landing files into a real DuckDB file: rules, quarantine, rejection,
reconciliation, idempotence, formats."""

import datetime as dt
import json
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from winback.contract import FILE_KINDS, kind_for_path, row_rules
from winback.ingest import FileRejected, ValidationSettings, ingest_file, landing_files

NOW = ValidationSettings(now=dt.datetime(2024, 6, 1))

DIRTY_EVENTS = """event_id,user_id,event_name,occurred_at,properties,revenue,platform
e1,u1, Session_START ,2024-01-01T10:00:00+02:00,"{""a"": 1}",,Web
e2,,login,2024-01-01T10:00:00Z,,,
e3,u2,login,not-a-date,,,
e4,u2,login,2024-06-03T00:00:00Z,,,
e5,u3,login,2024-01-02T00:00:00Z,{oops,,
e6,u4,purchase,2024-01-02T00:00:00Z,,12.5,ios
e6,u4,purchase,2024-01-02T00:00:00Z,,12.5,ios
e7,u5,purchase,2024-01-03T00:00:00Z,,abc,
e8,u6,login,1985-01-01T00:00:00Z,,,
e9,u7,,2024-01-03T00:00:00Z,,,
e10,u8,login,2024-06-01T12:00:00Z,[1],,
"""

EXPECTED_RULES = {
    2: ("user_id", "user_id_not_null"),
    3: ("occurred_at", "occurred_at_is_timestamp"),
    4: ("occurred_at", "occurred_at_not_in_future"),
    5: ("properties", "properties_is_json_object"),
    8: ("revenue", "revenue_is_number"),
    9: ("occurred_at", "occurred_at_not_before_earliest"),
    10: ("event_name", "event_name_not_null"),
    11: ("properties", "properties_is_json_object"),
}


def write(landing: Path, rel: str, text: str) -> str:
    path = landing / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return rel


@pytest.fixture
def con(tmp_path):
    connection = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    yield connection
    connection.close()


@pytest.fixture
def landing(tmp_path) -> Path:
    return tmp_path / "landing"


def table(con, sql: str) -> list[tuple]:
    return con.execute(sql).fetchall()


def test_each_bad_row_is_quarantined_with_its_file_row_column_and_rule(con, landing):
    rel = write(landing, "events/2024-01.csv", DIRTY_EVENTS)
    result = ingest_file(con, landing, rel, NOW)

    quarantined = {
        row: (column, rule)
        for row, column, rule in table(
            con,
            "select source_row, column_name, rule from raw.quarantine where source_file = 'events/2024-01.csv'",
        )
    }
    assert quarantined == EXPECTED_RULES
    assert result.rows_read == 11
    assert result.rows_quarantined == 8
    assert result.duplicates_dropped == 1
    assert result.rows_loaded == 2
    assert result.reconciles
    original = json.loads(
        table(con, "select original_row from raw.quarantine where source_row = 3")[0][0]
    )
    assert original["occurred_at"] == "not-a-date" and original["event_id"] == "e3"
    value = table(con, "select value from raw.quarantine where source_row = 8")[0][0]
    assert value == "abc"


def test_valid_rows_are_normalised_and_converted_to_utc(con, landing):
    rel = write(landing, "events/2024-01.csv", DIRTY_EVENTS)
    ingest_file(con, landing, rel, NOW)
    rows = table(
        con,
        "select event_id, event_name, occurred_at, revenue, platform, _source_row "
        "from raw.events order by event_id",
    )
    assert rows == [
        ("e1", "session_start", dt.datetime(2024, 1, 1, 8, 0), None, "web", 1),
        ("e6", "purchase", dt.datetime(2024, 1, 2), pytest.approx(12.5), "ios", 6),
    ]


def test_reingesting_a_file_replaces_it_and_never_duplicates(con, landing):
    rel = write(landing, "events/2024-01.csv", DIRTY_EVENTS)
    first = ingest_file(con, landing, rel, NOW)
    snapshot = table(con, "select * from raw.events order by event_id")
    second = ingest_file(con, landing, rel, NOW)
    assert table(con, "select * from raw.events order by event_id") == snapshot
    assert table(con, "select count(*) from raw.quarantine")[0][0] == first.rows_quarantined
    assert table(con, "select count(*) from raw.ingest_log")[0][0] == 1
    assert second.rows_loaded == first.rows_loaded

    # The file changes: its old rows go, its new rows come, and the days touched by both
    # are reported for the incremental rebuild.
    write(
        landing,
        rel,
        "user_id,event_name,occurred_at\nu9,login,2023-12-30T00:00:00Z\n",
    )
    changed = ingest_file(con, landing, rel, NOW)
    assert table(con, "select user_id from raw.events") == [("u9",)]
    assert table(con, "select count(*) from raw.quarantine")[0][0] == 0
    assert changed.affected_from == dt.date(2023, 12, 30)
    assert changed.affected_to == dt.date(2024, 1, 2)


def test_a_file_missing_a_required_column_is_rejected_whole(con, landing):
    good = write(landing, "events/good.csv", "user_id,event_name,occurred_at\nu1,a,2024-01-01\n")
    bad = write(
        landing, "events/bad.csv", "user_id,event_name,when\nu1,a,2024-01-01\nu2,b,2024-01-02\n"
    )
    ingest_file(con, landing, good, NOW)
    with pytest.raises(FileRejected) as err:
        ingest_file(con, landing, bad, NOW)
    message = str(err.value)
    assert "events/bad.csv" in message and "occurred_at" in message
    assert err.value.missing_columns == ["occurred_at"]
    assert table(con, "select count(*) from raw.events where _source_file = 'events/bad.csv'") == [
        (0,)
    ]
    assert table(con, "select count(*) from raw.events") == [(1,)]
    assert table(
        con,
        "select status, error like '%occurred_at%' from raw.ingest_log where source_file = 'events/bad.csv'",
    ) == [("rejected", True)]


def test_an_unreadable_file_is_rejected_with_its_name(con, landing):
    rel = "events/broken.parquet"
    (landing / "events").mkdir(parents=True)
    (landing / rel).write_bytes(b"this is not parquet")
    with pytest.raises(FileRejected, match="events/broken.parquet"):
        ingest_file(con, landing, rel, NOW)


def test_only_the_three_required_columns_is_enough(con, landing):
    rel = write(
        landing,
        "events_minimal.csv",
        "user_id,event_name,occurred_at\nu1,Login,2024-01-01T00:00:00Z\nu1,Login,2024-01-01T00:00:00Z\n",
    )
    result = ingest_file(con, landing, rel, NOW)
    # the stand-in id is a hash of the row, so the exact duplicate is dropped
    assert (result.rows_loaded, result.duplicates_dropped) == (1, 1)
    event_id, name = table(con, "select event_id, event_name from raw.events")[0]
    assert len(event_id) == 32 and name == "login"


def test_parquet_and_jsonl_files_follow_the_same_rules(con, landing):
    (landing / "events").mkdir(parents=True)
    frame = pd.DataFrame(
        {
            "user_id": ["u1", None, "u3"],
            "event_name": ["a", "b", "c"],
            "occurred_at": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03"]),
        }
    )
    frame.to_parquet(landing / "events" / "p.parquet")
    result = ingest_file(con, landing, "events/p.parquet", NOW)
    assert (result.rows_loaded, result.rows_quarantined) == (2, 1)
    assert table(con, "select source_row, rule from raw.quarantine") == [(2, "user_id_not_null")]

    lines = [
        {
            "message_id": "m1",
            "user_id": "u1",
            "channel": "email",
            "message_event": "open",
            "occurred_at": "2024-01-01T00:00:00Z",
        },
        {
            "message_id": "m2",
            "user_id": "u1",
            "channel": "fax",
            "message_event": "open",
            "occurred_at": "2024-01-01T00:00:00Z",
        },
        {
            "message_id": "m3",
            "user_id": "u1",
            "channel": "EMAIL",
            "message_event": "clicked",
            "occurred_at": "2024-01-01T00:00:00Z",
        },
    ]
    write(landing, "messages/log.jsonl", "\n".join(json.dumps(x) for x in lines) + "\n")
    result = ingest_file(con, landing, "messages/log.jsonl", NOW)
    assert result.rows_loaded == 1
    assert table(
        con, "select source_row, rule from raw.quarantine where kind = 'messages' order by 1"
    ) == [
        (2, "channel_accepted_values"),
        (3, "message_event_accepted_values"),
    ]


def test_users_booleans_and_optional_kinds(con, landing):
    rel = write(
        landing,
        "users/users.csv",
        "user_id,signup_at,email_opt_in,plan\nu1,2024-01-01,true,Pro\nu2,2024-01-01,maybe,free\nu3,,0,free\n",
    )
    result = ingest_file(con, landing, rel, NOW)
    assert result.rows_loaded == 2
    assert table(con, "select rule, value from raw.quarantine") == [
        ("email_opt_in_is_boolean", "maybe")
    ]
    assert table(
        con, "select user_id, email_opt_in, plan, signup_at from raw.users order by 1"
    ) == [
        ("u1", True, "pro", dt.datetime(2024, 1, 1)),
        ("u3", False, "free", None),
    ]


def test_counts_reconcile_for_every_kind_on_mixed_rows(con, landing):
    files = {
        "billing/b.csv": "user_id,occurred_at,billing_event,amount\nu1,2024-01-01,payment_failed,29\nu1,2024-01-01,payment_failed,29\nu2,2024-01-01,refund,1\n",
        "survey_responses/s.csv": "user_id,submitted_at,reason_code\nu1,2024-01-01,price\nu2,2024-01-01,too_expensive\n",
    }
    for rel, text in files.items():
        result = ingest_file(con, landing, write(landing, rel, text), NOW)
        assert result.reconciles, rel
    assert table(con, "select rule from raw.quarantine order by rule") == [
        ("billing_event_accepted_values",),
        ("reason_code_accepted_values",),
    ]


def test_landing_files_and_kinds():
    assert kind_for_path("events/2024-01.csv").name == "events"
    assert kind_for_path("survey_responses_2024.csv").name == "survey_responses"
    assert kind_for_path("users.parquet").name == "users"
    assert kind_for_path("notes/readme.csv") is None
    assert [
        r.name for r in row_rules(FILE_KINDS["events"], {"user_id", "event_name", "occurred_at"})
    ] == [
        "user_id_not_null",
        "event_name_not_null",
        "occurred_at_not_null",
        "occurred_at_is_timestamp",
        "occurred_at_not_before_earliest",
        "occurred_at_not_in_future",
    ]


def test_landing_files_lists_known_files_only(landing):
    write(landing, "events/a.csv", "x")
    write(landing, "events/.hidden.csv", "x")
    write(landing, "users.csv", "x")
    write(landing, "notes.txt", "x")
    assert landing_files(landing) == ["events/a.csv", "users.csv"]


# ---------------------------------------------------------------------------------------------
# Input edge cases (issue 13, item 9)

MALFORMED_HEADER = "user_id,event_name,occurred_at,properties\n"
LONG_TAIL = "x" * 1_500  # a malformed line longer than the 1,000 characters kept of it
HUGE_VALUE = "y" * 2_100_000  # a line over DuckDB's 2,000,000-byte limit
MALFORMED_ROWS = [
    'u1,login,2024-01-01T00:00:00Z,"{""a"":\n 1}"',  # row 1: a line break inside quotes
    "u2,login,2024-01-02T00:00:00Z,,extra",  # row 2: one field too many
    "u3,login,not-a-date,",  # row 3: a row rule after a malformed row
    "u4,login",  # row 4: two fields too few
    'u5,login,2024-01-05T00:00:00Z,"{}"x',  # row 5: text after a closing quote
    f"u6,login,2024-01-06T00:00:00Z,,{LONG_TAIL}",  # row 6: too many fields, long line
    "u7,login,2024-01-07T00:00:00Z,",  # row 7: loads
    "u7,login,2024-01-07T00:00:00Z,",  # row 8: duplicate of row 7
    "u9,login,2024-01-09T00:00:00Z,[1]",  # row 9: a row rule
    f"u10,login,2024-01-10T00:00:00Z,{HUGE_VALUE}",  # row 10: line too long
    "u11,login,2024-01-11T00:00:00Z,",  # row 11: loads
]


def test_a_malformed_csv_row_is_quarantined_and_every_other_row_loads(con, landing):
    rel = write(
        landing, "events/malformed.csv", MALFORMED_HEADER + "\n".join(MALFORMED_ROWS) + "\n"
    )
    result = ingest_file(con, landing, rel, NOW)

    assert (result.status, result.rows_read, result.rows_loaded) == ("loaded", 11, 3)
    assert (result.rows_quarantined, result.duplicates_dropped) == (7, 1)
    assert result.reconciles
    assert result.quarantine_by_rule == {
        "row_malformed": 5,
        "occurred_at_is_timestamp": 1,
        "properties_is_json_object": 1,
    }
    assert table(
        con, "select user_id, properties, _source_row from raw.events order by _source_row"
    ) == [("u1", '{"a":\n 1}', 1), ("u7", None, 7), ("u11", None, 11)]
    malformed = table(
        con,
        "select source_row, column_name, value, reason, original_row from raw.quarantine "
        "where rule = 'row_malformed' order by source_row",
    )
    assert malformed == [
        (2, None, None, "expected 4 fields, found 5", "u2,login,2024-01-02T00:00:00Z,,extra"),
        (4, None, None, "expected 4 fields, found 2", "u4,login"),
        (
            5,
            None,
            None,
            "unparsable quoting: a quoted field is not closed, or text follows its closing quote",
            'u5,login,2024-01-05T00:00:00Z,"{}"x',
        ),
        (6, None, None, "expected 4 fields, found 5", MALFORMED_ROWS[5][:1000]),
        (
            10,
            None,
            None,
            "line of 2100031 bytes, longer than the maximum of 2000000 bytes",
            MALFORMED_ROWS[9][:1000],
        ),
    ]
    # the rows quarantined by a row rule keep their row of the file, after malformed rows too
    assert table(
        con,
        "select source_row, rule, value from raw.quarantine where rule <> 'row_malformed' "
        "order by source_row",
    ) == [(3, "occurred_at_is_timestamp", "not-a-date"), (9, "properties_is_json_object", "[1]")]
    original = json.loads(
        table(con, "select original_row from raw.quarantine where source_row = 3")[0][0]
    )
    assert original == {
        "user_id": "u3",
        "event_name": "login",
        "occurred_at": "not-a-date",
        "properties": None,
    }
    assert table(
        con,
        "select status, rows_read, rows_loaded, rows_quarantined, duplicates_dropped "
        "from raw.ingest_log",
    ) == [("loaded", 11, 3, 7, 1)]


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_rows_keep_their_file_row_number_around_runs_of_malformed_rows(con, landing, newline):
    # malformed: rows 1, 2 (first rows, in a run), 4, 7, 8, 12 (a run, and the last row)
    bad = {1, 2, 4, 7, 8, 12}
    rows = []
    for n in range(1, 13):
        timestamp = "bad" if n == 6 else f"2024-01-{n:02d}T00:00:00Z"
        rows.append(f"u{n},login,{timestamp}" + (",extra" if n in bad else ""))
    text = newline.join(["user_id,event_name,occurred_at", *rows, ""])
    rel = write(landing, "events/runs.csv", text)
    result = ingest_file(con, landing, rel, NOW)

    assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (12, 5, 7)
    assert table(con, "select user_id, _source_row from raw.events order by _source_row") == [
        (f"u{n}", n) for n in (3, 5, 9, 10, 11)
    ]
    assert table(
        con, "select source_row, rule, original_row from raw.quarantine order by source_row"
    ) == [
        (n, "row_malformed", f"u{n},login,2024-01-{n:02d}T00:00:00Z,extra")
        if n in bad
        else (
            n,
            "occurred_at_is_timestamp",
            '{"user_id":"u6","event_name":"login","occurred_at":"bad"}',
        )
        for n in (1, 2, 4, 6, 7, 8, 12)
    ]


def test_rfc3339_timestamps_in_any_case_load_and_bad_offsets_are_quarantined(con, landing):
    rows = {
        1: ("2024-03-01t12:00:00z", dt.datetime(2024, 3, 1, 12)),
        2: ("2024-03-01T12:00:00Z", dt.datetime(2024, 3, 1, 12)),
        3: ("2024-03-01 12:00:00.25+02:00", dt.datetime(2024, 3, 1, 10, 0, 0, 250000)),
        4: ("2024-03-01t12:00:00.123456789-05:30", dt.datetime(2024, 3, 1, 17, 30, 0, 123456)),
        5: ("2024-03-01T12:00:00+14:00", dt.datetime(2024, 2, 29, 22)),
        6: ("2024-03-01T12:00:00-1400", dt.datetime(2024, 3, 2, 2)),
        7: ("2024-03-01T12:00+01", dt.datetime(2024, 3, 1, 11)),
        8: (" 2024-03-01 ", dt.datetime(2024, 3, 1)),
        9: ("2024-03-01T12:00:00+25:00", None),
        10: ("2024-03-01T12:00:00-14:01", None),
        11: ("2024-03-01T12:00:00+05:99", None),
        12: ("2024-02-30T12:00:00Z", None),
        13: ("2024-03-01 12:00:00 UTC", dt.datetime(2024, 3, 1, 12)),  # BigQuery's text form
        14: ("2024-3-1", None),
    }
    text = "user_id,event_name,occurred_at\n" + "".join(
        f"u{n},login,{value}\n" for n, (value, _) in rows.items()
    )
    rel = write(landing, "events/timestamps.csv", text)
    result = ingest_file(con, landing, rel, NOW)

    assert table(con, "select _source_row, occurred_at from raw.events order by 1") == [
        (n, expected) for n, (_, expected) in rows.items() if expected is not None
    ]
    generic = row_rules(FILE_KINDS["events"], {"occurred_at"})[1].description
    assert table(con, "select source_row, rule, value, reason from raw.quarantine order by 1") == [
        (
            9,
            "occurred_at_is_timestamp",
            "2024-03-01T12:00:00+25:00",
            "occurred_at has an invalid UTC offset +25:00 (±HH:MM, at most ±14:00)",
        ),
        (
            10,
            "occurred_at_is_timestamp",
            "2024-03-01T12:00:00-14:01",
            "occurred_at has an invalid UTC offset -14:01 (±HH:MM, at most ±14:00)",
        ),
        (
            11,
            "occurred_at_is_timestamp",
            "2024-03-01T12:00:00+05:99",
            "occurred_at has an invalid UTC offset +05:99 (±HH:MM, at most ±14:00)",
        ),
        (12, "occurred_at_is_timestamp", "2024-02-30T12:00:00Z", generic),
        (14, "occurred_at_is_timestamp", "2024-3-1", generic),
    ]
    assert (result.rows_read, result.rows_loaded, result.rows_quarantined) == (14, 9, 5)


def test_a_rejected_file_counts_the_rows_it_read(con, landing):
    # a missing required column, with a malformed row among the rows
    csv = write(landing, "events/no_time.csv", "user_id,event_name,when\nu1,a,x\nu2,b\nu3,c,y\n")
    with pytest.raises(FileRejected, match="required column"):
        ingest_file(con, landing, csv, NOW)
    (landing / "users").mkdir(parents=True)
    pd.DataFrame({"email": ["a@x", "b@x"]}).to_parquet(landing / "users" / "no_id.parquet")
    with pytest.raises(FileRejected, match="required column"):
        ingest_file(con, landing, "users/no_id.parquet", NOW)
    reserved = write(
        landing,
        "events/reserved.csv",
        "user_id,event_name,occurred_at,_winback_row\nu1,a,2024-01-01,1\n",
    )
    with pytest.raises(FileRejected, match="reserves"):
        ingest_file(con, landing, reserved, NOW)
    (landing / "events" / "broken.parquet").write_bytes(b"this is not parquet")
    with pytest.raises(FileRejected, match="cannot be read"):
        ingest_file(con, landing, "events/broken.parquet", NOW)

    assert table(
        con,
        "select source_file, status, rows_read, rows_loaded, rows_quarantined, "
        "duplicates_dropped from raw.ingest_log order by 1",
    ) == [
        ("events/broken.parquet", "rejected", 0, 0, 0, 0),
        ("events/no_time.csv", "rejected", 3, 0, 0, 0),
        ("events/reserved.csv", "rejected", 1, 0, 0, 0),
        ("users/no_id.parquet", "rejected", 2, 0, 0, 0),
    ]
    assert table(con, "select count(*) from raw.quarantine") == [(0,)]


def test_the_first_copy_in_file_order_is_kept_and_nulls_are_equal_keys(con, landing):
    """Dedupe finds the repeated keys first and compares only their rows: the first copy in
    the file stays (with its own row number), null key parts count as equal values."""
    events = write(
        landing,
        "events/copies.csv",
        "event_id,user_id,event_name,occurred_at\n"
        "e1,u1,login,2024-01-01T00:00:00Z\n"
        "e2,u2,login,2024-01-01T00:00:00Z\n"
        "e1,u1,logout,2024-01-02T00:00:00Z\n"  # same id: a copy, the first e1 stays
        "e3,u3,login,2024-01-03T00:00:00Z\n"
        "e2,u9,view,2024-01-04T00:00:00Z\n"
        "e1,u1,view,2024-01-05T00:00:00Z\n",
    )
    result = ingest_file(con, landing, events, NOW)
    assert (result.rows_loaded, result.duplicates_dropped) == (3, 3)
    assert table(
        con, "select event_id, user_id, event_name, _source_row from raw.events order by 1"
    ) == [
        ("e1", "u1", "login", 1),
        ("e2", "u2", "login", 2),
        ("e3", "u3", "login", 4),
    ]
    users = write(
        landing,
        "users.csv",
        "user_id,email,plan\nu1,,free\nu2,a@b.c,\nu1,,free\nu2,a@b.c,\nu2,a@b.c,pro\n",
    )
    result = ingest_file(con, landing, users, NOW)
    assert (result.rows_loaded, result.duplicates_dropped) == (3, 2)
    assert result.reconciles
    assert table(con, "select user_id, email, plan, _source_row from raw.users order by 4") == [
        ("u1", None, "free", 1),
        ("u2", "a@b.c", None, 2),
        ("u2", "a@b.c", "pro", 5),
    ]
