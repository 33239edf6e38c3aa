"""Expected rows of the campaign marts (winback.campaign_engine) on small hand-built
warehouses: the real SQL over a hand-made audience state, activity and message log; the
intervals against published values; and the closed loop (winback.generate.closed_loop) end to
end on a small population, effect on and at zero."""

import dataclasses
import datetime as dt

import duckdb
import numpy as np
import pytest

from winback.audience_engine import ensure_state
from winback.audiences import Measurement, rules_for
from winback.campaign_engine import (
    build_campaigns,
    check_campaigns,
    newcombe,
    relative_lift,
    welch,
)
from winback.campaign_report import write_report

D0 = dt.date(2026, 3, 1)


def day(n: int) -> dt.date:
    return D0 + dt.timedelta(days=n)


class Programme:
    """The tables the measurement reads: audience.daily rows, active days, messages, billing."""

    def __init__(self, path, measurement: Measurement | None = None):
        self.con = duckdb.connect(str(path))
        ensure_state(self.con)
        self.con.execute(
            """
            create schema marts; create schema raw;
            create table marts.user_activity_daily (user_id varchar, activity_date date,
                revenue double);
            create table raw.messages (message_id varchar, campaign_id varchar,
                user_id varchar, channel varchar, message_event varchar, occurred_at timestamp);
            create table raw.billing (user_id varchar, occurred_at timestamp,
                billing_event varchar, amount double, plan varchar);
            """
        )
        rules = rules_for(None)
        self.rules = dataclasses.replace(rules, measurement=measurement or rules.measurement)

    def due(self, user, on, step="we_miss_you", holdout=False, reasons=None, cycle_start=None,
            segment="diagnostic_low", destination="email"):  # fmt: skip
        """An audience row: the step due for `user` on `on`, exported or held out."""
        status = "holdout" if holdout else ("excluded" if reasons else "exported")
        reasons = ",".join(["holdout", *(reasons or [])]) if holdout else reasons
        start = cycle_start or on
        self.con.execute(
            "insert into audience.daily (as_of_date, user_id, segment, track, treatment, "
            "sequence, is_holdout, cycle, entered_on, day_in_sequence, step, destination, "
            "campaign_id, status, exclusion_reasons) values (?, ?, ?, 'diagnostic', "
            "'automated', 'winback_email', ?, 1, ?, ?, ?, ?, ?, ?, ?)",
            [
                on, user, segment, holdout, start, (on - start).days, step, destination,
                f"winback.winback_email.{step}", status, reasons,
            ],
        )  # fmt: skip

    def active(self, user, *days_, revenue=0.0):
        for d in days_:
            self.con.execute(
                "insert into marts.user_activity_daily values (?, ?, ?)", [user, d, revenue]
            )

    def message(self, user, event, on, step="we_miss_you"):
        self.con.execute(
            "insert into raw.messages values (?, ?, ?, 'email', ?, ?)",
            [
                f"{user}-{step}-{event}",
                f"winback.winback_email.{step}",
                user,
                event,
                dt.datetime.combine(on, dt.time(9)),
            ],
        )

    def payment(self, user, on, amount):
        self.con.execute(
            "insert into raw.billing values (?, ?, 'payment_succeeded', ?, 'pro')",
            [user, dt.datetime.combine(on, dt.time(12)), amount],
        )

    def build(self, as_of):
        result = build_campaigns(self.con, self.rules, as_of)
        checks = check_campaigns(self.con, 0.5)
        failed = [c for c in checks if not c[1] and c[0] != "holdout_share"]
        assert not failed, failed
        return result

    def exposure(self, user, step="we_miss_you"):
        return self.con.execute(
            "select exposure_date, reactivated, reactivated_on, window_closed, "
            "durable_30, durable_30_known, revenue, cost from marts.campaign_exposures "
            "where user_id = ? and step = ?",
            [user, step],
        ).fetchone()

    def cell(self, step="we_miss_you", segment="diagnostic_low"):
        return (
            self.con.execute(
                "select * from marts.campaign_lift where step = ? and segment = ?",
                [step, segment],
            )
            .df()
            .iloc[0]
        )


def test_the_reactivation_window_counts_its_last_day_and_not_the_send_day(tmp_path):
    p = Programme(tmp_path / "w.duckdb")
    for user in ("last_day", "day_after", "same_day", "first_day"):
        p.due(user, day(0))
    p.active("last_day", day(14))  # the window's last day: counts
    p.active("day_after", day(15))  # one day late: does not
    p.active("same_day", day(0))  # the send day itself: not a response
    p.active("first_day", day(1))
    p.build(day(40))
    assert p.exposure("last_day")[:4] == (day(0), True, day(14), True)
    assert p.exposure("day_after")[:3] == (day(0), False, None)
    assert p.exposure("same_day")[1] is False
    assert p.exposure("first_day")[2] == day(1)
    cell = p.cell()
    assert (cell.targeted, cell.reactivated_targeted) == (4, 2)


def test_a_user_who_reactivates_twice_counts_once_from_the_first_day(tmp_path):
    p = Programme(tmp_path / "w.duckdb")
    p.due("twice", day(0))
    p.due("held", day(0), holdout=True)
    p.active("twice", day(3), day(10), revenue=0.0)
    p.active("held", day(20))  # after the window
    p.build(day(40))
    assert p.exposure("twice")[1:3] == (True, day(3))
    cell = p.cell()
    assert (cell.targeted, cell.holdout) == (1, 1)
    assert (cell.reactivated_targeted, cell.reactivated_holdout) == (1, 0)
    assert cell.lift == pytest.approx(1.0)


def test_an_open_window_is_pending_and_not_measured(tmp_path):
    p = Programme(tmp_path / "w.duckdb")
    p.due("early", day(0))
    p.due("late", day(10))
    p.active("early", day(2))
    p.active("late", day(12))
    result = p.build(day(20))  # late's window closes on day 24
    assert (result.exposures, result.measured, result.pending) == (2, 1, 1)
    assert p.exposure("late")[3] is False
    assert p.cell().targeted == 1


def test_only_contactable_users_are_exposures_on_both_sides(tmp_path):
    p = Programme(tmp_path / "w.duckdb")
    p.due("excluded", day(0), reasons="no_consent")  # targeted but not contacted
    p.due("capped", day(0), reasons="frequency_cap")
    p.due("capped", day(1))  # exported the next day: exposed from day 1
    p.due("held_no_consent", day(0), holdout=True, reasons=["no_consent"])
    p.due("held", day(0), holdout=True)
    p.build(day(30))
    rows = p.con.execute(
        "select user_id, exposure_date from marts.campaign_exposures order by user_id"
    ).fetchall()
    assert rows == [("capped", day(1)), ("held", day(0))]


def test_durability_looks_at_the_week_up_to_each_day(tmp_path):
    p = Programme(tmp_path / "w.duckdb")
    for user in ("stays", "drops", "unknown"):
        p.due(user, day(0))
    p.active("stays", day(2), day(2 + 25))  # active in (r + 23, r + 30]: durable at 30
    p.active("drops", day(2), day(2 + 20))  # last seen 10 days before r + 30
    p.due("unknown", day(40), step="survey")
    p.active("unknown", day(41))
    p.build(day(60))
    assert p.exposure("stays")[4:6] == (True, True)
    assert p.exposure("drops")[4:6] == (False, True)
    assert p.exposure("unknown", "survey")[4:6] == (False, False)  # r + 30 = day 71 > as-of
    cell = p.cell()
    assert cell.durable_30d_targeted == 1 and cell.durable_30d_known_targeted == 2
    assert cell.durable_30d_share_targeted == pytest.approx(0.5)


def test_revenue_cost_and_roi(tmp_path):
    costs = {"email": 1.0, "sms": 0.0, "push": 0.0, "customer_success": 20.0, "incentive": 5.0}
    measurement = Measurement(revenue_window_days=30, costs=tuple(costs.items()))
    p = Programme(tmp_path / "w.duckdb", measurement)
    p.due("a", day(0))
    p.message("a", "sent", day(0))
    p.active("a", day(4), revenue=10.0)  # reactivation day: counted
    p.payment("a", day(20), 50.0)
    p.payment("a", day(34), 70.0)  # r + 30 = day 34: outside [r, r + 30)
    p.due("b", day(0))
    p.message("b", "sent", day(0))
    p.due("c", day(0), holdout=True)
    p.active("c", day(5), revenue=6.0)
    p.due("a", day(10), step="incentive")  # an incentive sent: message and offer
    p.message("a", "sent", day(10), step="incentive")
    p.build(day(60))
    assert p.exposure("a")[6:] == (pytest.approx(60.0), pytest.approx(1.0))
    assert p.exposure("b")[6:] == (0.0, pytest.approx(1.0))
    assert p.exposure("a", "incentive")[7] == pytest.approx(6.0)
    cell = p.cell()
    assert (cell.revenue_targeted, cell.revenue_holdout) == (60.0, 6.0)
    # per targeted user: 30 against 6 -> 24 more, for 2 targeted users
    assert cell.incremental_revenue == pytest.approx(48.0)
    assert cell.cost == pytest.approx(2.0)
    assert cell.roi == pytest.approx((48.0 - 2.0) / 2.0)
    segment = p.cell(step="cycle")
    assert segment.cost == pytest.approx(2.0 + 6.0)  # the cycle counts the incentive too


def test_the_intervals_match_newcombes_published_values():
    # Newcombe (1998), Statistics in Medicine 17, table II, method 10
    for (x1, n1, x2, n2), (low, high) in {
        (56, 70, 48, 80): (0.0524, 0.3339),
        (9, 10, 3, 10): (0.1705, 0.8090),
        (6, 7, 2, 7): (0.0582, 0.8062),
        (5, 56, 0, 29): (-0.0381, 0.1926),
    }.items():
        _, lo, hi = newcombe(x1, n1, x2, n2)
        assert (round(float(lo), 4), round(float(hi), 4)) == (low, high)
    lift, lo, hi = relative_lift(20, 100, 10, 100)
    assert float(lift) == pytest.approx(1.0) and lo < 1.0 < hi
    assert np.isnan(relative_lift(5, 10, 0, 10)[0])
    d, lo, hi = welch(30.0, 500.0, 3, 6.0, 36.0, 1)
    assert float(d) == pytest.approx(4.0) and lo < d < hi


@pytest.mark.parametrize("scale", [1.0, 0.0])
def test_the_closed_loop_measures_what_it_simulated(tmp_path, scale):
    from winback.generate.closed_loop import Loop, LoopSettings

    loop = Loop(
        tmp_path / "loop.duckdb", LoopSettings(users=1000, days=40, seed=7, effect_scale=scale)
    )
    outcome = loop.run()
    checks = dict((name, passed) for name, passed, _ in check_campaigns(loop.con, 0.10))
    assert all(checks.values()), checks
    lift = outcome.lift
    cells = lift[lift.targeted.gt(0) & lift.holdout.gt(0) & lift.step.ne("cycle")]
    assert len(cells) >= 20
    truth = cells.true_effect if scale else 0.0
    covered = ((cells.lift_ci_low <= truth) & (truth <= cells.lift_ci_high)).mean()
    assert covered >= 0.85, covered
    programme = loop.con.execute("select * from marts.campaign_programme_monthly").df()
    if scale:
        assert (programme.lift_ci_low > 0).all()  # the messages work, and the data shows it
        assert (outcome.episodes.cause == "message").any()
    else:
        assert (programme.lift_ci_low <= 0).all() and (programme.lift_ci_high >= 0).all()
        assert not (outcome.episodes.cause == "message").any()
    # holdout users never got a win-back message
    assert loop.con.execute(
        "select count(*) from raw.messages m join audience.holdout h using (user_id) "
        "where h.is_holdout"
    ).fetchone() == (0,)
    report = write_report(
        tmp_path / "report",
        loop.con.execute("select * from marts.campaign_lift").df(),
        programme,
        outcome.as_of,
        loop.rules.measurement,
        0.10,
    )
    text = report["md"].read_text()
    assert "## Lift by segment" in text and "diagnostic_low" in text
    assert report["png"].read_bytes()[:4] == b"\x89PNG"
    assert "<img" in report["html"].read_text()
