"""Campaign performance against the holdout: what the win-back programme caused, per segment,
step and channel, with honest intervals (docs/campaigns.md).

The unit is an exposure: a user, in one cycle of a sequence, reaching one step. For a targeted
user it is the first day the step was exported for contact; for a holdout user the day the
schedule put the step (nothing was sent). Only exposures that could have been contacted count
on both sides: a targeted row excluded that day (no consent, a cap) is not an exposure, and a
holdout row with any reason besides the holdout itself (no consent, an unsubscribe) is not one
either, so both groups are "contactable users who reached the step", and the holdout is a
random share of them (a hash of the user id).

- reactivated: active on a day in (exposure day, exposure day + window]; the first such day is
  the reactivation day (a user active on several days of the window reactivated once);
- durable_<k>: reactivated, and active in the 7 days up to the reactivation day + k;
- revenue: event revenue and successful payments from the reactivation day over
  `revenue_window_days` (0 for a user who did not reactivate);
- lift: treatment rate minus holdout rate, with Newcombe's hybrid score interval (method 10),
  which keeps its coverage for small groups and rates near 0, where the Wald interval does
  not; relative lift (rate ratio - 1) with the Katz log interval;
- incremental revenue per targeted user: difference of the means, Welch's normal interval.

Only exposures whose window has closed by the as-of date are measured; the others are counted
as `pending`. Everything is recomputed from the audience state and the logs on each run.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field

import duckdb
import numpy as np
import pandas as pd

from winback.audience_engine import CAMPAIGN_PREFIX, _exists
from winback.audience_engine import SCHEMA as AUDIENCE_SCHEMA
from winback.audiences import AudienceRules

Z95 = 1.959963984540054
DURABILITY_LOOKBACK_DAYS = 7
MARTS = (
    "campaign_cycles",
    "campaign_exposures",
    "campaign_performance",
    "campaign_lift",
    "campaign_programme_monthly",
)


class CampaignError(ValueError):
    """The campaigns cannot be measured from what the warehouse holds (one line says why)."""


@dataclass
class CampaignResult:
    as_of_date: dt.date | None
    exposures: int = 0
    measured: int = 0
    pending: int = 0
    lift: pd.DataFrame = field(default_factory=pd.DataFrame)
    programme: pd.DataFrame = field(default_factory=pd.DataFrame)


# --- intervals -------------------------------------------------------------------------------


def wilson(successes: np.ndarray, n: np.ndarray, z: float = Z95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of a proportion (nan where n = 0)."""
    successes, n = np.asarray(successes, float), np.asarray(n, float)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = successes / n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def newcombe(
    x1: np.ndarray, n1: np.ndarray, x2: np.ndarray, n2: np.ndarray, z: float = Z95
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """p1 - p2 and Newcombe's hybrid score interval (his method 10, from two Wilson
    intervals)."""
    x1, n1, x2, n2 = (np.asarray(a, float) for a in (x1, n1, x2, n2))
    with np.errstate(invalid="ignore", divide="ignore"):
        p1, p2 = x1 / n1, x2 / n2
        l1, u1 = wilson(x1, n1, z)
        l2, u2 = wilson(x2, n2, z)
        d = p1 - p2
        low = d - np.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
        high = d + np.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return d, low, high


def relative_lift(
    x1: np.ndarray, n1: np.ndarray, x2: np.ndarray, n2: np.ndarray, z: float = Z95
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """p1 / p2 - 1 with the Katz log interval (nan when either group has no success)."""
    x1, n1, x2, n2 = (np.asarray(a, float) for a in (x1, n1, x2, n2))
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = (x1 / n1) / (x2 / n2)
        se = np.sqrt(1 / x1 - 1 / n1 + 1 / x2 - 1 / n2)
        ok = (x1 > 0) & (x2 > 0)
        low = np.where(ok, ratio * np.exp(-z * se), np.nan)
        high = np.where(ok, ratio * np.exp(z * se), np.nan)
        ratio = np.where(ok, ratio, np.nan)
    return ratio - 1, low - 1, high - 1


def welch(
    s1: np.ndarray, ss1: np.ndarray, n1: np.ndarray, s2, ss2, n2, z: float = Z95
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Difference of two means from their sums and sums of squares, normal interval with
    Welch's standard error."""
    s1, ss1, n1, s2, ss2, n2 = (np.asarray(a, float) for a in (s1, ss1, n1, s2, ss2, n2))
    with np.errstate(invalid="ignore", divide="ignore"):
        m1, m2 = s1 / n1, s2 / n2
        v1 = np.maximum(ss1 / n1 - m1 * m1, 0) * n1 / np.maximum(n1 - 1, 1)
        v2 = np.maximum(ss2 / n2 - m2 * m2, 0) * n2 / np.maximum(n2 - 1, 1)
        se = np.sqrt(v1 / n1 + v2 / n2)
        d = m1 - m2
    return d, d - z * se, d + z * se


# --- the exposures ---------------------------------------------------------------------------


def _activity(con) -> None:
    """Active days and revenue per user-day, from the marts (events) and the billing log."""
    con.execute(
        "create or replace temp view active_days as "
        "select user_id, activity_date as day, coalesce(revenue, 0) as revenue "
        "from marts.user_activity_daily"
    )
    billing = (
        "select user_id, cast(occurred_at as date) as day, sum(coalesce(amount, 0)) as revenue "
        "from raw.billing where billing_event = 'payment_succeeded' group by all"
        if _exists(con, "raw", "billing")
        else "select null::varchar as user_id, null::date as day, null::double as revenue "
        "where false"
    )
    con.execute(
        "create or replace temp view revenue_days as "
        f"select user_id, day, sum(revenue) as revenue from (select user_id, day, revenue "
        f"from active_days union all {billing}) group by all"
    )
    if _exists(con, "raw", "messages"):
        con.execute(
            "create or replace temp view campaign_msg as select user_id, campaign_id, "
            "message_event, cast(occurred_at as date) as message_date from raw.messages "
            f"where campaign_id like '{CAMPAIGN_PREFIX}.%'"
        )
    else:
        con.execute(
            "create or replace temp view campaign_msg as select null::varchar as user_id, "
            "null::varchar as campaign_id, null::varchar as message_event, "
            "null::date as message_date where false"
        )


def _exposures(con, rules: AudienceRules, as_of: dt.date) -> None:
    m = rules.measurement
    window = m.reactivation_window_days
    durable = ",\n".join(
        f"""bool_or(a.day > r.reactivated_on + {k - DURABILITY_LOOKBACK_DAYS}
                and a.day <= r.reactivated_on + {k})
                filter (where r.reactivated_on + {k} <= $as_of) as durable_{k},
            bool_or(r.reactivated_on + {k} <= $as_of) as durable_{k}_known"""
        for k in m.durability_days
    )
    costs = dict(m.costs)
    con.execute(
        f"""
        create or replace temp table exposure_base as
        select user_id, segment, sequence, cycle, entered_on, step, is_holdout,
            arg_min(destination, as_of_date) as channel,
            min(as_of_date) as exposure_date
        from {AUDIENCE_SCHEMA}.daily
        where step is not null and sequence <> 'checkin'
          and (status = 'exported' or (status = 'holdout' and exclusion_reasons = 'holdout'))
          and as_of_date <= $as_of
        group by user_id, segment, sequence, cycle, entered_on, step, is_holdout
        """,
        {"as_of": as_of},
    )
    con.execute(
        f"""
        create or replace temp table exposure_outcomes as
        with reactivation as (
            select e.user_id, e.entered_on, e.step, min(a.day) as reactivated_on
            from exposure_base as e
            join active_days as a
              on a.user_id = e.user_id and a.day > e.exposure_date
             and a.day <= e.exposure_date + {int(window)} and a.day <= $as_of
            group by all
        ),
        funnel as (
            select e.user_id, e.entered_on, e.step,
                bool_or(m.message_event = 'sent') as sent,
                bool_or(m.message_event = 'delivered') as delivered,
                bool_or(m.message_event = 'open') as opened,
                bool_or(m.message_event = 'click') as clicked,
                bool_or(m.message_event = 'unsubscribe') as unsubscribed,
                bool_or(m.message_event in ('bounce_hard', 'bounce_soft')) as bounced
            from exposure_base as e
            join campaign_msg as m
              on m.user_id = e.user_id
             and m.campaign_id = '{CAMPAIGN_PREFIX}.' || e.sequence || '.' || e.step
             and m.message_date between e.exposure_date and e.exposure_date + {int(window)}
            group by all
        ),
        durability as (
            select r.user_id, r.entered_on, r.step,
                {durable}
            from reactivation as r
            left join active_days as a on a.user_id = r.user_id and a.day <= $as_of
                and a.day > r.reactivated_on
                and a.day <= r.reactivated_on + {max(m.durability_days)}
            group by all
        ),
        money as (
            select r.user_id, r.entered_on, r.step, sum(v.revenue) as revenue
            from reactivation as r
            join revenue_days as v on v.user_id = r.user_id and v.day <= $as_of
                and v.day >= r.reactivated_on
                and v.day < r.reactivated_on + {int(m.revenue_window_days)}
            group by all
        )
        select e.*,
            '{CAMPAIGN_PREFIX}.' || e.sequence || '.' || e.step as campaign_id,
            e.exposure_date + {int(window)} <= $as_of as window_closed,
            r.reactivated_on,
            r.reactivated_on is not null as reactivated,
            {", ".join(f"coalesce(x.durable_{k}, false) as durable_{k}" for k in m.durability_days)},
            {", ".join(f"coalesce(x.durable_{k}_known, false) as durable_{k}_known" for k in m.durability_days)},
            coalesce(y.revenue, 0) as revenue,
            coalesce(f.sent, false) as sent, coalesce(f.delivered, false) as delivered,
            coalesce(f.opened, false) as opened, coalesce(f.clicked, false) as clicked,
            coalesce(f.unsubscribed, false) as unsubscribed,
            coalesce(f.bounced, false) as bounced,
            case when e.is_holdout then 0.0 else
                case e.channel
                    when 'email' then $email * coalesce(f.sent, false)::int
                    when 'sms' then $sms * coalesce(f.sent, false)::int
                    when 'push' then $push * coalesce(f.sent, false)::int
                    when 'customer_success' then $customer_success
                    else 0.0 end
                + case when e.step in (select unnest($incentive_steps::varchar[]))
                       and (coalesce(f.sent, false) or e.channel = 'customer_success')
                       then $incentive else 0.0 end
            end as cost
        from exposure_base as e
        left join reactivation as r using (user_id, entered_on, step)
        left join durability as x using (user_id, entered_on, step)
        left join money as y using (user_id, entered_on, step)
        left join funnel as f using (user_id, entered_on, step)
        """,
        {
            "as_of": as_of,
            "incentive_steps": list(m.incentive_steps),
            **{k: costs[k] for k in ("email", "sms", "push", "customer_success", "incentive")},
        },
    )


# --- the cells -------------------------------------------------------------------------------


def _sums(con, keys: list[str], durability: tuple[int, ...], units: str = "exposure_outcomes"):
    """Per group of `keys`, the counts and sums `_measures` needs, for the measured units
    (window closed) of `units`: exposures, or cycles (`cycle_units`)."""
    group = ", ".join(keys)
    per_group = []
    for side, flag in (("t", "not is_holdout"), ("h", "is_holdout")):
        per_group += [
            f"count(*) filter (where {flag}) as n_{side}",
            f"count(*) filter (where {flag} and reactivated) as react_{side}",
            f"coalesce(sum(revenue) filter (where {flag}), 0) as rev_{side}",
            f"coalesce(sum(revenue * revenue) filter (where {flag}), 0) as rev2_{side}",
        ]
        for k in durability:
            per_group += [
                f"count(*) filter (where {flag} and durable_{k}) as durable_{k}_{side}",
                f"count(*) filter (where {flag} and reactivated and durable_{k}_known) "
                f"as durable_{k}_known_{side}",
            ]
    return con.execute(
        f"""
        select {group},
            {", ".join(per_group)},
            count(*) filter (where not is_holdout and sent) as sent,
            count(*) filter (where not is_holdout and delivered) as delivered,
            count(*) filter (where not is_holdout and opened) as opened,
            count(*) filter (where not is_holdout and clicked) as clicked,
            count(*) filter (where not is_holdout and unsubscribed) as unsubscribed,
            coalesce(sum(cost), 0) as cost
        from {units} where window_closed
        group by {group} order by {group}
        """
    ).df()


def _measures(frame: pd.DataFrame, durability: tuple[int, ...]) -> pd.DataFrame:
    """Rates, lifts with their intervals, durability, revenue and ROI from the sums."""
    f = frame.copy()
    nt, nh = f["n_t"].to_numpy(float), f["n_h"].to_numpy(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        f["reactivation_rate_targeted"] = f["react_t"] / nt
        f["reactivation_rate_holdout"] = f["react_h"] / nh
    d, low, high = newcombe(f["react_t"], nt, f["react_h"], nh)
    f["lift"], f["lift_ci_low"], f["lift_ci_high"] = d, low, high
    r, rlow, rhigh = relative_lift(f["react_t"], nt, f["react_h"], nh)
    f["relative_lift"], f["relative_lift_ci_low"], f["relative_lift_ci_high"] = r, rlow, rhigh
    f["incremental_reactivations"] = d * nt
    f["incremental_reactivations_ci_low"] = low * nt
    f["incremental_reactivations_ci_high"] = high * nt
    for k in durability:
        with np.errstate(invalid="ignore", divide="ignore"):
            f[f"durable_{k}d_share_targeted"] = f[f"durable_{k}_t"] / f[f"durable_{k}_known_t"]
            f[f"durable_{k}d_share_holdout"] = f[f"durable_{k}_h"] / f[f"durable_{k}_known_h"]
    first = durability[0]
    dd, _, _ = newcombe(f[f"durable_{first}_t"], nt, f[f"durable_{first}_h"], nh)
    f[f"incremental_durable_{first}d_reactivations"] = dd * nt
    rev, rev_low, rev_high = welch(f["rev_t"], f["rev2_t"], nt, f["rev_h"], f["rev2_h"], nh)
    f["revenue_targeted"], f["revenue_holdout"] = f["rev_t"], f["rev_h"]
    f["incremental_revenue_per_user"] = rev
    f["incremental_revenue_per_user_ci_low"] = rev_low
    f["incremental_revenue_per_user_ci_high"] = rev_high
    f["incremental_revenue"] = rev * nt
    with np.errstate(invalid="ignore", divide="ignore"):
        f["roi"] = np.where(f["cost"] > 0, (rev * nt - f["cost"]) / f["cost"], np.nan)
    f = f.rename(
        columns={
            "n_t": "targeted",
            "n_h": "holdout",
            "react_t": "reactivated_targeted",
            "react_h": "reactivated_holdout",
        }
    )
    drop = ["rev_t", "rev_h", "rev2_t", "rev2_h"]
    for k in durability:
        f = f.rename(
            columns={
                f"durable_{k}_t": f"durable_{k}d_targeted",
                f"durable_{k}_h": f"durable_{k}d_holdout",
                f"durable_{k}_known_t": f"durable_{k}d_known_targeted",
                f"durable_{k}_known_h": f"durable_{k}d_known_holdout",
            }
        )
    return f.drop(columns=drop)


def _cycles(con, rules: AudienceRules, as_of: dt.date) -> None:
    """One unit per user and cycle: from the cycle's first exposure, over the sequence's last
    step day plus the window (what the programme summary and the segment rows measure)."""
    last_day = {name: max(s.day for s in seq.steps) for name, seq in rules.sequences.items()}
    con.execute("create or replace temp table sequence_length (sequence varchar, days integer)")
    if last_day:
        con.executemany("insert into sequence_length values (?, ?)", list(last_day.items()))
    m = rules.measurement
    first = m.durability_days[0]
    con.execute(
        f"""
        create or replace temp table cycle_outcomes as
        with cycles as (
            select user_id, segment, sequence, cycle, entered_on, is_holdout,
                min(exposure_date) as exposure_date, sum(cost) as cost
            from exposure_outcomes group by all
        ),
        horizon as (
            select c.*, c.exposure_date + coalesce(l.days, 0)
                + {int(m.reactivation_window_days)} as horizon_end
            from cycles as c left join sequence_length as l using (sequence)
        ),
        reactivation as (
            select h.user_id, h.entered_on, min(a.day) as reactivated_on
            from horizon as h join active_days as a on a.user_id = h.user_id
             and a.day > h.exposure_date and a.day <= h.horizon_end and a.day <= $as_of
            group by all
        ),
        durability as (
            select r.user_id, r.entered_on,
                bool_or(a.day > r.reactivated_on + {first - DURABILITY_LOOKBACK_DAYS}
                    and a.day <= r.reactivated_on + {first}) as durable
            from reactivation as r join active_days as a on a.user_id = r.user_id
             and a.day <= $as_of and a.day > r.reactivated_on
             and a.day <= r.reactivated_on + {first}
            group by all
        ),
        money as (
            select r.user_id, r.entered_on, sum(v.revenue) as revenue
            from reactivation as r join revenue_days as v on v.user_id = r.user_id
             and v.day <= $as_of and v.day >= r.reactivated_on
             and v.day < r.reactivated_on + {int(m.revenue_window_days)}
            group by all
        )
        select h.*, 'cycle' as step, h.horizon_end <= $as_of as window_closed,
            r.reactivated_on, r.reactivated_on is not null as reactivated,
            coalesce(d.durable, false) as durable_{first},
            coalesce(r.reactivated_on + {first} <= $as_of, false) as durable_{first}_known,
            coalesce(y.revenue, 0) as revenue
        from horizon as h
        left join reactivation as r using (user_id, entered_on)
        left join durability as d using (user_id, entered_on)
        left join money as y using (user_id, entered_on)
        """,
        {"as_of": as_of},
    )


def build_campaigns(
    con: duckdb.DuckDBPyConnection, rules: AudienceRules, as_of: dt.date | None = None
) -> CampaignResult:
    """Recompute every campaign mart from the audience state and the logs, as of `as_of`
    (default: the latest audience day)."""
    if not _exists(con, AUDIENCE_SCHEMA, "daily"):
        raise CampaignError("no audience.daily: build the audience first")
    if as_of is None:
        as_of = con.execute(f"select max(as_of_date) from {AUDIENCE_SCHEMA}.daily").fetchone()[0]
    result = CampaignResult(as_of)
    m = rules.measurement
    _activity(con)
    if as_of is None:  # no audience day yet: empty marts with their columns
        as_of = dt.date(1970, 1, 1)
    _exposures(con, rules, as_of)
    _cycles(con, rules, as_of)
    durability = m.durability_days
    keys = ["campaign_id", "segment", "step", "channel"]
    per_day = _measures(_sums(con, [*keys, "exposure_date"], durability), durability)
    per_cell = _measures(_sums(con, keys, durability), durability)
    con.execute(
        "create or replace temp view cycle_units as select *, "
        "date_trunc('month', exposure_date)::date as month, false as sent, false as delivered, "
        "false as opened, false as clicked, false as unsubscribed from cycle_outcomes"
    )
    per_segment = _measures(_sums(con, ["segment"], durability[:1], "cycle_units"), durability[:1])
    per_segment.insert(0, "campaign_id", None)
    per_segment.insert(2, "step", "cycle")
    per_segment.insert(3, "channel", None)
    lift = pd.concat([per_cell, per_segment], ignore_index=True)
    lift.insert(0, "as_of_date", as_of)
    per_day.insert(0, "as_of_date", as_of)
    monthly = _measures(_sums(con, ["month"], durability[:1], "cycle_units"), durability[:1])
    base = con.execute(
        f"""
        select date_trunc('month', as_of_date)::date as month,
            count(distinct user_id) as at_risk_users
        from {AUDIENCE_SCHEMA}.daily where sequence <> 'checkin' and as_of_date <= ?
        group by 1
        """,
        [as_of],
    ).df()
    monthly = monthly.merge(base, on="month", how="left")
    with np.errstate(invalid="ignore", divide="ignore"):
        monthly["share_of_at_risk_recovered"] = (
            monthly["incremental_reactivations"] / monthly["at_risk_users"]
        )
    monthly.insert(0, "as_of_date", as_of)
    con.execute("create schema if not exists marts")
    con.execute(
        "create or replace table marts.campaign_exposures as select * from exposure_outcomes"
    )
    con.execute("create or replace table marts.campaign_cycles as select * from cycle_outcomes")
    for name, frame in (
        ("campaign_performance", per_day),
        ("campaign_lift", lift),
        ("campaign_programme_monthly", monthly),
    ):
        con.register("frame_to_write", frame)
        con.execute(f"create or replace table marts.{name} as select * from frame_to_write")
        con.unregister("frame_to_write")
    counts = con.execute(
        "select count(*), count(*) filter (where window_closed), "
        "count(*) filter (where not window_closed) from exposure_outcomes"
    ).fetchone()
    result.exposures, result.measured, result.pending = counts
    result.lift, result.programme = lift, monthly
    return result


# --- checks ----------------------------------------------------------------------------------


def check_campaigns(con: duckdb.DuckDBPyConnection, holdout_share: float):
    """(name, passed, description) for each check of the campaign marts."""
    results = []
    contaminated = con.execute(
        """
        select count(*) from marts.campaign_exposures as e
        join campaign_msg as m on m.user_id = e.user_id and m.message_event = 'sent'
            and m.message_date >= e.entered_on and m.message_date <= e.exposure_date
        where e.is_holdout
        """
    ).fetchone()[0]
    results.append(
        (
            "holdout_never_contacted",
            contaminated == 0,
            "no holdout user got a win-back message in a cycle measured"
            if not contaminated
            else f"{contaminated} holdout exposures got a win-back message: the lift is biased",
        )
    )
    mismatched = con.execute(
        """
        select count(*) from (
            select campaign_id, segment, step, channel, count(*) filter (where not is_holdout)
                as t, count(*) filter (where is_holdout) as h
            from marts.campaign_exposures where window_closed group by all
        ) as e
        full join (select * from marts.campaign_lift where step <> 'cycle') as l
            using (campaign_id, segment, step, channel)
        where e.t is distinct from l.targeted or e.h is distinct from l.holdout
        """
    ).fetchone()[0]
    results.append(
        (
            "cells_reconcile",
            mismatched == 0,
            "targeted and holdout of every cell equal its measured exposures"
            if not mismatched
            else f"{mismatched} cells do not reconcile with marts.campaign_exposures",
        )
    )
    bad = con.execute(
        """
        select count(*) from marts.campaign_lift
        where reactivated_targeted > targeted or reactivated_holdout > holdout
           or (lift is not null and not (lift_ci_low <= lift and lift <= lift_ci_high))
           or lift_ci_low < -1 or lift_ci_high > 1
        """
    ).fetchone()[0]
    results.append(
        (
            "intervals_hold_their_estimates",
            bad == 0,
            "every rate is a share of its group and every interval holds its estimate"
            if not bad
            else f"{bad} cells with a rate or an interval out of bounds",
        )
    )
    n_t, n_h = con.execute(
        "select count(*) filter (where not is_holdout), count(*) filter (where is_holdout) "
        "from (select distinct user_id, is_holdout from marts.campaign_exposures)"
    ).fetchone()
    results.append(("holdout_share", *_sample_ratio(n_t, n_h, holdout_share)))
    return results


def _sample_ratio(targeted: int, holdout: int, share: float) -> tuple[bool, str]:
    """A sample-ratio check: the holdout's share of the users measured against the setting,
    a binomial z-test at p < 0.001 (a mismatch says the groups are not what the hash made)."""
    n = targeted + holdout
    if n == 0 or share <= 0:
        return True, "no users measured yet"
    observed = holdout / n
    z = (observed - share) / math.sqrt(share * (1 - share) / n)
    passed = abs(z) < 3.29
    return passed, (
        f"holdout {observed:.2%} of {n:,} users measured, set to {share:.0%} (z = {z:.1f})"
        + ("" if passed else ": sample-ratio mismatch, the comparison is not a fair one")
    )
