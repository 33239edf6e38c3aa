"""The closed loop on the demo, through the real pipeline: `winback simulate --days N` after
`make demo`. Each simulated day is one `winback run` (recorded in the Dagster instance, so the
loop can be watched in the UI): the email service's answers to yesterday's exports and the
day's product activity land as files, are ingested, and the marts, the churn scores, the
audience and the campaign marts are rebuilt as of that day.

The product's activity after the demo's last day comes from a simple model of each user
(winback.generate.closed_loop's rhythm), seeded from the warehouse's state: a user active
lately keeps their recent rhythm for a while, then lapses; a lapsed user comes back on their
own with a daily chance by pattern. That natural future is drawn once, before the first day,
whatever the campaigns do: it is the outcome without messages. A message that reaches a
targeted user brings the user back with `closed_loop.effect(...)`'s probability a few days
later. Holdout users get nothing. The truth (the natural activity, the parameters and the true
effect per cell) goes to `<truth_dir>/closed_loop/` only.

For the demo and the tests only: it writes files named `sim_*` into the landing folder.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from winback.generate import closed_loop as model
from winback.ingest import sql_literal
from winback.settings import WinbackConfig

SIM_PREFIX = "sim_"
DEFAULT_HAZARD = 0.015  # a lapsed user of a pattern the model does not know (steady)
PURCHASE_SHARE, PURCHASE_AMOUNT = 0.02, 30.0


class SimulationRefused(Exception):
    """The loop cannot start (one line says why)."""


@dataclasses.dataclass
class Future:
    """Per user and simulated day: active without any message (drawn once)."""

    users: np.ndarray  # user ids
    natural: np.ndarray  # bool [days, users]
    pattern: np.ndarray


def _state(warehouse: Path) -> tuple[dt.date, pd.DataFrame]:
    if not warehouse.exists():
        raise SimulationRefused(f"no warehouse at {warehouse}: run `make demo` first")
    with duckdb.connect(str(warehouse), read_only=True) as con:
        try:
            day = con.execute("select max(as_of_date) from audience.daily").fetchone()[0]
        except duckdb.CatalogException:
            day = None
        if day is None:
            raise SimulationRefused(
                f"{warehouse} has no win-back audience yet: run `make demo` (or `winback run`) first"
            )
        users = con.execute(
            """
            select e.user_id, e.days_since_last_active, e.l28, p.pattern
            from marts.user_daily_engagement as e
            join marts.user_disengagement_patterns as p using (user_id)
            where e.activity_date = ?
            order by e.user_id
            """,
            [day],
        ).df()
    return day, users


def draw_future(users: pd.DataFrame, days: int, rng: np.random.Generator) -> Future:
    """The natural activity of every user over the simulated days."""
    n = len(users)
    since = users["days_since_last_active"].fillna(10**6).to_numpy()
    rate = np.clip(users["l28"].fillna(0).to_numpy() / 28, 0.05, 0.95)
    hazard = np.array(
        [model.NATURAL_HAZARD.get(p, DEFAULT_HAZARD) for p in users["pattern"]], dtype=float
    )
    engaged_left = np.where(since < model.AT_RISK, rng.geometric(1 / model.ENGAGED_MEAN_DAYS, n), 0)
    active_rate = np.where(since < model.AT_RISK, rate, model.ENGAGED_ACTIVE_SHARE)
    natural = np.zeros((days, n), dtype=bool)
    for d in range(days):
        engaged = engaged_left > 0
        comes_back = ~engaged & (since >= model.AT_RISK) & (rng.random(n) < hazard)
        today = (engaged & (rng.random(n) < active_rate)) | comes_back
        natural[d] = today
        engaged_left = np.where(engaged, engaged_left - 1, engaged_left)
        starts = comes_back
        engaged_left[starts] = rng.geometric(1 / model.ENGAGED_MEAN_DAYS, starts.sum())
        active_rate[starts] = model.ENGAGED_ACTIVE_SHARE
        since = np.where(today, 0, since + 1)
    return Future(users["user_id"].to_numpy(), natural, users["pattern"].to_numpy())


def _exports(warehouse: Path, day: dt.date) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(
            """
            select user_id, track, treatment, step, destination, campaign_id, pattern
            from audience.daily where as_of_date = ? and status = 'exported'
              and sequence <> 'checkin' order by user_id, campaign_id
            """,
            [day],
        ).fetchall()


def _respond(rows, day: dt.date, rng, scale: float) -> tuple[list[tuple], dict[str, int]]:
    """The email service's log for the day's sends and the returns they cause
    ({user: days after `day`})."""
    messages, returns = [], {}
    at = dt.datetime.combine(day, dt.time(9))
    for user, _track, treatment, step, destination, campaign, pattern in rows:
        events, reached, chance = model.answer(rng, destination, treatment, step, pattern)
        for i, event in enumerate(events):
            messages.append(
                (f"{campaign}.{user}.{day}.{event}", campaign, user, destination, event,
                 at + dt.timedelta(minutes=i))
            )  # fmt: skip
        if reached and rng.random() < chance * scale:
            lo, hi = model.RETURN_DELAY_DAYS
            delay = int(rng.integers(lo, hi + 1))
            returns[user] = min(returns.get(user, delay), delay)
    return messages, returns


def _write_day(landing: Path, day: dt.date, active: np.ndarray, users, messages, rng) -> int:
    ids = users[active]
    at = pd.Timestamp(day) + pd.to_timedelta(rng.integers(8 * 3600, 20 * 3600, len(ids)), "s")
    events = pd.DataFrame(
        {"user_id": ids, "event_name": "session_start", "occurred_at": at, "revenue": None}
    )
    work = events.assign(
        event_name="view_dashboard", occurred_at=at + pd.Timedelta(minutes=2), revenue=None
    )
    buys = rng.random(len(ids)) < PURCHASE_SHARE
    purchases = events[buys].assign(
        event_name="purchase", occurred_at=at[buys] + pd.Timedelta(minutes=5),
        revenue=PURCHASE_AMOUNT,
    )  # fmt: skip
    frame = pd.concat([events, work, purchases], ignore_index=True)
    frame["occurred_at"] = frame["occurred_at"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    (landing / "events").mkdir(parents=True, exist_ok=True)
    frame.to_csv(landing / "events" / f"{SIM_PREFIX}{day}.csv", index=False)
    if messages:
        log = pd.DataFrame(
            messages,
            columns=["message_id", "campaign_id", "user_id", "channel", "message_event",
                     "occurred_at"],
        )  # fmt: skip
        log["occurred_at"] = pd.to_datetime(log["occurred_at"]).dt.strftime("%Y-%m-%dT%H:%M:%SZ")
        (landing / "messages").mkdir(parents=True, exist_ok=True)
        log.to_csv(landing / "messages" / f"{SIM_PREFIX}{day}.csv", index=False)
    return len(frame)


def run_closed_loop(
    config: WinbackConfig,
    days: int,
    seed: int = 0,
    effect_scale: float = 1.0,
    progress: Callable[[str], None] = print,
    instance=None,
) -> dict:
    """N simulated days, one pipeline run each; returns the truth's paths and the figures."""
    from orchestration.runner import RunRefused, run_pipeline

    start_day, users = _state(config.warehouse)
    rng = np.random.default_rng(seed)
    future = draw_future(users, days, rng)
    index = {u: i for i, u in enumerate(future.users)}
    caused = np.zeros_like(future.natural)
    progress(
        f"Closed loop: {days} simulated days after {start_day} for {len(index):,} users "
        f"(seed {seed}, effect x{effect_scale}); one `winback run` per day"
    )
    started = time.perf_counter()
    for d in range(days):
        day = start_day + dt.timedelta(days=d + 1)
        rows = _exports(config.warehouse, day - dt.timedelta(days=1))
        messages, returns = _respond(rows, day, rng, effect_scale)
        for user, delay in returns.items():
            i = index.get(user)
            if i is None or d + delay >= days:
                continue
            caused[d + delay, i] = True
            # after a return the user keeps coming for a while (what durability measures)
            length = int(rng.geometric(1 / model.ENGAGED_MEAN_DAYS))
            follow = np.arange(d + delay + 1, min(days, d + delay + 1 + length))
            caused[follow, i] |= rng.random(len(follow)) < model.ENGAGED_ACTIVE_SHARE
        active = future.natural[d] | caused[d]
        written = _write_day(config.landing_dir, day, active, future.users, messages, rng)
        run_started = time.perf_counter()
        lines: list[str] = []
        try:
            summary = run_pipeline(
                dataclasses.replace(config, as_of_date=day),
                instance=instance,
                progress=lines.append,
            )
        except RunRefused as exc:
            raise SimulationRefused(f"the run as of {day} was refused: {exc}") from None
        if not summary.marts_success:
            why = summary.errors[-1] if summary.errors else "the marts were not built"
            raise SimulationRefused(f"the run as of {day} failed: {why}")
        for error in summary.errors:  # a rejected landing file: the run went on without it
            progress(f"  day {d + 1}: {error}")
        progress(
            f"  day {d + 1}/{days} {day}: {len(rows):,} contacts exported the day before, "
            f"{sum(m[4] == 'sent' for m in messages):,} messages sent, {written:,} events, "
            f"{len(returns):,} users to come back because of a message; run "
            f"{time.perf_counter() - run_started:.0f}s"
        )
    as_of = start_day + dt.timedelta(days=days)
    window = _rules(config).measurement.reactivation_window_days
    truth = _write_truth(config, future, start_day, as_of, seed, effect_scale, window)
    progress(f"  ({time.perf_counter() - started:.0f}s) ground truth: {truth['folder']}")
    return truth


def _rules(config: WinbackConfig):
    from winback.audiences import rules_for

    return rules_for(config.project_file.parent if config.project_file else None)


def _write_truth(config, future: Future, start_day, as_of, seed, scale, window) -> dict:
    folder = config.truth_dir / "closed_loop"
    folder.mkdir(parents=True, exist_ok=True)
    days, users = np.nonzero(future.natural)
    natural = pd.DataFrame(
        {
            "user_id": future.users[users],
            "day": [start_day + dt.timedelta(days=int(d) + 1) for d in days],
        }
    )
    natural.to_parquet(folder / "natural_activity.parquet", index=False)
    (folder / "parameters.json").write_text(
        json.dumps(
            {
                "start_day": str(start_day),
                "as_of": str(as_of),
                "seed": seed,
                "effect_scale": scale,
                "step_effect": model.STEP_EFFECT,
                "customer_success_task_effect": model.TASK_EFFECT,
                "pattern_scale": model.PATTERN_SCALE,
                "natural_hazard": model.NATURAL_HAZARD,
            },
            indent=2,
        )
    )
    effects = true_effects(config.warehouse, natural, start_day, as_of, window)
    effects.to_csv(folder / "true_effects.csv", index=False)
    return {"folder": folder, "effects": effects}


def true_effects(
    warehouse: Path, natural: pd.DataFrame, start_day, as_of, window: int
) -> pd.DataFrame:
    """campaign_lift with true_effect: per cell the mean over its targeted exposures (per
    segment: cycles) of reactivated - active without messages in the same window. Only
    exposures from the first simulated day on: before it there is no natural future."""
    con = duckdb.connect()
    con.execute(f"attach {sql_literal(str(warehouse))} as w (read_only)")
    con.register("natural_days", natural)
    truth = con.execute(
        """
        with x as (
            select e.*, exists (
                select 1 from natural_days as n where n.user_id = e.user_id
                and n.day > e.exposure_date and n.day <= e.exposure_date + $window
                and n.day <= $as_of) as natural_return
            from w.marts.campaign_exposures as e
            where e.window_closed and not e.is_holdout and e.exposure_date >= $start
        )
        select campaign_id, segment, step, channel, count(*) as truth_exposures,
            avg(reactivated::int - natural_return::int) as true_effect
        from x group by all
        """,
        {"window": window, "as_of": as_of, "start": start_day},
    ).df()
    cycles = con.execute(
        """
        with c as (
            select c.*, exists (
                select 1 from natural_days as n where n.user_id = c.user_id
                and n.day > c.exposure_date and n.day <= c.horizon_end
                and n.day <= $as_of) as natural_return
            from w.marts.campaign_cycles as c
            where c.window_closed and not c.is_holdout and c.exposure_date >= $start
        )
        select segment, 'cycle' as step, count(*) as truth_exposures,
            avg(reactivated::int - natural_return::int) as true_effect
        from c group by all
        """,
        {"as_of": as_of, "start": start_day},
    ).df()
    lift = con.execute("select * from w.marts.campaign_lift").df()
    con.close()
    steps = lift[lift["step"] != "cycle"].merge(
        truth, on=["campaign_id", "segment", "step", "channel"], how="left"
    )
    segments = lift[lift["step"] == "cycle"].merge(cycles, on=["segment", "step"], how="left")
    return pd.concat([steps, segments], ignore_index=True)
