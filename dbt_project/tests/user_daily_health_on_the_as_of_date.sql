{#- The columns user_daily_health computes on read (the recency and health scores, the
    engagement label), checked for every user on the as-of date, a range join on the spans:
    checked on every day they would cost an expansion to users x days per test (55 s of a
    CDNOW-shaped build). The spans' own tests cover the stored columns of every day, and
    last_active_date <= valid_from keeps the day counts these columns come from non-negative on
    every day. -#}
select user_id, activity_date, recency_score, health_score, engagement_label
from ({{ user_daily_health_rows('select ' ~ as_of_date() ~ ' as day') }}) as rows
where recency_score is null or recency_score < 0 or recency_score > 100
    or health_score is null or health_score < 0 or health_score > 100
    or engagement_label is null
    or engagement_label not in ('engaged', 'recently_active', 'disengaged', 'inactive')
