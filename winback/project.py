"""A winback project: one folder with a `winback.yml` that says where the data comes from (its
sources and how their columns map to the contract), the settings that fit the product, and
where the warehouse and the published marts live. `winback init PATH` writes one to edit;
`winback run` inside the folder (or with `--project PATH`) uses it.

Everything in the file is checked before a run starts; an error names the key
(`sources.orders.options.delimiter: ...`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from winback.mapping import MappingError
from winback.sources import Source, parse_source

PROJECT_FILE = "winback.yml"
PATHS = {  # key in winback.yml -> (winback setting, default relative to the project folder)
    "landing": ("landing_dir", "landing"),
    "warehouse": ("warehouse", "warehouse/winback.duckdb"),
    "published": ("publish_dir", "published"),
    "ground_truth": ("truth_dir", "ground_truth"),
}
TOP_LEVEL = {"name", "paths", "sources", "settings"}


class ProjectError(ValueError):
    """winback.yml cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class Project:
    file: Path
    name: str
    paths: dict[str, Path]  # winback setting name -> absolute path
    sources: tuple[Source, ...] = ()
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def root(self) -> Path:
        return self.file.parent


def project_file(location: str | Path) -> Path:
    """`location` is a winback.yml or a folder holding one."""
    path = Path(location).expanduser().resolve()
    return path / PROJECT_FILE if path.is_dir() or not path.suffix else path


def load_project(location: str | Path) -> Project:
    import yaml

    file = project_file(location)
    if not file.is_file():
        raise ProjectError(f"no project file {file}: `winback init {file.parent}` writes one")
    try:
        raw = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" line {where.line + 1}" if where else ""
        raise ProjectError(f"{file}{line}: not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(raw, Mapping):
        raise ProjectError(f"{file}: expected keys {', '.join(sorted(TOP_LEVEL))}")
    unknown = set(raw) - TOP_LEVEL
    if unknown:
        raise ProjectError(
            f"{file}: unknown key(s) {', '.join(sorted(map(str, unknown)))} "
            f"(the keys are {', '.join(sorted(TOP_LEVEL))})"
        )
    try:
        return Project(
            file=file,
            name=_name(raw.get("name"), file),
            paths=_paths(raw.get("paths"), file.parent),
            sources=_sources(raw.get("sources")),
            settings=_settings(raw.get("settings")),
        )
    except (MappingError, ValueError) as exc:
        raise ProjectError(f"{file}: {exc}") from None


def _name(value, file: Path) -> str:
    name = file.parent.name if value is None else value
    if not isinstance(name, str) or not re.fullmatch(r"[\w .-]{1,80}", name):
        raise ProjectError(f"{file}: name must be a short text, got {value!r}")
    return name


def _paths(raw, root: Path) -> dict[str, Path]:
    raw = {} if raw is None else raw
    if not isinstance(raw, Mapping):
        raise ValueError("paths: expected landing, warehouse, published, ground_truth")
    unknown = set(raw) - set(PATHS)
    if unknown:
        raise ValueError(
            f"paths: unknown key(s) {', '.join(sorted(map(str, unknown)))} ({', '.join(PATHS)})"
        )
    resolved = {}
    for key, (setting, default) in PATHS.items():
        value = raw.get(key, default)
        if not isinstance(value, str) or not value.strip() or "\x00" in value:
            raise ValueError(f"paths.{key}: must be a path, got {value!r}")
        resolved[setting] = (root / Path(value).expanduser()).resolve()
    return resolved


def _sources(raw) -> tuple[Source, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, Mapping):
        raise ValueError("sources: expected one block per source, by name")
    from winback.mapping import tokenize

    sources = tuple(parse_source(str(name), block) for name, block in raw.items())
    for source in sources:  # expressions that cannot be read are refused before any run
        for feed in source.feeds:
            for column, mapping in feed.mapping.items():
                try:
                    tokenize(mapping.expression)
                except MappingError as exc:
                    raise ValueError(f"sources.{source.name}.mapping.{column}: {exc}") from None
    return sources


def _settings(raw) -> dict[str, Any]:
    from winback.model_settings import check_settings

    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ValueError("settings: expected name: value pairs (docs/metrics.md)")
    try:
        return check_settings(raw)
    except ValueError as exc:
        raise ValueError(f"settings: {exc}") from None


# ---------------------------------------------------------------------------------------------
# winback init

TEMPLATE = """\
# winback project{name_comment}
#
# `winback run` in this folder (or `winback run --project {folder}`) ingests the sources
# below, builds the marts and publishes them. `winback profile` shows what the data looks like
# and suggests settings before the first run. Paths are relative to this file.
name: {name}

paths:
  landing: landing                      # files in winback's own layout (docs/data-contract.md)
  warehouse: warehouse/winback.duckdb   # one writer at a time; BI reads `published`
  published: published
  ground_truth: ground_truth            # only for `winback generate` demo data

# Files in their own shape. Each source: a path or glob, a kind (events, users, messages,
# survey_responses, billing) or a preset (segment, snowplow, amplitude, mixpanel, ga4, orders;
# docs/presets.md), how to read it, and a mapping from its columns to the contract's. A
# mapping is a column name, an expression (`amount / 100`, `coalesce(user_id, anonymous_id)`,
# `lower(event)`) or {{constant: value}}. Files in `landing/` named by their kind
# (events_*.csv, users.csv, ...) need no source. docs/sources.md has every option.
sources:
{sources}
# Settings of the marts (docs/metrics.md, docs/disengagement.md, docs/cadence.md); the
# command line's --set wins over these.
settings:
  # cadence: auto      # inactivity thresholds from the data's own rhythm (weekly, monthly products)
  # core_events: [purchase]
  # reporting_timezone: UTC
  # week_start: monday
"""

EXAMPLE_SOURCE = """\
  # clicks:
  #   kind: events
  #   path: landing/clicks*.csv          # a glob: every matching file is ingested once
  #   options:
  #     delimiter: ","                   # or tab, ";", whitespace; default: sniffed
  #     header: true                     # false: give `columns: [a, b, c]`
  #     timestamp_format: iso            # or epoch_s, epoch_ms, epoch_us, '%Y%m%d', '%d/%m/%Y %H:%M'
  #     timezone: UTC                    # the zone of timestamps written without one
  #   mapping:
  #     user_id: user_id
  #     event_name: event
  #     occurred_at: timestamp
  #     platform: platform
  #     revenue: amount / 100            # cents to units
  #   users:                             # per-event columns that describe the user
  #     acquisition_channel: acquisition_channel
"""


def init_project(folder: Path, name: str | None = None, sources_yaml: str | None = None) -> Path:
    """Write `winback.yml` and the folders; refuses to overwrite an existing project file."""
    folder = Path(folder).expanduser().resolve()
    file = folder / PROJECT_FILE
    if file.exists():
        raise ProjectError(f"{file} exists already: edit it, or init another folder")
    name = name or folder.name or "winback"
    if not re.fullmatch(r"[\w .-]{1,80}", name):
        raise ProjectError(f"a project name is a short text, got {name!r}")
    folder.mkdir(parents=True, exist_ok=True)
    for sub in ("landing", "warehouse", "published"):
        (folder / sub).mkdir(exist_ok=True)
    file.write_text(
        TEMPLATE.format(
            name=name,
            name_comment="",
            folder=folder,
            sources=sources_yaml or EXAMPLE_SOURCE,
        ),
        encoding="utf-8",
    )
    load_project(file)  # what was written must load
    rules = folder / "audiences.yml"
    if not rules.exists():  # the win-back rules to edit (docs/audiences.md)
        from winback.audiences import default_rules_path

        rules.write_text(default_rules_path().read_text(encoding="utf-8"), encoding="utf-8")
    return file
