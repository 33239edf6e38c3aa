"""What to ingest: the landing files whose kind and format winback knows, the files of a
project's declared sources, and which of them are new or changed since a run last saw them.
The sensor (with its cursor) and the command line plan their runs with the same function.

Every file to ingest has a key, its ingestion partition: a landing file's path relative to the
landing folder (`events/2024-01.csv`), or for a declared source `<source>.<kind>:<path>`
(`orders.events:landing/orders.txt`, the path relative to the project folder), one key per
feed, so a clickstream whose acquisition channel goes to the users kind has two.
"""

from __future__ import annotations

import glob
import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from winback.contract import FileKind, kind_for_path
from winback.ingest import landing_files
from winback.sources import Feed, Source


@dataclass(frozen=True)
class PlannedFile:
    path: str  # the ingestion partition key
    kind: FileKind
    signature: str  # size and modification time (and the feed's definition): changes with them
    feed: Feed | None = None  # a declared source's feed; None: a file in winback's layout
    file: Path | None = None  # the file itself (absolute)


def file_signature(path: os.PathLike, feed: Feed | None = None) -> str:
    stat = os.stat(path)
    signature = f"{stat.st_size}-{stat.st_mtime_ns}"
    if feed is not None:  # a changed mapping reads the same file differently
        signature += "-" + hashlib.sha1(repr(feed).encode()).hexdigest()[:10]
    return signature


def source_files(source: Source, root: Path) -> list[Path]:
    """The files a source's paths or globs match (relative to the project folder), sorted;
    hidden files and names starting with `_` are skipped."""
    found: set[Path] = set()
    for pattern in source.paths:
        for match in glob.glob(os.path.expanduser(pattern), root_dir=root, recursive=True):
            path = (root / match).resolve()
            if path.is_file() and not path.name.startswith((".", "_")):
                found.add(path)
    return sorted(found)


def feed_key(feed: Feed, file: Path, root: Path) -> str:
    try:
        shown = file.relative_to(root.resolve()).as_posix()
    except ValueError:
        shown = file.as_posix()
    return f"{feed.name}:{shown}"


def _declared(sources: Iterable[Source], root: Path | None) -> list[PlannedFile]:
    planned = []
    for source in sources:
        for file in source_files(source, root):
            for feed in source.feeds:
                planned.append(
                    PlannedFile(
                        feed_key(feed, file, root),
                        feed.kind,
                        file_signature(file, feed),
                        feed,
                        file,
                    )
                )
    return planned


def plan_ingestion(
    landing: Path,
    seen: dict[str, str] | None = None,
    sources: Iterable[Source] = (),
    root: Path | None = None,
) -> list[PlannedFile]:
    """Files to ingest, sorted by key: all of them, or with `seen` (key -> signature) those
    that are new or changed since. A file a source declares is read only through the source."""
    declared = _declared(sources, root)
    taken = {p.file for p in declared}
    planned = list(declared)
    landing = Path(landing)
    for rel in landing_files(landing):
        file = (landing / rel).resolve()
        if file in taken:
            continue
        planned.append(PlannedFile(rel, kind_for_path(rel), file_signature(file), None, file))
    planned.sort(key=lambda p: p.path)
    if seen is None:
        return planned
    return [p for p in planned if seen.get(p.path) != p.signature]


def resolve(
    key: str, landing: Path, sources: Iterable[Source] = (), root: Path | None = None
) -> PlannedFile | None:
    """The planned file of an ingestion partition key, or None when no file has that key now."""
    if ":" in key.split("/", 1)[0]:  # <source>.<kind>:<path>: only that source's files
        source_name = key.split(".", 1)[0]
        named = [s for s in sources if s.name == source_name]
        return next((p for p in _declared(named, root) if p.path == key), None)
    file = (Path(landing) / key).resolve()
    kind = kind_for_path(key)
    if kind is None or not file.is_file() or not file.is_relative_to(Path(landing).resolve()):
        return None
    return PlannedFile(key, kind, file_signature(file), None, file)
