"""Every user's latent parameters: archetype, plan, profile, rhythm and the schedule of their
disengagement (when a decline starts, when an abandoner stops, which renewal fails).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from winback.generate.helpers import random_stream
from winback.generate.vocabulary import (
    ABRUPT,
    ACQUISITION_CHANNELS,
    ACQUISITION_SHARES,
    ARCHETYPE_SHARES,
    ARCHETYPES,
    COUNTRIES,
    COUNTRY_SHARES,
    DAILY_SHARE,
    DECLINE,
    INVOLUNTARY,
    INVOLUNTARY_PAID_SHARES,
    NEVER,
    PLAN_SHARES,
    PLATFORM_SHARES,
    PLATFORMS,
    STEADY,
    STREAM_USERS,
)


@dataclass
class Users:
    n: int
    archetype: np.ndarray
    signup_day: np.ndarray
    first_day: np.ndarray  # scheduled first use (may be after the period)
    plan: np.ndarray
    country: np.ndarray
    channel: np.ndarray
    email_opt_in: np.ndarray
    sms_opt_in: np.ndarray
    platform: np.ndarray
    p_base: np.ndarray
    lam: np.ndarray
    p_advanced: np.ndarray
    p_help: np.ndarray
    p_purchase: np.ndarray
    # schedules (days from the period start); `stop` = first day without activity
    stop: np.ndarray
    decline_start: np.ndarray
    tau: np.ndarray
    failure_day: np.ndarray
    never_days: np.ndarray  # never-activated: 1 or 2 active days
    never_second: np.ndarray  # never-activated: the second active day
    upgrade_day: np.ndarray  # steady pro users who started free (-1: none)
    # filled in by the activity simulation
    churn_day: np.ndarray | None = None
    first_event_day: np.ndarray | None = None
    last_event_day: np.ndarray | None = None
    first_event_secs: np.ndarray | None = None
    signup_secs: np.ndarray | None = None


def make_users(n: int, days: int, seed: int) -> Users:
    rng = random_stream(seed, STREAM_USERS)
    arch = rng.choice(len(ARCHETYPES), n, p=ARCHETYPE_SHARES).astype(np.int8)
    signup = rng.integers(0, days, n)
    lag = np.where(rng.random(n) < 0.2, rng.integers(1, 31, n), 0)
    first = signup + lag

    # plans: involuntary churners always pay; the others make up the overall 65/28/7 mix
    inv_share = ARCHETYPE_SHARES[INVOLUNTARY]
    other = np.array(
        [s - inv_share * i for s, i in zip(PLAN_SHARES, INVOLUNTARY_PAID_SHARES, strict=True)]
    )
    other /= other.sum()
    plan = np.where(
        arch == INVOLUNTARY,
        rng.choice(3, n, p=INVOLUNTARY_PAID_SHARES),
        rng.choice(3, n, p=other),
    ).astype(np.int8)

    country = rng.choice(len(COUNTRIES), n, p=COUNTRY_SHARES).astype(np.int8)
    channel = rng.choice(len(ACQUISITION_CHANNELS), n, p=ACQUISITION_SHARES).astype(np.int8)
    email_opt_in = rng.random(n) < 0.72
    sms_opt_in = rng.random(n) < np.where(email_opt_in, 0.3, 0.1)
    platform = rng.choice(len(PLATFORMS), n, p=PLATFORM_SHARES).astype(np.int8)

    daily = rng.random(n) < np.asarray(DAILY_SHARE)[arch]
    p_base = np.where(daily, rng.uniform(0.55, 0.9, n), rng.uniform(0.12, 0.3, n))
    lam = 1.5 + 3.5 * rng.beta(1.3, 2.6, n)  # 1.5..5, skewed to light users

    # feature propensities (share of non-session events)
    adv_a = np.array([5.0, 2.0, 3.0, 1.0, 3.0])[arch]
    adv_b = np.array([8.0, 10.0, 8.0, 12.0, 9.0])[arch]
    p_advanced = rng.beta(adv_a, adv_b)
    p_help = np.array([0.02, 0.06, 0.025, 0.25, 0.03])[arch] * rng.uniform(0.5, 1.5, n)
    p_purchase = np.where(plan > 0, rng.uniform(0.002, 0.012, n), 0.0)

    big = 10 * days + 1_000
    stop = np.full(n, big, dtype=np.int64)
    remaining = days - first  # days of the period left from the first use

    # progressive decline: normal use for t0 days, then p(t) = p_base * exp(-(t - t0) / tau)
    # until it falls under p_end (about monthly); squeezed (t0 >= 10 days, decay >= 24 days)
    # so that most decliners finish inside the period
    t0 = rng.uniform(10, 40, n)
    tau = rng.uniform(12, 30, n)
    p_end = rng.uniform(0.02, 0.05, n)
    log_ratio = np.log(p_base / p_end)
    decay_len = tau * log_ratio
    total = t0 + decay_len
    fit = np.clip((remaining - 2) / total, 0.0, 1.0)
    t0 = np.where(fit < 1, np.maximum(10.0, t0 * fit), t0)
    decay_len = np.where(fit < 1, np.maximum(24.0, decay_len * fit), decay_len)
    tau = decay_len / log_ratio
    is_decl = arch == DECLINE
    stop = np.where(is_decl, first + np.ceil(t0 + decay_len).astype(np.int64), stop)

    # abrupt abandonment: stop at least 21 days after the first use
    span = np.clip(remaining - 21, 14, 80)
    abrupt_stop = first + 21 + (rng.random(n) * span).astype(np.int64)
    stop = np.where(arch == ABRUPT, abrupt_stop, stop)

    # involuntary: a renewal (signup + 30k) fails; activity stops 0 to 5 days later
    renewals = np.maximum((days - 1 - signup) // 30, 1)
    k_fail = 1 + (rng.random(n) * renewals).astype(np.int64)
    failure = signup + 30 * k_fail
    inv_stop = np.maximum(failure + rng.integers(0, 6, n), first + 1)
    stop = np.where(arch == INVOLUNTARY, inv_stop, stop)
    failure = np.where(arch == INVOLUNTARY, failure, -1)

    # never activated: 1 to 3 events on the first day, sometimes a second day soon after
    never_days = np.where(rng.random(n) < 0.4, 2, 1)
    never_second = first + rng.integers(1, 4, n)
    stop = np.where(arch == NEVER, np.where(never_days == 2, never_second, first) + 1, stop)

    # a few steady pro users started on the free plan and upgraded later
    upgrade = np.where(
        (arch == STEADY) & (plan == 1) & (rng.random(n) < 0.12),
        first + rng.integers(7, 60, n),
        -1,
    )
    upgrade = np.where(upgrade < days, upgrade, -1)

    return Users(
        n=n,
        archetype=arch,
        signup_day=signup,
        first_day=first,
        plan=plan,
        country=country,
        channel=channel,
        email_opt_in=email_opt_in,
        sms_opt_in=sms_opt_in,
        platform=platform,
        p_base=p_base,
        lam=lam,
        p_advanced=p_advanced,
        p_help=p_help,
        p_purchase=p_purchase,
        stop=stop,
        decline_start=np.where(is_decl, t0, np.inf),
        tau=tau,
        failure_day=failure,
        never_days=never_days,
        never_second=never_second,
        upgrade_day=upgrade,
    )
