"""A new warehouse's dbt parse, started before the run holds the warehouse's lock
(orchestration/parse_ahead.py): it writes only to a scratch folder of its own, and its state
reaches the warehouse's dbt folder only when the run (under the lock) waits for it."""

from orchestration.parse_ahead import PARTIAL_PARSE, ParseAhead, dbt_target_dir


def test_the_parse_state_reaches_the_target_folder_only_when_waited_for(tmp_path):
    warehouse = tmp_path / "w.duckdb"
    target = dbt_target_dir(warehouse)
    parse = ParseAhead(warehouse)
    assert parse.process is not None and parse.scratch.is_dir()
    assert not (target / PARTIAL_PARSE).exists()  # nothing in the target before `wait`
    parse.process.wait(timeout=300)
    assert (parse.scratch / PARTIAL_PARSE).exists()
    assert not (target / PARTIAL_PARSE).exists()
    parse.wait()
    assert (target / PARTIAL_PARSE).exists()
    assert not parse.scratch.exists()
    assert not warehouse.exists()  # it never opens the warehouse
    # with a state in place there is nothing to parse
    again = ParseAhead(warehouse)
    assert again.process is None
    again.stop()


def test_a_state_that_appeared_meanwhile_is_kept_and_a_stopped_parse_leaves_nothing(tmp_path):
    warehouse = tmp_path / "w.duckdb"
    target = dbt_target_dir(warehouse)
    parse = ParseAhead(warehouse)
    target.mkdir(parents=True)
    (target / PARTIAL_PARSE).write_bytes(b"another run's state")  # written under its lock
    parse.wait()
    assert (target / PARTIAL_PARSE).read_bytes() == b"another run's state"
    assert not parse.scratch.exists()

    stopped = ParseAhead(tmp_path / "other.duckdb")
    assert stopped.process is not None
    stopped.process.wait(timeout=300)  # even a parse that has ended and written its state
    stopped.stop()
    assert stopped.process is None and not stopped.scratch.exists()
    assert not (dbt_target_dir(tmp_path / "other.duckdb") / PARTIAL_PARSE).exists()
