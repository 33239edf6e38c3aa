"""Where winback reads and writes, and the dates it works with: one place, read at run time.

Every setting has an environment variable and a default; the CLI options and Dagster resource
fields override them. Relative paths are relative to the directory winback runs from.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from winback.ingest import ValidationSettings

# name -> (environment variable, default)
ENVIRONMENT = {
    "landing_dir": ("WINBACK_LANDING_DIR", "data/landing"),
    "warehouse": ("WINBACK_WAREHOUSE", "data/warehouse/winback.duckdb"),
    "publish_dir": ("WINBACK_PUBLISH_DIR", "data/published"),
    "truth_dir": ("WINBACK_TRUTH_DIR", "data/ground_truth"),
    "earliest_date": ("WINBACK_EARLIEST_DATE", "1990-01-01"),
    "as_of_date": ("WINBACK_AS_OF_DATE", ""),
    # The clock used only by the "not in the future" rule; ISO timestamp, default: wall clock.
    "now": ("WINBACK_NOW", ""),
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

    @property
    def validation(self) -> ValidationSettings:
        return ValidationSettings(earliest=self.earliest_date, now=self.now)


def _parse_date(name: str, value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(f"{name} must be a date as YYYY-MM-DD, got {value!r}") from exc


def load_config(
    overrides: Mapping[str, str | None] | None = None, environ: Mapping[str, str] | None = None
) -> WinbackConfig:
    """Resolve every setting: explicit override, else environment variable, else default."""
    environ = os.environ if environ is None else environ
    overrides = overrides or {}
    raw = {}
    for name, (variable, default) in ENVIRONMENT.items():
        value = overrides.get(name)
        raw[name] = str(value) if value not in (None, "") else environ.get(variable, default)
    now = None
    if raw["now"]:
        now = dt.datetime.fromisoformat(raw["now"]).replace(tzinfo=None)
    return WinbackConfig(
        landing_dir=Path(raw["landing_dir"]).resolve(),
        warehouse=Path(raw["warehouse"]).resolve(),
        publish_dir=Path(raw["publish_dir"]).resolve(),
        truth_dir=Path(raw["truth_dir"]).resolve(),
        earliest_date=_parse_date("earliest_date", raw["earliest_date"]),
        as_of_date=_parse_date("as_of_date", raw["as_of_date"]) if raw["as_of_date"] else None,
        now=now,
    )


def dbt_environment(warehouse: Path) -> dict[str, str]:
    """The environment the dbt subprocess needs: the one mapping from winback's settings to the
    dbt profile (profiles.yml reads WINBACK_WAREHOUSE), and no network calls."""
    return {
        "WINBACK_WAREHOUSE": str(Path(warehouse).resolve()),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DO_NOT_TRACK": "1",
    }
