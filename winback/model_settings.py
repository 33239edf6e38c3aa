"""The typed schema of the dbt settings (`--set name=value`, the dbt asset's run config).

Every value from outside is checked here before anything runs: an unknown name, a value of the
wrong type or outside its allowed values is one line naming the setting and what is allowed.
What comes out is plain JSON data (dates stay `YYYY-MM-DD` strings), so it serialises into a
Dagster run config and into dbt's `--vars` unchanged. The dbt macros quote what they paste
into SQL as well (`sql_string`, `sql_list`, `sql_date`): values reach SQL only as checked,
typed literals.

The names are the `vars:` of `dbt_project/dbt_project.yml` (a test keeps the two in step);
defaults and the presets' values live in `dbt_project/macros/settings/` (winback_setting_defaults,
winback_presets).
"""

from __future__ import annotations

import datetime as dt
import difflib
import math
import re
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

PRESETS = ("posthog", "amplitude", "mixpanel")
HEALTH_COMPONENTS = ("frequency", "recency", "breadth", "depth", "message_engagement")
DATE_PATTERN = re.compile(r"^\d{4}-\d{2}-\d{2}$")
NAME_MAX_LENGTH = 200


class SettingError(ValueError):
    """A setting that cannot be used; the message is one line naming it."""


@dataclass(frozen=True)
class Setting:
    kind: str  # int, number, date, choice, timezone, names, weights
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()

    def allowed(self) -> str:
        if self.kind == "choice":
            return "one of " + ", ".join(self.choices)
        if self.kind in ("int", "number"):
            what = "a whole number" if self.kind == "int" else "a number"
            low = f" >= {self.minimum:g}" if self.minimum is not None else ""
            high = f" <= {self.maximum:g}" if self.maximum is not None else ""
            return what + (low + (" and" if low and high else "") + high)
        return {
            "date": "a date as YYYY-MM-DD",
            "timezone": "an IANA timezone name such as UTC or Europe/Paris",
            "names": 'a list of names, e.g. ["login", "view_dashboard"]',
            "weights": "a mapping of " + ", ".join(HEALTH_COMPONENTS) + " to numbers >= 0",
        }[self.kind]


def _int(minimum: float | None = None, maximum: float | None = None) -> Setting:
    return Setting("int", minimum, maximum)


def _number(minimum: float | None = None, maximum: float | None = None) -> Setting:
    return Setting("number", minimum, maximum)


DATE, NAMES = Setting("date"), Setting("names")

SETTINGS: dict[str, Setting] = {
    # the run
    "as_of_date": DATE,
    "start_date": DATE,
    "lookback_days": _int(0, 3650),
    "core_events": NAMES,
    "high_value_plans": NAMES,
    "mid_value_plans": NAMES,
    "value_tier_high_revenue": _number(0),
    "value_tier_mid_revenue": _number(0),
    # engagement (docs/metrics.md)
    "preset": Setting("choice", choices=PRESETS),
    "reporting_timezone": Setting("timezone"),
    "week_start": Setting("choice", choices=("monday", "sunday")),
    "activity_events": NAMES,
    "retention_start_events": NAMES,
    "retention_return_events": NAMES,
    "lifecycle_new_basis": Setting("choice", choices=("signup", "first_event")),
    "retention_cohort_type": Setting("choice", choices=("first_time", "recurring")),
    "retention_on_or_after_horizon": Setting(
        "choice", choices=("as_of_date", "last_reported_period")
    ),
    "report_start_date": DATE,
    "mau_window_days": _int(1, 366),
    "retention_max_days": _int(1, 3650),
    "retention_max_weeks": _int(1, 520),
    "retention_max_months": _int(1, 120),
    "at_risk_after_days": _int(1, 3650),
    "dormant_after_days": _int(1, 3650),
    "churned_after_days": _int(1, 3650),
    # the product's rhythm (docs/cadence.md)
    "cadence": Setting("choice", choices=("fixed", "auto")),
    "short_window_days": _int(1, 3650),
    "long_window_days": _int(1, 3650),
    "usual_gap_basis": Setting("choice", choices=("window", "gaps")),
    # disengagement patterns (docs/disengagement.md)
    "activation_window_days": _int(1, 3650),
    "never_activated_max_active_days": _int(0, 3650),
    "stopped_after_days": _int(1, 3650),
    "stopped_gap_multiple": _number(0),
    "substantial_use_min_active_days": _int(0, 3650),  # at most long_window_days
    "abrupt_min_active_days_last_7": _int(0, 3650),  # at most short_window_days
    "decline_min_peak_active_days": _int(0, 3650),  # at most long_window_days
    "decline_max_drop_ratio": _number(0, 1),
    "decline_max_weekly_trend": _number(),
    "involuntary_active_within_days": _int(0, 3650),
    # survey insight (docs/campaigns.md): power users by their best 28 days
    "power_user_min_peak_active_days": _int(0, 28),
    # weak signals
    "usage_drop_window_days": _int(1, 3650),
    "usage_drop_min_pct": _number(0, 100),
    "usage_drop_min_prior_active_days": _int(0, 3650),
    "no_core_action_days": _int(1, 3650),
    "help_events": NAMES,
    "help_window_days": _int(1, 3650),
    "help_min_visits": _int(1),
    "unsubscribe_window_days": _int(1, 3650),
    "payment_failure_window_days": _int(1, 3650),
    # health score and labels
    "depth_events": NAMES,
    "health_weights": Setting("weights"),
    "health_frequency_target_days": _int(1, 3650),  # at most long_window_days
    "health_breadth_target_features": _int(1),
    "health_depth_target_share": _number(0.0001, 1),
    "health_recency_horizon_days": _int(1, 3650),
    "health_message_window_days": _int(1, 3650),
    "health_message_target_rate": _number(0.0001, 1),
    "engaged_within_days": _int(1, 3650),
    "engaged_min_health_score": _number(0, 100),
    "disengaged_after_days": _int(1, 3650),
    "inactive_after_days": _int(1, 3650),
    # churn risk (docs/churn.md)
    "churn_horizon_days": _int(1, 730),
    "churn_activity_events": NAMES,
    "churn_snapshot_every_days": _int(1, 365),
    "churn_training_snapshots": _int(4, 520),
    "churn_retrain_every_days": _int(1, 3650),
    "churn_high_risk_min": _number(0, 1),
    "churn_medium_risk_min": _number(0, 1),
}


@cache
def _timezones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones()) | {"UTC"}


def _fail(name: str, value: Any, spec: Setting, why: str = "") -> SettingError:
    shown = repr(value)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return SettingError(f"setting {name}: {why or 'got ' + shown}; it must be {spec.allowed()}")


def _check_number(name: str, value: Any, spec: Setting) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(name, value, spec)
    if isinstance(value, float) and not math.isfinite(value):
        raise _fail(name, value, spec)
    if spec.kind == "int" and value != int(value):
        raise _fail(name, value, spec)
    if spec.minimum is not None and value < spec.minimum:
        raise _fail(name, value, spec)
    if spec.maximum is not None and value > spec.maximum:
        raise _fail(name, value, spec)
    return int(value) if spec.kind == "int" else value


def check_date(name: str, value: Any) -> str:
    """A date setting as its YYYY-MM-DD string (never a date object: run configs stay JSON)."""
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, str) and DATE_PATTERN.match(value.strip()):
        try:
            return dt.date.fromisoformat(value.strip()).isoformat()
        except ValueError:
            pass
    raise _fail(name, value, DATE)


def _check_names(name: str, value: Any, spec: Setting) -> list[str]:
    if isinstance(value, str):
        value = [value]  # --set core_events=login
    if not isinstance(value, list | tuple):
        raise _fail(name, value, spec)
    names = []
    for item in value:
        if (
            not isinstance(item, str)
            or not item.strip()
            or len(item) > NAME_MAX_LENGTH
            or any(ord(ch) < 32 for ch in item)
        ):
            raise _fail(name, value, spec, f"{item!r} is not a name")
        names.append(item.strip())
    return names


def _check_weights(name: str, value: Any, spec: Setting) -> dict[str, float]:
    if not isinstance(value, Mapping):
        raise _fail(name, value, spec)
    weights = {}
    for key, weight in value.items():
        if key not in HEALTH_COMPONENTS:
            raise _fail(name, value, spec, f"unknown component {key!r}")
        weights[key] = _check_number(f"{name}.{key}", weight, _number(0))
    if sum(weights.get(c, 0) for c in HEALTH_COMPONENTS if c != "message_engagement") <= 0:
        raise _fail(
            name,
            value,
            spec,
            "frequency, recency, breadth or depth needs a positive weight (message engagement "
            "alone leaves users without messages unscored)",
        )
    return weights


def check_setting(name: str, value: Any) -> Any:
    """The checked, normalised value of one setting (None: the preset's or the default)."""
    spec = SETTINGS.get(name)
    if spec is None:
        close = difflib.get_close_matches(str(name), SETTINGS, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise SettingError(
            f"unknown setting {name!r}{hint}; the settings are listed in docs/metrics.md and "
            "docs/disengagement.md"
        )
    if value is None:
        return None
    if spec.kind in ("int", "number"):
        return _check_number(name, value, spec)
    if spec.kind == "date":
        return check_date(name, value)
    if spec.kind == "choice":
        if isinstance(value, str) and value.strip().lower() in spec.choices:
            return value.strip().lower()
        raise _fail(name, value, spec)
    if spec.kind == "timezone":
        if isinstance(value, str) and value.strip() in _timezones():
            return value.strip()
        raise _fail(name, value, spec)
    if spec.kind == "names":
        return _check_names(name, value, spec)
    return _check_weights(name, value, spec)


def check_settings(settings: Mapping[str, Any] | None) -> dict[str, Any]:
    """Every setting checked; raises `SettingError` on the first that cannot be used."""
    return {str(name): check_setting(str(name), value) for name, value in (settings or {}).items()}


def parse_assignment(pair: str) -> tuple[str, Any]:
    """`name=value` from the command line, checked. Values are YAML (numbers, lists, mappings);
    dates, timezones and choices are taken as written."""
    import yaml

    name, sep, text = pair.partition("=")
    name = name.strip()
    if not sep or not name:
        raise SettingError(f"--set takes name=value, got {pair!r}")
    spec = SETTINGS.get(name)
    if spec is None:
        check_setting(name, None)  # raises the unknown-name error
    if spec.kind in ("date", "choice", "timezone"):
        value: Any = text.strip().strip("'\"")
    else:
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError:
            raise _fail(name, text, spec, f"cannot read {text!r}") from None
    return name, check_setting(name, value)
