"""Expected rows of the win-back audience (winback.audience_engine) on small hand-built
warehouses: the engine's real SQL over hand-made marts, message logs and events, day by day."""

import dataclasses
import datetime as dt
import hashlib

import duckdb
import pytest

from winback.audience_engine import build_audience, check_audience
from winback.audiences import Holdout, rules_for

D0 = dt.date(2025, 3, 1)


def day(n: int) -> dt.date:
    return D0 + dt.timedelta(days=n)


class Shop:
    """A warehouse holding what the engine reads, with users changing state day by day."""

    def __init__(self, path, rules=None):
        self.con = duckdb.connect(str(path))
        self.rules = rules or dataclasses.replace(rules_for(None), holdout=Holdout(0.0, "t"))
        self.users: dict[str, dict] = {}
        self.con.execute(
            """
            create schema marts; create schema ml; create schema raw;
            create table marts.users (user_id varchar, value_tier varchar,
                latest_survey_reason varchar, email_opt_in boolean, sms_opt_in boolean,
                plan varchar, lifetime_revenue decimal(18, 2));
            create table marts.user_disengagement_patterns (user_id varchar,
                as_of_date date, pattern varchar, days_since_last_active bigint);
            create table marts.user_daily_health (user_id varchar, activity_date date,
                state varchar, days_since_last_active bigint);
            create table ml.churn_scores (user_id varchar, as_of_date date,
                churn_probability double, risk_tier varchar);
            create table raw.users (user_id varchar, email varchar, _source_file varchar,
                _source_row bigint);
            create table raw.messages (message_id varchar, campaign_id varchar,
                user_id varchar, channel varchar, message_event varchar, occurred_at timestamp);
            create table raw.events (user_id varchar, event_name varchar, occurred_at timestamp);
            """
        )

    def user(
        self,
        user_id,
        tier="low",
        pattern="progressive_decline",
        email_opt_in=True,
        sms_opt_in=False,
        reason=None,
        email="yes",
        state="at_risk",
    ):
        address = f"{user_id}@example.com" if email == "yes" else email
        self.con.execute(
            "insert into marts.users values (?, ?, ?, ?, ?, 'pro', 100)",
            [user_id, tier, reason, email_opt_in, sms_opt_in],
        )
        self.con.execute("insert into raw.users values (?, ?, 'users.csv', 1)", [user_id, address])
        self.con.execute(
            "insert into raw.events values (?, 'create_report', ?)",
            [user_id, dt.datetime(2025, 1, 5)],
        )
        self.users[user_id] = {"pattern": pattern, "state": state}

    def message(self, user_id, event, on, campaign="newsletter-1", channel="email"):
        self.con.execute(
            "insert into raw.messages values (?, ?, ?, ?, ?, ?)",
            [
                f"{user_id}-{event}-{on}",
                campaign,
                user_id,
                channel,
                event,
                dt.datetime.combine(on, dt.time(9)),
            ],
        )

    def sent(self, user_id, step, on, sequence="winback_email"):
        self.message(user_id, "sent", on, f"winback.{sequence}.{step}")

    def run(self, on: dt.date, **states):
        """The marts as of `on` (states given here change from that day on), then the audience."""
        for user_id, state in states.items():
            self.users[user_id]["state"] = state
        self.con.execute("delete from marts.user_disengagement_patterns")
        self.con.execute("delete from marts.user_daily_health where activity_date = ?", [on])
        for user_id, u in self.users.items():
            active = u["state"] in ("current", "reactivated", "new", "resurrected")
            self.con.execute(
                "insert into marts.user_disengagement_patterns values (?, ?, ?, ?)",
                [user_id, on, u["pattern"], 0 if active else 20],
            )
            self.con.execute(
                "insert into marts.user_daily_health values (?, ?, ?, ?)",
                [user_id, on, u["state"], 0 if active else 20],
            )
        result = build_audience(self.con, self.rules)
        checks = check_audience(self.con, on)
        assert all(passed for _, passed, _ in checks), checks
        return result

    def row(self, user_id, on):
        found = self.con.execute(
            "select step, status, destination, exclusion_reasons, segment "
            "from audience.daily where user_id = ? and as_of_date = ?",
            [user_id, on],
        ).fetchall()
        return found[0] if found else None

    def exported(self, user_id) -> list[str]:
        """Every export (as of the last run) holding this user, by id or hashed address."""
        hashed = hashlib.sha256(f"{user_id}@example.com".encode()).hexdigest()
        found = []
        for export in ("email", "sms", "push", "customer_success"):
            n = self.con.execute(
                f"select count(*) from marts.audience_export_{export} where user_id = ?",
                [user_id],
            ).fetchone()[0]
            found += [export] * n
        if self.con.execute(
            "select count(*) from marts.audience_export_ads where hashed_email = ?", [hashed]
        ).fetchone()[0]:
            found.append("ads")
        return found

    def changes(self, user_id):
        return self.con.execute(
            "select as_of_date, change, reason from audience.changes where user_id = ? "
            "order by as_of_date, change",
            [user_id],
        ).fetchall()


@pytest.fixture
def shop(tmp_path):
    s = Shop(tmp_path / "w.duckdb")
    yield s
    s.con.close()


def test_no_suppressed_or_unconsented_user_reaches_any_export(shop):
    for name in ("clean", "unsub", "bounced", "complained", "no_consent"):
        shop.user(name, email_opt_in=name != "no_consent")
    shop.message("unsub", "unsubscribe", day(-30))
    shop.message("bounced", "bounce_hard", day(-20))
    shop.message("complained", "complaint", day(-10))
    shop.run(day(0))
    assert shop.row("clean", day(0))[:3] == ("we_miss_you", "exported", "email")
    assert shop.exported("clean") == ["email", "ads"]
    expected = {
        "unsub": "unsubscribed",
        "bounced": "hard_bounce",
        "complained": "spam_complaint",
        "no_consent": "no_consent",
    }
    for user_id, reason in expected.items():
        step, status, destination, reasons, _ = shop.row(user_id, day(0))
        assert (step, status, destination, reasons) == ("we_miss_you", "excluded", "email", reason)
        assert shop.exported(user_id) == [], user_id
    recorded = shop.con.execute(
        "select user_id, reason from marts.audience_exclusions order by user_id"
    ).fetchall()
    assert recorded == sorted(expected.items())


def test_the_email_sequence_branches_on_opens_and_fails_into_the_sunset(shop):
    shop.user("silent")
    shop.user("opener")
    shop.run(day(0))
    for user_id in ("silent", "opener"):
        assert shop.row(user_id, day(0))[:2] == ("we_miss_you", "exported")
        shop.sent(user_id, "we_miss_you", day(0))
    shop.run(day(3))
    assert shop.row("silent", day(3))[:2] == (None, "waiting")
    shop.message("opener", "open", day(3), "winback.winback_email.we_miss_you")
    shop.run(day(5))
    assert shop.row("silent", day(5))[:2] == ("survey", "exported")
    assert shop.row("opener", day(5))[:2] == (None, "waiting")  # opened: no "if not opened" step
    shop.sent("silent", "survey", day(5))
    shop.run(day(10))
    assert shop.row("silent", day(10))[0] == "incentive"
    shop.sent("silent", "incentive", day(10))
    shop.run(day(15))
    assert shop.row("silent", day(15))[0] == "last_chance"
    assert shop.row("opener", day(15))[0] is None
    shop.sent("silent", "last_chance", day(15))
    shop.run(day(28))
    assert shop.row("silent", day(28))[:2] == (None, "waiting")
    # 14 days after the last step (day 15) without a response: the cycle failed, a new one starts
    shop.run(day(29))
    assert ("left", "cycle_failed") in [c[1:] for c in shop.changes("silent")]
    assert ("left", "cycle_responded") in [c[1:] for c in shop.changes("opener")]
    assert shop.row("silent", day(29))[0] == "we_miss_you"
    cycle = shop.con.execute(
        "select cycle from audience.daily where user_id = 'silent' and as_of_date = ?", [day(29)]
    ).fetchone()[0]
    assert cycle == 2
    for step, offset in (
        ("we_miss_you", 29),
        ("survey", 34),
        ("incentive", 39),
        ("last_chance", 44),
    ):
        shop.sent("silent", step, day(offset))
    shop.run(day(58))  # second failed cycle: the sunset list (sunset_after_cycles 2), not deleted
    assert shop.row("silent", day(58)) is None
    assert [c[1:] for c in shop.changes("silent") if c[0] == day(58)] == [
        ("left", "cycle_failed"),
        ("sunset", "no response after 2 cycles"),
    ]
    assert shop.con.execute("select user_id from marts.audience_sunset").fetchall() == [("silent",)]
    shop.run(day(60))
    assert shop.row("silent", day(60)) is None


def test_frequency_caps_at_their_limits(shop):
    # email: 1 per 2 days and 3 per 7 days (the defaults), counting today's send
    for name in ("yesterday", "two_days_ago", "three_in_week", "three_over_eight_days"):
        shop.user(name)
    shop.message("yesterday", "sent", day(-1))
    shop.message("two_days_ago", "sent", day(-2))
    for offset in (-6, -4, -2):
        shop.message("three_in_week", "sent", day(offset), f"newsletter{offset}")
    for offset in (-7, -4, -2):
        shop.message("three_over_eight_days", "sent", day(offset), f"newsletter{offset}")
    shop.run(day(0))
    assert shop.row("yesterday", day(0))[1:4] == ("excluded", "email", "frequency_cap")
    assert shop.row("two_days_ago", day(0))[1] == "exported"
    assert shop.row("three_in_week", day(0))[1:4] == ("excluded", "email", "frequency_cap")
    assert shop.row("three_over_eight_days", day(0))[1] == "exported"
    # a step that could not be sent stays due the next day
    shop.run(day(1))
    assert shop.row("yesterday", day(1))[:2] == ("we_miss_you", "exported")


def test_a_user_who_comes_back_leaves_the_track_that_day_and_gets_check_ins(shop):
    shop.user("back")
    shop.run(day(0))
    shop.sent("back", "we_miss_you", day(0))
    shop.run(day(4), back="reactivated")
    assert shop.row("back", day(4)) is None
    assert shop.changes("back")[-1] == (day(4), "left", "reactivated")
    shop.run(day(10), back="current")
    assert shop.row("back", day(10)) is None
    shop.run(day(11))
    assert shop.row("back", day(11))[:3] == ("checkin_7", "exported", "email")
    shop.run(day(18))
    assert shop.row("back", day(18))[0] == "checkin_14"


def test_value_tiers_go_to_customer_success_or_a_human_touch(shop):
    shop.user("big", tier="high")
    shop.user("middle", tier="mid")
    shop.run(day(0))
    assert shop.row("big", day(0))[1:3] == ("exported", "customer_success")
    assert shop.exported("big") == ["customer_success", "ads"]
    assert shop.row("middle", day(0))[2] == "email"
    for step, offset in (("we_miss_you", 0), ("survey", 5)):
        shop.sent("middle", step, day(offset))
    shop.run(day(10))  # the mid tier's human touch is the incentive step
    assert shop.row("middle", day(10))[:3] == ("incentive", "exported", "customer_success")
    queue = shop.con.execute(
        "select queue from marts.audience_export_customer_success where user_id = 'middle'"
    ).fetchone()[0]
    assert queue


def test_rerunning_a_day_gives_the_same_rows_and_the_day_changes_are_the_diff(shop):
    shop.user("a")
    shop.user("b")
    shop.run(day(0))
    first = shop.con.execute("select * from audience.daily order by user_id").fetchall()
    shop.run(day(0))
    assert shop.con.execute("select * from audience.daily order by user_id").fetchall() == first
    assert shop.con.execute("select count(*) from audience.enrolments").fetchone()[0] == 2
    shop.sent("a", "we_miss_you", day(0))
    shop.sent("b", "we_miss_you", day(0))
    shop.run(day(1), b="current")
    changes = shop.con.execute(
        "select export, key, change from marts.audience_export_changes order by all"
    ).fetchall()
    hashed_b = hashlib.sha256(b"b@example.com").hexdigest()
    assert ("ads", hashed_b, "remove") in changes
    assert ("email", "a", "remove") in changes  # no step due for a today
    assert ("email", "b", "remove") in changes


def test_the_holdout_is_persisted_and_never_changes(tmp_path):
    shop = Shop(tmp_path / "w.duckdb")
    shop.rules = dataclasses.replace(rules_for(None), holdout=Holdout(0.3, "salt-1"))
    for i in range(400):
        shop.user(f"u{i}")
    shop.run(day(5))
    assigned = dict(shop.con.execute("select user_id, is_holdout from audience.holdout").fetchall())
    expected = {
        f"u{i}": int(hashlib.md5(f"salt-1:u{i}".encode()).hexdigest()[:8], 16) / 2**32 < 0.3
        for i in range(400)
    }
    assert assigned == expected
    assert 0.25 < sum(assigned.values()) / 400 < 0.35
    # an earlier as-of date, a later one again, other settings: the same flags
    shop.run(day(0))
    shop.rules = dataclasses.replace(shop.rules, holdout=Holdout(0.5, "salt-2"))
    shop.run(day(5))
    assert (
        dict(shop.con.execute("select user_id, is_holdout from audience.holdout").fetchall())
        == assigned
    )
    holdout_users = [u for u, h in assigned.items() if h]
    assert all(shop.exported(u) == [] for u in holdout_users)
    assert shop.row(holdout_users[0], day(5))[1] == "holdout"
    shop.con.close()


def test_the_checks_fail_on_a_row_that_breaks_the_policy(shop):
    shop.user("clean")
    shop.user("unsub")
    shop.message("unsub", "unsubscribe", day(-3))
    shop.run(day(0))
    shop.con.execute("update audience.daily set status = 'exported' where user_id = 'unsub'")
    checks = {name: (passed, line) for name, passed, line in check_audience(shop.con, day(0))}
    assert checks["exports_respect_contact_policy"] == (
        False,
        "1 exported row(s) break the contact policy (first: unsub on email: unsubscribed)",
    )
    assert checks["exports_reconcile"][0] is False


def test_a_user_in_another_active_sequence_is_left_out_until_it_is_over(tmp_path):
    rules = rules_for(None)
    policy = dataclasses.replace(
        rules.policy,
        active_sequence_campaigns=("onboarding-",),
        active_sequence_days=7,
        frequency_caps=(),
    )
    shop = Shop(
        tmp_path / "w.duckdb", dataclasses.replace(rules, policy=policy, holdout=Holdout(0.0, "t"))
    )
    shop.user("onboarding")
    shop.user("newsletter_only")
    shop.message("onboarding", "sent", day(-6), "onboarding-tips-3")
    shop.message("newsletter_only", "sent", day(-1), "newsletter-9")
    shop.run(day(0))
    assert shop.row("onboarding", day(0))[1:4] == ("excluded", "email", "active_sequence")
    detail = shop.con.execute(
        "select detail from audience.exclusions where user_id = 'onboarding'"
    ).fetchone()[0]
    assert detail == "onboarding-tips-3"
    assert shop.row("newsletter_only", day(0))[1] == "exported"  # no caps in these rules
    shop.run(day(1))  # 7 days after the onboarding send: over
    assert shop.row("onboarding", day(1))[1] == "exported"
    shop.con.close()


def test_a_segment_given_another_sequence_starts_a_new_cycle_on_it(shop):
    """Editing audiences.yml between two runs never leaves a cycle stranded on a sequence the
    rules no longer name (the checks would then block every publication)."""
    shop.user("u")
    shop.run(day(0))
    shop.sent("u", "we_miss_you", day(0))
    rules = shop.rules
    renamed = dataclasses.replace(rules.sequences["winback_email"], name="winback_email_v2")
    sequences = {**rules.sequences, "winback_email_v2": renamed}
    del sequences["winback_email"]
    segments = tuple(
        dataclasses.replace(s, sequence="winback_email_v2") if s.sequence == "winback_email" else s
        for s in rules.segments
    )
    shop.rules = dataclasses.replace(rules, sequences=sequences, segments=segments)
    shop.run(day(1))
    assert shop.changes("u")[-2:] == [
        (day(1), "entered", "entered diagnostic_low"),
        (day(1), "left", "rules_changed"),
    ]
    # day 0 of the new sequence, held back by the cap only (yesterday's send of the old one)
    assert shop.row("u", day(1))[:4] == ("we_miss_you", "excluded", "email", "frequency_cap")
    campaign = shop.con.execute(
        "select campaign_id from audience.daily where user_id = 'u' and as_of_date = ?", [day(1)]
    ).fetchone()[0]
    assert campaign == "winback.winback_email_v2.we_miss_you"
    shop.run(day(2))
    assert shop.row("u", day(2))[:2] == ("we_miss_you", "exported")
