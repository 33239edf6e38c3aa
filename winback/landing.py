"""What to ingest: the landing files whose kind and format winback knows, the files of a
project's declared sources, and which of them are new or changed since a run last saw them.
The sensor (with its cursor) and the command line (with raw.ingest_log) plan their runs with
the same function, `compare`: a file is ingested when it is new or its content changed; one
whose size and modification time are as recorded is not read at all, and one that was only
touched (new time, same content hash) is skipped too.

Every file to ingest has a key, its ingestion partition: a landing file's path relative to the
landing folder (`events/2024-01.csv`), or for a declared source `<source>.<kind>:<path>`
(`orders.events:landing/orders.txt`, the path relative to the project folder), one key per
feed, so a clickstream whose acquisition channel goes to the users kind has two.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from winback.contract import FileKind, ValidationSettings, kind_for_path
from winback.ingest import RAW_SCHEMA, content_hash, file_state, landing_files
from winback.sources import Feed, Source


@dataclass(frozen=True)
class PlannedFile:
    path: str  # the ingestion partition key
    kind: FileKind
    # size, modification time and how the file is read (`winback.ingest.reading_digest`)
    signature: str
    feed: Feed | None = None  # a declared source's feed; None: a file in winback's layout
    file: Path | None = None  # the file itself (absolute)


def file_signature(
    path: os.PathLike,
    feed: Feed | None = None,
    kind: FileKind | None = None,
    validation: ValidationSettings | None = None,
) -> str:
    """Size, modification time and (given the kind or feed) the reading digest: changes with
    any of them, without reading the file."""
    kind = feed.kind if feed is not None else kind
    if kind is None:
        stat = os.stat(path)
        return f"{stat.st_size}-{stat.st_mtime_ns}"
    return file_state(path, kind, feed, validation).signature


# What a run recorded of a file: its signature, then `#` and its content hash when known
# (the sensor's cursor and raw.ingest_log both give one string per key).
def seen_value(signature: str, digest: str | None) -> str:
    return f"{signature}#{digest}" if digest else signature


@dataclass(frozen=True)
class Verdict:
    planned: PlannedFile
    # new | changed | unchanged (size, time and reading as recorded: not read) | touched (new
    # time, same size, reading and content hash)
    status: str
    content_hash: str | None = None  # computed whenever size or time differ from the record

    @property
    def to_ingest(self) -> bool:
        return self.status in ("new", "changed")

    @property
    def seen(self) -> str:
        """What to record of the file now."""
        return seen_value(self.planned.signature, self.content_hash)


def compare(planned: PlannedFile, seen: str | None, keep_hash: bool = True) -> Verdict:
    """The planned file against what a run recorded of it (`seen_value`), reading the file
    only when its size or time changed. Without `keep_hash`, only when the answer needs it
    (same size and reading, new time): the command line's ingestion hashes the files it reads
    anyway; the sensor keeps the hash of every file it plans in its cursor."""
    signature, _, recorded_hash = (seen or "").partition("#")
    if seen is not None and signature == planned.signature:
        return Verdict(planned, "unchanged", recorded_hash or None)
    size, reading = planned.signature.split("-", 1)[0], planned.signature.rsplit("-", 1)[-1]
    # (an older cursor's signature, `size-mtime`, has no reading part: never the same)
    recorded_size, recorded_reading = signature.split("-", 1)[0], signature.rsplit("-", 1)[-1]
    could_be_same = seen is not None and recorded_size == size and recorded_reading == reading
    digest = None
    if keep_hash or could_be_same:
        try:
            digest = content_hash(planned.file) if planned.file is not None else None
        except OSError:  # gone since it was planned: the ingest run says so
            digest = None
    if seen is None:
        return Verdict(planned, "new", digest)
    if could_be_same and digest is not None and digest == recorded_hash:
        return Verdict(planned, "touched", digest)
    return Verdict(planned, "changed", digest)


def compare_all(
    planned: Iterable[PlannedFile], seen: Mapping[str, str], keep_hash: bool = True
) -> list[Verdict]:
    return [compare(p, seen.get(p.path), keep_hash) for p in planned]


def recorded_ingests(con, validation: ValidationSettings | None = None) -> dict[str, str]:
    """What raw.ingest_log recorded of every file whose last ingest loaded (`seen_value`).
    Left out, so that they are read again: a file whose last ingest was rejected, and one
    that the not-in-future rule would now judge differently (a row it quarantined as in the
    future is no longer, or the clock moved back before the limit it was checked against)."""
    latest = (validation or ValidationSettings()).latest
    rows = con.execute(
        f"select source_file, file_size, file_mtime_ns, reading_digest, content_hash "
        f"from {RAW_SCHEMA}.ingest_log where status = 'loaded' and content_hash is not null "
        "and coalesce(future_from > ?, true) and coalesce(checked_until <= ?, true)",
        [latest, latest],
    ).fetchall()
    return {
        key: seen_value(f"{size}-{mtime}-{reading}", digest)
        for key, size, mtime, reading, digest in rows
    }


def record_touched(con, verdicts: Iterable[Verdict]) -> None:
    """Touched files (same content, new time): their new size and time in
    raw.ingest_log, so the next run skips them without hashing; nothing else changes (the
    ingestion time and needs_build stay as they were)."""
    for v in verdicts:
        if v.status != "touched":
            continue
        size, rest = v.planned.signature.split("-", 1)
        mtime = rest.rsplit("-", 1)[0]  # (negative before 1970)
        con.execute(
            f"update {RAW_SCHEMA}.ingest_log set file_size = ?, file_mtime_ns = ? "
            "where source_file = ? and status = 'loaded'",
            [int(size), int(mtime), v.planned.path],
        )


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


def _declared(
    sources: Iterable[Source], root: Path | None, validation: ValidationSettings | None = None
) -> list[PlannedFile]:
    planned = []
    for source in sources:
        for file in source_files(source, root):
            for feed in source.feeds:
                planned.append(
                    PlannedFile(
                        feed_key(feed, file, root),
                        feed.kind,
                        file_signature(file, feed, validation=validation),
                        feed,
                        file,
                    )
                )
    return planned


def plan_ingestion(
    landing: Path,
    seen: Mapping[str, str] | None = None,
    sources: Iterable[Source] = (),
    root: Path | None = None,
    validation: ValidationSettings | None = None,
) -> list[PlannedFile]:
    """Files to ingest, sorted by key: all of them, or with `seen` (key -> `seen_value`) those
    that are new or whose content changed since (`compare`). A file a source declares is read
    only through the source. `validation`: the run's (its earliest date is part of how a file
    is read); default: winback's defaults."""
    declared = _declared(sources, root, validation)
    taken = {p.file for p in declared}
    planned = list(declared)
    landing = Path(landing)
    for rel in landing_files(landing):
        file = (landing / rel).resolve()
        if file in taken:
            continue
        kind = kind_for_path(rel)
        signature = file_signature(file, kind=kind, validation=validation)
        planned.append(PlannedFile(rel, kind, signature, None, file))
    planned.sort(key=lambda p: p.path)
    if seen is None:
        return planned
    return [v.planned for v in compare_all(planned, seen) if v.to_ingest]


def resolve(
    key: str,
    landing: Path,
    sources: Iterable[Source] = (),
    root: Path | None = None,
    validation: ValidationSettings | None = None,
) -> PlannedFile | None:
    """The planned file of an ingestion partition key, or None when no file has that key now."""
    if ":" in key.split("/", 1)[0]:  # <source>.<kind>:<path>: only that source's files
        source_name = key.split(".", 1)[0]
        named = [s for s in sources if s.name == source_name]
        return next((p for p in _declared(named, root, validation) if p.path == key), None)
    file = (Path(landing) / key).resolve()
    kind = kind_for_path(key)
    if kind is None or not file.is_file() or not file.is_relative_to(Path(landing).resolve()):
        return None
    return PlannedFile(
        key, kind, file_signature(file, kind=kind, validation=validation), None, file
    )
