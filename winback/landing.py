"""What to ingest: the landing files whose kind and format winback knows, and which of them are
new or changed since a run last saw them. The sensor (with its cursor) and the command line
(which takes every file) plan their runs with the same function."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from winback.contract import FileKind, kind_for_path
from winback.ingest import landing_files


@dataclass(frozen=True)
class PlannedFile:
    path: str  # relative to the landing folder: the ingestion partition key
    kind: FileKind
    signature: str  # size and modification time: a changed file gets a new one


def file_signature(path: os.PathLike) -> str:
    stat = os.stat(path)
    return f"{stat.st_size}-{stat.st_mtime_ns}"


def plan_ingestion(landing: Path, seen: dict[str, str] | None = None) -> list[PlannedFile]:
    """Landing files to ingest, sorted: all of them, or with `seen` (path -> signature) those
    that are new or changed since."""
    planned = []
    for rel in landing_files(landing):
        signature = file_signature(Path(landing) / rel)
        if seen is None or seen.get(rel) != signature:
            planned.append(PlannedFile(rel, kind_for_path(rel), signature))
    return planned
