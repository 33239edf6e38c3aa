"""Issue 15: your own data in one command. A project folder (`winback init`, winback.yml),
declared sources with a column mapping, the refusal to mix two products in one warehouse, and
what a rejected file says to do — through the command line a user types."""

import csv
import datetime as dt
import os
import random
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from orchestration.cli import main
from winback.generate.purchases import generate_purchases
from winback.ingest import ingest_file
from winback.mapping import MappingError, compile_expression, table_columns
from winback.origin import check_origin, origin_of
from winback.project import ProjectError, load_project
from winback.sources import parse_source


def _cli(*args: str, cwd: Path, home: Path) -> subprocess.CompletedProcess:
    # the user's shell: no WINBACK_* variable (they would win over winback.yml's paths)
    env = {k: v for k, v in os.environ.items() if not k.startswith("WINBACK_")}
    env["DAGSTER_HOME"] = str(home)
    home.mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        [sys.executable, "-m", "orchestration.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


def _write_project(folder: Path, body: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "winback.yml").write_text(body)
    return folder / "winback.yml"


# ---------------------------------------------------------------------------------------------
# winback.yml is checked before anything runs, and its errors name the key


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("colour: blue\n", "unknown key(s) colour"),
        (
            "sources:\n  clicks:\n    kind: clicks\n    path: x.csv\n",
            "sources.clicks: kind must be",
        ),
        (
            "sources:\n  clicks:\n    kind: events\n    path: x.csv\n    options: {delimiter: '::'}\n",
            "sources.clicks.options: delimiter must be one character",
        ),
        (
            "sources:\n  clicks:\n    kind: events\n    path: x.csv\n    mapping: {userid: a}\n",
            "'userid' is not a column of the events contract",
        ),
        (
            "sources:\n  clicks:\n    kind: events\n    path: x.csv\n    mapping: {user_id: '???'}\n",
            "sources.clicks.mapping.user_id: cannot read",
        ),
        ("sources:\n  x:\n    preset: heap\n    path: x.csv\n", "unknown preset 'heap'"),
        (
            "sources:\n  x:\n    kind: events\n    path: x.txt\n    options: {header: false}\n",
            "a file without a header needs `columns",
        ),
        (
            "sources:\n  x:\n    kind: events\n    path: x.csv\n    options: {timezone: Mars/Olympus}\n",
            "timezone must be an IANA zone",
        ),
        ("settings:\n  at_risk_after_days: soon\n", "settings: setting at_risk_after_days"),
        ("sources: [1, 2]\n", "sources: expected one block per source"),
        ("name: [\n", "not valid YAML"),
    ],
)
def test_a_project_file_that_cannot_be_used_is_refused_naming_the_key(tmp_path, body, expected):
    file = _write_project(tmp_path, body)
    with pytest.raises(ProjectError) as error:
        load_project(file)
    assert expected in str(error.value)
    assert str(file) in str(error.value)


@pytest.mark.parametrize(
    "expression",
    [
        "user_id; drop table raw.events",
        "(select 1)",
        "read_csv('/etc/passwd')",
        "user_id -- comment",
        "\"user_id\" || (select 'x')",
        "getenv('HOME')",
    ],
)
def test_a_mapping_expression_cannot_become_arbitrary_sql(expression):
    with pytest.raises(MappingError):
        compile_expression(expression, table_columns("_r", ["user_id", "amount"]))


def test_mapping_expressions_compile_to_quoted_columns_and_literals():
    column = table_columns("_r", ["Amount", "user id"])
    assert compile_expression("amount / 100", column) == '(try_cast(_r."Amount" as double) / 100)'
    assert (
        compile_expression("concat(\"user id\", '-''x')", column)
        == "(concat ( _r.\"user id\" , '-''x' ))"
    )


# ---------------------------------------------------------------------------------------------
# winback init


def test_init_writes_a_project_that_loads_and_will_not_overwrite_it(tmp_path, capsys):
    assert main(["init", str(tmp_path / "shop")]) == 0
    project = load_project(tmp_path / "shop")
    assert project.name == "shop"
    assert project.paths["warehouse"] == tmp_path / "shop" / "warehouse" / "winback.duckdb"
    assert project.sources == ()
    assert all((tmp_path / "shop" / d).is_dir() for d in ("landing", "warehouse", "published"))
    assert main(["init", str(tmp_path / "shop")]) == 2
    assert "exists already" in capsys.readouterr().out


def test_init_guesses_a_source_for_an_old_systems_orders_file_and_a_clickstream(tmp_path):
    generate_purchases(tmp_path / "data", tmp_path / "truth", customers=50, seed=3)
    clicks = _clickstream(tmp_path / "data" / "clicks.csv", users=20)
    assert (
        main(
            [
                "init",
                str(tmp_path / "shop"),
                "--source",
                str(tmp_path / "data" / "orders.txt"),
                "--source",
                str(clicks),
            ]
        )
        == 0
    )
    project = load_project(tmp_path / "shop")
    orders, clickstream = project.sources
    assert orders.preset == "orders"
    options = orders.feeds[0].options
    assert (options.delimiter, options.header, options.timestamp_format) == (
        "whitespace",
        False,
        "%Y%m%d",
    )
    assert options.columns == ("customer_id", "date", "units", "amount")
    events, users = clickstream.feeds
    assert {k: m.expression for k, m in events.mapping.items()} == {
        "user_id": "user_id",
        "event_name": "event",
        "occurred_at": "timestamp",
        "platform": "platform",
    }
    assert users.kind.name == "users"
    assert users.mapping["acquisition_channel"].expression == "acquisition_channel"


# ---------------------------------------------------------------------------------------------
# one warehouse, one set of sources


def test_a_warehouse_built_from_other_data_is_refused_unless_asked(tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    for landing, user in ((first, "a"), (second, "b")):
        landing.mkdir()
        (landing / "events.csv").write_text(
            f"user_id,event_name,occurred_at\n{user},login,2024-01-01T10:00:00Z\n"
        )
    warehouse = tmp_path / "warehouse" / "w.duckdb"
    warehouse.parent.mkdir()
    with duckdb.connect(str(warehouse)) as con:  # what a run on `first` leaves
        check_origin(con, origin_of(None, first))
        ingest_file(con, first, "events.csv")
    args = ["run", "--warehouse", str(warehouse), "--publish-dir", str(tmp_path / "pub")]

    refused = _cli(*args, "--landing-dir", str(second), cwd=tmp_path, home=tmp_path / "home")
    assert refused.returncode == 2
    lines = refused.stdout.strip().splitlines()
    assert len(lines) == 1
    assert f"holds data from landing folder {first}" in lines[0]
    assert f"this run reads landing folder {second}" in lines[0]
    assert "--add-sources" in lines[0]
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute("select user_id from raw.events").fetchall() == [("a",)]

    # a project over the same warehouse is another origin too
    project = _write_project(
        tmp_path / "shop", f"paths:\n  landing: {second}\n  warehouse: {warehouse}\n"
    )
    refused = _cli("run", "--project", str(project), cwd=tmp_path, home=tmp_path / "home")
    assert refused.returncode == 2
    assert f"this run reads project {project}" in refused.stdout

    # asked: the second folder's file goes in beside the first's (rejected here, so no build)
    (second / "events.csv").write_text("user_id,event_name\nb,login\n")
    mixed = _cli(
        *args, "--landing-dir", str(second), "--add-sources", cwd=tmp_path, home=tmp_path / "home"
    )
    assert mixed.returncode == 1
    assert "required column(s) missing: occurred_at" in mixed.stdout
    with duckdb.connect(str(warehouse), read_only=True) as con:
        origins = con.execute("select location from raw.warehouse_origins order by 1").fetchall()
    assert origins == [(str(first),), (str(second),)]


# ---------------------------------------------------------------------------------------------
# a rejected file says how to fix it


def test_rejected_files_and_quarantined_timestamps_say_what_to_set(tmp_path):
    landing = tmp_path / "landing"
    landing.mkdir()
    (landing / "events_old_system.csv").write_text(
        "00001 19970101  1  11.77\n00002 19970112  2  29.33\n"
    )
    (landing / "events_segment.csv").write_text(
        "anonymous_id,user_id,event,timestamp,message_id,received_at\n"
        "a1,u1,Signed Up,2024-01-01T00:00:00Z,m1,2024-01-01T00:00:01Z\n"
    )
    (landing / "events_dates.csv").write_text(
        "user_id,event_name,occurred_at\nu1,login,20240101\nu2,login,20240102\n"
    )
    (landing / "events_numbers.csv").write_text(
        "1,2,3\n4,5,6\n"  # a header of numbers: data, not names
    )
    (landing / "events_actions.csv").write_text("customer,action,when\nc1,buy,2024-01-01\n")
    result = _cli(
        "run",
        "--landing-dir",
        str(landing),
        "--warehouse",
        str(tmp_path / "w" / "w.duckdb"),
        "--publish-dir",
        str(tmp_path / "pub"),
        cwd=tmp_path,
        home=tmp_path / "home",
    )
    assert result.returncode == 1
    out = result.stdout

    def line(file: str) -> str:
        return next(x for x in out.splitlines() if file in x and ("FAILED" in x or "hint" in x))

    assert "delimiter: whitespace, header: false" in line("events_old_system.csv")
    assert "looks like data, not a header" in line("events_old_system.csv")
    assert "`preset: segment`" in line("events_segment.csv")
    assert "found anonymous_id, user_id, event, timestamp" in line("events_segment.csv")
    assert (
        "looks like data, not a header: declare the file as a source with `options: {header: false"
        in line("events_numbers.csv")
    )
    assert "`winback init` writes one to edit" in line("events_actions.csv")
    hint = out.split("events_dates.csv:", 1)[1].splitlines()[1]
    assert "occurred_at values like '20240101' are not ISO 8601" in hint
    assert "timestamp_format: '%Y%m%d'" in hint
    assert "nothing to build" in out


# ---------------------------------------------------------------------------------------------
# init, edit, run: on data winback did not generate for itself


def _clickstream(path: Path, users: int, seed: int = 5) -> Path:
    """An e-commerce clickstream with its own column names, used weekly rather than daily."""
    rng = random.Random(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(
            [
                "user_id",
                "session_id",
                "event",
                "timestamp",
                "platform",
                "acquisition_channel",
                "user_cohort",
            ]
        )
        for u in range(users):
            day = dt.datetime(2024, 1, 1) + dt.timedelta(days=rng.randint(0, 30))
            channel = rng.choice(["organic", "paid_search", "social"])
            for _ in range(rng.randint(1, 8)):
                for _ in range(rng.randint(1, 4)):
                    at = day + dt.timedelta(minutes=rng.randint(0, 900))
                    w.writerow(
                        [
                            f"U{u:03d}",
                            f"S{u}-{day:%j}",
                            rng.choice(["page_view", "product_view", "add_to_cart", "purchase"]),
                            at.strftime("%Y-%m-%d %H:%M:%S"),
                            rng.choice(["ios", "web"]),
                            channel,
                            "2024-01",
                        ]
                    )
                day += dt.timedelta(days=rng.choice([5, 7, 7, 10]))
    return path


@pytest.mark.slow
def test_init_edit_run_on_an_orders_export_and_a_clickstream(tmp_path):
    """The README's path: `winback init --source FILE`, check the guess, `winback run` inside
    the folder. Every order and every click lands in user_activity_daily as it was."""
    data = tmp_path / "data"
    generate_purchases(data, tmp_path / "truth", customers=120, seed=8)
    _clickstream(data / "clicks.csv", users=40)
    home = tmp_path / "home"

    # the orders of an older system
    assert (
        _cli(
            "init", "store", "--source", str(data / "orders.txt"), cwd=tmp_path, home=home
        ).returncode
        == 0
    )
    yml = tmp_path / "store" / "winback.yml"
    yml.write_text(yml.read_text().replace("# core_events: [purchase]", "core_events: [purchase]"))
    run = _cli("run", cwd=tmp_path / "store", home=home)
    assert run.returncode == 0, run.stdout[-3000:]
    with duckdb.connect() as con:
        expected = con.execute(
            """select user_id, activity_date, count(*), sum(amount)
            from (select f[1] as user_id, strptime(f[2], '%Y%m%d')::date as activity_date,
                         f[4]::decimal(18, 4) as amount
                  from (select regexp_split_to_array(trim(line), '\\s+') as f
                        from read_csv(?, header = false, columns = {'line': 'VARCHAR'},
                                      delim = chr(1), quote = '', escape = '')))
            group by all order by 1, 2""",
            [str(data / "orders.txt")],
        ).fetchall()
        published = tmp_path / "store" / "published" / "winback.duckdb"
        con.execute(f"attach '{published}' as p (read_only)")
        got = con.execute(
            "select user_id, activity_date, events, revenue from p.user_activity_daily "
            "order by 1, 2"
        ).fetchall()
        assert got == expected
        assert con.execute("select count(*) from p.users").fetchone()[0] == 120

    # a clickstream with its own column names, a per-event acquisition channel
    assert (
        _cli(
            "init", "clicks", "--source", str(data / "clicks.csv"), cwd=tmp_path, home=home
        ).returncode
        == 0
    )
    run = _cli("run", "--project", str(tmp_path / "clicks"), cwd=tmp_path, home=home)
    assert run.returncode == 0, run.stdout[-3000:]
    with duckdb.connect() as con:
        expected = con.execute(
            """select user_id, timestamp::date, count(*), max(acquisition_channel)
            from read_csv(?, all_varchar = true) group by all order by 1, 2""",
            [str(data / "clicks.csv")],
        ).fetchall()
        published = tmp_path / "clicks" / "published" / "winback.duckdb"
        con.execute(f"attach '{published}' as p (read_only)")
        got = con.execute(
            """select a.user_id, a.activity_date, a.events, u.acquisition_channel
            from p.user_activity_daily a join p.users u using (user_id) order by 1, 2"""
        ).fetchall()
        assert got == expected
    # the store's warehouse is its own: nothing of the clickstream went into it
    with duckdb.connect(
        str(tmp_path / "store" / "warehouse" / "winback.duckdb"), read_only=True
    ) as con:
        assert (
            con.execute("select count(*) from raw.events where user_id like 'U%'").fetchone()[0]
            == 0
        )


# ---------------------------------------------------------------------------------------------
# a bad line of an export is one quarantined row, not a rejected file


def _ingest_source(tmp_path, block: dict, name: str, text: str):
    path = tmp_path / name
    path.write_text(text)
    source = parse_source("src", {"path": name, **block})
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    results = [
        ingest_file(con, tmp_path, f"{feed.name}:{name}", feed=feed, path=path)
        for feed in source.feeds
    ]
    return con, results


def test_a_line_of_json_lines_that_is_not_an_object_is_quarantined_and_the_rest_load(tmp_path):
    con, (events,) = _ingest_source(
        tmp_path,
        {"kind": "events", "mapping": {"user_id": "uid", "event_name": "e", "occurred_at": "t"}},
        "export.jsonl",
        '{"uid": "u1", "e": "login", "t": "2024-01-01T10:00:00Z"}\n'
        '{"uid": "u2", "e": "login", "t": \n'
        "\n"
        "[1, 2]\n"
        '{"uid": "u3", "e": "buy", "t": 1704103200}\n',
    )
    assert (events.rows_read, events.rows_loaded, events.rows_quarantined) == (4, 1, 3)
    assert con.execute(
        "select source_row, rule, original_row from raw.quarantine order by source_row"
    ).fetchall() == [
        (2, "row_malformed", '{"uid": "u2", "e": "login", "t": '),
        (3, "row_malformed", "[1, 2]"),
        (4, "occurred_at_is_timestamp", '{"uid": "u3", "e": "buy", "t": 1704103200}'),
    ]


def test_snowplow_enriched_fields_that_start_with_a_quote_are_read_as_they_are(tmp_path):
    from winback.presets import SNOWPLOW_ENRICHED_FIELDS

    def line(event_id: str, title: str) -> str:
        values = dict.fromkeys(SNOWPLOW_ENRICHED_FIELDS, "")
        values.update(
            app_id="site",
            event="page_view",
            event_id=event_id,
            domain_userid="d1",
            collector_tstamp="2024-01-01 10:00:00.000",
            derived_tstamp="2024-01-01 10:00:00.000",
            page_title=title,
        )
        return "\t".join(values[f] for f in SNOWPLOW_ENRICHED_FIELDS) + "\n"

    con, (events,) = _ingest_source(
        tmp_path,
        {"preset": "snowplow"},
        "enriched.tsv",
        line("e1", '"Quoted" title, with a comma') + line("e2", 'a "b'),
    )
    assert (events.rows_read, events.rows_loaded, events.rows_quarantined) == (2, 2, 0)


def test_runs_from_the_ui_build_with_the_projects_settings_under_their_own(tmp_path):
    from orchestration.dbt import DbtBuildConfig, with_project_settings
    from winback.settings import load_config

    file = _write_project(
        tmp_path, "settings:\n  week_start: sunday\n  preset: posthog\n  cadence: auto\n"
    )
    config = load_config({"project": str(file)}, environ={})
    assert config.landing_dir == tmp_path / "landing"
    merged = with_project_settings(
        DbtBuildConfig(settings={"cadence": "fixed", "mau_window_days": 28}), config
    )
    assert merged.preset == "posthog"
    assert merged.settings == {"week_start": "sunday", "cadence": "fixed", "mau_window_days": 28}
    assert with_project_settings(DbtBuildConfig(preset="amplitude"), config).preset == "amplitude"


@pytest.mark.parametrize(
    ("values", "share", "expected"),
    [
        (["19970101", "19970112"], 1.0, "`timestamp_format: '%Y%m%d'` in a source"),
        (["13/01/2024 10:00", "14/01/2024 11:00"], 0.9, "'%d/%m/%Y %H:%M'` in a source"),
        (["01/02/2024", "03/04/2024"], 1.0, "'%d/%m/%Y'` (or '%m/%d/%Y' if that is how"),
        (["1704103200"], 1.0, "'epoch_s'"),
        (["31/02/2025 25:61"], 1.0, None),  # the shape, but not a time: no format reads it
        (["19970101"], 0.01, None),  # a few bad values among good ones are just bad
        (["19970101", "soon"], 1.0, None),
    ],
)
def test_a_timestamp_hint_names_a_format_only_when_it_reads_the_values(values, share, expected):
    from winback.hints import timestamp_format_hint

    hint = timestamp_format_hint("occurred_at", values, declared=False, share=share)
    if expected is None:
        assert hint is None
    else:
        assert expected in hint


def test_arithmetic_on_a_files_text_columns_works_as_written(tmp_path):
    con, (events,) = _ingest_source(
        tmp_path,
        {
            "kind": "events",
            "mapping": {
                "user_id": "customer",
                "event_name": {"constant": "purchase"},
                "occurred_at": "day",
                "revenue": "cents / 100 + tip",
            },
        },
        "orders.csv",
        "customer,day,cents,tip\nc1,2024-01-01,1999,1\nc2,2024-01-02,abc,0\n",
    )
    assert (events.rows_loaded, events.rows_quarantined) == (1, 1)
    assert con.execute("select user_id, revenue::double from raw.events").fetchall() == [
        ("c1", 20.99)
    ]
    # a value that is not a number is not read as "no revenue": the row is quarantined with it
    assert con.execute("select source_row, rule, value from raw.quarantine").fetchall() == [
        (2, "revenue_is_number", "abc")
    ]
