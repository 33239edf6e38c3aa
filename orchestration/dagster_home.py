"""A new DAGSTER_HOME: its dagster.yaml and the UI's first-visit flag. Imports no Dagster (it
is written before anything else runs: `make dagster-home`, the first `winback` command)."""

from pathlib import Path


def dagster_yaml(home: Path) -> str:
    """The dagster.yaml of a new DAGSTER_HOME: no telemetry, one run at a time, and the
    storages of `orchestration.instance_storage` on Dagster's usual files under `home`."""
    home = Path(home).resolve()
    return (
        "telemetry:\n  enabled: false\n"
        "concurrency:\n  runs:\n    max_concurrent_runs: 1\n"
        "run_storage:\n  module: orchestration.instance_storage\n  class: PooledSqliteRunStorage\n"
        f"  config:\n    base_dir: {_yaml_string(home / 'history')}\n"
        "event_log_storage:\n  module: orchestration.instance_storage\n"
        "  class: PooledSqliteEventLogStorage\n"
        f"  config:\n    base_dir: {_yaml_string(home / 'history' / 'runs')}\n"
        "schedule_storage:\n  module: dagster._core.storage.schedules\n"
        "  class: SqliteScheduleStorage\n"
        f"  config:\n    base_dir: {_yaml_string(home / 'schedules')}\n"
    )


def _yaml_string(path: Path) -> str:
    return '"' + str(path).replace("\\", "\\\\").replace('"', '\\"') + '"'


def ensure_dagster_home(home: Path) -> Path:
    """Create `home` and its dagster.yaml when it has none (an existing one is the user's)."""
    home = Path(home)
    home.mkdir(parents=True, exist_ok=True)
    (home / ".nux").mkdir(exist_ok=True)
    nux = home / ".nux" / "nux.yaml"
    if not nux.exists():
        nux.write_text("seen: 1\n")
    yaml = home / "dagster.yaml"
    if not yaml.exists():
        yaml.write_text(dagster_yaml(home))
    return yaml
