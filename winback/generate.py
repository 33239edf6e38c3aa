"""Generate realistic, seeded demo data for winback: the landing files and their ground truth.

The simulation is vectorised: every user gets parameters (archetype, rhythm, plan, schedule),
then a users x days matrix of daily activity is drawn chunk by chunk, events are expanded from
the active days with numpy, and DuckDB formats the strings and writes the files. Nothing depends
on the wall clock: the same seed and parameters give byte-identical files.

What is simulated (the three ways users disengage, plus involuntary churn):

- steady users keep a constant rhythm ("daily" or "weekly" users, half as active on weekends);
- progressive decliners use the product normally, then their daily probability (and the number
  of events per day) decays exponentially until they stop (daily -> weekly -> monthly -> gone);
- abrupt abandoners use it a lot, then stop on one day without any prior decline;
- never-activated users do 1 to 3 things on their first day or two, then nothing;
- involuntary churners are paying users whose payment fails; they stop 0 to 5 days later.

Landing files (relative to the landing folder): `events/events_YYYY-MM.<ext>` (one per UTC month),
`users/users.csv`, `messages/messages.jsonl` (a bi-weekly newsletter), `survey_responses/
survey_responses.csv` and `billing/billing.parquet`. A small share of event rows is deliberately
dirty (six kinds, listed in `truth_dir/dirty_rows.csv` with the rule each must trip); the truth
folder also holds `users.csv` with every user's archetype, true churn date and the day the
archetype's pattern started (`pattern_onset_date`: the decay's first day, the first day without
activity, the failed renewal; may fall after the period). The pipeline never reads the truth
folder (`winback evaluate` and the tests do).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from winback.contract import MESSAGE_EVENTS, SURVEY_REASONS

# ---------------------------------------------------------------------------------------------
# Vocabulary

ARCHETYPES = (
    "steady",
    "progressive_decline",
    "abrupt_abandonment",
    "never_activated",
    "involuntary",
)
STEADY, DECLINE, ABRUPT, NEVER, INVOLUNTARY = range(len(ARCHETYPES))
ARCHETYPE_SHARES = (0.40, 0.18, 0.15, 0.17, 0.10)
# share of "daily" (vs "weekly") users per archetype; decliners and abandoners start as heavy
# users, and a good half of the users who stay are daily users (the retained base is not only
# light users: low activity is a churn signal, DOMAIN.md)
DAILY_SHARE = (0.55, 1.0, 1.0, 0.0, 0.3)

EVENT_NAMES = (
    "session_start",
    "view_dashboard",
    "create_report",
    "share_report",
    "export_data",
    "configure_integration",
    "invite_teammate",
    "api_call",
    "view_help",
    "purchase",
)
SESSION, CORE0, ADVANCED0, HELP, PURCHASE = 0, 1, 4, 8, 9
CORE_WEIGHTS = (0.6, 0.28, 0.12)  # view_dashboard, create_report, share_report

PLATFORMS = ("web", "ios", "android")
PLATFORM_SHARES = (0.55, 0.27, 0.18)
SOURCES = ("direct", "email", "push", "search", "referral")
SOURCE_SHARES = (0.55, 0.15, 0.1, 0.12, 0.08)

PLANS = ("free", "pro", "enterprise")
PLAN_PRICES = (0, 29, 199)
PLAN_SHARES = (0.65, 0.28, 0.07)
INVOLUNTARY_PAID_SHARES = (0.0, 0.8, 0.2)

COUNTRIES = ("US", "FR", "DE", "GB", "ES", "CA", "BR", "IN")
COUNTRY_SHARES = (0.34, 0.16, 0.12, 0.11, 0.07, 0.07, 0.07, 0.06)
# ~5% of event timestamps carry a local offset instead of "Z" (the same instant)
OFFSETS = ("Z", "-05:00", "+01:00", "+02:00", "-04:00", "-03:00", "+05:30")
OFFSET_MINUTES = (0, -300, 60, 120, -240, -180, 330)
# the offset a client in each country sends when it reports local time (index into OFFSETS)
COUNTRY_OFFSET = (1, 2, 3, 2, 3, 4, 5, 6)  # US FR DE GB ES CA BR IN
NON_UTC_SHARE = 0.05

ACQUISITION_CHANNELS = ("organic", "paid_search", "social", "referral", "partner")
ACQUISITION_SHARES = (0.38, 0.24, 0.16, 0.14, 0.08)

DIRTY_KINDS = (
    "missing_user_id",
    "bad_timestamp",
    "future_timestamp",
    "duplicate",
    "odd_case_name",
    "bad_properties",
)
DIRTY_RULES = {
    "missing_user_id": "user_id_not_null",
    "bad_timestamp": "occurred_at_is_timestamp",
    "future_timestamp": "occurred_at_not_in_future",
    "duplicate": "duplicate",
    "odd_case_name": "normalised",
    "bad_properties": "properties_is_json_object",
}
BAD_TIMESTAMPS = ("not-a-date", "2025-13-45T99:00", "31/02/2025 25:61", "tomorrow")
BAD_PROPERTIES = ("{oops", '{"session":12', "session=12;source=web", "[1,2]")

MESSAGE_EVENT_NAMES = MESSAGE_EVENTS  # the codes below index this tuple
SENT, DELIVERED, OPEN, CLICK, BOUNCE_HARD, BOUNCE_SOFT, UNSUBSCRIBE, COMPLAINT = range(8)

BILLING_EVENT_NAMES = ("payment_succeeded", "payment_failed", "plan_changed", "cancelled")
PAID, FAILED, PLAN_CHANGED, CANCELLED = range(4)

# survey reasons per archetype, in contract.SURVEY_REASONS order:
# complexity, missing_feature, price, competitor, no_longer_needed, technical_issue, other
SURVEY_REASON_SHARES = {
    STEADY: (0.10, 0.45, 0.20, 0.0, 0.0, 0.05, 0.20),
    DECLINE: (0.34, 0.30, 0.05, 0.0, 0.26, 0.0, 0.05),
    ABRUPT: (0.0, 0.0, 0.20, 0.42, 0.0, 0.30, 0.08),
    NEVER: (0.65, 0.0, 0.0, 0.0, 0.0, 0.0, 0.35),
    INVOLUNTARY: (0.0, 0.0, 0.62, 0.0, 0.0, 0.0, 0.38),
}
SURVEY_COMMENTS = {
    "complexity": (
        "Too complicated to set up",
        "I never understood how to build a report",
        "Too many options, I got lost",
    ),
    "missing_feature": (
        "No export to our BI tool",
        "Missing a Salesforce integration",
        "We needed scheduled reports",
    ),
    "price": ("Too expensive for what we use", "Budget cuts", "The card expired, will see later"),
    "competitor": (
        "We moved to another tool",
        "Our company standardised on a competitor",
        "Found something cheaper, with the same features",
    ),
    "no_longer_needed": (
        "The project ended",
        "We don't need reporting anymore",
        "Changed jobs",
    ),
    "technical_issue": (
        "The dashboard kept crashing",
        "Sync with our database broke, twice",
        "Too slow on large files",
    ),
    "other": ("No comment", "Just trying things out", "Personal reasons"),
}
SURVEY_RESPONSE_RATE = 0.30
STEADY_SURVEY_RATE = 0.015

CHUNK_USERS = 8_192  # users simulated at once (bounds memory; fixed so results are stable)
NEWSLETTER_EVERY = 14
DAY = 86_400

# random streams, so adding draws to one part never shifts another
STREAM_USERS, STREAM_ACTIVITY, STREAM_DIRTY, STREAM_MESSAGES, STREAM_SURVEY, STREAM_BILLING = range(
    6
)


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


# ---------------------------------------------------------------------------------------------
# Helpers


def _rng(seed: int, stream: int, part: int = 0) -> np.random.Generator:
    return np.random.default_rng([seed, stream, part])


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _sql_list(values) -> str:
    return "[" + ", ".join(_lit(v) for v in values) + "]"


def _ragged_arange(counts: np.ndarray) -> np.ndarray:
    """0..n-1 for every group of `counts` (concatenated)."""
    total = int(counts.sum())
    starts = np.cumsum(counts) - counts
    return np.arange(total, dtype=np.int64) - np.repeat(starts, counts)


def _odd_variants(name: str) -> tuple[str, str, str]:
    """Spellings of an event name that are only valid after trim + lower case."""
    head, _, tail = name.partition("_")
    first = (
        f"{head.capitalize()}_{tail.upper()}"
        if tail
        else f"{name[:-3].capitalize()}{name[-3:].upper()}"
    )
    return (
        f"  {first} ",
        f" {name.upper()}",
        f"{'_'.join(p.capitalize() for p in name.split('_'))}  ",
    )


def _timestamps(ts_seconds: np.ndarray) -> pa.Array:
    return pa.array(ts_seconds.astype("datetime64[s]"))


def _month_starts(start: dt.date, end_exclusive: dt.date) -> list[dt.date]:
    months = []
    m = start.replace(day=1)
    while m < end_exclusive:
        months.append(m)
        m = (m.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return months


def _epoch(day: dt.date) -> int:
    return int((day - dt.date(1970, 1, 1)).days) * DAY


def _hours(rng: np.random.Generator, n: int, mean: float = 14.0, sd: float = 4.0) -> np.ndarray:
    """Seconds of the day: hour ~ Normal(mean, sd) clipped to 0..23, uniform minutes/seconds."""
    hour = np.clip(np.rint(rng.normal(mean, sd, n)), 0, 23).astype(np.int64)
    return hour * 3600 + rng.integers(0, 3600, n)


# ---------------------------------------------------------------------------------------------
# Users


@dataclass
class _Users:
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


def _make_users(n: int, days: int, seed: int) -> _Users:
    rng = _rng(seed, STREAM_USERS)
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

    return _Users(
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


# ---------------------------------------------------------------------------------------------
# Activity and events


@dataclass
class _Events:
    user: np.ndarray  # int32, 0-based user index
    ts: np.ndarray  # int64 seconds since the epoch (UTC)
    name: np.ndarray  # int8 index into EVENT_NAMES
    platform: np.ndarray  # int8
    source: np.ndarray  # int8 (session_start properties)
    props: np.ndarray  # int8: 0 none, 1 session+source, 2 session+currency, 3 session
    session: np.ndarray  # int32: the user's n-th active day
    cents: np.ndarray  # int32 revenue in cents (0: none)
    offset: np.ndarray  # int8 index into OFFSETS (0: UTC "Z")


def _simulate(
    u: _Users, days: int, start: dt.date, seed: int, campaign_days: np.ndarray
) -> tuple[_Events, np.ndarray]:
    """Draw every user's daily activity and expand it into events.

    Returns the events sorted by time (then user) and, for each user and newsletter, whether
    the user was active in the 14 days before it (drives email opens)."""
    horizon = int(max(days + 31, int(u.stop[u.archetype != STEADY].max(initial=0)) + 1))
    start_epoch = _epoch(start)
    weekday0 = start.weekday()
    dow = (weekday0 + np.arange(horizon)) % 7
    weekend = np.where(dow >= 5, 0.5, 1.0).astype(np.float32)
    day_idx = np.arange(horizon, dtype=np.int64)

    u.churn_day = np.full(u.n, -1, dtype=np.int64)
    u.first_event_day = np.full(u.n, -1, dtype=np.int64)
    u.last_event_day = np.full(u.n, -1, dtype=np.int64)
    u.first_event_secs = np.full(u.n, -1, dtype=np.int64)
    recent = np.zeros((u.n, len(campaign_days)), dtype=bool)
    parts: list[_Events] = []

    for chunk, lo in enumerate(range(0, u.n, CHUNK_USERS)):
        hi = min(lo + CHUNK_USERS, u.n)
        rng = _rng(seed, STREAM_ACTIVITY, chunk)
        m = hi - lo
        arch = u.archetype[lo:hi]
        first = u.first_day[lo:hi]
        stop = u.stop[lo:hi]
        t = day_idx[None, :] - first[:, None]  # days since first use
        decay = np.ones((m, horizon), dtype=np.float32)
        is_decl = arch == DECLINE
        if is_decl.any():
            dstart = u.decline_start[lo:hi][is_decl, None]
            decay[is_decl] = np.exp(
                -np.clip(t[is_decl] - dstart, 0, None) / u.tau[lo:hi][is_decl, None]
            ).astype(np.float32)
        p = u.p_base[lo:hi, None].astype(np.float32) * weekend[None, :] * decay
        p[(t < 0) | (day_idx[None, :] >= stop[:, None])] = 0.0
        p[arch == NEVER] = 0.0
        active = rng.random((m, horizon), dtype=np.float32) < p
        rows = np.arange(m)
        ok = first < horizon
        active[rows[ok], first[ok]] = True  # the first use is a use
        ab = (arch == ABRUPT) & (stop - 1 < horizon)
        active[rows[ab], stop[ab] - 1] = True  # abandoners were active up to the stop
        nv = (arch == NEVER) & (u.never_days[lo:hi] == 2) & (u.never_second[lo:hi] < horizon)
        active[rows[nv], u.never_second[lo:hi][nv]] = True

        # the true last day of activity (over the extended horizon) for the churning archetypes
        any_active = active.any(axis=1)
        last = horizon - 1 - np.argmax(active[:, ::-1], axis=1)
        u.churn_day[lo:hi] = np.where((arch != STEADY) & any_active, last, -1)

        act = active[:, :days]
        del active
        cum = np.cumsum(act, axis=1, dtype=np.int32)
        cum0 = np.concatenate([np.zeros((m, 1), dtype=np.int32), cum], axis=1)
        for j, cd in enumerate(campaign_days):
            recent[lo:hi, j] = cum0[:, cd] - cum0[:, max(cd - 14, 0)] > 0
        in_period = act.any(axis=1)
        u.first_event_day[lo:hi] = np.where(in_period, np.argmax(act, axis=1), -1)
        u.last_event_day[lo:hi] = np.where(
            in_period, days - 1 - np.argmax(act[:, ::-1], axis=1), -1
        )

        cu, cd_ = np.nonzero(act)  # active cells, by user then day
        session = cum[cu, cd_]
        del cum, cum0
        cell_decay = decay[cu, cd_]
        del decay
        c_arch = arch[cu]
        gu = cu + lo  # global user index
        lam_cell = u.lam[gu] * np.sqrt(cell_decay)
        counts = 1 + rng.poisson(lam_cell)
        never = c_arch == NEVER
        if never.any():
            first_cell = cd_ == first[cu]
            two = u.never_days[gu] == 2
            counts = np.where(
                never,
                np.where(
                    first_cell,
                    np.where(two, rng.integers(1, 3, len(cu)), rng.integers(1, 4, len(cu))),
                    1,
                ),
                counts,
            )
        p_help_cell = u.p_help[gu] + np.where(c_arch == DECLINE, 0.15 * (1 - cell_decay), 0.0)
        n_cells = len(cu)
        platform_cell = np.where(
            rng.random(n_cells) < 0.92,
            u.platform[gu],
            rng.choice(len(PLATFORMS), n_cells, p=PLATFORM_SHARES),
        ).astype(np.int8)
        source_cell = rng.choice(len(SOURCES), n_cells, p=SOURCE_SHARES).astype(np.int8)

        # events: sorted within each day, the first one is the session start
        cell = np.repeat(np.arange(n_cells, dtype=np.int64), counts)
        n_ev = len(cell)
        secs = np.sort(cell * DAY + _hours(rng, n_ev)) - cell * DAY
        is_first = np.zeros(n_ev, dtype=bool)
        is_first[np.cumsum(counts) - counts] = True
        eu = gu[cell]
        r = rng.random(n_ev)
        pp = u.p_purchase[eu]
        ph = p_help_cell[cell]
        pa_ = u.p_advanced[eu] * (1 - ph - pp)
        core = CORE0 + rng.choice(3, n_ev, p=CORE_WEIGHTS)
        adv = ADVANCED0 + rng.integers(0, 4, n_ev)
        name = np.select(
            [is_first, r < pp, r < pp + ph, r < pp + ph + pa_],
            [SESSION, PURCHASE, HELP, adv],
            core,
        ).astype(np.int8)
        props = np.where(
            name == SESSION,
            1,
            np.where(name == PURCHASE, 2, np.where(rng.random(n_ev) < 0.9, 3, 0)),
        ).astype(np.int8)
        cents = np.where(name == PURCHASE, rng.integers(500, 5001, n_ev), 0).astype(np.int32)
        offset = np.where(
            rng.random(n_ev) < NON_UTC_SHARE, np.asarray(COUNTRY_OFFSET)[u.country[eu]], 0
        ).astype(np.int8)
        ts = start_epoch + cd_[cell].astype(np.int64) * DAY + secs

        # the first event of each user (for a signup time just before it)
        first_cells = np.nonzero(is_first)[0]
        fc = first_cells[np.r_[True, cu[1:] != cu[:-1]]] if n_cells else first_cells
        u.first_event_secs[gu[cell[fc]]] = secs[fc]

        parts.append(
            _Events(
                user=eu.astype(np.int32),
                ts=ts,
                name=name,
                platform=platform_cell[cell],
                source=source_cell[cell],
                props=props,
                session=session[cell].astype(np.int32),
                cents=cents,
                offset=offset,
            )
        )

    ev = _Events(
        **{f: np.concatenate([getattr(p, f) for p in parts]) for f in _Events.__dataclass_fields__}
    )
    del parts
    # time order (users break ties; a user's events keep their order within a second)
    key = (ev.ts - start_epoch) * np.int64(u.n) + ev.user
    order = np.argsort(key, kind="stable")
    del key
    ev = _Events(**{f: getattr(ev, f)[order] for f in _Events.__dataclass_fields__})

    # signup: shortly before the first event when the user starts on the signup day
    rng = _rng(seed, STREAM_USERS, 1)
    same_day = (u.first_event_day == u.signup_day) & (u.first_event_secs >= 0)
    before = np.maximum(u.first_event_secs - rng.integers(30, 1800, u.n), 0)
    u.signup_secs = np.where(same_day, before, _hours(rng, u.n, 13.0, 4.0))
    return ev, recent


# ---------------------------------------------------------------------------------------------
# Dirty rows


def _pick_dirty(n_events: int, share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows (sorted positions) made dirty and their kind (index into DIRTY_KINDS)."""
    if share <= 0 or n_events == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int8)
    total = int(round(share * n_events))
    if n_events >= 100:  # small test runs still get one row of every kind
        total = max(total, len(DIRTY_KINDS))
    total = min(total, n_events)
    rng = _rng(seed, STREAM_DIRTY)
    pos = np.sort(rng.choice(n_events, total, replace=False))
    kinds = (np.arange(total) % len(DIRTY_KINDS)).astype(np.int8)
    rng.shuffle(kinds)
    return pos, kinds


# ---------------------------------------------------------------------------------------------
# Writers


def _copy(con: duckdb.DuckDBPyConnection, sql: str, path: Path, fmt: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "csv":
        options = "FORMAT csv, HEADER true"
    elif fmt == "parquet":
        options = "FORMAT parquet, COMPRESSION zstd"
    elif fmt == "jsonl":
        options = "FORMAT json"
    else:
        raise ValueError(f"unknown format {fmt!r}")
    con.execute(f"COPY ({sql}) TO {_lit(str(path))} ({options})")


EXTENSIONS = {"csv": "csv", "parquet": "parquet", "jsonl": "jsonl"}
GENERATED = {
    "events": re.compile(r"^events_\d{4}-\d{2}\.(csv|parquet|jsonl)$"),
    "users": re.compile(r"^users\.csv$"),
    "messages": re.compile(r"^messages\.jsonl$"),
    "survey_responses": re.compile(r"^survey_responses\.csv$"),
    "billing": re.compile(r"^billing\.parquet$"),
}


def _clean_previous(landing_dir: Path, truth_dir: Path) -> None:
    """Remove what an earlier run wrote (and nothing else)."""
    for folder, pattern in GENERATED.items():
        d = landing_dir / folder
        if d.is_dir():
            for p in d.iterdir():
                if p.is_file() and pattern.match(p.name):
                    p.unlink()
    for name in ("users.csv", "dirty_rows.csv"):
        p = truth_dir / name
        if p.is_file():
            p.unlink()


def _uid_sql(col: str, width: int) -> str:
    return f"'u' || lpad(({col} + 1)::varchar, {width}, '0')"


def _iso_sql(col: str) -> str:
    return f"strftime({col}, '%Y-%m-%dT%H:%M:%SZ')"


def _write_events(
    con: duckdb.DuckDBPyConnection,
    ev: _Events,
    landing_dir: Path,
    start: dt.date,
    days: int,
    fmt: str,
    uid_width: int,
    dirty_pos: np.ndarray,
    dirty_kind: np.ndarray,
    seed: int,
    eid_width: int,
) -> tuple[list[str], dict[str, int], list[tuple[np.ndarray, np.ndarray, np.ndarray]]]:
    n = len(ev.ts)
    dirty = np.zeros(n, dtype=np.int8)  # 0 clean, else 1 + index into DIRTY_KINDS
    dirty[dirty_pos] = dirty_kind + 1
    rng = _rng(seed, STREAM_DIRTY, 1)
    variant = np.zeros(n, dtype=np.int8)
    variant[dirty_pos] = rng.integers(0, 12, len(dirty_pos)) % np.select(
        [
            dirty_kind == DIRTY_KINDS.index("bad_timestamp"),
            dirty_kind == DIRTY_KINDS.index("bad_properties"),
            dirty_kind == DIRTY_KINDS.index("odd_case_name"),
        ],
        [len(BAD_TIMESTAMPS), len(BAD_PROPERTIES), 3],
        1,
    )
    dup = dirty == 1 + DIRTY_KINDS.index("duplicate")

    odd_names = [v for name in EVENT_NAMES for v in _odd_variants(name)]
    k = {name: 1 + DIRTY_KINDS.index(name) for name in DIRTY_KINDS}
    offset_cases = " ".join(
        f"when {i} then strftime(ts + to_minutes({m}), '%Y-%m-%dT%H:%M:%S') || {_lit(o)}"
        for i, (o, m) in enumerate(zip(OFFSETS, OFFSET_MINUTES, strict=True))
        if i > 0
    )
    select = f"""
        select
            'e' || lpad(eid::varchar, {eid_width}, '0') as event_id,
            case when dirty = {k["missing_user_id"]} then null
                 else {_uid_sql("user_idx", uid_width)} end as user_id,
            case when dirty = {k["odd_case_name"]}
                 then {_sql_list(odd_names)}[name * 3 + variant + 1]
                 else {_sql_list(EVENT_NAMES)}[name + 1] end as event_name,
            case when dirty = {k["bad_timestamp"]} then {_sql_list(BAD_TIMESTAMPS)}[variant + 1]
                 when dirty = {k["future_timestamp"]}
                 then {_iso_sql("ts + to_years(2099 - year(ts))")}
                 else case offset_code when 0 then {_iso_sql("ts")} {offset_cases} end
            end as occurred_at,
            case when dirty = {k["bad_properties"]} then {_sql_list(BAD_PROPERTIES)}[variant + 1]
                 when props = 1 then '{{"session":' || session || ',"source":"'
                      || {_sql_list(SOURCES)}[source + 1] || '"}}'
                 when props = 2 then '{{"session":' || session || ',"currency":"EUR"}}'
                 when props = 3 then '{{"session":' || session || '}}'
            end as properties,
            case when cents > 0 then (cents * 0.01)::decimal(10, 2) end as revenue,
            {_sql_list(PLATFORMS)}[platform + 1] as platform
        from ev
    """
    start_epoch = _epoch(start)
    end_exclusive = start + dt.timedelta(days=days)
    months = _month_starts(start, end_exclusive)
    bounds = [max(_epoch(m), start_epoch) for m in months] + [_epoch(end_exclusive)]
    cuts = np.searchsorted(ev.ts, bounds, side="left")
    files, rows = [], {}
    # per file: event ids (1-based positions), file index, dirty kind
    dirty_records: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    ext = EXTENSIONS[fmt]
    for i, month in enumerate(months):
        lo, hi = int(cuts[i]), int(cuts[i + 1])
        if hi == lo:
            continue  # no file for an empty month (an empty JSON-lines file has no columns)
        idx = np.repeat(np.arange(lo, hi), 1 + dup[lo:hi])  # duplicates right after the original
        rel = f"events/events_{month:%Y-%m}.{ext}"
        table = pa.table(
            {
                "eid": idx + 1,
                "user_idx": ev.user[idx],
                "ts": _timestamps(ev.ts[idx]),
                "name": ev.name[idx],
                "platform": ev.platform[idx],
                "source": ev.source[idx],
                "props": ev.props[idx],
                "session": ev.session[idx],
                "cents": ev.cents[idx],
                "offset_code": ev.offset[idx],
                "dirty": dirty[idx],
                "variant": variant[idx],
            }
        )
        con.register("ev", table)
        _copy(con, select, landing_dir / rel, fmt)
        con.unregister("ev")
        del table
        files.append(rel)
        rows[rel] = len(idx)
        sel = np.nonzero(dirty[lo:hi])[0] + lo
        dirty_records.append((sel + 1, np.full(len(sel), len(files) - 1), dirty[sel] - 1))
    return files, rows, dirty_records


def _write_users(con, u: _Users, start: dt.date, path: Path, uid_width: int) -> None:
    ts = _epoch(start) + u.signup_day * DAY + u.signup_secs
    table = pa.table(
        {
            "user_idx": np.arange(u.n, dtype=np.int64),
            "ts": _timestamps(ts),
            "plan": u.plan,
            "country": u.country,
            "channel": u.channel,
            "email_opt_in": u.email_opt_in,
            "sms_opt_in": u.sms_opt_in,
        }
    )
    con.register("u", table)
    _copy(
        con,
        f"""select {_uid_sql("user_idx", uid_width)} as user_id,
                   {_iso_sql("ts")} as signup_at,
                   'user' || lpad((user_idx + 1)::varchar, {uid_width}, '0') || '@example.com'
                       as email,
                   {_sql_list(PLANS)}[plan + 1] as plan,
                   {_sql_list(COUNTRIES)}[country + 1] as country,
                   {_sql_list(ACQUISITION_CHANNELS)}[channel + 1] as acquisition_channel,
                   case when email_opt_in then 'true' else 'false' end as email_opt_in,
                   case when sms_opt_in then 'true' else 'false' end as sms_opt_in
            from u order by user_idx""",
        path,
        "csv",
    )
    con.unregister("u")


def _write_truth(con, u: _Users, start: dt.date, days: int, path: Path, uid_width: int) -> None:
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
    d0 = f"date {_lit(start.isoformat())}"

    def day(col: str) -> str:
        return f"case when {col} >= 0 then ({d0} + {col}::integer) end"

    _copy(
        con,
        f"""select {_uid_sql("user_idx", uid_width)} as user_id,
                   {_sql_list(ARCHETYPES)}[archetype + 1] as archetype,
                   {day("signup")} as signup_date,
                   {day("first_active")} as first_active_date,
                   {day("churn")} as churn_date,
                   {day("last_event")} as last_event_date,
                   {_sql_list(PLANS)}[plan + 1] as plan,
                   {day("onset")} as pattern_onset_date
            from t order by user_idx""",
        path,
        "csv",
    )
    con.unregister("t")


# ---------------------------------------------------------------------------------------------
# Messages (bi-weekly newsletter)


def _campaign_days(start: dt.date, days: int) -> np.ndarray:
    first_tuesday = 1 + (1 - (start + dt.timedelta(days=1)).weekday()) % 7
    return np.arange(first_tuesday, days, NEWSLETTER_EVERY, dtype=np.int64)


def _write_messages(
    con,
    u: _Users,
    recent: np.ndarray,
    campaign_days: np.ndarray,
    start: dt.date,
    days: int,
    seed: int,
    path: Path,
    uid_width: int,
) -> int:
    start_epoch = _epoch(start)
    end_ts = start_epoch + days * DAY
    signup_ts = start_epoch + u.signup_day * DAY + u.signup_secs
    suppressed = np.zeros(u.n, dtype=bool)
    cols: dict[str, list[np.ndarray]] = {k: [] for k in ("msg", "camp", "user", "event", "ts")}
    next_id = 0
    for j, cd in enumerate(campaign_days):
        rng = _rng(seed, STREAM_MESSAGES, j)
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
            "ts": _timestamps(arrays["ts"].astype(np.int64)),
        }
    )
    con.register("m", table)
    camp_sql = _sql_list(campaign_ids) if campaign_ids else "['']"
    _copy(
        con,
        f"""select 'm' || lpad((msg + 1)::varchar, {msg_width}, '0') as message_id,
                   {camp_sql}[camp + 1] as campaign_id,
                   {_uid_sql("user_idx", uid_width)} as user_id,
                   'email' as channel,
                   {_sql_list(MESSAGE_EVENT_NAMES)}[event + 1] as message_event,
                   {_iso_sql("ts")} as occurred_at
            from m""",
        path,
        "jsonl",
    )
    con.unregister("m")
    return len(order)


# ---------------------------------------------------------------------------------------------
# Survey responses


def _write_survey(
    con, u: _Users, start: dt.date, days: int, seed: int, path: Path, uid_width: int
) -> int:
    rng = _rng(seed, STREAM_SURVEY)
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
    ts = _epoch(start) + answer_day[who] * DAY + _hours(rng, len(who), 12.0, 4.0)
    if not len(who):
        return 0
    comments = [c for r in SURVEY_REASONS for c in SURVEY_COMMENTS[r]]
    table = pa.table(
        {
            "user_idx": who.astype(np.int64),
            "ts": _timestamps(ts),
            "reason": reason.astype(np.int8),
            "comment": comment.astype(np.int8),
        }
    )
    con.register("s", table)
    _copy(
        con,
        f"""select {_uid_sql("user_idx", uid_width)} as user_id,
                   {_iso_sql("ts")} as submitted_at,
                   {_sql_list(SURVEY_REASONS)}[reason + 1] as reason_code,
                   case when comment >= 0 then {_sql_list(comments)}[reason * 3 + comment + 1]
                   end as comment
            from s order by ts, user_idx""",
        path,
        "csv",
    )
    con.unregister("s")
    return len(who)


# ---------------------------------------------------------------------------------------------
# Billing


def _write_billing(
    con, u: _Users, start: dt.date, days: int, seed: int, path: Path, uid_width: int
) -> int:
    rng = _rng(seed, STREAM_BILLING)
    start_epoch = _epoch(start)
    end_ts = start_epoch + days * DAY
    signup_ts = start_epoch + u.signup_day * DAY + u.signup_secs
    paid = u.plan > 0
    upgraded = u.upgrade_day >= 0
    upgrade_ts = start_epoch + u.upgrade_day * DAY + _hours(rng, u.n)
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
    k = _ragged_arange(n_paid)
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
            "ts": _timestamps(ts_all),
            "event": ev,
            "amount": amount,
            "plan": u.plan[user],
        }
    )
    con.register("b", table)
    _copy(
        con,
        f"""select {_uid_sql("user_idx", uid_width)} as user_id,
                   {_iso_sql("ts")} as occurred_at,
                   {_sql_list(BILLING_EVENT_NAMES)}[event + 1] as billing_event,
                   case when amount >= 0 then (amount * 0.01)::decimal(10, 2) end as amount,
                   {_sql_list(PLANS)}[plan + 1] as plan
            from b""",
        path,
        "parquet",
    )
    con.unregister("b")
    return len(user)


# ---------------------------------------------------------------------------------------------
# Entry points


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

    u = _make_users(users, days, seed)
    counts = np.bincount(u.archetype, minlength=len(ARCHETYPES))
    archetypes = {a: int(c) for a, c in zip(ARCHETYPES, counts, strict=True)}
    say(f"users: {users:,} ({', '.join(f'{a} {c:,}' for a, c in archetypes.items())})")

    campaign_days = _campaign_days(start, days)
    ev, recent = _simulate(u, days, start, seed, campaign_days)
    say(f"simulated {len(ev.ts):,} clean events over {days} days")
    dirty_pos, dirty_kind = _pick_dirty(len(ev.ts), dirty_share, seed)
    eid_width = max(9, len(str(len(ev.ts))))

    _clean_previous(landing_dir, truth_dir)
    truth_dir.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        files, rows, dirty_records = _write_events(
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
        _write_users(con, u, start, landing_dir / rel, uid_width)
        files.append(rel)
        rows[rel] = users

        # files without rows are not written (an empty JSON-lines file has no columns)
        rel = "messages/messages.jsonl"
        n = _write_messages(
            con, u, recent, campaign_days, start, days, seed, landing_dir / rel, uid_width
        )
        say(f"messages: {n:,} rows ({len(campaign_days)} newsletters)")
        if n:
            files.append(rel)
            rows[rel] = n

        rel = "survey_responses/survey_responses.csv"
        n = _write_survey(con, u, start, days, seed, landing_dir / rel, uid_width)
        say(f"survey responses: {n:,}")
        if n:
            files.append(rel)
            rows[rel] = n

        rel = "billing/billing.parquet"
        n = _write_billing(con, u, start, days, seed, landing_dir / rel, uid_width)
        say(f"billing events: {n:,}")
        if n:
            files.append(rel)
            rows[rel] = n

        _write_truth(con, u, start, days, truth_dir / "users.csv", uid_width)
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
        _copy(
            con,
            f"""select 'e' || lpad(eid::varchar, {eid_width}, '0') as event_id,
                       {_sql_list(files) if files else "['']"}[file_idx + 1] as file,
                       {_sql_list(DIRTY_KINDS)}[kind + 1] as kind,
                       {_sql_list([DIRTY_RULES[k] for k in DIRTY_KINDS])}[kind + 1]
                           as expected_rule
                from d order by eid""",
            truth_dir / "dirty_rows.csv",
            "csv",
        )
        con.unregister("d")
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


def main(argv: list[str] | None = None) -> int:
    """`python -m winback.generate ...` is `winback generate ...` (one set of options)."""
    import sys

    from orchestration.cli import main as cli_main  # the generator package will own its parser

    return cli_main(["generate", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    raise SystemExit(main())
