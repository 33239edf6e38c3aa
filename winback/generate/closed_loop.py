"""A closed loop for the demo and the tests, never for a real run: users drift away, the real
audience engine picks them up day by day, a simulated email service and customer-success team
answer what it exported, and the messages cause some users to come back, with a true effect
that differs by segment and step. Holdout users get nothing.

Every user has a natural return day per lapse (a daily hazard by pattern, drawn when the user
becomes at risk, whatever the campaigns do): the potential outcome without any message. A
message that reaches a targeted user brings the user back with probability
`effect(segment, step)` a few days later; whichever comes first is the return. The ground
truth keeps both, so the true effect of a cell (segment x step) is known exactly: the mean,
over its targeted exposures, of "came back within the window" minus "would have come back
within the window without messages" (`true_effects`).

What the engine reads is written as tables of a small warehouse (the marts the dbt build
would make: the state of each user on the day, the patterns, the users; the message log), so
the loop runs the audience's and the campaigns' real SQL, without dbt: a day costs a fraction
of a second instead of a pipeline run. `winback simulate` drives it; the coverage study
(`benchmarks/campaign_coverage.py`) repeats it over seeds.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from winback.audience_engine import build_audience
from winback.audiences import AudienceRules, Holdout, rules_for
from winback.campaign_engine import build_campaigns

PATTERNS = ("never_activated", "progressive_decline", "abrupt_abandonment", "involuntary")
TIERS = ("low", "mid", "high")
TIER_SHARES = (0.6, 0.3, 0.1)
# the natural daily chance of coming back once at risk, by pattern
NATURAL_HAZARD = {
    "never_activated": 0.004,
    "progressive_decline": 0.012,
    "abrupt_abandonment": 0.006,
    "involuntary": 0.02,
}
# the true chance that one message brings a user back, by step name; a customer-success task
# (high value, and a mid-value human touch) is worth TASK_EFFECT; patterns scale it
STEP_EFFECT = {
    "we_miss_you": 0.06,
    "survey": 0.03,
    "incentive": 0.07,
    "last_chance": 0.03,
    "first_quick_win": 0.05,
    "guided_setup": 0.06,
    "reminder": 0.03,
    "update_payment": 0.10,
    "payment_reminder": 0.06,
}
TASK_EFFECT = 0.15
PATTERN_SCALE = {
    "never_activated": 0.8,
    "progressive_decline": 1.0,
    "abrupt_abandonment": 1.2,
    "involuntary": 1.0,
}
AT_RISK, DORMANT, CHURNED = 14, 30, 60
ENGAGED_ACTIVE_SHARE = 0.35
ENGAGED_MEAN_DAYS = 40
RETURN_DELAY_DAYS = (1, 5)
ESP = {"delivered": 0.96, "hard_bounce_of_failed": 0.3, "open": 0.30, "click": 0.25}
ESP_UNSUBSCRIBE, ESP_COMPLAINT, TASK_DONE = 0.01, 0.001, 0.9
START = dt.date(2026, 1, 1)
NEVER = 10**6


@dataclass(frozen=True)
class LoopSettings:
    users: int = 6000
    days: int = 60
    seed: int = 0
    effect_scale: float = 1.0  # 0: the messages cause nothing (the null the intervals must hold)
    email_opt_in: float = 0.85
    holdout_share: float = 0.10


@dataclass
class LoopOutcome:
    as_of: dt.date
    lift: pd.DataFrame  # marts.campaign_lift with true_effect per cell
    exposures: int
    episodes: pd.DataFrame  # the ground truth: one row per user and lapse


def effect(treatment: str, step: str, pattern: str) -> float:
    """The true chance one contact brings a lapsed user back (before `effect_scale`)."""
    base = TASK_EFFECT if treatment == "customer_success" else STEP_EFFECT.get(step, 0.03)
    return base * PATTERN_SCALE.get(pattern, 1.0)


def answer(
    rng: np.random.Generator, destination: str, treatment: str, step: str, pattern: str
) -> tuple[list[str], bool, float]:
    """What one exported contact gives back: the email service's events for it (none for a
    customer-success task, which has no log), whether it reached the user, and the true
    chance it brings the user back. Both loops (this one and orchestration.simulate) use it."""
    if destination == "customer_success":
        return [], rng.random() < TASK_DONE, effect("customer_success", step, pattern)
    events = ["sent"]
    reached = rng.random() < ESP["delivered"]
    if not reached:
        bounce = rng.random() < ESP["hard_bounce_of_failed"]
        events.append("bounce_hard" if bounce else "bounce_soft")
    else:
        events.append("delivered")
        if rng.random() < ESP["open"]:
            events.append("open")
            if rng.random() < ESP["click"]:
                events.append("click")
        if rng.random() < ESP_UNSUBSCRIBE:
            events.append("unsubscribe")
        elif rng.random() < ESP_COMPLAINT:
            events.append("complaint")
    return events, reached, effect(treatment, step, pattern)


class Loop:
    def __init__(self, path: Path, settings: LoopSettings, rules: AudienceRules | None = None):
        self.settings = settings
        self.rng = np.random.default_rng(settings.seed)
        rules = rules or rules_for(None)
        self.rules = dataclasses.replace(
            rules, holdout=Holdout(settings.holdout_share, f"loop-{settings.seed}")
        )
        self.con = duckdb.connect(str(path))
        self._schema()
        self._population()

    # -- the warehouse --------------------------------------------------------------------

    def _schema(self) -> None:
        self.con.execute(
            """
            create schema if not exists marts; create schema if not exists ml;
            create schema if not exists raw;
            create or replace table marts.users (user_id varchar, value_tier varchar,
                latest_survey_reason varchar, email_opt_in boolean, sms_opt_in boolean,
                plan varchar, lifetime_revenue decimal(18, 2));
            create or replace table marts.user_disengagement_patterns (user_id varchar,
                as_of_date date, pattern varchar, days_since_last_active bigint);
            create or replace table marts.user_daily_health (user_id varchar,
                activity_date date, state varchar, days_since_last_active bigint);
            create or replace table marts.user_activity_daily (user_id varchar,
                activity_date date, revenue double);
            create or replace table ml.churn_scores (user_id varchar, as_of_date date,
                churn_probability double, risk_tier varchar);
            create or replace table raw.users (user_id varchar, email varchar,
                _source_file varchar, _source_row bigint);
            create or replace table raw.messages (message_id varchar, campaign_id varchar,
                user_id varchar, channel varchar, message_event varchar, occurred_at timestamp);
            create or replace table raw.events (user_id varchar, event_name varchar,
                occurred_at timestamp);
            """
        )

    def _population(self) -> None:
        s, rng = self.settings, self.rng
        n = s.users
        self.ids = np.array([f"u{i:06d}" for i in range(n)])
        self.pattern = rng.choice(PATTERNS, n)
        self.tier = rng.choice(TIERS, n, p=TIER_SHARES)
        self.hazard = np.array([NATURAL_HAZARD[p] for p in self.pattern])
        # each user becomes at risk on a day of the first half of the loop
        at_risk_day = rng.integers(0, max(1, s.days // 2), n)
        self.last_active = at_risk_day - AT_RISK
        self.engaged_until = np.full(n, -NEVER)
        self.natural = at_risk_day + rng.geometric(self.hazard) - 1
        self.caused = np.full(n, NEVER)
        self.episode_start = at_risk_day.copy()
        self.episodes: list[tuple] = []
        users = pd.DataFrame(
            {
                "user_id": self.ids,
                "value_tier": self.tier,
                "latest_survey_reason": None,
                "email_opt_in": rng.random(n) < s.email_opt_in,
                "sms_opt_in": False,
                "plan": "pro",
                "lifetime_revenue": 100.0,
            }
        )
        self.con.register("frame", users)
        self.con.execute("insert into marts.users select * from frame")
        self.con.execute(
            "insert into raw.users select user_id, user_id || '@example.com', 'users.csv', 1 "
            "from frame"
        )
        self.con.execute(
            "insert into raw.events select user_id, 'create_report', timestamp '2025-12-01' "
            "from frame"
        )
        self.con.unregister("frame")

    # -- one day --------------------------------------------------------------------------

    def day(self, d: int) -> None:
        rng = self.rng
        lapsed = self.engaged_until < d
        comes_back = lapsed & (np.minimum(self.natural, self.caused) == d)
        for i in np.flatnonzero(comes_back):
            self.episodes.append(
                (
                    self.ids[i],
                    self.pattern[i],
                    int(self.episode_start[i]),
                    int(self.natural[i]),
                    d,
                    "message" if self.caused[i] < self.natural[i] else "natural",
                )
            )
        engaged_today = (~lapsed) & (rng.random(len(self.ids)) < ENGAGED_ACTIVE_SHARE)
        active = comes_back | engaged_today
        self.engaged_until[comes_back] = d + rng.geometric(1 / ENGAGED_MEAN_DAYS, comes_back.sum())
        self.caused[comes_back] = NEVER
        self.last_active[active] = d
        # an engaged period that ended: the next lapse starts when the user is at risk again
        ended = (self.engaged_until == d - 1) & ~active
        starts = self.last_active[ended] + AT_RISK
        self.episode_start[ended] = starts
        self.natural[ended] = starts + rng.geometric(self.hazard[ended]) - 1
        today = START + dt.timedelta(days=d)
        since = d - self.last_active
        state = np.select(
            [since < AT_RISK, since < DORMANT, since < CHURNED],
            ["current", "at_risk", "dormant"],
            "churned",
        )
        health = pd.DataFrame(
            {
                "user_id": self.ids,
                "activity_date": today,
                "state": state,
                "days_since_last_active": since,
            }
        )
        revenue = np.where(rng.random(active.sum()) < 0.05, 20.0, 0.0)
        activity = pd.DataFrame(
            {"user_id": self.ids[active], "activity_date": today, "revenue": revenue}
        )
        patterns = pd.DataFrame(
            {
                "user_id": self.ids,
                "as_of_date": today,
                "pattern": self.pattern,
                "days_since_last_active": since,
            }
        )
        con = self.con
        for table, frame in (
            ("user_daily_health", health),
            ("user_activity_daily", activity),
        ):
            con.register("frame", frame)
            con.execute(f"insert into marts.{table} select * from frame")
            con.unregister("frame")
        con.register("frame", patterns)
        con.execute("delete from marts.user_disengagement_patterns")
        con.execute("insert into marts.user_disengagement_patterns select * from frame")
        con.unregister("frame")
        con.execute("delete from marts.user_daily_health where activity_date < ?", [today])
        build_audience(con, self.rules, today)
        self._respond(d, today)

    def _respond(self, d: int, today: dt.date) -> None:
        """The email service's log and the customer-success team's work for today's exports,
        and the returns they cause."""
        rng, scale = self.rng, self.settings.effect_scale
        rows = self.con.execute(
            """
            select user_id, segment, track, treatment, step, destination, campaign_id, pattern
            from audience.daily where as_of_date = ? and status = 'exported'
            and sequence <> 'checkin'
            """,
            [today],
        ).fetchall()
        index = {u: i for i, u in enumerate(self.ids)}
        messages = []
        at = dt.datetime.combine(today, dt.time(9))
        for user, _segment, _track, treatment, step, destination, campaign, pattern in rows:
            i = index[user]
            events, reached, chance = answer(rng, destination, treatment, step, pattern)
            messages += [
                (f"{campaign}.{user}.{d}.{e}", campaign, user, destination, e, at) for e in events
            ]
            if reached and self.engaged_until[i] < d and rng.random() < chance * scale:
                lo, hi = RETURN_DELAY_DAYS
                self.caused[i] = min(self.caused[i], d + int(rng.integers(lo, hi + 1)))
        if messages:
            frame = pd.DataFrame(messages)
            self.con.register("frame", frame)
            self.con.execute("insert into raw.messages select * from frame")
            self.con.unregister("frame")

    # -- the measurement --------------------------------------------------------------------

    def run(self, progress: Callable[[str], None] | None = None) -> LoopOutcome:
        for d in range(self.settings.days):
            self.day(d)
            if progress and (d + 1) % 10 == 0:
                progress(f"  day {d + 1}/{self.settings.days}")
        as_of = START + dt.timedelta(days=self.settings.days - 1)
        result = build_campaigns(self.con, self.rules, as_of)
        episodes = pd.DataFrame(
            self.episodes,
            columns=["user_id", "pattern", "at_risk_day", "natural_day", "return_day", "cause"],
        )
        lift = true_effects(self.con, self._open_episodes(episodes), self.rules, as_of)
        return LoopOutcome(as_of, lift, result.exposures, episodes)

    def _open_episodes(self, episodes: pd.DataFrame) -> pd.DataFrame:
        """Every lapse, those still running at the end included (their return day is none)."""
        lapsed = self.engaged_until < self.settings.days
        running = pd.DataFrame(
            {
                "user_id": self.ids[lapsed],
                "pattern": self.pattern[lapsed],
                "at_risk_day": self.episode_start[lapsed],
                "natural_day": self.natural[lapsed],
                "return_day": NEVER,
                "cause": None,
            }
        )
        frame = pd.concat([episodes, running], ignore_index=True)
        for column in ("at_risk_day", "natural_day", "return_day"):
            frame[column] = frame[column].astype("int64")
        return frame


def true_effects(
    con: duckdb.DuckDBPyConnection, episodes: pd.DataFrame, rules: AudienceRules, as_of
) -> pd.DataFrame:
    """marts.campaign_lift with `true_effect`: per cell, the mean over its targeted exposures
    of (reactivated) - (would have reactivated without messages: the natural return day of
    the lapse the exposure fell in, within the same window); per segment (step 'cycle') the
    same over its targeted cycles."""
    window = rules.measurement.reactivation_window_days
    con = con.cursor()  # its own temp objects
    con.register("episodes", episodes)
    con.execute(
        """
        create or replace temp table exposure_truth as
        select x.*, (
            select ep.natural_day from episodes as ep
            where ep.user_id = x.user_id
              and ep.at_risk_day <= datediff('day', ?, x.exposure_date)
              and ep.return_day >= datediff('day', ?, x.exposure_date)
            order by ep.at_risk_day desc limit 1
        ) as natural_day
        from marts.campaign_exposures as x where x.window_closed
        """,
        [START, START],
    )
    truth = con.execute(
        """
        select campaign_id, segment, step, channel,
            avg(reactivated::int - coalesce(natural_day > datediff('day', ?, exposure_date)
                and natural_day <= datediff('day', ?, exposure_date) + ?
                and natural_day <= datediff('day', ?, ?), false)::int) as true_effect
        from exposure_truth where not is_holdout group by all
        """,
        [START, START, window, START, as_of],
    ).df()
    cycles = con.execute(
        """
        with units as (
            select c.*, (
                select ep.natural_day from episodes as ep
                where ep.user_id = c.user_id
                  and ep.at_risk_day <= datediff('day', $start, c.exposure_date)
                  and ep.return_day >= datediff('day', $start, c.exposure_date)
                order by ep.at_risk_day desc limit 1
            ) as natural_day
            from marts.campaign_cycles as c where c.window_closed and not c.is_holdout
        )
        select segment, 'cycle' as step,
            avg(reactivated::int - coalesce(
                natural_day > datediff('day', $start, exposure_date)
                and natural_day <= datediff('day', $start, horizon_end)
                and natural_day <= datediff('day', $start, $as_of), false)::int) as true_effect
        from units group by all
        """,
        {"start": START, "as_of": as_of},
    ).df()
    con.unregister("episodes")
    lift = con.execute("select * from marts.campaign_lift").df()
    steps = lift[lift["step"] != "cycle"].merge(
        truth, on=["campaign_id", "segment", "step", "channel"], how="left"
    )
    segments = lift[lift["step"] == "cycle"].merge(cycles, on=["segment", "step"], how="left")
    return pd.concat([steps, segments], ignore_index=True)
