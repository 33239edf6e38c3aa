"""Where winback reads and writes, and the dates it works with: one place, read at run time.

Every setting has an environment variable and a default; the CLI options and Dagster resource
fields override them. Relative paths are relative to the directory winback runs from.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from winback.contract import ValidationSettings

# name -> (environment variable, default)
ENVIRONMENT = {
    # A winback.yml (or its folder): its paths become the defaults of the four below.
    "project": ("WINBACK_PROJECT", ""),
    "landing_dir": ("WINBACK_LANDING_DIR", "data/landing"),
    "warehouse": ("WINBACK_WAREHOUSE", "data/warehouse/winback.duckdb"),
    "publish_dir": ("WINBACK_PUBLISH_DIR", "data/published"),
    "truth_dir": ("WINBACK_TRUTH_DIR", "data/ground_truth"),
    "earliest_date": ("WINBACK_EARLIEST_DATE", "1990-01-01"),
    "as_of_date": ("WINBACK_AS_OF_DATE", ""),
    # The clock used only by the "not in the future" rule; ISO timestamp, default: wall clock.
    "now": ("WINBACK_NOW", ""),
    # Publications kept in the publish folder (the current one included).
    "keep_publications": ("WINBACK_KEEP_PUBLICATIONS", "3"),
    # Seconds a run waits for another run on the same warehouse to end before it gives up.
    "lock_wait": ("WINBACK_LOCK_WAIT", "600"),
}


@dataclass(frozen=True)
class WinbackConfig:
    landing_dir: Path
    warehouse: Path
    publish_dir: Path
    truth_dir: Path
    earliest_date: dt.date
    as_of_date: dt.date | None
    now: dt.datetime | None
    keep_publications: int = 3
    lock_wait: float = 600.0
    project_file: Path | None = None

    def project(self):
        """The project (winback.yml) this configuration comes from, loaded and checked."""
        from winback.project import load_project

        return load_project(self.project_file) if self.project_file else None

    @property
    def validation(self) -> ValidationSettings:
        return ValidationSettings(earliest=self.earliest_date, now=self.now)


def _parse_date(name: str, value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"{name} must be a date as YYYY-MM-DD, got {value!r}") from None


def _parse_number(name: str, value: str, minimum: float, kind: type = int) -> int | float:
    try:
        number = kind(value.strip())
    except ValueError:
        number = None
    if number is None or number < minimum or number != number:
        what = "a whole number" if kind is int else "a number of seconds"
        raise ValueError(f"{name} must be {what} >= {minimum:g}, got {value!r}") from None
    return number


def _parse_now(value: str) -> dt.datetime:
    try:
        return dt.datetime.fromisoformat(value.strip()).replace(tzinfo=None)
    except ValueError:
        raise ValueError(f"now must be a timestamp as YYYY-MM-DDTHH:MM:SS, got {value!r}") from None


def _parse_path(name: str, value: str) -> Path:
    if not value.strip() or "\x00" in value:
        raise ValueError(f"{name} must be a path, got {value!r}")
    return Path(value).expanduser().resolve()


def load_config(
    overrides: Mapping[str, str | None] | None = None, environ: Mapping[str, str] | None = None
) -> WinbackConfig:
    """Resolve every setting: explicit override, else environment variable, else default."""
    environ = os.environ if environ is None else environ
    overrides = overrides or {}
    raw, origin = {}, {}
    project_paths: dict[str, Path] = {}
    project_file = None
    for name, (variable, default) in ENVIRONMENT.items():
        value = overrides.get(name)
        if value not in (None, ""):
            raw[name], origin[name] = str(value), ""
        elif environ.get(variable, "") != "":
            raw[name], origin[name] = environ[variable], f" (from {variable})"
        elif name in project_paths:
            raw[name], origin[name] = str(project_paths[name]), " (from winback.yml)"
        else:
            raw[name], origin[name] = default, ""
        if name == "project" and raw[name].strip():
            from winback.project import load_project

            project = load_project(raw[name].strip())
            project_file, project_paths = project.file, project.paths
    parsers = {
        "landing_dir": _parse_path,
        "warehouse": _parse_path,
        "publish_dir": _parse_path,
        "truth_dir": _parse_path,
        "earliest_date": _parse_date,
        "as_of_date": lambda n, v: _parse_date(n, v) if v.strip() else None,
        "now": lambda n, v: _parse_now(v) if v.strip() else None,
        "keep_publications": lambda n, v: _parse_number(n, v, 1),
        "lock_wait": lambda n, v: _parse_number(n, v, 0, float),
    }
    values: dict = {"project_file": project_file}
    for name, parse in parsers.items():
        try:
            values[name] = parse(name, raw[name])
        except ValueError as exc:
            raise ValueError(f"{exc}{origin[name]}") from None
    return WinbackConfig(**values)


RUN_VARS_ENV = "WINBACK_DBT_RUN_VARS"


def run_vars_environment(variables: Mapping[str, Any]) -> dict[str, str]:
    """A run's dbt vars (as_of_date, start_date, preset, settings) for dbt's run_var macro,
    which reads them only while executing: passed with --vars, a new as-of date every day would
    make dbt parse the whole project again. Always set, to "{}" when there are none, so a value
    left in the calling shell never applies."""
    return {RUN_VARS_ENV: json.dumps(dict(variables), sort_keys=True, default=str)}


def dbt_environment(warehouse: Path) -> dict[str, str]:
    """The environment the dbt subprocess needs: the one mapping from winback's settings to the
    dbt profile (profiles.yml reads WINBACK_WAREHOUSE), and no network calls."""
    return {
        "WINBACK_WAREHOUSE": str(Path(warehouse).resolve()),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DO_NOT_TRACK": "1",
    }
