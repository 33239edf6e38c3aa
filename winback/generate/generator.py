"""`generate()`: draw the users, simulate their activity, write every landing file and the ground
truth.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np

from winback.generate.billing import write_billing
from winback.generate.dirty import pick_dirty
from winback.generate.events import simulate_activity
from winback.generate.messages import newsletter_days, write_messages
from winback.generate.survey import write_survey
from winback.generate.truth import write_dirty_rows, write_truth
from winback.generate.users import make_users
from winback.generate.vocabulary import ARCHETYPES, DIRTY_KINDS
from winback.generate.writers import EXTENSIONS, clean_previous, write_events, write_users


@dataclass
class GenerationSummary:
    users: int
    events: int  # event rows written, dirty rows and duplicates included
    files: list[str]  # landing files written, relative to the landing folder
    start: dt.date
    end: dt.date  # last day covered
    dirty_rows: dict[str, int]
    rows: dict[str, int] = field(default_factory=dict)  # rows per landing file
    archetypes: dict[str, int] = field(default_factory=dict)
    truth_files: list[str] = field(default_factory=list)  # relative to the truth folder


def generate(
    landing_dir: Path,
    truth_dir: Path,
    *,
    users: int = 20_000,
    days: int = 180,
    start: dt.date = dt.date(2025, 11, 3),
    seed: int = 42,
    dirty_share: float = 0.005,
    events_format: str = "csv",  # "csv" | "parquet" | "jsonl"
    progress: Callable[[str], None] | None = None,
) -> GenerationSummary:
    """Write demo landing files to `landing_dir` and their ground truth to `truth_dir`.

    Deterministic: the same arguments give byte-identical files. Files an earlier run wrote
    into the folders this writes are removed first; nothing else is touched."""
    if events_format not in EXTENSIONS:
        raise ValueError(f"events_format must be one of {', '.join(EXTENSIONS)}")
    if users < 1 or days < 1:
        raise ValueError("users and days must be positive")
    if not 0 <= dirty_share < 1:
        raise ValueError("dirty_share must be in [0, 1)")
    say = progress or (lambda _msg: None)
    landing_dir, truth_dir = Path(landing_dir), Path(truth_dir)
    end = start + dt.timedelta(days=days - 1)
    uid_width = max(6, len(str(users)))

    u = make_users(users, days, seed)
    counts = np.bincount(u.archetype, minlength=len(ARCHETYPES))
    archetypes = {a: int(c) for a, c in zip(ARCHETYPES, counts, strict=True)}
    say(f"users: {users:,} ({', '.join(f'{a} {c:,}' for a, c in archetypes.items())})")

    campaign_days = newsletter_days(start, days)
    ev, recent = simulate_activity(u, days, start, seed, campaign_days)
    say(f"simulated {len(ev.ts):,} clean events over {days} days")
    dirty_pos, dirty_kind = pick_dirty(len(ev.ts), dirty_share, seed)
    eid_width = max(9, len(str(len(ev.ts))))

    clean_previous(landing_dir, truth_dir)
    truth_dir.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        files, rows, dirty_records = write_events(
            con,
            ev,
            landing_dir,
            start,
            days,
            events_format,
            uid_width,
            dirty_pos,
            dirty_kind,
            seed,
            eid_width,
        )
        n_events = sum(rows.values())
        say(f"events: {n_events:,} rows in {len(files)} files")
        del ev

        rel = "users/users.csv"
        write_users(con, u, start, landing_dir / rel, uid_width)
        files.append(rel)
        rows[rel] = users

        # files without rows are not written (an empty JSON-lines file has no columns)
        rel = "messages/messages.jsonl"
        n = write_messages(
            con, u, recent, campaign_days, start, days, seed, landing_dir / rel, uid_width
        )
        say(f"messages: {n:,} rows ({len(campaign_days)} newsletters)")
        if n:
            files.append(rel)
            rows[rel] = n

        rel = "survey_responses/survey_responses.csv"
        n = write_survey(con, u, start, days, seed, landing_dir / rel, uid_width)
        say(f"survey responses: {n:,}")
        if n:
            files.append(rel)
            rows[rel] = n

        rel = "billing/billing.parquet"
        n = write_billing(con, u, start, days, seed, landing_dir / rel, uid_width)
        say(f"billing events: {n:,}")
        if n:
            files.append(rel)
            rows[rel] = n

        write_truth(con, u, start, days, truth_dir / "users.csv", uid_width)
        write_dirty_rows(con, dirty_records, files, truth_dir / "dirty_rows.csv", eid_width)
    finally:
        con.close()
    dirty_counts = {k: 0 for k in DIRTY_KINDS}
    for kind, c in zip(*np.unique(dirty_kind, return_counts=True), strict=True):
        dirty_counts[DIRTY_KINDS[int(kind)]] = int(c)
    say("dirty rows: " + ", ".join(f"{k} {c:,}" for k, c in dirty_counts.items()))
    return GenerationSummary(
        users=users,
        events=n_events,
        files=files,
        start=start,
        end=end,
        dirty_rows=dirty_counts,
        rows=rows,
        archetypes=archetypes,
        truth_files=["users.csv", "dirty_rows.csv"],
    )
