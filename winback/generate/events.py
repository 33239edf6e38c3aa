"""Daily activity and product events: a users x days matrix of active days, drawn chunk by chunk,
expanded into time-ordered events.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from winback.generate.helpers import epoch_seconds, random_stream, times_of_day
from winback.generate.users import Users
from winback.generate.vocabulary import (
    ABRUPT,
    ADVANCED0,
    CHUNK_USERS,
    CORE0,
    CORE_WEIGHTS,
    COUNTRY_OFFSET,
    DAY,
    DECLINE,
    HELP,
    NEVER,
    NON_UTC_SHARE,
    PLATFORM_SHARES,
    PLATFORMS,
    PURCHASE,
    SESSION,
    SOURCE_SHARES,
    SOURCES,
    STEADY,
    STREAM_ACTIVITY,
    STREAM_USERS,
)


@dataclass
class Events:
    user: np.ndarray  # int32, 0-based user index
    ts: np.ndarray  # int64 seconds since the epoch (UTC)
    name: np.ndarray  # int8 index into EVENT_NAMES
    platform: np.ndarray  # int8
    source: np.ndarray  # int8 (session_start properties)
    props: np.ndarray  # int8: 0 none, 1 session+source, 2 session+currency, 3 session
    session: np.ndarray  # int32: the user's n-th active day
    cents: np.ndarray  # int32 revenue in cents (0: none)
    offset: np.ndarray  # int8 index into OFFSETS (0: UTC "Z")


def simulate_activity(
    u: Users, days: int, start: dt.date, seed: int, campaign_days: np.ndarray
) -> tuple[Events, np.ndarray]:
    """Draw every user's daily activity and expand it into events.

    Returns the events sorted by time (then user) and, for each user and newsletter, whether
    the user was active in the 14 days before it (drives email opens)."""
    horizon = int(max(days + 31, int(u.stop[u.archetype != STEADY].max(initial=0)) + 1))
    start_epoch = epoch_seconds(start)
    weekday0 = start.weekday()
    dow = (weekday0 + np.arange(horizon)) % 7
    weekend = np.where(dow >= 5, 0.5, 1.0).astype(np.float32)
    day_idx = np.arange(horizon, dtype=np.int64)

    u.churn_day = np.full(u.n, -1, dtype=np.int64)
    u.first_event_day = np.full(u.n, -1, dtype=np.int64)
    u.last_event_day = np.full(u.n, -1, dtype=np.int64)
    u.first_event_secs = np.full(u.n, -1, dtype=np.int64)
    recent = np.zeros((u.n, len(campaign_days)), dtype=bool)
    parts: list[Events] = []

    for chunk, lo in enumerate(range(0, u.n, CHUNK_USERS)):
        hi = min(lo + CHUNK_USERS, u.n)
        rng = random_stream(seed, STREAM_ACTIVITY, chunk)
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
        secs = np.sort(cell * DAY + times_of_day(rng, n_ev)) - cell * DAY
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
            Events(
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

    ev = Events(
        **{f: np.concatenate([getattr(p, f) for p in parts]) for f in Events.__dataclass_fields__}
    )
    del parts
    # time order (users break ties; a user's events keep their order within a second)
    key = (ev.ts - start_epoch) * np.int64(u.n) + ev.user
    order = np.argsort(key, kind="stable")
    del key
    ev = Events(**{f: getattr(ev, f)[order] for f in Events.__dataclass_fields__})

    # signup: shortly before the first event when the user starts on the signup day
    rng = random_stream(seed, STREAM_USERS, 1)
    same_day = (u.first_event_day == u.signup_day) & (u.first_event_secs >= 0)
    before = np.maximum(u.first_event_secs - rng.integers(30, 1800, u.n), 0)
    u.signup_secs = np.where(same_day, before, times_of_day(rng, u.n, 13.0, 4.0))
    return ev, recent
