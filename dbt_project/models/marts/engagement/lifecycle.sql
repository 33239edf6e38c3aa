{#- Grain: period_type (day, week, month) x period x status. Distinct users per status, as in
    PostHog's and Amplitude's lifecycle charts:
      new          active in the period, it is their first active period, and it holds their
                   "new" date (lifecycle_new_basis: signup = the users file's signup_at, else
                   the first event; first_event). A user active before their signup period is
                   never new: returning or resurrecting in the signup period (PostHog: new only
                   when the first active period is the period of the person's creation).
      returning    active in this period and the previous one
      resurrecting active in this period, not in the previous one, and not new
      dormant      active in the previous period, not in this one: counted once per gap, in the
                   first inactive period
    Every period from the first active one to the as-of date's has its four rows, 0 where
    nobody had that status (PostHog's periods; a BI chart's axis has no gaps).
    signed_users is the same count with dormant negative, for stacked bar charts. -#}
{%- set new_basis = setting('lifecycle_new_basis') %}
{%- set periods = ['day', 'week', 'month'] %}

with active_days as (
    select * from {{ ref('int_user_active_days') }}
),

users as (
    select * from {{ ref('users') }}
),

first_active as (
    select user_id, min(activity_date) as first_active_date
    from active_days
    group by user_id
),

new_dates as (
    select
        first_active.user_id,
        {%- if new_basis == 'signup' %}
        coalesce(users.signup_date, first_active.first_active_date) as new_date
        {%- else %}
        first_active.first_active_date as new_date
        {%- endif %}
    from first_active
    left join users on first_active.user_id = users.user_id
),

report_days as (
    {{ date_spine('(select min(activity_date) from active_days)', as_of_date()) }}
),

report_periods as (
    {%- for period in periods %}
    select distinct '{{ period }}' as period_type, {{ period_start(period, 'date_day') }} as period_start
    from report_days
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
),

{%- for period in periods %}

active_periods_{{ period }} as (
    select distinct
        active_days.user_id,
        {{ period_start(period, 'active_days.activity_date') }} as period_start,
        {{ period_start(period, 'new_dates.new_date') }} as new_period
    from active_days
    inner join new_dates on active_days.user_id = new_dates.user_id
),

sequenced_{{ period }} as (
    select
        user_id,
        period_start,
        new_period,
        lag(period_start) over (partition by user_id order by period_start) as previous_active_period,
        lead(period_start) over (partition by user_id order by period_start) as next_active_period
    from active_periods_{{ period }}
),

statuses_{{ period }} as (
    select
        '{{ period }}' as period_type,
        user_id,
        period_start,
        case
            when previous_active_period is null and period_start = new_period then 'new'
            when previous_active_period = {{ period_add(period, -1, 'period_start') }} then 'returning'
            else 'resurrecting'
        end as status,
        next_active_period
    from sequenced_{{ period }}
),

dormant_{{ period }} as (
    select
        '{{ period }}' as period_type,
        user_id,
        {{ period_add(period, 1, 'period_start') }} as period_start,
        'dormant' as status
    from statuses_{{ period }}
    where (next_active_period is null or next_active_period > {{ period_add(period, 1, 'period_start') }})
        and {{ period_add(period, 1, 'period_start') }} <= {{ period_start(period, as_of_date()) }}
),
{%- endfor %}

user_statuses as (
    {%- for period in periods %}
    select period_type, user_id, period_start, status from statuses_{{ period }}
    union all
    select period_type, user_id, period_start, status from dormant_{{ period }}
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
),

counts as (
    select period_type, period_start, status, count(*) as users
    from user_statuses
    group by period_type, period_start, status
),

statuses as (
    select 'new' as status
    union all select 'returning'
    union all select 'resurrecting'
    union all select 'dormant'
),

final as (
    select
        report_periods.period_type,
        report_periods.period_start,
        statuses.status,
        coalesce(counts.users, 0) as users,
        case when statuses.status = 'dormant' then -1 else 1 end * coalesce(counts.users, 0)
            as signed_users,
        case report_periods.period_type
            {%- for period in periods %}
            when '{{ period }}' then {{ period_add(period, 1, 'report_periods.period_start') }}
            {%- endfor %}
        end <= {{ dbt.dateadd('day', 1, as_of_date()) }} as is_complete_period
    from report_periods
    cross join statuses
    left join counts
        on report_periods.period_type = counts.period_type
        and report_periods.period_start = counts.period_start
        and statuses.status = counts.status
)

select * from final
