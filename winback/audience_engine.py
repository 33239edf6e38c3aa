"""The daily win-back audience: who is in which segment, which message step is due today, who
must not be contacted and why, and the exports a CRM tool syncs (docs/audiences.md).

Everything is set-based DuckDB SQL over the marts, the churn scores and the message log; the
rules (winback.audiences) reach SQL only as rows of small tables filled with bound parameters.

State that must outlive any rebuild lives in the `audience` schema, which dbt never touches:

- `audience.holdout`: one row per user, written when the user first enters a win-back segment
  and never changed (a hash of the user id and the salt decides, so a lost table would come
  back the same; the table makes the decision survive a change of the salt or the share);
- `audience.enrolments`: one row per user per sequence cycle (entered, left, why);
- `audience.daily`, `audience.exclusions`, `audience.changes`, `audience.exports`: one set of
  rows per as-of date, so any send can be traced back to the day's audience.

A run for an as-of date first rolls the state back to the day before it (a re-run of the same
date gives the same rows, never duplicates; an earlier date replays from there), then computes
the day in one transaction. The `marts.audience_*` tables are rebuilt from that state.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import duckdb

from winback.audiences import CAUSES, CHANNELS, AudienceRules

SCHEMA = "audience"
CAMPAIGN_PREFIX = "winback"  # campaign_id of a step: winback.<sequence>.<step>
# events that say nothing about which feature a user used, left out of last_feature
SESSION_EVENTS = ("login", "logout", "session_start", "session_end", "app_open", "page_view")

STATE_TABLES = {
    "holdout": """user_id varchar primary key, is_holdout boolean not null,
        bucket double not null, salt varchar not null, share double not null,
        assigned_on date not null, first_segment varchar not null""",
    "enrolments": """user_id varchar not null, segment varchar not null,
        sequence varchar not null, cycle integer not null, entered_on date not null,
        left_on date, left_reason varchar, responded boolean""",
    "checkins": "user_id varchar not null, segment varchar not null, reactivated_on date not null",
    "daily": """as_of_date date not null, user_id varchar not null, segment varchar not null,
        track varchar not null, treatment varchar not null, sequence varchar not null,
        pattern varchar, value_tier varchar, cause varchar, risk_tier varchar,
        message_theme varchar, is_holdout boolean not null, cycle integer,
        entered_on date, day_in_sequence integer, step varchar, destination varchar,
        queue varchar, campaign_id varchar, status varchar not null,
        exclusion_reasons varchar, first_name varchar, last_feature varchar,
        survey_reason varchar, churn_probability double, days_since_last_active bigint""",
    "exclusions": """as_of_date date not null, user_id varchar not null,
        segment varchar not null, step varchar, destination varchar, reason varchar not null,
        detail varchar""",
    "changes": """as_of_date date not null, user_id varchar not null, change varchar not null,
        segment varchar, reason varchar""",
    "exports": """as_of_date date not null, export varchar not null, key varchar not null,
        segment varchar, step varchar""",
}


class AudienceError(ValueError):
    """The audience cannot be computed from what the warehouse holds (one line says why)."""


@dataclass
class AudienceResult:
    as_of_date: dt.date
    eligible: int = 0
    targeted: int = 0
    holdout: int = 0
    steps_due: int = 0
    exported: dict[str, int] = field(default_factory=dict)
    excluded: dict[str, int] = field(default_factory=dict)
    entered: int = 0
    left: dict[str, int] = field(default_factory=dict)
    sunset: int = 0
    rolled_back_days: int = 0
    sizes: list[tuple] = field(
        default_factory=list
    )  # (segment, destination, targeted, holdout, exported, excluded)


def ensure_state(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"create schema if not exists {SCHEMA}")
    for name, columns in STATE_TABLES.items():
        con.execute(f"create table if not exists {SCHEMA}.{name} ({columns})")


def _exists(con, schema: str, table: str) -> bool:
    return bool(
        con.execute(
            "select count(*) from information_schema.tables where table_schema = ? "
            "and table_name = ? and table_catalog = current_database()",
            [schema, table],
        ).fetchone()[0]
    )


def audience_as_of(con: duckdb.DuckDBPyConnection) -> dt.date:
    """The as-of date of the marts the audience is computed from."""
    if not _exists(con, "marts", "user_disengagement_patterns"):
        raise AudienceError("no marts.user_disengagement_patterns: build the marts first")
    day = con.execute("select max(as_of_date) from marts.user_disengagement_patterns").fetchone()
    if day[0] is None:
        raise AudienceError("marts.user_disengagement_patterns is empty: no audience to build")
    return day[0]


def _insert(con, table: str, rows: list[tuple]) -> None:
    """Rows into a rule table as one bound list (executemany costs a statement per row:
    0.2 s per run for the 480 segment combinations)."""
    if rows:
        width = len(rows[0])
        fields = ", ".join(f"r[{i + 1}]" for i in range(width))
        con.execute(f"insert into {table} select {fields} from (select unnest(?) as r)", [rows])


def _load_rules(con, rules: AudienceRules) -> None:
    """The rules as temporary tables, filled with bound parameters only."""
    from winback.audiences import segment_rows

    con.execute(
        "create or replace temp table rule_combos (pattern varchar, value_tier varchar, "
        "cause varchar, risk_tier varchar, segment varchar)"
    )
    _insert(con, "rule_combos", segment_rows(rules))
    con.execute(
        "create or replace temp table rule_segments (segment varchar, track varchar, "
        "treatment varchar, channel varchar, sequence varchar, queue varchar, "
        "human_touch_step varchar)"
    )
    _insert(
        con,
        "rule_segments",
        [
            (s.name, s.track, s.treatment, s.channel, s.sequence, s.queue, s.human_touch_step)
            for s in rules.segments
        ],
    )
    con.execute(
        "create or replace temp table rule_steps (sequence varchar, position integer, "
        "step varchar, day integer, condition varchar, channel varchar)"
    )
    _insert(
        con,
        "rule_steps",
        [
            (seq.name, i, st.name, st.day, st.condition, st.channel)
            for seq in rules.sequences.values()
            for i, st in enumerate(seq.steps, start=1)
        ],
    )
    con.execute(
        "create or replace temp table rule_sequences (sequence varchar, last_day integer, "
        "sunset_after_days integer)"
    )
    _insert(
        con,
        "rule_sequences",
        [(s.name, s.steps[-1].day, s.sunset_after_days) for s in rules.sequences.values()],
    )
    con.execute("create or replace temp table rule_checkins (sequence varchar, day integer)")
    _insert(
        con,
        "rule_checkins",
        [(s.name, d) for s in rules.sequences.values() for d in s.checkin_days],
    )
    con.execute("create or replace temp table rule_themes (cause varchar, theme varchar)")
    _insert(con, "rule_themes", list(rules.themes.items()))
    con.execute(
        "create or replace temp table rule_caps (channel varchar, max_messages integer, "
        "per_days integer)"
    )
    _insert(
        con,
        "rule_caps",
        [(c.channel, c.max_messages, c.per_days) for c in rules.policy.frequency_caps],
    )
    con.execute("create or replace temp table rule_other_campaigns (prefix varchar)")
    _insert(
        con,
        "rule_other_campaigns",
        [(p,) for p in rules.policy.active_sequence_campaigns],
    )
    con.execute("create or replace temp table rule_states (state varchar)")
    _insert(con, "rule_states", [(s,) for s in rules.eligible_states])


def _messages(con) -> None:
    """The message log as a temp view (empty when no messages file was ever ingested)."""
    if _exists(con, "raw", "messages"):
        con.execute(
            "create or replace temp view msg as select user_id, campaign_id, channel, "
            "message_event, cast(occurred_at as date) as message_date from raw.messages"
        )
    else:
        con.execute(
            "create or replace temp view msg as select null::varchar as user_id, "
            "null::varchar as campaign_id, null::varchar as channel, "
            "null::varchar as message_event, null::date as message_date where false"
        )


def _rollback(con, day: dt.date) -> int:
    """Undo what runs for `day` and later did, so the day is computed from the state of the
    day before (re-running a date replaces its rows; an earlier date replays from there)."""
    later = con.execute(
        f"select count(distinct as_of_date) from {SCHEMA}.daily where as_of_date >= ?", [day]
    ).fetchone()[0]
    for table in ("daily", "exclusions", "changes", "exports"):
        con.execute(f"delete from {SCHEMA}.{table} where as_of_date >= ?", [day])
    con.execute(f"delete from {SCHEMA}.enrolments where entered_on >= ?", [day])
    con.execute(
        f"update {SCHEMA}.enrolments set left_on = null, left_reason = null, responded = null "
        "where left_on >= ?",
        [day],
    )
    con.execute(f"delete from {SCHEMA}.checkins where reactivated_on >= ?", [day])
    return later


def _base(con, day: dt.date) -> None:
    """Every user on the as-of date with what the segments cross and the contact facts."""
    scores = (
        "select user_id, risk_tier, churn_probability from ml.churn_scores where as_of_date = "
        "(select max(as_of_date) from ml.churn_scores where as_of_date <= ?)"
        if _exists(con, "ml", "churn_scores")
        else "select null::varchar as user_id, null::varchar as risk_tier, "
        "null::double as churn_probability, ? as unused where false"
    )
    first_name = (
        "u_raw.first_name"
        if con.execute(
            "select count(*) from information_schema.columns where table_schema = 'raw' "
            "and table_name = 'users' and column_name = 'first_name'"
        ).fetchone()[0]
        else "null::varchar"
    )
    con.execute(
        f"""
        create or replace temp table base as
        with scores as ({scores}),
        profiles as (
            select user_id, {first_name} as first_name, email from raw.users as u_raw
            qualify row_number() over (partition by user_id order by _source_file desc,
                _source_row desc) = 1
        )
        select
            p.user_id,
            p.pattern,
            coalesce(u.value_tier, 'low') as value_tier,
            case when u.latest_survey_reason is null then 'none'
                 when u.latest_survey_reason in (select unnest(?::varchar[]))
                 then u.latest_survey_reason else 'other' end as cause,
            coalesce(s.risk_tier, 'unscored') as risk_tier,
            s.churn_probability,
            h.state,
            coalesce(h.days_since_last_active, p.days_since_last_active)
                as days_since_last_active,
            coalesce(h.state in (select state from rule_states), false) as is_eligible,
            n.email,
            coalesce(u.email_opt_in, false) and coalesce(trim(n.email), '') <> ''
                as email_consent,
            coalesce(u.sms_opt_in, false) as sms_consent,
            false as push_consent,  -- the users contract has no push opt-in yet
            u.latest_survey_reason as survey_reason,
            n.first_name
        from marts.user_disengagement_patterns as p
        join marts.users as u using (user_id)
        left join marts.user_daily_health as h
            on h.user_id = p.user_id and h.activity_date = ?
        left join scores as s on s.user_id = p.user_id
        left join profiles as n on n.user_id = p.user_id
        """,
        [day, list(CAUSES), day],
    )
    con.execute(
        """
        create or replace temp table eligible as
        select b.*, c.segment, r.track, r.treatment, r.channel, r.sequence, r.queue,
            r.human_touch_step
        from base as b
        join rule_combos as c using (pattern, value_tier, cause, risk_tier)
        join rule_segments as r using (segment)
        where b.is_eligible
        """
    )


def _holdout(con, day: dt.date, rules: AudienceRules) -> None:
    """Users entering a win-back segment for the first time get their holdout flag, once."""
    con.execute(
        f"""
        insert into {SCHEMA}.holdout
        select user_id, bucket < ?, bucket, ?, ?, ?, segment
        from (
            select user_id, segment,
                cast(('0x' || substr(md5(? || ':' || user_id), 1, 8)) as ubigint)
                    / 4294967296.0 as bucket
            from eligible
            where user_id not in (select user_id from {SCHEMA}.holdout)
        )
        """,
        [rules.holdout.share, rules.holdout.salt, rules.holdout.share, day, rules.holdout.salt],
    )


def _enrolments(con, day: dt.date, rules: AudienceRules) -> None:
    """Close what ended today (reactivated, no longer eligible, segment changed, cycle over),
    then enrol the eligible users without an open cycle, unless they are in the sunset."""
    log = f"insert into {SCHEMA}.changes"
    # responded: a win-back message of the cycle opened or clicked
    con.execute(
        f"""
        create or replace temp table open_cycles as
        select e.*, ? - e.entered_on as day_in_sequence,
            exists (
                select 1 from msg as m where m.user_id = e.user_id
                and m.message_event in ('open', 'click')
                and m.campaign_id like '{CAMPAIGN_PREFIX}.%'
                and m.message_date between e.entered_on and ?
            ) as responded_now
        from {SCHEMA}.enrolments as e where e.left_on is null
        """,
        [day, day],
    )
    con.execute(
        """
        create or replace temp table closing as
        select o.user_id, o.segment, o.entered_on, o.responded_now,
            case
                when b.user_id is not null and not coalesce(b.is_eligible, false)
                     and b.days_since_last_active = 0 then 'reactivated'
                when el.user_id is null then 'no_longer_eligible'
                when el.segment <> o.segment then 'segment_changed'
                -- the rules file changed the segment's sequence (or dropped it): start over
                when el.sequence <> o.sequence or s.sequence is null then 'rules_changed'
                when o.day_in_sequence >= s.last_day + s.sunset_after_days then
                    case when o.responded_now then 'cycle_responded' else 'cycle_failed' end
            end as reason
        from open_cycles as o
        left join base as b using (user_id)
        left join eligible as el using (user_id)
        left join rule_sequences as s on s.sequence = o.sequence
        """
    )
    con.execute("delete from closing where reason is null")
    con.execute(
        f"""
        update {SCHEMA}.enrolments as e set left_on = ?, left_reason = c.reason,
            responded = c.responded_now
        from closing as c
        where e.user_id = c.user_id and e.entered_on = c.entered_on and e.left_on is null
        """,
        [day],
    )
    con.execute(f"{log} select ?, user_id, 'left', segment, reason from closing", [day])
    con.execute(
        f"insert into {SCHEMA}.checkins select user_id, segment, ? from closing "
        "where reason = 'reactivated'",
        [day],
    )
    # failed cycles in a row since the user last came back
    con.execute(
        f"""
        create or replace temp table failed_cycles as
        select e.user_id, count(*) as failed
        from {SCHEMA}.enrolments as e
        where e.left_reason = 'cycle_failed'
          and e.left_on > coalesce((
              select max(c.reactivated_on) from {SCHEMA}.checkins as c
              where c.user_id = e.user_id), date '1900-01-01')
          and e.left_on > coalesce((
              select max(r.left_on) from {SCHEMA}.enrolments as r
              where r.user_id = e.user_id and r.left_reason = 'cycle_responded'),
              date '1900-01-01')
        group by e.user_id
        """
    )
    con.execute(
        f"""
        {log} select ?, f.user_id, 'sunset', c.segment,
            'no response after ' || f.failed || ' cycles'
        from failed_cycles as f join closing as c using (user_id)
        where c.reason = 'cycle_failed' and f.failed >= ?
        """,
        [day, rules.policy.sunset_after_cycles],
    )
    con.execute(
        f"""
        create or replace temp table entering as
        select el.user_id, el.segment, el.sequence,
            coalesce((select count(*) from {SCHEMA}.enrolments as p
                      where p.user_id = el.user_id), 0) + 1 as cycle
        from eligible as el
        where el.user_id not in (select user_id from {SCHEMA}.enrolments where left_on is null)
          and el.user_id not in (select user_id from failed_cycles where failed >= ?)
        """,
        [rules.policy.sunset_after_cycles],
    )
    con.execute(
        f"insert into {SCHEMA}.enrolments select user_id, segment, sequence, cycle, ?, null, "
        "null, null from entering",
        [day],
    )
    con.execute(
        f"{log} select ?, user_id, 'entered', segment, 'entered ' || segment from entering", [day]
    )


def _steps(con, day: dt.date) -> None:
    """The step due today for every open cycle, and the check-ins of users who came back."""
    con.execute(
        f"""
        create or replace temp table cycles as
        select e.user_id, e.segment, e.sequence, e.cycle, e.entered_on,
            ? - e.entered_on as day_in_sequence, h.is_holdout,
            -- found once, before the closings (a cycle opened today has no message yet)
            coalesce(o.responded_now, false) as opened
        from {SCHEMA}.enrolments as e
        join {SCHEMA}.holdout as h using (user_id)
        left join open_cycles as o using (user_id, entered_on)
        where e.left_on is null
        """,
        [day],
    )
    con.execute(
        f"""
        create or replace temp table due as
        select c.user_id, s.step, s.channel as step_channel
        from cycles as c
        join rule_steps as s on s.sequence = c.sequence
        where s.day <= c.day_in_sequence
          and (s.condition = 'always' or not c.opened)
          and (
              -- targeted: the first step not yet sent (one that could not be sent stays due);
              -- a customer-success task counts as handed over once it was exported
              (not c.is_holdout and not exists (
                  select 1 from msg as m where m.user_id = c.user_id
                  and m.message_event = 'sent'
                  and m.campaign_id = '{CAMPAIGN_PREFIX}.' || c.sequence || '.' || s.step
                  and m.message_date between c.entered_on and ?)
               and not exists (
                  select 1 from {SCHEMA}.exports as x where x.key = c.user_id
                  and x.export = 'customer_success' and x.step = s.step
                  and x.as_of_date >= c.entered_on and x.as_of_date < ?))
              -- holdout: nothing is sent, the schedule says which step it would be
              or (c.is_holdout and s.day = c.day_in_sequence)
          )
        qualify row_number() over (partition by c.user_id order by s.position) = 1
        """,
        [day, day],
    )
    con.execute(
        f"""
        create or replace temp table checkins_due as
        select c.user_id, c.segment, 'checkin_' || k.day as step, c.reactivated_on
        from {SCHEMA}.checkins as c
        join rule_segments as r using (segment)
        join rule_checkins as k on k.sequence = r.sequence
        where ? - c.reactivated_on = k.day
        qualify row_number() over (partition by c.user_id order by c.reactivated_on desc) = 1
        """,
        [day],
    )


def _last_features(con) -> None:
    con.execute(
        """
        create or replace temp table last_features as
        select user_id, arg_max(event_name, occurred_at) as last_feature
        from raw.events
        where user_id in (select user_id from cycles union all select user_id from checkins_due)
          and event_name not in (select unnest(?::varchar[]))
        group by user_id
        """,
        [list(SESSION_EVENTS)],
    )


def _rows(con, day: dt.date) -> None:
    """One row per tracked user today: open cycles and check-ins, with the destination."""
    con.execute(
        f"""
        create or replace temp table rows_today as
        with tracked as (
            select c.user_id, c.segment, r.track, r.treatment, c.sequence, c.cycle,
                c.entered_on, c.day_in_sequence, d.step, coalesce(d.step_channel, r.channel)
                as channel, r.queue, r.human_touch_step
            from cycles as c
            join rule_segments as r using (segment)
            left join due as d using (user_id)
            union all
            select k.user_id, k.segment, 'checkin', r.treatment, 'checkin', null,
                k.reactivated_on, ? - k.reactivated_on, k.step, r.channel, r.queue, null
            from checkins_due as k join rule_segments as r using (segment)
            -- a user who came back and lapsed again is in a cycle: no check-in then
            where k.user_id not in (select user_id from cycles)
        )
        select ? as as_of_date, t.user_id, t.segment, t.track, t.treatment, t.sequence,
            b.pattern, b.value_tier, b.cause, b.risk_tier, th.theme as message_theme,
            h.is_holdout, t.cycle, t.entered_on, t.day_in_sequence, t.step,
            case when t.step is null then null
                 when t.treatment = 'customer_success' then 'customer_success'
                 when t.treatment = 'human_touch' and t.step = t.human_touch_step
                     then 'customer_success'
                 else t.channel end as destination,
            case when t.treatment = 'customer_success' then t.queue
                 -- a human touch goes to the segment's queue, else to one named after it
                 when t.treatment = 'human_touch' and t.step = t.human_touch_step
                 then coalesce(t.queue, 'human_touch') end as queue,
            case when t.step is not null
                 then '{CAMPAIGN_PREFIX}.' || t.sequence || '.' || t.step end as campaign_id,
            b.first_name, f.last_feature, b.survey_reason, b.churn_probability,
            b.days_since_last_active, b.email, b.email_consent, b.sms_consent, b.push_consent
        from tracked as t
        join base as b using (user_id)
        join {SCHEMA}.holdout as h using (user_id)
        left join rule_themes as th on th.cause = b.cause
        left join last_features as f using (user_id)
        """,
        [day, day],
    )


def _exclusions(con, day: dt.date, rules: AudienceRules) -> None:
    """Every reason a row with a step due is not exported, each recorded."""
    con.execute(
        """
        create or replace temp table suppressed as
        select user_id,
            bool_or(message_event = 'unsubscribe') as unsubscribed,
            bool_or(message_event = 'complaint') as complained,
            bool_or(message_event = 'bounce_hard' and channel = 'email') as hard_bounced
        from msg where message_date <= ? group by user_id
        """,
        [day],
    )
    con.execute(
        """
        create or replace temp table capped as
        select r.user_id, any_value(c.max_messages || ' per ' || c.per_days || ' days on '
            || c.channel) as detail
        from rows_today as r
        join rule_caps as c on c.channel = r.destination
        join msg as m on m.user_id = r.user_id and m.channel = c.channel
            and m.message_event = 'sent'
            and m.message_date between r.as_of_date - (c.per_days - 1) and r.as_of_date
        group by r.user_id, c.channel, c.max_messages, c.per_days
        having count(*) >= c.max_messages
        """
    )
    con.execute(
        """
        create or replace temp table busy as
        select distinct r.user_id, m.campaign_id as detail
        from rows_today as r
        join msg as m on m.user_id = r.user_id and m.message_event = 'sent'
        join rule_other_campaigns as o on starts_with(m.campaign_id, o.prefix)
        where m.message_date > r.as_of_date - ? and m.message_date <= r.as_of_date
        """,
        [rules.policy.active_sequence_days],
    )
    con.execute(
        f"""
        insert into {SCHEMA}.exclusions
        with due_rows as (select * from rows_today where step is not null),
        reasons as (
            select user_id, 'holdout' as reason, null as detail from due_rows where is_holdout
            union all
            select user_id, 'no_consent', destination || ': no opt-in' from due_rows
            where (destination = 'email' and not email_consent)
               or (destination = 'sms' and not sms_consent)
               or (destination = 'push' and not push_consent)
            union all
            select user_id, 'unsubscribed', null from due_rows join suppressed using (user_id)
            where unsubscribed
            union all
            select user_id, 'spam_complaint', null from due_rows join suppressed using (user_id)
            where complained
            union all
            select user_id, 'hard_bounce', null from due_rows join suppressed using (user_id)
            where hard_bounced and destination = 'email'
            union all
            select user_id, 'frequency_cap', any_value(detail) from capped group by user_id
            union all
            select user_id, 'active_sequence', any_value(detail) from busy group by user_id
        )
        select ?, d.user_id, d.segment, d.step, d.destination, x.reason, x.detail
        from reasons as x join due_rows as d using (user_id)
        """,
        [day],
    )


def _daily(con, day: dt.date) -> None:
    con.execute(
        f"""
        insert into {SCHEMA}.daily
        select r.as_of_date, r.user_id, r.segment, r.track, r.treatment, r.sequence, r.pattern,
            r.value_tier, r.cause, r.risk_tier, r.message_theme, r.is_holdout, r.cycle,
            r.entered_on, r.day_in_sequence, r.step, r.destination, r.queue, r.campaign_id,
            case when r.step is null then 'waiting'
                 when r.is_holdout then 'holdout'
                 when x.reasons is not null then 'excluded'
                 else 'exported' end,
            x.reasons, r.first_name, r.last_feature, r.survey_reason, r.churn_probability,
            r.days_since_last_active
        from rows_today as r
        left join (
            select user_id, string_agg(reason, ',' order by reason) as reasons
            from {SCHEMA}.exclusions where as_of_date = ? group by user_id
        ) as x using (user_id)
        """,
        [day],
    )


def _exports(con, day: dt.date) -> None:
    """Today's export keys (user ids; hashed emails for ads), kept per day for the changes."""
    con.execute(
        f"""
        insert into {SCHEMA}.exports
        select as_of_date, destination, user_id, segment, step from {SCHEMA}.daily
        where as_of_date = ? and status = 'exported'
        """,
        [day],
    )
    # ads: every targeted user of an open cycle whose address may be used, hashed
    con.execute(
        f"""
        insert into {SCHEMA}.exports
        select distinct ?, 'ads', sha256(lower(trim(r.email))), null, null
        from rows_today as r
        left join suppressed as s using (user_id)
        where r.sequence <> 'checkin' and not r.is_holdout and r.email_consent
          and not coalesce(s.unsubscribed or s.complained or s.hard_bounced, false)
        """,
        [day],
    )


def _publish_marts(con, day: dt.date) -> None:
    """The marts BI and the CRM read, rebuilt from the audience state."""
    con.execute("create schema if not exists marts")
    con.execute(f"create or replace table marts.audience_daily as select * from {SCHEMA}.daily")
    con.execute(
        f"create or replace table marts.audience_exclusions as select * from {SCHEMA}.exclusions"
    )
    con.execute(f"create or replace table marts.audience_changes as select * from {SCHEMA}.changes")
    con.execute(
        f"""
        create or replace table marts.audience_sizes as
        -- a user without a step today counts under the segment's channel
        select as_of_date, segment, coalesce(destination,
            case when d.treatment = 'customer_success' then 'customer_success' end,
            r.channel, 'none') as destination,
            count(*) as tracked,
            count(*) filter (where not is_holdout) as targeted,
            count(*) filter (where is_holdout) as holdout,
            count(*) filter (where step is not null) as steps_due,
            count(*) filter (where status = 'exported') as exported,
            count(*) filter (where status = 'excluded') as excluded
        from {SCHEMA}.daily as d left join rule_segments as r using (segment)
        group by all
        """
    )
    con.execute(
        f"""
        create or replace table marts.audience_sunset as
        select c.user_id, c.as_of_date as sunset_on, c.segment, c.reason
        from {SCHEMA}.changes as c where c.change = 'sunset'
        qualify row_number() over (partition by c.user_id order by c.as_of_date desc) = 1
        """
    )
    columns = (
        "as_of_date, user_id, segment, sequence, step, campaign_id, message_theme, first_name, "
        "last_feature, survey_reason, risk_tier"
    )
    for channel in CHANNELS:
        con.execute(
            f"create or replace table marts.audience_export_{channel} as select {columns} "
            f"from {SCHEMA}.daily where as_of_date = ? and status = 'exported' "
            "and destination = ? order by user_id",
            [day, channel],
        )
    con.execute(
        f"""
        create or replace table marts.audience_export_customer_success as
        select d.as_of_date, d.queue, d.user_id, d.segment, d.track, d.step, d.value_tier,
            u.plan, u.lifetime_revenue, d.churn_probability, d.risk_tier,
            d.days_since_last_active, d.pattern, d.survey_reason, d.message_theme,
            d.last_feature
        from {SCHEMA}.daily as d join marts.users as u using (user_id)
        where d.as_of_date = ? and d.status = 'exported' and d.destination = 'customer_success'
        order by d.churn_probability desc nulls last, d.user_id
        """,
        [day],
    )
    con.execute(
        f"create or replace table marts.audience_export_ads as select key as hashed_email "
        f"from {SCHEMA}.exports where as_of_date = ? and export = 'ads' order by key",
        [day],
    )
    con.execute(
        f"""
        create or replace table marts.audience_export_changes as
        with today as (select export, key, segment, step from {SCHEMA}.exports
                       where as_of_date = ?),
        previous as (select export, key, segment, step from {SCHEMA}.exports
                     where as_of_date = (select max(as_of_date) from {SCHEMA}.exports
                                         where as_of_date < ?))
        select ? as as_of_date, t.export, t.key, 'add' as change, t.segment, t.step
        from today as t anti join previous as p using (export, key)
        union all
        select ?, p.export, p.key, 'remove', p.segment, p.step
        from previous as p anti join today as t using (export, key)
        order by export, change, key
        """,
        [day, day, day, day],
    )


def build_audience(
    con: duckdb.DuckDBPyConnection, rules: AudienceRules, as_of: dt.date | None = None
) -> AudienceResult:
    """Compute the audience of `as_of` (default: the marts' as-of date) in one transaction."""
    day = as_of or audience_as_of(con)
    ensure_state(con)
    _messages(con)
    con.execute("begin transaction")
    try:
        result = AudienceResult(as_of_date=day)
        result.rolled_back_days = _rollback(con, day)
        _load_rules(con, rules)
        _base(con, day)
        _holdout(con, day, rules)
        _enrolments(con, day, rules)
        _steps(con, day)
        _last_features(con)
        _rows(con, day)
        _exclusions(con, day, rules)
        _daily(con, day)
        _exports(con, day)
        _publish_marts(con, day)
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    _summarise(con, result)
    return result


def _summarise(con, result: AudienceResult) -> None:
    day = result.as_of_date
    result.eligible = con.execute("select count(*) from eligible").fetchone()[0]
    counts = con.execute(
        f"select count(*) filter (where not is_holdout), count(*) filter (where is_holdout), "
        f"count(*) filter (where step is not null) from {SCHEMA}.daily where as_of_date = ?",
        [day],
    ).fetchone()
    result.targeted, result.holdout, result.steps_due = counts
    result.exported = dict(
        con.execute(
            f"select export, count(*) from {SCHEMA}.exports where as_of_date = ? group by 1",
            [day],
        ).fetchall()
    )
    result.excluded = dict(
        con.execute(
            f"select reason, count(distinct user_id) from {SCHEMA}.exclusions "
            "where as_of_date = ? group by 1",
            [day],
        ).fetchall()
    )
    changes = con.execute(
        f"select change, coalesce(reason, ''), count(*) from {SCHEMA}.changes "
        "where as_of_date = ? group by all",
        [day],
    ).fetchall()
    result.entered = sum(n for c, _, n in changes if c == "entered")
    result.sunset = sum(n for c, _, n in changes if c == "sunset")
    result.left = {r: n for c, r, n in changes if c == "left"}
    result.sizes = con.execute(
        "select segment, destination, targeted, holdout, exported, excluded "
        "from marts.audience_sizes where as_of_date = ? order by segment, destination",
        [day],
    ).fetchall()


def check_audience(con: duckdb.DuckDBPyConnection, day: dt.date) -> list[tuple[str, bool, str]]:
    """The blocking checks between the audience and the exports, each recomputed from the
    sources (the message log, the users mart, the holdout table), not from the engine's own
    flags: (check name, passed, one line)."""
    _messages(con)
    con.execute(
        "create or replace temp view contacts as select u.user_id, u.email_opt_in, "
        "u.sms_opt_in, r.email from marts.users as u left join (select user_id, email "
        "from raw.users qualify row_number() over (partition by user_id "
        "order by _source_file desc, _source_row desc) = 1) as r using (user_id)"
    )
    exported = f"""
        select destination as export, user_id from {SCHEMA}.daily
        where as_of_date = ? and status = 'exported'
    """
    violations = con.execute(
        f"""
        with exported as ({exported}),
        facts as (
            select user_id,
                bool_or(message_event = 'unsubscribe') as unsubscribed,
                bool_or(message_event = 'complaint') as complained,
                bool_or(message_event = 'bounce_hard' and channel = 'email') as bounced
            from msg where message_date <= ? group by user_id
        )
        select e.export, e.user_id,
            case when coalesce(f.unsubscribed, false) then 'unsubscribed'
                 when coalesce(f.complained, false) then 'spam_complaint'
                 when e.export = 'email' and coalesce(f.bounced, false) then 'hard_bounce'
                 when e.export = 'email' and not (coalesce(u.email_opt_in, false)
                      and coalesce(trim(u.email), '') <> '') then 'no_consent'
                 when e.export = 'sms' and not coalesce(u.sms_opt_in, false) then 'no_consent'
                 when e.export = 'push' then 'no_consent'
            end as rule
        from exported as e
        left join facts as f using (user_id)
        left join contacts as u using (user_id)
        """,
        [day, day],
    ).fetchall()
    violations = [v for v in violations if v[2] is not None]
    ads_violations = con.execute(
        f"""
        select count(*) from {SCHEMA}.exports as x
        join contacts as u on x.key = sha256(lower(trim(u.email)))
        join {SCHEMA}.holdout as h using (user_id)
        where x.as_of_date = ? and x.export = 'ads'
          and (h.is_holdout or not coalesce(u.email_opt_in, false)
               or u.user_id in (select user_id from msg where message_date <= ?
                   and message_event in ('unsubscribe', 'complaint', 'bounce_hard')))
        """,
        [day, day],
    ).fetchone()[0]
    holdout_exported = con.execute(
        f"""
        select count(*) from ({exported}) as e join {SCHEMA}.holdout as h using (user_id)
        where h.is_holdout
        """,
        [day],
    ).fetchone()[0]
    rows, users, stepless_exports = con.execute(
        f"select count(*), count(distinct user_id), "
        f"count(*) filter (where status = 'exported' and (step is null or destination is null)) "
        f"from {SCHEMA}.daily where as_of_date = ?",
        [day],
    ).fetchone()
    unassigned = con.execute(
        f"""
        select count(*) from {SCHEMA}.enrolments as e
        where e.left_on is null and e.user_id not in
            (select user_id from {SCHEMA}.daily where as_of_date = ?)
        """,
        [day],
    ).fetchone()[0]
    mismatched = con.execute(
        f"""
        with audience as (
            select destination as export, count(*) as n from {SCHEMA}.daily
            where as_of_date = ? and status = 'exported' group by 1),
        marts as (
            select 'email' as export, count(*) as n from marts.audience_export_email
            union all select 'sms', count(*) from marts.audience_export_sms
            union all select 'push', count(*) from marts.audience_export_push
            union all select 'customer_success', count(*)
                from marts.audience_export_customer_success)
        select m.export, coalesce(a.n, 0), m.n from marts as m left join audience as a
            using (export) where coalesce(a.n, 0) <> m.n
        """,
        [day],
    ).fetchall()
    first = violations[0] if violations else None
    return [
        (
            "exports_respect_contact_policy",
            not violations and not ads_violations,
            "no exported row breaks the contact policy"
            if not violations and not ads_violations
            else f"{len(violations)} exported row(s) break the contact policy"
            + (f" (first: {first[1]} on {first[0]}: {first[2]})" if first else "")
            + (f"; {ads_violations} ads row(s) not allowed" if ads_violations else ""),
        ),
        (
            "no_holdout_exported",
            holdout_exported == 0,
            "no holdout user in any export"
            if holdout_exported == 0
            else f"{holdout_exported} holdout user(s) exported",
        ),
        (
            "one_segment_one_step",
            rows == users and stepless_exports == 0 and unassigned == 0,
            f"{users:,} tracked users, one row, one segment and at most one step each"
            if rows == users and stepless_exports == 0 and unassigned == 0
            else f"{rows:,} rows for {users:,} users, {stepless_exports} exported row(s) "
            f"without a step, {unassigned} enrolled user(s) missing from the day",
        ),
        (
            "exports_reconcile",
            not mismatched,
            "every export holds as many rows as the audience marks exported"
            if not mismatched
            else "; ".join(f"{e}: audience {a}, export {m}" for e, a, m in mismatched),
        ),
    ]
