"""One source for each list: the lists that Python and dbt both hold stay equal, read from the
dbt manifest (what dbt really parsed) and from the Python modules that declare them.

- the `accepted_values` of the dbt YAML equal the input contract's lists (winback/contract.py)
  and the disengagement patterns (winback/disengagement.py);
- the signals, patterns and health components in Python equal what the dbt macros return and
  what user_disengagement_patterns assigns;
- the settings schema (winback/model_settings.py) equals the settings macros' names, choices
  and presets, and models and macros read settings one way: setting(), never var();
- the macros are one per file, each documented with its arguments in its folder's YAML.
"""

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
import pytest
import yaml

from ml.churn.pipeline import RISK_TIERS
from ml.churn.train import BASELINES, CANDIDATES
from orchestration.project import DBT_PROJECT_DIR, ensure_manifest
from winback import contract
from winback.disengagement import PATTERNS, SIGNALS
from winback.model_settings import HEALTH_COMPONENTS, PRESETS, SETTINGS

# dbt (model, column) with an accepted_values test -> the Python list it must equal
PYTHON_LISTS: dict[tuple[str, str], tuple[str, ...]] = {
    ("stg_landing__messages", "channel"): contract.MESSAGE_CHANNELS,
    ("stg_landing__messages", "message_event"): contract.MESSAGE_EVENTS,
    ("stg_landing__survey_responses", "reason_code"): contract.SURVEY_REASONS,
    ("stg_landing__billing", "billing_event"): contract.BILLING_EVENTS,
    ("users", "latest_survey_reason"): contract.SURVEY_REASONS,
    ("user_disengagement_patterns", "pattern"): PATTERNS,
}
# (mart, column) whose list a Dagster check of the churn marts holds (they are views over the
# churn steps' tables, checked after those steps: orchestration.dbt.CHURN_MART_CHECKS)
CHURN_CHECK_LISTS: dict[tuple[str, str], tuple[str, ...]] = {
    ("churn_scores", "risk_tier"): RISK_TIERS,
    ("churn_model_evaluation", "model"): CANDIDATES + BASELINES,
}
# accepted_values whose list only dbt holds (the model's SQL writes the values; no Python copy)
DBT_ONLY_LISTS = {
    ("users", "signup_source"),
    ("users", "value_tier"),
    ("user_day_spans", "state"),
    ("lifecycle", "status"),
    ("survey_insight", "dimension"),
}
# chosen per run, or choosing the defaults: plain dbt vars, not setting()s
PLAIN_VARS = {"as_of_date", "start_date", "preset"}


@cache
def manifest() -> dict[str, Any]:
    return json.loads(ensure_manifest().read_text())


def winback_macros() -> dict[str, dict[str, Any]]:
    """The project's macros under macros/ (not the generic tests), by name."""
    return {
        m["name"]: m
        for m in manifest()["macros"].values()
        if m["package_name"] == "winback" and m["original_file_path"].startswith("macros/")
    }


class _Returned(Exception):
    def __init__(self, value: Any):
        self.value = value


def _return(value: Any):
    raise _Returned(value)


def macro_value(name: str) -> Any:
    """What a macro that returns a literal returns: its source from the manifest, rendered by
    plain Jinja with `return` (dbt's way of returning a value from a macro)."""
    environment = jinja2.Environment(undefined=jinja2.StrictUndefined)
    source = winback_macros()[name]["macro_sql"]
    template = environment.from_string(source + "{{ " + name + "() }}")
    try:
        template.render({"return": _return})
    except _Returned as returned:
        return returned.value
    raise AssertionError(f"macro {name} returned nothing")


def model(name: str) -> dict[str, Any]:
    return manifest()["nodes"][f"model.winback.{name}"]


def _tests_named(kind: str) -> dict[tuple[str, str], dict[str, Any]]:
    """(model, column) -> the kwargs of its `kind` test, from the manifest's test nodes."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for node in manifest()["nodes"].values():
        metadata = node.get("test_metadata") or {}
        if node["resource_type"] == "test" and metadata.get("name") == kind:
            key = (node["attached_node"].split(".")[-1], node["column_name"])
            assert key not in found, f"two {kind} tests on {key}"
            found[key] = metadata["kwargs"]
    return found


def test_every_accepted_values_list_is_mapped_to_its_source():
    """A new accepted_values test must say where its list lives: in PYTHON_LISTS (then it is
    compared below) or in DBT_ONLY_LISTS."""
    assert set(_tests_named("accepted_values")) == set(PYTHON_LISTS) | DBT_ONLY_LISTS


@pytest.mark.parametrize("key", sorted(PYTHON_LISTS), ids=lambda key: ".".join(key))
def test_accepted_values_equal_the_python_list(key):
    values = _tests_named("accepted_values")[key]["values"]
    assert values == list(PYTHON_LISTS[key])


@pytest.mark.parametrize("key", sorted(CHURN_CHECK_LISTS), ids=lambda key: ".".join(key))
def test_the_churn_mart_checks_accept_the_python_list(key):
    from orchestration.dbt import CHURN_MART_CHECKS

    mart, column = key
    (query,) = [
        sql for table, _, _, sql in CHURN_MART_CHECKS if table == mart and f"{column} not in" in sql
    ]
    listed = re.search(rf"{column} not in\s*\(([^)]*)\)", query).group(1)
    assert re.findall(r"'(\w+)'", listed) == list(CHURN_CHECK_LISTS[key])


def test_every_contract_list_is_tested_on_its_staging_model():
    """Each column the input contract restricts to a list has the same accepted_values test in
    staging (stg_landing__<kind>), so a value added to the contract cannot fail only in dbt."""
    for kind in contract.FILE_KINDS.values():
        for column in kind.columns:
            if column.accepted_values:
                key = (f"stg_landing__{kind.name}", column.name)
                assert PYTHON_LISTS.get(key) == column.accepted_values, key


def test_the_signals_macro_returns_the_python_signals():
    assert macro_value("disengagement_signals") == list(SIGNALS)
    # user_daily_health counts the firing signals (stored in user_day_spans): one per signal
    assert _tests_named("between")[("user_day_spans", "active_signals")]["high"] == len(SIGNALS)


def test_the_patterns_model_assigns_exactly_the_python_patterns():
    """The `case ... end as pattern` of user_disengagement_patterns, read from its source."""
    code = model("user_disengagement_patterns")["raw_code"]
    before = code[: code.index("end as pattern")]
    case = before[[m.start() for m in re.finditer(r"\bcase\b", before)][-1] :]
    assigned = re.findall(r"\b(?:then|else)\s+'(\w+)'", case)
    assert sorted(assigned) == sorted(PATTERNS)


def test_the_health_components_are_one_list():
    components = macro_value("health_components")
    assert components == list(HEALTH_COMPONENTS)
    assert list(macro_value("winback_setting_defaults")["health_weights"]) == components
    # the day's recency score is computed on read (the view), the others are stored in the spans
    columns = (
        winback_macros()["user_daily_health_rows"]["macro_sql"]
        + model("user_day_spans")["raw_code"]
    )
    for name in components:
        assert f"as {name}_score" in columns, name


def test_every_setting_has_its_default_in_the_macro():
    """The settings schema, the dbt vars (tests/test_trust_units.py) and the defaults macro name
    the same settings, apart from the plain per-run vars."""
    defaults = macro_value("winback_setting_defaults")
    assert set(SETTINGS) - PLAIN_VARS == set(defaults)
    assert set(SETTINGS) >= PLAIN_VARS


def test_dbt_project_vars_hold_no_second_default():
    """A value in dbt_project.yml's vars would win over the presets and hide the macro's
    default: every var is null there."""
    dbt_vars = yaml.safe_load((DBT_PROJECT_DIR / "dbt_project.yml").read_text())["vars"]
    assert {name: value for name, value in dbt_vars.items() if value is not None} == {}


def test_the_choices_and_presets_are_the_settings_schema_s():
    choices = macro_value("winback_setting_choices")
    expected = {
        name: list(spec.choices)
        for name, spec in SETTINGS.items()
        if spec.kind == "choice" and name not in PLAIN_VARS
    }
    assert choices == expected
    presets = macro_value("winback_presets")
    assert tuple(presets) == PRESETS
    defaults = macro_value("winback_setting_defaults")
    for name, values in presets.items():
        assert set(values) <= set(defaults), name
        for setting, value in values.items():
            assert setting not in choices or value in choices[setting], (name, setting)


def test_models_and_macros_read_settings_only_through_setting():
    """var() only for the plain per-run vars; run_var() itself (through which setting() reads
    an explicit value) reads the var of the name it is given."""
    sources = {
        node["original_file_path"]: node["raw_code"]
        for node in manifest()["nodes"].values()
        if node["package_name"] == "winback" and "raw_code" in node
    }
    sources.update({m["original_file_path"]: m["macro_sql"] for m in winback_macros().values()})
    allowed = {repr(name) for name in PLAIN_VARS}
    offenders = []
    for path, code in sources.items():
        for argument in re.findall(r"\bvar\(\s*([^,)]+)", code):
            argument = argument.strip()
            if argument in allowed or (
                path == "macros/settings/run_var.sql" and argument == "name"
            ):
                continue
            offenders.append(f"{path}: var({argument})")
    assert offenders == []


def test_macros_are_one_per_file_named_after_it():
    """macros/<theme>/<name>.sql holds the macro <name> and its adapter.dispatch variants
    (<adapter>__<name>)."""
    for name, macro in winback_macros().items():
        path = Path(macro["original_file_path"])
        assert len(path.parts) == 3, f"{path}: macros go in a themed folder"
        assert name == path.stem or name.split("__", 1)[-1] == path.stem, f"{name} in {path}"


def _documented_macros() -> dict[str, tuple[Path, dict[str, Any]]]:
    documented = {}
    for path in sorted((DBT_PROJECT_DIR / "macros").glob("*/_*__macros.yml")):
        assert path.name == f"_{path.parent.name}__macros.yml", path
        for entry in yaml.safe_load(path.read_text())["macros"]:
            documented[entry["name"]] = (path.relative_to(DBT_PROJECT_DIR), entry)
    return documented


def _signature(macro: dict[str, Any]) -> list[str]:
    found = re.search(
        r"{%-?\s*macro\s+" + macro["name"] + r"\s*\((.*?)\)\s*-?%}", macro["macro_sql"], re.S
    )
    assert found, macro["name"]
    return [a.split("=")[0].strip() for a in found.group(1).split(",") if a.strip()]


def test_every_macro_is_documented_with_its_arguments_in_its_folder():
    """Each macro but the adapter.dispatch variants has an entry in its folder's
    _<folder>__macros.yml: a description, and its arguments in the signature's order, each
    with a type and a description."""
    documented = _documented_macros()
    macros = winback_macros()
    variants = {n for n in macros if "__" in n and n.split("__", 1)[1] in macros}
    assert set(documented) == set(macros) - variants
    for name, (yaml_path, entry) in documented.items():
        macro = macros[name]
        assert yaml_path.parent == Path(macro["original_file_path"]).parent, name
        assert entry.get("description", "").strip(), name
        arguments = entry.get("arguments", [])
        assert [a["name"] for a in arguments] == _signature(macro), name
        for argument in arguments:
            assert argument.get("type") and argument.get("description", "").strip(), (
                name,
                argument,
            )
