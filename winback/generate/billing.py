"""Billing events: monthly payments of the paying users, free-to-pro upgrades, the failed renewals
and cancellation of the involuntary churners, the cancellations of the others who leave.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pyarrow as pa

from winback.contract import BILLING_EVENTS
from winback.generate.helpers import (
    arrow_timestamps,
    epoch_seconds,
    ragged_arange,
    random_stream,
    sql_list,
    times_of_day,
)
from winback.generate.users import Users
from winback.generate.vocabulary import (
    CANCELLED,
    DAY,
    FAILED,
    INVOLUNTARY,
    PAID,
    PLAN_CHANGED,
    PLAN_PRICES,
    PLANS,
    STEADY,
    STREAM_BILLING,
)
from winback.generate.writers import copy_query, iso_sql, user_id_sql


def write_billing(
    con, u: Users, start: dt.date, days: int, seed: int, path: Path, uid_width: int
) -> int:
    rng = random_stream(seed, STREAM_BILLING)
    start_epoch = epoch_seconds(start)
    end_ts = start_epoch + days * DAY
    signup_ts = start_epoch + u.signup_day * DAY + u.signup_secs
    paid = u.plan > 0
    upgraded = u.upgrade_day >= 0
    upgrade_ts = start_epoch + u.upgrade_day * DAY + times_of_day(rng, u.n)
    # the first charge, seconds after the signup (same day), or at the upgrade
    bill0 = np.where(upgraded, upgrade_ts, signup_ts + np.minimum(20, DAY - 1 - u.signup_secs))
    bill0_day = np.where(upgraded, u.upgrade_day, u.signup_day)
    arch = u.archetype
    churner = arch != STEADY
    # renewals while the user is still around; involuntary: until the failed one (excluded)
    last_day = np.where(
        arch == INVOLUNTARY,
        u.failure_day - 1,
        np.where(churner & (u.churn_day >= 0), u.churn_day, days - 1),
    )
    n_paid = np.where(
        paid, np.maximum((np.minimum(last_day, days - 1) - bill0_day) // 30 + 1, 0), 0
    )
    users = [np.repeat(np.arange(u.n), n_paid)]
    k = ragged_arange(n_paid)
    ts = [bill0[users[0]] + k * 30 * DAY]
    event = [np.full(len(k), PAID, dtype=np.int8)]

    # plan changes (free -> pro)
    up = np.nonzero(upgraded)[0]
    users.append(up)
    ts.append(upgrade_ts[up] - 5)
    event.append(np.full(len(up), PLAN_CHANGED, dtype=np.int8))

    # involuntary: the renewal fails, retries at +3 and +7 days fail too, cancelled at +10
    inv = np.nonzero(arch == INVOLUNTARY)[0]
    fail_ts = bill0[inv] + (u.failure_day[inv] - u.signup_day[inv]) * DAY
    for offset, ev_code in ((0, FAILED), (3, FAILED), (7, FAILED), (10, CANCELLED)):
        users.append(inv)
        ts.append(fail_ts + offset * DAY)
        event.append(np.full(len(inv), ev_code, dtype=np.int8))

    # paying decliners / abandoners / never-activated cancel at the renewal after they stop
    quit_ = np.nonzero(paid & churner & (arch != INVOLUNTARY) & (u.churn_day >= 0))[0]
    k_next = (u.churn_day[quit_] - bill0_day[quit_]) // 30 + 1
    users.append(quit_)
    ts.append(bill0[quit_] + k_next * 30 * DAY - 600)
    event.append(np.full(len(quit_), CANCELLED, dtype=np.int8))

    user = np.concatenate(users).astype(np.int64)
    ts_all = np.concatenate(ts).astype(np.int64)
    ev = np.concatenate(event)
    keep = (ts_all >= start_epoch) & (ts_all < end_ts)
    user, ts_all, ev = user[keep], ts_all[keep], ev[keep]
    order = np.lexsort((ev, user, ts_all))
    user, ts_all, ev = user[order], ts_all[order], ev[order]
    if not len(user):
        return 0
    price = np.asarray(PLAN_PRICES)[u.plan[user]]
    amount = np.where((ev == PAID) | (ev == FAILED), price * 100, -1).astype(np.int64)
    table = pa.table(
        {
            "user_idx": user,
            "ts": arrow_timestamps(ts_all),
            "event": ev,
            "amount": amount,
            "plan": u.plan[user],
        }
    )
    con.register("b", table)
    copy_query(
        con,
        f"""select {user_id_sql("user_idx", uid_width)} as user_id,
                   {iso_sql("ts")} as occurred_at,
                   {sql_list(BILLING_EVENTS)}[event + 1] as billing_event,
                   case when amount >= 0 then (amount * 0.01)::decimal(10, 2) end as amount,
                   {sql_list(PLANS)}[plan + 1] as plan
            from b""",
        path,
        "parquet",
    )
    con.unregister("b")
    return len(user)
