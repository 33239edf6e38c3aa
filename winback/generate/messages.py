"""The CRM message log: a bi-weekly newsletter, with deliveries, bounces, opens (likelier for
users active in the two weeks before), clicks, unsubscribes and complaints.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pyarrow as pa

from winback.contract import MESSAGE_EVENTS
from winback.generate.helpers import arrow_timestamps, epoch_seconds, random_stream, sql_list
from winback.generate.users import Users
from winback.generate.vocabulary import (
    BOUNCE_HARD,
    BOUNCE_SOFT,
    CLICK,
    COMPLAINT,
    DAY,
    DELIVERED,
    NEWSLETTER_EVERY,
    OPEN,
    SENT,
    STREAM_MESSAGES,
    UNSUBSCRIBE,
)
from winback.generate.writers import copy_query, iso_sql, user_id_sql


def newsletter_days(start: dt.date, days: int) -> np.ndarray:
    first_tuesday = 1 + (1 - (start + dt.timedelta(days=1)).weekday()) % 7
    return np.arange(first_tuesday, days, NEWSLETTER_EVERY, dtype=np.int64)


def write_messages(
    con,
    u: Users,
    recent: np.ndarray,
    campaign_days: np.ndarray,
    start: dt.date,
    days: int,
    seed: int,
    path: Path,
    uid_width: int,
) -> int:
    start_epoch = epoch_seconds(start)
    end_ts = start_epoch + days * DAY
    signup_ts = start_epoch + u.signup_day * DAY + u.signup_secs
    suppressed = np.zeros(u.n, dtype=bool)
    cols: dict[str, list[np.ndarray]] = {k: [] for k in ("msg", "camp", "user", "event", "ts")}
    next_id = 0
    for j, cd in enumerate(campaign_days):
        rng = random_stream(seed, STREAM_MESSAGES, j)
        send0 = start_epoch + int(cd) * DAY + 9 * 3600
        to = np.nonzero(u.email_opt_in & ~suppressed & (signup_ts < send0))[0]
        m = len(to)
        if m == 0:
            continue
        msg = next_id + np.arange(m, dtype=np.int64)
        next_id += m
        sent = send0 + rng.integers(0, 7200, m)
        r = rng.random(m)
        hard = r < 0.005
        soft = (r >= 0.005) & (r < 0.025)
        delivered = ~hard & ~soft
        t_deliv = sent + rng.integers(1, 120, m)
        active = recent[to, j]
        opened = delivered & (rng.random(m) < np.where(active, 0.35, 0.08))
        t_open = t_deliv + 60 + rng.exponential(6 * 3600, m).astype(np.int64)
        clicked = opened & (rng.random(m) < 0.2)
        t_click = t_open + 5 + rng.exponential(120, m).astype(np.int64)
        r2 = rng.random(m)
        unsub = delivered & (r2 < np.where(active, 0.002, 0.005))
        complaint = delivered & ~unsub & (r2 >= 0.99) & (r2 < 0.9905)
        t_after = np.where(opened, t_open, t_deliv) + 30 + rng.exponential(3600, m).astype(np.int64)
        for mask, event, when in (
            (np.ones(m, dtype=bool), SENT, sent),
            (delivered, DELIVERED, t_deliv),
            (hard, BOUNCE_HARD, t_deliv),
            (soft, BOUNCE_SOFT, t_deliv),
            (opened, OPEN, t_open),
            (clicked, CLICK, t_click),
            (unsub, UNSUBSCRIBE, t_after),
            (complaint, COMPLAINT, t_after),
        ):
            keep = mask & (when < end_ts)
            cols["msg"].append(msg[keep])
            cols["camp"].append(np.full(int(keep.sum()), j, dtype=np.int16))
            cols["user"].append(to[keep])
            cols["event"].append(np.full(int(keep.sum()), event, dtype=np.int8))
            cols["ts"].append(when[keep])
        suppressed[to[hard | unsub | complaint]] = True

    if not cols["ts"]:
        empty = {k: np.zeros(0, dtype=np.int64) for k in cols}
        arrays = empty
    else:
        arrays = {k: np.concatenate(v) for k, v in cols.items()}
    order = np.lexsort((arrays["event"], arrays["msg"], arrays["ts"]))
    arrays = {k: v[order] for k, v in arrays.items()}
    if not len(order):
        return 0
    msg_width = max(9, len(str(next_id)))
    campaign_ids = [
        f"newsletter-{start + dt.timedelta(days=int(d)):%Y-%m-%d}" for d in campaign_days
    ]
    table = pa.table(
        {
            "msg": arrays["msg"].astype(np.int64),
            "camp": arrays["camp"].astype(np.int16),
            "user_idx": arrays["user"].astype(np.int64),
            "event": arrays["event"].astype(np.int8),
            "ts": arrow_timestamps(arrays["ts"].astype(np.int64)),
        }
    )
    con.register("m", table)
    camp_sql = sql_list(campaign_ids) if campaign_ids else "['']"
    copy_query(
        con,
        f"""select 'm' || lpad((msg + 1)::varchar, {msg_width}, '0') as message_id,
                   {camp_sql}[camp + 1] as campaign_id,
                   {user_id_sql("user_idx", uid_width)} as user_id,
                   'email' as channel,
                   {sql_list(MESSAGE_EVENTS)}[event + 1] as message_event,
                   {iso_sql("ts")} as occurred_at
            from m""",
        path,
        "jsonl",
    )
    con.unregister("m")
    return len(order)
