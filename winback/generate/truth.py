"""The ground truth, for `winback evaluate` and the tests (the pipeline never reads it): every
user's archetype, churn date and pattern onset, and the list of dirty event rows.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from winback.generate.helpers import sql_list, sql_literal
from winback.generate.users import Users
from winback.generate.vocabulary import (
    ABRUPT,
    ARCHETYPES,
    DECLINE,
    DIRTY_KINDS,
    DIRTY_RULES,
    INVOLUNTARY,
    PLANS,
    STEADY,
)
from winback.generate.writers import copy_query, user_id_sql


def write_truth(con, u: Users, start: dt.date, days: int, path: Path, uid_width: int) -> None:
    first = np.where(u.first_event_day >= 0, u.first_event_day, -1)
    if u.churn_day is None:
        raise RuntimeError("activity not simulated")
    churn = np.where(u.archetype == STEADY, -1, u.churn_day)
    # the day the latent pattern starts: the first use for steady and never-activated users, the
    # first day of the decay for decliners, the first day without activity for abandoners and
    # the failed renewal for involuntary churners (may fall after the period: not visible yet)
    onset = np.select(
        [u.archetype == DECLINE, u.archetype == ABRUPT, u.archetype == INVOLUNTARY],
        [u.first_day + np.ceil(u.decline_start).clip(max=10 * days), u.stop, u.failure_day],
        u.first_day,
    ).astype(np.int64)
    table = pa.table(
        {
            "user_idx": np.arange(u.n, dtype=np.int64),
            "archetype": u.archetype,
            "signup": u.signup_day,
            "first_active": first,
            "churn": churn,
            "last_event": u.last_event_day,
            "plan": u.plan,
            "onset": onset,
        }
    )
    con.register("t", table)
    d0 = f"date {sql_literal(start.isoformat())}"

    def day(col: str) -> str:
        return f"case when {col} >= 0 then ({d0} + {col}::integer) end"

    copy_query(
        con,
        f"""select {user_id_sql("user_idx", uid_width)} as user_id,
                   {sql_list(ARCHETYPES)}[archetype + 1] as archetype,
                   {day("signup")} as signup_date,
                   {day("first_active")} as first_active_date,
                   {day("churn")} as churn_date,
                   {day("last_event")} as last_event_date,
                   {sql_list(PLANS)}[plan + 1] as plan,
                   {day("onset")} as pattern_onset_date
            from t order by user_idx""",
        path,
        "csv",
    )
    con.unregister("t")


def write_dirty_rows(
    con: duckdb.DuckDBPyConnection,
    dirty_records: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
    files: list[str],
    path: Path,
    eid_width: int,
) -> None:
    """Every dirty event row: its id, its landing file, its kind and the rule it must trip."""
    eids, file_idx, kinds = (
        np.concatenate([r[i] for r in dirty_records]) if dirty_records else np.zeros(0)
        for i in range(3)
    )
    dr = pa.table(
        {
            "eid": eids.astype(np.int64),
            "file_idx": file_idx.astype(np.int16),
            "kind": kinds.astype(np.int8),
        }
    )
    con.register("d", dr)
    copy_query(
        con,
        f"""select 'e' || lpad(eid::varchar, {eid_width}, '0') as event_id,
                   {sql_list(files) if files else "['']"}[file_idx + 1] as file,
                   {sql_list(DIRTY_KINDS)}[kind + 1] as kind,
                   {sql_list([DIRTY_RULES[k] for k in DIRTY_KINDS])}[kind + 1]
                       as expected_rule
            from d order by eid""",
        path,
        "csv",
    )
    con.unregister("d")
