"""Generated data through real Dagster runs and a real `dbt build` into a DuckDB file under
tmp_path, then checks against the generator's ground truth and an independent recomputation."""

import datetime as dt
import json

import dagster as dg
import duckdb
import pandas as pd
import pytest

from orchestration.runner import build_marts, ingest_landing_file, run_pipeline
from tests.instances import pooled_instance
from winback.generate import generate
from winback.reports import audience_summary
from winback.settings import load_config

START = dt.date(2025, 1, 6)
DAYS = 60
AS_OF = START + dt.timedelta(days=DAYS - 1)
NOW = "2025-03-10T00:00:00"  # the clock for the not-in-future rule
MINIMAL_FILE = "events/minimal_export.csv"
AUDIENCE_MARTS = (
    "audience_changes",
    "audience_daily",
    "audience_exclusions",
    "audience_export_ads",
    "audience_export_changes",
    "audience_export_customer_success",
    "audience_export_email",
    "audience_export_push",
    "audience_export_sms",
    "audience_sizes",
    "audience_sunset",
)
# what the campaigns caused (winback.campaign_engine): one as-of day has no closed window yet
CAMPAIGN_MARTS = (
    "campaign_cycles",
    "campaign_exposures",
    "campaign_lift",
    "campaign_performance",
    "campaign_programme_monthly",
)
REJECTED_FILE = "events/missing_column.csv"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e")
    landing, truth = root / "landing", root / "truth"
    generate(landing, truth, users=400, days=DAYS, start=START, seed=7, dirty_share=0.03)
    (landing / MINIMAL_FILE).write_text(
        "user_id,event_name,occurred_at\n"
        "u_minimal,Login,2025-02-01T09:00:00Z\n"
        "u_minimal,create_report,2025-02-01T09:05:00+01:00\n"
        "u_minimal,login,2025-02-03T10:00:00Z\n"
    )
    (landing / REJECTED_FILE).write_text("user_id,event_name\nu1,login\n")
    config = load_config(
        {
            "landing_dir": str(landing),
            "warehouse": str(root / "warehouse.duckdb"),
            "publish_dir": str(root / "published"),
            "truth_dir": str(truth),
            "as_of_date": AS_OF.isoformat(),
            "now": NOW,
        }
    )
    instance = pooled_instance(root / "dagster_home")
    messages: list[str] = []
    summary = run_pipeline(config, instance=instance, progress=messages.append)
    return {"config": config, "summary": summary, "instance": instance, "messages": messages}


def query(run, sql: str, params=None) -> pd.DataFrame:
    with duckdb.connect(str(run["config"].warehouse), read_only=True) as con:
        return con.execute(sql, params or []).df()


def truth(run, name: str) -> pd.DataFrame:
    return pd.read_csv(run["config"].truth_dir / name, dtype=str)


def snapshot(run) -> dict[str, list]:
    tables = query(
        run,
        "select table_schema || '.' || table_name as t from information_schema.tables "
        "where table_schema in ('raw', 'marts') and table_name not in "
        # logs of what ran, one row per run (winback.ingest, winback.cadence)
        "('ingest_log', 'builds', 'build_settings', 'build_warnings') order by 1",
    )["t"]
    with duckdb.connect(str(run["config"].warehouse), read_only=True) as con:
        return {t: sorted(con.execute(f"select * from {t}").fetchall(), key=repr) for t in tables}


def test_every_asset_materializes_and_is_published(run):
    summary = run["summary"]
    assert summary.marts_success, summary.errors
    assert set(summary.published) == {
        "active_users_daily",
        *AUDIENCE_MARTS,
        *CAMPAIGN_MARTS,
        "survey_insight",
        "churn_calibration",
        "churn_model_evaluation",
        "churn_scores",
        "cohort_retention",
        "daily_activity",
        "disengagement_alerts",
        "lifecycle",
        "user_activity_daily",
        "user_daily_engagement",
        "user_daily_health",
        "user_day_spans",
        "user_disengagement_patterns",
        "user_state_transitions",
        "users",
    }
    published = run["config"].publish_dir
    assert (published / "winback.duckdb").exists()
    # 60 days are too short to backtest a 30-day churn horizon: published empty, said so
    untrained = {"churn_calibration", "churn_model_evaluation", "churn_scores"}
    # nobody has failed two cycles yet; sms and push: no consent in the generated users
    empty_audiences = {"audience_sunset", "audience_export_sms", "audience_export_push"}
    # the exposures are there, but no 14-day window has closed on the first audience day
    empty_audiences |= set(CAMPAIGN_MARTS) - {"campaign_exposures", "campaign_cycles"}
    # the per-day marts are views in the DuckDB file (computed on read from the spans, which
    # are in Parquet); every other mart is a table in both
    views = {"user_daily_engagement", "user_daily_health"}
    with duckdb.connect(str(published / "winback.duckdb"), read_only=True) as con:
        for table in summary.published:
            rows = con.execute(f"select count(*) from {table}").fetchone()[0]
            assert rows == summary.published[table], table
            assert (rows == 0) == (table in untrained | empty_audiences), table
            parquet = published / "parquet" / f"{table}.parquet"
            assert parquet.exists() == (table not in views), table
            if table not in views:
                assert len(pd.read_parquet(parquet)) == rows, table
        # the dense view's days tile the spans: one row per user per day, as many as the spans cover
        (covered,) = con.execute(
            "select sum(datediff('day', valid_from, valid_to) + 1) from user_day_spans"
        ).fetchone()
        assert covered == summary.published["user_daily_health"]
    assert any(
        w.startswith("ml/churn_scores scores_complete: no churn model")
        for w in summary.check_warnings
    ), summary.check_warnings
    manifest = json.loads((published / "manifest.json").read_text())
    assert manifest["tables"] == summary.published
    # the audience's exports also as CSV, for CRM and reverse-ETL tools
    exports = {p.stem: len(pd.read_csv(p)) for p in (published / "exports").glob("*.csv")}
    assert exports == {
        t.removeprefix("audience_export_"): summary.published[t]
        for t in AUDIENCE_MARTS
        if t.startswith("audience_export_")
    }
    # what `winback run` prints: the sizes per segment and channel, from the publication
    audience = audience_summary(published)
    assert audience["as_of"] == AS_OF
    assert audience["exported"] == sum(
        summary.published[t]
        for t in AUDIENCE_MARTS
        if t.startswith("audience_export_")
        and t not in ("audience_export_ads", "audience_export_changes")
    )
    assert {channel for _, channel, *_ in audience["sizes"]} <= {"email", "customer_success"}
    # the campaign report, published beside the marts
    report = (published / "reports" / "campaigns.md").read_text()
    assert report.startswith(f"# Win-back campaigns as of {AS_OF}")
    assert (published / "reports" / "campaigns.html").read_text().startswith("<!doctype html>")


def test_counts_reconcile_per_file_and_in_asset_metadata(run):
    log = query(run, "select * from raw.ingest_log where status = 'loaded'")
    assert len(log) >= 5
    assert (log.rows_read == log.rows_loaded + log.rows_quarantined + log.duplicates_dropped).all()
    loaded = query(run, "select _source_file, count(*) as n from raw.events group by 1")
    merged = loaded.merge(log, left_on="_source_file", right_on="source_file")
    assert (merged.n == merged.rows_loaded).all()

    for mart, chart in (
        ("cohort_retention", "retention_heatmap"),
        ("lifecycle", "lifecycle_chart"),
    ):
        materialization = run["instance"].get_latest_materialization_event(
            dg.AssetKey(["marts", mart])
        )
        mart_metadata = materialization.asset_materialization.metadata
        assert mart_metadata["dagster/row_count"].value == run["summary"].published[mart] > 0
        assert mart_metadata[chart].value.startswith("![")

    event = run["instance"].get_latest_materialization_event(dg.AssetKey(["raw", "events"]))
    metadata = event.asset_materialization.metadata
    assert metadata["rows_read"].value == (
        metadata["rows_loaded"].value
        + metadata["rows_quarantined"].value
        + metadata["duplicates_dropped"].value
    )


def test_each_dirty_row_kind_lands_where_it_should(run):
    dirty = truth(run, "dirty_rows.csv")
    assert set(dirty["kind"]) >= {
        "missing_user_id",
        "bad_timestamp",
        "future_timestamp",
        "duplicate",
        "odd_case_name",
        "bad_properties",
    }
    quarantine = query(
        run,
        "select json_extract_string(original_row, '$.event_id') as event_id, rule, source_file "
        "from raw.quarantine where kind = 'events'",
    )
    quarantined = dirty[
        dirty.expected_rule.str.endswith(("_not_null", "_timestamp", "_future", "_object"))
    ]
    merged = quarantined.merge(quarantine, on="event_id", how="left")
    assert merged["rule"].notna().all(), "every dirty row of a quarantine kind is in quarantine"
    assert (merged["rule"] == merged["expected_rule"]).all()
    assert len(quarantine) == len(quarantined), "nothing else is quarantined"

    duplicates = (dirty.kind == "duplicate").sum()
    assert (
        query(run, "select sum(duplicates_dropped) as n from raw.ingest_log where kind = 'events'")[
            "n"
        ][0]
        == duplicates
    )

    odd = dirty[dirty.kind == "odd_case_name"]["event_id"].tolist()
    names = query(
        run, "select event_name from raw.events where event_id in (select unnest(?))", [odd]
    )
    assert len(names) == len(odd)
    assert (names.event_name == names.event_name.str.strip().str.lower()).all()


def test_a_file_missing_a_required_column_is_rejected_and_the_rest_loads(run):
    outcome = next(f for f in run["summary"].files if f.source_file == REJECTED_FILE)
    assert not outcome.success
    assert REJECTED_FILE in outcome.error and "occurred_at" in outcome.error
    assert (
        query(run, "select count(*) as n from raw.events where _source_file = ?", [REJECTED_FILE])[
            "n"
        ][0]
        == 0
    )
    assert all(f.success for f in run["summary"].files if f.source_file != REJECTED_FILE)
    assert any(REJECTED_FILE in m and "FAILED" in m for m in run["messages"])


def test_a_file_with_only_the_required_columns_runs_through(run):
    user = query(run, "select * from marts.users where user_id = 'u_minimal'")
    assert user.signup_source[0] == "first_event"
    assert str(user.signup_date[0].date()) == "2025-02-01"
    assert user.active_days[0] == 2 and user.total_events[0] == 3 and user.core_actions[0] == 1
    days = query(
        run,
        "select activity_date, events, distinct_event_names from marts.user_activity_daily "
        "where user_id = 'u_minimal' order by 1",
    )
    assert days.values.tolist() == [
        [pd.Timestamp("2025-02-01"), 2, 2],
        [pd.Timestamp("2025-02-03"), 1, 1],
    ]


def test_users_mart_matches_ground_truth(run):
    users = query(run, "select * from marts.users")
    truth_users = truth(run, "users.csv")
    assert set(users.user_id) == set(truth_users.user_id) | {"u_minimal"}
    assert users.user_id.is_unique
    merged = users.merge(
        truth_users[["user_id", "archetype", "signup_date", "churn_date"]].rename(
            columns={"signup_date": "true_signup_date"}
        ),
        on="user_id",
    )
    assert (merged.signup_date.dt.strftime("%Y-%m-%d") == merged.true_signup_date).all()
    never = merged[merged.archetype == "never_activated"]
    assert (never.active_days <= 2).all()
    # an involuntary churner's payment fails within days of their last activity (weekly users
    # may lapse a little before it), so three weeks before the as-of date it has happened
    three_weeks_before = (AS_OF - dt.timedelta(days=21)).isoformat()
    involuntary = merged[
        (merged.archetype == "involuntary") & (merged.churn_date <= three_weeks_before)
    ]
    assert len(involuntary) > 5
    assert (involuntary.payment_failures > 0).all()


def test_daily_activity_matches_an_independent_recomputation(run):
    """DAU recomputed with pandas straight from the landing files, applying the contract's
    rules by hand, equals the mart for every day."""
    config = run["config"]
    frames = [
        pd.read_csv(p, dtype=str, keep_default_na=False)
        for p in sorted((config.landing_dir / "events").glob("*.csv"))
    ]
    events = pd.concat([f for f in frames if "occurred_at" in f.columns], ignore_index=True).fillna(
        ""
    )
    ts = pd.to_datetime(events.occurred_at, utc=True, errors="coerce", format="ISO8601")

    def is_object(text: str) -> bool:
        if not text.strip():
            return True
        try:
            return isinstance(json.loads(text), dict)
        except ValueError:
            return False

    valid = (
        (events.user_id.str.strip() != "")
        & ts.notna()
        & (ts <= pd.Timestamp(NOW, tz="UTC") + pd.Timedelta(days=1))
        & events.properties.map(is_object)
    )
    clean = pd.DataFrame(
        {"user_id": events.user_id[valid], "day": ts[valid].dt.tz_convert(None).dt.normalize()}
    )
    clean = clean[clean.day <= pd.Timestamp(AS_OF)]
    expected = clean.drop_duplicates().groupby("day").size()

    mart = query(run, "select activity_date, active_users from marts.daily_activity").set_index(
        "activity_date"
    )
    mart = mart[mart.active_users > 0].active_users
    assert mart.to_dict() == {k: v for k, v in expected.to_dict().items()}
    # days are complete from the first activity to the as-of date
    assert query(
        run, "select count(*) as n, max(activity_date) as last from marts.daily_activity"
    ).iloc[0].tolist() == [
        (AS_OF - expected.index.min().date()).days + 1,
        pd.Timestamp(AS_OF),
    ]


def test_rerunning_a_partition_and_the_marts_changes_nothing(run):
    config, instance = run["config"], run["instance"]
    before = snapshot(run)
    first_events_file = sorted(
        f.source_file for f in run["summary"].files if f.source_file.startswith("events/events_")
    )[0]
    assert ingest_landing_file(first_events_file, config, instance).success
    assert build_marts(config, instance).success
    assert snapshot(run) == before

    # the incremental rebuild (from the re-ingested file's first day) equals a full refresh
    holdout = query(run, "select * from audience.holdout order by user_id")
    assert len(holdout) > 50 and holdout["is_holdout"].any()
    assert build_marts(config, instance, full_refresh=True).success
    assert snapshot(run) == before

    # the holdout never changes, not with a full refresh (an as-of date moved back and forth:
    # tests/test_audience_engine.py), and no holdout user is in an export of the day
    assert query(run, "select * from audience.holdout order by user_id").equals(holdout)
    assert (
        query(
            run,
            "select count(*) as n from marts.audience_daily as d join audience.holdout as h "
            "using (user_id) where h.is_holdout and d.status = 'exported'",
        )["n"][0]
        == 0
    )


def test_events_after_the_as_of_date_stay_raw_but_out_of_the_marts(run):
    config, instance = run["config"], run["instance"]
    late = config.landing_dir / "events" / "late_arrivals.csv"
    late.write_text("user_id,event_name,occurred_at\nu_late,login,2025-03-07T00:00:00Z\n")
    try:
        assert ingest_landing_file("events/late_arrivals.csv", config, instance).success
        assert build_marts(config, instance).success
        assert (
            query(run, "select count(*) as n from raw.events where user_id = 'u_late'")["n"][0] == 1
        )
        assert (
            query(run, "select count(*) as n from marts.users where user_id = 'u_late'")["n"][0]
            == 0
        )
        assert query(run, "select max(activity_date) as d from marts.user_activity_daily")["d"][
            0
        ] == pd.Timestamp(AS_OF)
    finally:
        late.unlink()


def test_a_historical_export_from_1997_builds_as_of_its_own_dates(tmp_path):
    """No wall clock in the marts: the as-of date defaults to the latest event (1997)."""
    landing = tmp_path / "landing"
    (landing / "events").mkdir(parents=True)
    (landing / "events" / "export_1997.csv").write_text(
        "user_id,event_name,occurred_at,revenue\n"
        "u1,login,1997-03-01T10:00:00Z,\n"
        "u1,purchase,1997-03-03T10:00:00Z,19.90\n"
        "u2,login,1997-03-03T11:00:00Z,\n"
        "u3,login,1989-12-31T11:00:00Z,\n"
    )
    config = load_config(
        {
            "landing_dir": str(landing),
            "warehouse": str(tmp_path / "warehouse.duckdb"),
            "publish_dir": str(tmp_path / "published"),
        }
    )
    summary = run_pipeline(
        config, instance=pooled_instance(tmp_path / "dagster_home"), progress=lambda m: None
    )
    assert summary.success, summary.errors
    assert summary.totals()["rows_quarantined"] == 1  # before the earliest date (1990-01-01)
    with duckdb.connect(str(config.warehouse), read_only=True) as con:
        assert con.execute(
            "select activity_date, active_users, cast(revenue as double) from marts.daily_activity order by 1"
        ).fetchall() == [
            (dt.date(1997, 3, 1), 1, 0),
            (dt.date(1997, 3, 2), 0, 0),
            (dt.date(1997, 3, 3), 2, pytest.approx(19.9)),
        ]
        assert con.execute(
            "select distinct as_of_date, count(*) from marts.users group by 1"
        ).fetchall() == [(dt.date(1997, 3, 3), 2)]


def test_the_closed_loop_runs_its_days_through_the_pipeline(run):
    """`winback simulate`: each simulated day lands the email service's answers and the day's
    activity as files and is one pipeline run (in the Dagster instance: the UI shows it); the
    truth goes to the ground-truth folder only. Last in this module: it moves the as-of date."""
    from orchestration.simulate import SIM_PREFIX, run_closed_loop

    config, instance = run["config"], run["instance"]
    runs_before = len(instance.get_runs())
    lines: list[str] = []
    # one day is enough: it lands the answers to the first run's exports and runs the pipeline
    truth = run_closed_loop(config, days=1, seed=3, progress=lines.append, instance=instance)
    days = [AS_OF + dt.timedelta(days=1)]
    landed = sorted(p.name for p in (config.landing_dir / "events").glob(f"{SIM_PREFIX}*"))
    assert landed == [f"{SIM_PREFIX}{d}.csv" for d in days]
    assert len(instance.get_runs()) > runs_before + 1  # the day's ingest runs and marts run
    assert len([line for line in lines if "contacts exported the day before" in line]) == 1
    sent = query(
        run,
        "select count(*) as n from raw.messages where campaign_id like 'winback.%' "
        "and message_event = 'sent'",
    ).n[0]
    assert sent > 0
    assert query(run, "select max(as_of_date) as d from audience.daily").d[0].date() == days[-1]
    contacted_holdout = query(
        run,
        "select count(*) as n from raw.messages as m join audience.holdout as h using (user_id) "
        "where h.is_holdout and m.campaign_id like 'winback.%'",
    ).n[0]
    assert contacted_holdout == 0
    folder = config.truth_dir / "closed_loop"
    assert {p.name for p in folder.iterdir()} == {
        "natural_activity.parquet",
        "parameters.json",
        "true_effects.csv",
    }
    assert truth["folder"] == folder
    # the truth never reaches the warehouse or the publication
    assert not list(config.publish_dir.rglob("*natural*"))
