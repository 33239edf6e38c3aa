"""The presets (winback/presets.py) on small hand-made exports in each exporter's documented
format (tests/fixtures/exports/<preset>/; its README says what each line is there for) and on
the real samples in ../shared/exports: the exact rows in raw.events, raw.users and
raw.quarantine, counts that reconcile, then the daily activity dbt builds from them.

Every fixture holds a normal event, a duplicate, a call that is not an event where the exporter
has those, a timestamp with an offset or an epoch, a nested property and rows that must be
quarantined under a given rule."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import os
import re
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from tests.dbt_fixtures import rows
from winback.contract import ValidationSettings
from winback.ingest import FileRejected, IngestResult, ingest_file
from winback.mapping import MappingError, compile_expression, table_columns
from winback.sources import ALIAS, parse_source

FIXTURES = Path(__file__).parent / "fixtures" / "exports"
SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "exports"
# the real samples sit next to the repository (../shared/exports), not in a fresh clone
samples = pytest.mark.skipif(not SAMPLES.is_dir(), reason=f"no real export samples at {SAMPLES}")
SETTINGS = ValidationSettings(now=dt.datetime(2026, 1, 1))  # after every sample
T = dt.datetime
WHITESPACE_ORDERS = {
    "delimiter": "whitespace",
    "header": False,
    "columns": ["customer_id", "date", "units", "amount"],
    "timestamp_format": "%Y%m%d",
}


def ingest(con, name: str, block: dict, path: Path) -> dict[str, IngestResult]:
    """Every feed of source `name` (a winback.yml block without its path) on one file; the
    counts of each must reconcile."""
    source = parse_source(name, {"path": str(path), **block})
    results = {}
    for feed in source.feeds:
        key = f"{feed.name}:{path.name}"
        results[feed.kind.name] = ingest_file(con, path.parent, key, SETTINGS, feed=feed, path=path)
        assert results[feed.kind.name].reconciles, results[feed.kind.name]
    return results


def counts(result: IngestResult) -> dict[str, int]:
    return {
        "read": result.rows_read,
        "loaded": result.rows_loaded,
        "quarantined": result.rows_quarantined,
        "duplicates": result.duplicates_dropped,
        "skipped": result.rows_skipped,
    }


def events(con, source: str) -> list[tuple]:
    """(event_id, user_id, event_name, occurred_at, properties, revenue, platform), in file
    order, properties parsed."""
    found = con.execute(
        "select event_id, user_id, event_name, occurred_at, properties, revenue, platform "
        "from raw.events where _source_file like ? order by _source_file, _source_row",
        [f"{source}.events:%"],
    ).fetchall()
    return [(*r[:4], json.loads(r[4]) if r[4] else None, *r[5:]) for r in found]


def users(con, source: str) -> list[tuple]:
    """(user_id, signup_at, email, plan, country, acquisition_channel), in file order."""
    return con.execute(
        "select user_id, signup_at, email, plan, country, acquisition_channel from raw.users "
        "where _source_file like ? order by _source_row",
        [f"{source}.users:%"],
    ).fetchall()


def quarantined(con, source: str) -> list[tuple]:
    """(kind, row of the file, rule, value)."""
    return con.execute(
        "select kind, source_row, rule, value from raw.quarantine where source_file like ? "
        "order by source_row, kind",
        [f"{source}.%"],
    ).fetchall()


@pytest.fixture
def con(tmp_path):
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as connection:
        yield connection


# ---------------------------------------------------------------------------------------------
# Segment / RudderStack


def test_segment_track_calls_are_events_identify_traits_profiles_other_calls_skipped(con):
    result = ingest(con, "segment", {"preset": "segment"}, FIXTURES / "segment" / "calls.jsonl")
    # 13 calls: 7 track (one a retry of another, two bad), 2 identify, page, screen, alias, group
    assert counts(result["events"]) == dict(
        read=13, loaded=4, quarantined=2, duplicates=1, skipped=6
    )
    assert counts(result["users"]) == dict(
        read=13, loaded=2, quarantined=0, duplicates=0, skipped=11
    )
    assert events(con, "segment") == [
        (
            "seg-1",
            "seg-u1",
            "report created",
            T(2025, 1, 6, 9),
            {"report": {"kind": "weekly", "widgets": 3}},
            None,
            "web",  # analytics.js
        ),
        (  # anonymous: the anonymousId; -05:00 converted to UTC; the device type as platform
            "seg-3",
            "seg-anon-7",
            "order completed",
            T(2025, 1, 7, 4, 30),
            {
                "order_id": "o-1",
                "revenue": 49.5,
                "total": 55.0,
                "products": [{"sku": "sku-1", "price": 49.5}],
            },
            Decimal("49.5"),
            "ios",
        ),
        (  # revenue on a checkout is not revenue yet
            "seg-4",
            "seg-u1",
            "checkout started",
            T(2025, 1, 7, 10),
            {"order_id": "o-2", "revenue": 49.5},
            None,
            "web",
        ),
        (  # RudderStack: same field names; no `timestamp`, so originalTimestamp
            "rs-2",
            "rs-u2",
            "report created",
            T(2025, 1, 8, 12, 0, 5),
            {"revenue": "12.00"},
            Decimal("12"),
            "web",
        ),
    ]
    assert users(con, "segment") == [
        ("seg-u1", T(2024, 12, 20, 10), "ana@example.com", "pro", "FR", "email"),
        ("rs-u2", None, "bo@example.com", "free", None, None),  # RudderStack's context.traits
    ]
    assert quarantined(con, "segment") == [
        ("events", 10, "user_id_not_null", None),  # neither userId nor anonymousId
        ("events", 11, "occurred_at_is_timestamp", "09/01/2025 08:00"),
    ]


@samples
def test_segment_spec_examples_only_the_track_call_is_an_event(con, tmp_path):
    """The "complete example" message of each call type in Segment's spec (pretty-printed
    JSON, one file per call: joined here as the JSON Lines an export has)."""
    spec = SAMPLES / "segment" / "segment_docs_spec"
    calls = [json.loads(p.read_text()) for p in sorted(spec.glob("*.json"))]
    assert sorted(c["type"] for c in calls) == [
        "alias",
        "group",
        "identify",
        "page",
        "screen",
        "track",
    ]
    path = tmp_path / "spec.jsonl"
    path.write_text("".join(json.dumps(c) + "\n" for c in calls))
    result = ingest(con, "segment", {"preset": "segment"}, path)
    assert counts(result["events"]) == dict(
        read=6, loaded=1, quarantined=0, duplicates=0, skipped=5
    )
    assert counts(result["users"]) == dict(read=6, loaded=1, quarantined=0, duplicates=0, skipped=5)
    assert events(con, "segment") == [
        (
            "ajs-f8ca1e4de5024d9430b3928bd8ac6b96",
            "AiUGstSDIg",
            "course clicked",
            T(2015, 12, 12, 19, 11, 1, 249000),  # timestamp, not originalTimestamp
            {"title": "Intro to Analytics"},
            None,
            "web",
        )
    ]
    assert users(con, "segment") == [
        ("97980cfea0067", None, "peter@example.com", "premium", "USA", None)
    ]


# ---------------------------------------------------------------------------------------------
# Snowplow


def test_snowplow_enriched_tsv_in_the_canonical_field_order(con):
    result = ingest(con, "snowplow", {"preset": "snowplow"}, FIXTURES / "snowplow" / "enriched.tsv")
    assert counts(result["events"]) == dict(
        read=8, loaded=4, quarantined=2, duplicates=1, skipped=1
    )
    assert events(con, "snowplow") == [
        (  # no user_id: the first-party cookie; derived_tstamp
            "sp-1",
            "d-1",
            "page_view",
            T(2025, 1, 6, 9, 0, 0, 250000),
            {"page_url": "https://shop.example/", "page_title": "Home", "page_referrer": None},
            None,
            "web",
        ),
        (  # a structured event is named by its action; no derived_tstamp: collector_tstamp
            "sp-3",
            "sp-u2",
            "export",
            T(2025, 1, 7, 23, 59, 59, 500000),
            {
                "category": "report",
                "action": "export",
                "label": "pdf",
                "property": None,
                "value": 2.0,
            },
            None,
            "web",
        ),
        (  # a self-describing event: its name, its data as the properties
            "sp-4",
            "sp-u2",
            "link_click",
            T(2025, 1, 8, 12),
            {"targetUrl": "https://docs.example/", "elementClasses": ["nav", "cta"]},
            None,
            "mob",
        ),
        (
            "sp-5",
            "sp-u2",
            "transaction",
            T(2025, 1, 8, 12, 5),
            {"page_url": None, "page_title": None, "page_referrer": None},
            Decimal("120.5"),
            "web",
        ),
    ]
    assert quarantined(con, "snowplow") == [
        ("events", 7, "user_id_not_null", None),  # no user_id, domain_userid, network_userid
        ("events", 8, "occurred_at_is_timestamp", "2025-01-09 25:61:00.000"),
    ]


@samples
def test_snowplow_loaded_table_with_a_header(con):
    """dbt-snowplow-web's atomic.events seed: the same names, comma-separated, with a header
    and without the enriched TSV's contexts and unstruct_event columns (its self-describing
    events are split into one column per schema)."""
    path = SAMPLES / "snowplow" / "dbt_snowplow_web" / "snowplow_web_events.csv"
    result = ingest(con, "snowplow", {"preset": "snowplow", "options": {"header": True}}, path)
    # 8 page pings skipped; 3 rows repeat an event_id (Snowplow's at-least-once delivery)
    assert counts(result["events"]) == dict(
        read=160, loaded=149, quarantined=0, duplicates=3, skipped=8
    )
    summary = con.execute(
        "select count(distinct user_id), min(occurred_at), max(occurred_at), "
        "count(*) filter (where event_name = 'page_view'), list(distinct platform) "
        "from raw.events"
    ).fetchone()
    # the duplicate page view's first copy is kept; derived_tstamp, not collector_tstamp
    assert summary == (
        25,
        T(2020, 7, 3, 15, 55, 18, 542000),
        T(2021, 3, 11, 21, 42, 15, 543000),
        49,
        ["web"],
    )
    names = {n for (n,) in con.execute("select distinct event_name from raw.events").fetchall()}
    assert {"page_view", "link_click", "consent_preferences", "cmp_visible"} <= names
    assert "page_ping" not in names


# ---------------------------------------------------------------------------------------------
# Amplitude


def test_amplitude_export_events_and_user_properties(con):
    result = ingest(
        con, "amplitude", {"preset": "amplitude"}, FIXTURES / "amplitude" / "events.json"
    )
    assert counts(result["events"]) == dict(
        read=7, loaded=3, quarantined=2, duplicates=1, skipped=1
    )
    # one profile row per event: the repeats of amp-1's row are dropped, its $identify kept
    assert counts(result["users"]) == dict(read=7, loaded=3, quarantined=1, duplicates=3, skipped=0)
    assert events(con, "amplitude") == [
        (
            "uu-1",
            "amp-1",
            "dashboard viewed",
            T(2025, 1, 6, 9),
            {"dashboard": {"id": 7, "tags": ["kpi"]}},
            None,
            "web",
        ),
        (  # no user_id: the device; $price x $quantity
            "uu-3",
            "dev-9",
            "purchase",
            T(2025, 1, 7, 10),
            {"$price": 20, "$quantity": 3, "$productId": "sku-1"},
            Decimal("60"),
            "ios",
        ),
        (  # +02:00 converted to UTC (the day before)
            "uu-4",
            "amp-1",
            "plan upgraded",
            T(2025, 1, 7, 23, 30),
            {"$revenue": "99.00", "plan": "business"},
            Decimal("99"),
            "web",
        ),
    ]
    assert users(con, "amplitude") == [
        ("amp-1", T(2024, 12, 20, 10), "amp1@example.com", "team", "Germany", None),
        ("dev-9", T(2025, 1, 7, 9, 55), None, None, "France", None),
        ("amp-1", T(2024, 12, 20, 10), "amp1@example.com", "business", "Germany", None),
    ]
    assert quarantined(con, "amplitude") == [
        ("events", 6, "occurred_at_is_timestamp", "2025-13-45 10:00:00.000000"),
        ("events", 7, "user_id_not_null", None),
        ("users", 7, "user_id_not_null", None),
    ]


@samples
def test_amplitude_samples(con):
    line = SAMPLES / "amplitude" / "mixpanel_utils" / "amplitude.json"
    result = ingest(con, "amplitude", {"preset": "amplitude"}, line)
    assert counts(result["events"]) == dict(
        read=1, loaded=1, quarantined=0, duplicates=0, skipped=0
    )
    assert events(con, "amplitude") == [
        (
            "amp-insert-1",
            "amp-user-1",
            "button click",
            T(2024, 1, 15, 10, 30),
            {"button": "signup"},
            None,
            None,
        )
    ]
    assert users(con, "amplitude") == [("amp-user-1", None, None, "pro", None, None)]

    # fivetran/dbt_amplitude's seed: the export flattened by a loader, its JSON fields as text
    table = SAMPLES / "amplitude" / "fivetran_dbt_amplitude" / "amplitude_event_data.csv"
    result = ingest(
        con, "amplitude_table", {"preset": "amplitude", "options": {"format": "csv"}}, table
    )
    assert counts(result["events"]) == dict(
        read=10, loaded=10, quarantined=0, duplicates=0, skipped=0
    )
    assert counts(result["users"]) == dict(
        read=10, loaded=7, quarantined=0, duplicates=3, skipped=0
    )
    summary = con.execute(
        "select count(distinct user_id), count(distinct event_id), min(occurred_at), "
        "max(occurred_at), list(distinct left(event_name, 22) order by left(event_name, 22)) from raw.events "
        "where _source_file like 'amplitude_table.%'"
    ).fetchone()
    assert summary == (
        7,
        10,  # uuid
        T(2025, 2, 1, 19, 42, 58, 123000),
        T(2025, 3, 1, 19, 42, 58, 123000),
        # (one name is 260 a's, as the seed has it)
        [
            "a" * 22,
            "test_event_01",
            "watch_test_amplitude",
            "watch_test_amplitude_2",
            "watch_test_amplitude_3",
        ],
    )


# ---------------------------------------------------------------------------------------------
# Mixpanel


def mixpanel_id(insert_id: str, event: str, user: str, time: str) -> str:
    return hashlib.md5(f"{insert_id}|{event}|{user}|{time}".encode()).hexdigest()


def test_mixpanel_export_dedupes_on_insert_id_name_user_and_time(con):
    result = ingest(con, "mixpanel", {"preset": "mixpanel"}, FIXTURES / "mixpanel" / "export.jsonl")
    assert counts(result["events"]) == dict(
        read=8, loaded=4, quarantined=2, duplicates=1, skipped=1
    )
    loaded = events(con, "mixpanel")
    assert [(e[0], *e[1:4], e[5], e[6]) for e in loaded] == [
        (
            mixpanel_id("mpi-1", "Report Shared", "mp-1", "1736154000"),
            "mp-1",
            "report shared",
            T(2025, 1, 6, 9),
            None,
            "web",
        ),
        # the same $insert_id on another event is another event
        (
            mixpanel_id("mpi-1", "Report Viewed", "mp-1", "1736206200"),
            "mp-1",
            "report viewed",
            T(2025, 1, 6, 23, 30),
            None,
            "web",
        ),
        # time in milliseconds (an export with time_in_ms)
        (
            mixpanel_id("mpi-4", "Purchase", "mp-2", "1736244000123"),
            "mp-2",
            "purchase",
            T(2025, 1, 7, 10, 0, 0, 123000),
            Decimal("42.5"),
            "ios",
        ),
        # an empty distinct_id: the $device_id
        (
            mixpanel_id("mpi-5", "Report Shared", "mp-dev-5", "1736337600"),
            "mp-dev-5",
            "report shared",
            T(2025, 1, 8, 12),
            None,
            "android",
        ),
    ]
    assert loaded[0][4]["channel"] == {"kind": "slack", "members": 12}  # properties as sent
    assert quarantined(con, "mixpanel") == [
        ("events", 7, "user_id_not_null", None),  # no distinct_id
        ("events", 8, "occurred_at_is_timestamp", "yesterday"),
    ]


def test_mixpanel_json_array_export(con):
    path = FIXTURES / "mixpanel" / "batch.json"
    result = ingest(con, "mixpanel", {"preset": "mixpanel", "options": {"format": "json"}}, path)
    assert counts(result["events"]) == dict(
        read=2, loaded=1, quarantined=0, duplicates=1, skipped=0
    )
    assert [e[1:4] for e in events(con, "mixpanel")] == [
        ("mp-2", "report viewed", T(2025, 1, 10, 15))
    ]


@samples
def test_mixpanel_samples_without_distinct_id_are_quarantined_and_counted(con):
    """mixpanel-utils' fixtures have no distinct_id: no event can be given to a user, so every
    row is quarantined under user_id_not_null (with the line as it was), none lost."""
    folder = SAMPLES / "mixpanel" / "mixpanel_utils"
    result = ingest(con, "mixpanel", {"preset": "mixpanel"}, folder / "events.ndjson")
    assert counts(result["events"]) == dict(
        read=3, loaded=0, quarantined=3, duplicates=0, skipped=0
    )
    for batch, size in (("batch1.json", 2), ("batch2.json", 1)):
        path = folder / "json_dir" / batch
        result = ingest(
            con, "mixpanel_json", {"preset": "mixpanel", "options": {"format": "json"}}, path
        )
        assert counts(result["events"]) == dict(
            read=size, loaded=0, quarantined=size, duplicates=0, skipped=0
        )
    kept = con.execute(
        "select rule, reason, original_row from raw.quarantine where source_file = "
        "'mixpanel.events:events.ndjson' order by source_row"
    ).fetchall()
    assert [(r[0], r[1]) for r in kept] == [("user_id_not_null", "user_id must have a value")] * 3
    assert json.loads(kept[2][2]) == {
        "event": "Purchase",
        "properties": {"time": 1700000002, "$insert_id": "a3", "amount": 42},
    }
    # with the user named by hand (here a constant), the same lines load
    block = {"preset": "mixpanel", "mapping": {"user_id": {"constant": "unknown"}}}
    result = ingest(con, "mixpanel_fixed", block, folder / "events.ndjson")
    assert counts(result["events"])["loaded"] == 3
    assert [e[2:4] for e in events(con, "mixpanel_fixed")] == [
        ("pageview", T(2023, 11, 14, 22, 13, 20)),
        ("click", T(2023, 11, 14, 22, 13, 21)),
        ("purchase", T(2023, 11, 14, 22, 13, 22)),
    ]


@samples
def test_mixpanel_loader_table_keeps_events_whose_event_id_repeats(con):
    """fivetran/dbt_mixpanel's seed: a loader's table (name, time as text, distinct_id,
    insert_id columns) whose `event_id` repeats across different events: mapped by hand, with
    the event's own insert id, name, user and time as its id, all five events load."""
    path = SAMPLES / "mixpanel" / "fivetran_dbt_mixpanel" / "event.csv"
    block = {
        "preset": "mixpanel",
        "options": {"format": "csv"},
        "mapping": {
            "event_id": "md5(concat_ws('|', insert_id, name, distinct_id, time))",
            "user_id": "distinct_id",
            "event_name": "name",
            "occurred_at": "time",
        },
    }
    result = ingest(con, "mixpanel_table", block, path)
    assert counts(result["events"]) == dict(
        read=5, loaded=5, quarantined=0, duplicates=0, skipped=0
    )
    with open(path, newline="") as f:
        table_ids = [r["event_id"] for r in csv.DictReader(f)]
    assert len(set(table_ids)) == 3  # what deduping on the table's event_id would have kept
    assert [e[2:4] for e in events(con, "mixpanel_table")] == [
        ("plays", T(2020, 8, 1, 10, 16, 46)),
        ("playthrough_25", T(2020, 8, 1, 11, 35, 44)),
        ("playthrough_25", T(2024, 2, 2, 8, 58, 2)),
        ("playthrough_29", T(2024, 1, 31, 8, 58, 2)),
        ("playthrough_30", T(2025, 2, 27, 8, 58, 2)),
    ]


# ---------------------------------------------------------------------------------------------
# GA4


def test_ga4_export_event_params_as_properties_utc_microseconds(con):
    result = ingest(con, "ga4", {"preset": "ga4"}, FIXTURES / "ga4" / "events.jsonl")
    assert counts(result["events"]) == dict(
        read=6, loaded=3, quarantined=2, duplicates=1, skipped=0
    )
    assert counts(result["users"]) == dict(read=6, loaded=2, quarantined=1, duplicates=3, skipped=0)
    loaded = events(con, "ga4")
    assert [(*e[1:4], e[4], e[5], e[6]) for e in loaded] == [
        (  # 23:30 UTC on the 6th, though event_date (the property's day) says the 7th
            "1111.2222",
            "page_view",
            T(2025, 1, 6, 23, 30),
            {
                "page_location": "https://shop.example/",
                "ga_session_id": 1736206000,
                "engagement_time_msec": 1200,
                "scroll_ratio": 0.75,
            },
            None,
            "web",
        ),
        (  # user_id over user_pseudo_id; revenue in US dollars
            "ga-7",
            "purchase",
            T(2025, 1, 7, 10),
            {"currency": "EUR", "value": 31.0, "transaction_id": "T-1"},
            Decimal("33.57"),
            "ios",
        ),
        (  # event_value_in_usd on an add_to_cart is not revenue
            "ga-7",
            "add_to_cart",
            T(2025, 1, 7, 9, 59),
            {"currency": "EUR", "value": 11.0},
            None,
            "ios",
        ),
    ]
    # no event id in GA4: the contract's stand-in, a hash of the whole event
    assert all(re.fullmatch(r"[0-9a-f]{32}", e[0]) for e in loaded)
    assert users(con, "ga4") == [
        ("1111.2222", T(2025, 1, 6, 23, 10), None, None, "France", "organic"),
        ("ga-7", T(2024, 12, 25, 10), None, None, "Spain", "cpc"),
    ]
    assert quarantined(con, "ga4") == [
        ("events", 5, "occurred_at_is_timestamp", "not-a-number"),
        ("events", 6, "user_id_not_null", None),  # consent mode: no user_pseudo_id
        ("users", 6, "user_id_not_null", None),
    ]


def ga4_rows(js: Path) -> list[dict]:
    """The rows of a dataform-ga4-sessions test file: a JavaScript array of objects with bare
    keys and trailing commas, made JSON."""
    text = js.read_text()
    body = text[text.index("[") : text.rindex("]") + 1]
    body = re.sub(r"^(\s*)([A-Za-z_]\w*):", r'\1"\2":', body, flags=re.MULTILINE)
    return json.loads(re.sub(r",(\s*[\]}])", r"\1", body))


@samples
def test_ga4_samples(con, tmp_path):
    rows_ = [
        r
        for js in sorted((SAMPLES / "ga4" / "dataform_ga4_sessions").glob("*.js"))
        for r in ga4_rows(js)
    ]
    path = tmp_path / "ga4.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows_))
    result = ingest(con, "ga4", {"preset": "ga4"}, path)
    # one row is in two of the files, as it is
    assert counts(result["events"]) == dict(
        read=12, loaded=11, quarantined=0, duplicates=1, skipped=0
    )
    assert counts(result["users"]) == dict(
        read=12, loaded=6, quarantined=0, duplicates=6, skipped=0
    )
    purchases = con.execute(
        "select user_id, occurred_at, revenue, json_extract_string(properties, '$.transaction_id') "
        "from raw.events where event_name = 'purchase' order by occurred_at"
    ).fetchall()
    assert purchases == [
        ("427292018.1702650951", T(2023, 12, 15, 14, 45, 59, 604143), Decimal("33.5735"), "257059"),
        ("427292018.1702650951", T(2023, 12, 15, 14, 45, 59, 604144), Decimal("33.5735"), "257050"),
    ]
    summary = con.execute(
        "select count(distinct user_id), min(occurred_at), max(occurred_at), list(distinct platform) "
        "from raw.events"
    ).fetchone()
    assert summary == (
        6,
        T(2023, 10, 19, 7, 3, 6, 127385),
        T(2023, 12, 15, 14, 45, 59, 604144),
        ["web"],
    )

    # fivetran/dbt_ga4_export's seed: flattened by the loader, other names (the mapping
    # names them), event_params as param_* columns
    table = SAMPLES / "ga4" / "fivetran_dbt_ga4_export" / "event_data.csv"
    block = {
        "preset": "ga4",
        "options": {"format": "csv"},
        "mapping": {
            "event_name": "name",
            "occurred_at": "timestamp",
            "revenue": "ecommerce_purchase_revenue_in_usd",
        },
    }
    result = ingest(con, "ga4_table", block, table)
    assert counts(result["events"]) == dict(
        read=6, loaded=6, quarantined=0, duplicates=0, skipped=0
    )
    assert [(e[1], e[2], e[3], e[5], e[6]) for e in events(con, "ga4_table")] == [
        ("user_123", "purchase", T(2024, 9, 10, 12, 35), Decimal("29.99"), "web"),
        ("user_456", "add_to_cart", T(2024, 9, 10, 12, 40), Decimal("0"), "app"),
        ("user_789", "scroll", T(2024, 9, 10, 12, 45), Decimal("0"), "web"),
        ("user_123", "view_item", T(2024, 9, 10, 13, 5), Decimal("0"), "app"),
        ("user_123", "checkout", T(2024, 9, 10, 13, 15), Decimal("49.99"), "web"),
        ("user_456", "begin_checkout", T(2024, 9, 10, 12, 42), Decimal("0"), "app"),
    ]
    # user_first_touch_timestamp is ISO text there: the epoch conversion leaves it as it is
    assert counts(result["users"])["loaded"] == 3


# ---------------------------------------------------------------------------------------------
# Orders


def test_orders_csv_with_order_date_needs_the_date_mapped(con):
    path = FIXTURES / "orders" / "orders.csv"
    with pytest.raises(FileRejected, match=r"gives no occurred_at .*sources\.orders\.mapping"):
        ingest(con, "orders", {"preset": "orders"}, path)
    result = ingest(
        con, "orders", {"preset": "orders", "mapping": {"occurred_at": "order_date"}}, path
    )
    # two identical lines: one order (no order id in the file)
    assert counts(result["events"]) == dict(
        read=6, loaded=3, quarantined=2, duplicates=1, skipped=0
    )
    assert [(e[1:4], e[5]) for e in events(con, "orders")] == [
        (("c-1", "purchase", T(2025, 1, 6)), Decimal("19.99")),
        (("c-2", "purchase", T(2025, 1, 7, 8, 30)), Decimal("5")),  # +02:00
        (("c-3", "purchase", T(2025, 1, 9)), Decimal("8")),
    ]
    assert quarantined(con, "orders") == [
        ("events", 4, "revenue_is_number", "12,50"),
        ("events", 5, "occurred_at_is_timestamp", "2025-02-30"),
    ]


def test_orders_whitespace_export_without_header(con):
    block = {"preset": "orders", "options": WHITESPACE_ORDERS}
    result = ingest(con, "orders", block, FIXTURES / "orders" / "orders.txt")
    assert counts(result["events"]) == dict(
        read=6, loaded=3, quarantined=3, duplicates=0, skipped=0
    )
    assert [(*e[1:5], e[5]) for e in events(con, "orders")] == [
        ("00001", "purchase", T(2025, 1, 6), {"units": 1.0}, Decimal("11.77")),
        ("00002", "purchase", T(2025, 1, 7), {"units": 2.0}, Decimal("29.33")),
        ("00001", "purchase", T(2025, 1, 9), {"units": 3.0}, Decimal("35.10")),
    ]
    assert quarantined(con, "orders") == [
        ("events", 3, "occurred_at_is_timestamp", "2025x"),
        ("events", 4, "row_malformed", None),  # a fifth field
        ("events", 6, "row_malformed", None),  # no amount
    ]


def test_orders_preset_loads_the_generated_purchases_scenario(con, tmp_path):
    """`winback generate --scenario purchases` writes a CDNOW-like orders.txt: every line is
    one purchase, and the truth says how many each customer made."""
    from winback.generate.purchases import ORDERS_FILE, TRUTH_FILE, generate_purchases

    generate_purchases(tmp_path / "landing", tmp_path / "truth", customers=300, seed=7)
    path = tmp_path / "landing" / ORDERS_FILE
    lines = path.read_text().splitlines()
    result = ingest(con, "orders", {"preset": "orders", "options": WHITESPACE_ORDERS}, path)
    assert counts(result["events"]) == dict(
        read=len(lines), loaded=len(lines), quarantined=0, duplicates=0, skipped=0
    )
    with open(tmp_path / "truth" / TRUTH_FILE, newline="") as f:
        truth = {r["customer_id"]: int(r["purchases"]) for r in csv.DictReader(f)}
    loaded = dict(con.execute("select user_id, count(*) from raw.events group by 1").fetchall())
    assert loaded == {c: n for c, n in truth.items() if n}
    total = con.execute("select sum(revenue) from raw.events").fetchone()[0]
    assert total == sum(Decimal(line.split()[3]) for line in lines)


# ---------------------------------------------------------------------------------------------
# What the presets needed from the mapping language


def test_number_json_object_and_keys_inside_a_text_column():
    column = table_columns(ALIAS, ["price", "quantity", "props"])
    sql = compile_expression("number(price) * number(quantity)", column)
    assert " ".join(sql.split()) == (
        f'(try_cast ( {ALIAS}."price" as double) * try_cast ( {ALIAS}."quantity" as double))'
    )
    sql = compile_expression('props."$revenue"', column)
    assert sql == f"""(try(json_extract_string({ALIAS}."props", '$."$revenue"')))"""
    with duckdb.connect() as db:
        db.execute(
            "create table _r as select * from (values ('3.5', '2', '{\"$revenue\": 9, \"a\": {\"b\": [1]}}'), "
            "('x', '2', 'not json')) t(price, quantity, props)"
        )
        for expression, expected in [
            ("number(price) * number(quantity)", [7.0, None]),
            ('props."$revenue"', ["9", None]),
            ("props.a", ['{"b":[1]}', None]),
            (
                "json_object('q', number(quantity), 'p', price)",
                ['{"q":2.0,"p":"3.5"}', '{"q":2.0,"p":"x"}'],
            ),
        ]:
            got = [
                r[0]
                for r in db.execute(
                    f"select {compile_expression(expression, column)} from _r"
                ).fetchall()
            ]
            assert got == expected, expression


@pytest.mark.parametrize(
    "expression",
    [
        "number(price, quantity)",  # number() takes one value: no room for `, 1) ...`
        "number(price",
        "price)",
        "number(price) as double); drop table x; --",
        "cast(price as double)",
        "try_cast(price)",
    ],
)
def test_the_language_stays_closed(expression):
    with pytest.raises(MappingError):
        compile_expression(expression, table_columns(ALIAS, ["price", "quantity"]))


def test_a_preset_names_fields_a_loaders_table_may_lack(con, tmp_path):
    """A preset's mapping reads a field the file lacks as null, and leaves out a mapping none of
    whose fields the file has (the file's column of the contract's name is used then); the
    source block's own mapping must name real columns."""
    path = tmp_path / "tracks.csv"
    path.write_text(
        "user_id,event,timestamp,properties\n"
        'u1,Signed Up,2025-01-06T10:00:00Z,"{""plan"": ""pro"", ""revenue"": 5}"\n'
    )
    result = ingest(con, "tracks", {"preset": "segment", "options": {"format": "csv"}}, path)
    assert counts(result["events"]) == dict(
        read=1, loaded=1, quarantined=0, duplicates=0, skipped=0
    )
    assert [e[1:] for e in events(con, "tracks")] == [
        # userId/anonymousId absent: the user_id column; properties.revenue from the JSON text
        ("u1", "signed up", T(2025, 1, 6, 10), {"plan": "pro", "revenue": 5}, Decimal("5"), None)
    ]
    with pytest.raises(FileRejected, match="no column 'userid' in the file"):
        ingest(
            con,
            "tracks2",
            {"preset": "segment", "options": {"format": "csv"}, "mapping": {"user_id": "userid"}},
            path,
        )


def test_epoch_unit_read_off_the_size_of_the_number(con, tmp_path):
    path = tmp_path / "events.csv"
    path.write_text(
        "user_id,event_name,at\n"
        "u,s,1736154000\nu,ms,1736154000123\nu,us,1736154000123456\nu,ns,1736154000123456789\n"
        "u,text,soon\n"
    )
    block = {"kind": "events", "mapping": {"occurred_at": {"column": "at", "format": "epoch"}}}
    result = ingest(con, "epochs", block, path)
    assert counts(result["events"])["loaded"] == 4
    assert [e[2:4] for e in events(con, "epochs")] == [
        ("s", T(2025, 1, 6, 9)),
        ("ms", T(2025, 1, 6, 9, 0, 0, 123000)),
        ("us", T(2025, 1, 6, 9, 0, 0, 123456)),
        ("ns", T(2025, 1, 6, 9, 0, 0, 123457)),
    ]
    assert quarantined(con, "epochs") == [("events", 5, "occurred_at_is_timestamp", "soon")]


# ---------------------------------------------------------------------------------------------
# The marts built from every preset's fixture

SOURCES = {  # source name -> (its winback.yml block without the path, the fixture)
    "segment": ({"preset": "segment"}, "segment/calls.jsonl"),
    "snowplow": ({"preset": "snowplow"}, "snowplow/enriched.tsv"),
    "amplitude": ({"preset": "amplitude"}, "amplitude/events.json"),
    "mixpanel": ({"preset": "mixpanel"}, "mixpanel/export.jsonl"),
    "mixpanel_batch": (
        {"preset": "mixpanel", "options": {"format": "json"}},
        "mixpanel/batch.json",
    ),
    "ga4": ({"preset": "ga4"}, "ga4/events.jsonl"),
    "orders": ({"preset": "orders", "mapping": {"occurred_at": "order_date"}}, "orders/orders.csv"),
    "orders_txt": ({"preset": "orders", "options": WHITESPACE_ORDERS}, "orders/orders.txt"),
}


@pytest.fixture(scope="module")
def marts(tmp_path_factory):
    """Every fixture declared as a source of one project (winback.yml) and built by the
    command a user types: `winback run --project ...`."""
    import yaml

    from orchestration.cli import main

    root = tmp_path_factory.mktemp("presets")
    sources = {
        name: {**block, "path": str(FIXTURES / fixture)}
        for name, (block, fixture) in SOURCES.items()
    }
    (root / "winback.yml").write_text(yaml.safe_dump({"name": "presets", "sources": sources}))
    home = root / "dagster_home"
    home.mkdir()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DAGSTER_HOME", str(home))
        mp.delenv("WINBACK_PROJECT", raising=False)
        before = os.environ.get("WINBACK_WAREHOUSE")
        assert main(["run", "--project", str(root), "--as-of-date", "2025-01-31"]) == 0
        # the warehouse dbt was pointed at is not left in this process's environment
        assert os.environ.get("WINBACK_WAREHOUSE") == before
    with duckdb.connect(str(root / "warehouse" / "winback.duckdb"), read_only=True) as built:
        yield built


@pytest.mark.slow
def test_daily_activity_from_every_preset(marts):
    activity = rows(
        marts,
        "select user_id, activity_date, events, revenue from marts.user_activity_daily "
        "where user_id in ('seg-u1', 'seg-anon-7', 'rs-u2', 'd-1', 'sp-u2', 'amp-1', 'dev-9', "
        "'mp-1', 'mp-2', 'mp-dev-5', '1111.2222', 'ga-7', 'c-1', 'c-2', '00001') "
        "order by user_id, activity_date",
    )
    assert activity == [
        ("00001", "2025-01-06", 1, Decimal("11.77")),  # orders.txt
        ("00001", "2025-01-09", 1, Decimal("35.10")),
        ("1111.2222", "2025-01-06", 1, Decimal("0")),  # GA4: the UTC day, not event_date
        ("amp-1", "2025-01-06", 1, Decimal("0")),
        ("amp-1", "2025-01-07", 1, Decimal("99")),  # 01:30+02:00 on the 8th
        ("c-1", "2025-01-06", 1, Decimal("19.99")),  # two identical lines, one order
        ("c-2", "2025-01-07", 1, Decimal("5")),
        ("d-1", "2025-01-06", 1, Decimal("0")),  # the page ping is not an event
        ("dev-9", "2025-01-07", 1, Decimal("60")),
        ("ga-7", "2025-01-07", 2, Decimal("33.57")),
        ("mp-1", "2025-01-06", 2, Decimal("0")),  # one $insert_id, two events
        ("mp-2", "2025-01-07", 1, Decimal("42.5")),
        ("mp-2", "2025-01-10", 1, Decimal("0")),  # the JSON array export
        ("mp-dev-5", "2025-01-08", 1, Decimal("0")),
        ("rs-u2", "2025-01-08", 1, Decimal("12")),
        ("seg-anon-7", "2025-01-07", 1, Decimal("49.5")),  # 23:30-05:00 on the 6th
        ("seg-u1", "2025-01-06", 1, Decimal("0")),
        ("seg-u1", "2025-01-07", 1, Decimal("0")),  # checkout started: no revenue
        ("sp-u2", "2025-01-07", 1, Decimal("0")),
        ("sp-u2", "2025-01-08", 2, Decimal("120.5")),
    ]
    # and c-3's and 00002's days: every event loaded (4 + 4 + 3 + 4 + 1 + 3 + 3 + 3), once
    total = marts.execute("select count(*), sum(events) from marts.user_activity_daily").fetchone()
    assert total == (22, 25)
    assert marts.execute("select count(*) from raw.events").fetchone() == (25,)


def test_docs_describe_every_preset_and_their_examples_parse():
    import yaml

    from winback.presets import PRESETS

    text = (Path(__file__).parents[1] / "docs" / "presets.md").read_text()
    assert set(re.findall(r"^## (\w+):", text, flags=re.MULTILINE)) == set(PRESETS)
    blocks = re.findall(r"```yaml\n(.*?)```", text, flags=re.DOTALL)
    used = set()
    for block in blocks:
        for name, raw in yaml.safe_load(block)["sources"].items():
            used.add(parse_source(name, raw).preset)
    assert used == set(PRESETS)
