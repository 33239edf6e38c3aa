"""Survey responses: a share of the churned users say why they left, with reasons that depend on
their archetype; a few steady users answer a satisfaction survey.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pyarrow as pa

from winback.contract import SURVEY_REASONS
from winback.generate.helpers import (
    arrow_timestamps,
    epoch_seconds,
    random_stream,
    sql_list,
    times_of_day,
)
from winback.generate.users import Users
from winback.generate.vocabulary import (
    ARCHETYPES,
    DAY,
    STEADY,
    STEADY_SURVEY_RATE,
    STREAM_SURVEY,
    SURVEY_COMMENTS,
    SURVEY_REASON_SHARES,
    SURVEY_RESPONSE_RATE,
)
from winback.generate.writers import copy_query, iso_sql, user_id_sql


def write_survey(
    con, u: Users, start: dt.date, days: int, seed: int, path: Path, uid_width: int
) -> int:
    rng = random_stream(seed, STREAM_SURVEY)
    n = u.n
    churned = (u.archetype != STEADY) & (u.churn_day >= 0)
    answer_day = u.churn_day + rng.integers(5, 21, n)
    answers = churned & (rng.random(n) < SURVEY_RESPONSE_RATE) & (answer_day < days)
    # a few steady users answer a satisfaction survey
    steady_day = np.maximum(u.first_event_day, 0) + rng.integers(7, 120, n)
    steady = (
        (u.archetype == STEADY)
        & (u.first_event_day >= 0)
        & (rng.random(n) < STEADY_SURVEY_RATE)
        & (steady_day < days)
    )
    answer_day = np.where(steady, steady_day, answer_day)
    who = np.nonzero(answers | steady)[0]
    probs = np.array([SURVEY_REASON_SHARES[a] for a in range(len(ARCHETYPES))])
    probs /= probs.sum(axis=1, keepdims=True)
    cdf = np.cumsum(probs, axis=1)[u.archetype[who]]
    reason = (rng.random(len(who))[:, None] > cdf).sum(axis=1).clip(0, len(SURVEY_REASONS) - 1)
    comment = np.where(rng.random(len(who)) < 0.2, -1, rng.integers(0, 3, len(who)))
    ts = epoch_seconds(start) + answer_day[who] * DAY + times_of_day(rng, len(who), 12.0, 4.0)
    if not len(who):
        return 0
    comments = [c for r in SURVEY_REASONS for c in SURVEY_COMMENTS[r]]
    table = pa.table(
        {
            "user_idx": who.astype(np.int64),
            "ts": arrow_timestamps(ts),
            "reason": reason.astype(np.int8),
            "comment": comment.astype(np.int8),
        }
    )
    con.register("s", table)
    copy_query(
        con,
        f"""select {user_id_sql("user_idx", uid_width)} as user_id,
                   {iso_sql("ts")} as submitted_at,
                   {sql_list(SURVEY_REASONS)}[reason + 1] as reason_code,
                   case when comment >= 0 then {sql_list(comments)}[reason * 3 + comment + 1]
                   end as comment
            from s order by ts, user_idx""",
        path,
        "csv",
    )
    con.unregister("s")
    return len(who)
