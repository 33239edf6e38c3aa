-- depends_on: {{ ref('int_events_deduplicated') }}
{#- Grain: period_type (day, week, month) x cohort period x period number x dimension value.

    Cohorts (retention_cohort_type): first_time = the period of the user's first start event
    over all history (a user whose first one is before report_start_date is in no cohort);
    recurring = a user joins a cohort in every period in which they did a start event.
    Retained: "on" = did a return event in exactly period N; "on or after" = in period N or
    any later one (PostHog: cumulative), up to retention_on_or_after_horizon: as_of_date =
    any later period up to the as-of date, even past the last reported one; last_reported_period
    = only up to the cohort's last reported period (PostHog counts returns within its reported
    intervals only). Returns after the as-of date never count. Period 0 is always the cohort
    size. Calendar periods in the reporting timezone; weeks start on week_start.
    Every cohort period from report_start_date (else the first cohort period) to the as-of
    date's has its cells, for every dimension value seen in that period type: a period in
    which nobody started is a cohort of 0 users (rates null), as in PostHog's table.
    Dimensions: all, plan, acquisition_channel, platform (the user's first platform). -#}
{%- set periods = ['day', 'week', 'month'] %}
{%- set max_periods = {'day': setting('retention_max_days'), 'week': setting('retention_max_weeks'), 'month': setting('retention_max_months')} %}
{%- set overall_max = [max_periods['day'], max_periods['week'], max_periods['month']] | max %}
{%- set start_events = setting('retention_start_events') or setting('activity_events') %}
{%- set return_events = setting('retention_return_events') or setting('activity_events') %}
{%- set cohort_type = setting('retention_cohort_type') %}
{%- set report_start = setting('report_start_date') %}
{%- set horizon = setting('retention_on_or_after_horizon') %}
{%- if horizon not in ['as_of_date', 'last_reported_period'] %}
    {{ exceptions.raise_compiler_error("setting retention_on_or_after_horizon must be one of as_of_date, last_reported_period, not " ~ horizon) }}
{%- endif %}

with active_days as (
    select user_id, activity_date from {{ ref('int_user_active_days') }}
),

{%- for role, events in [('start', start_events), ('return', return_events)] %}

{{ role }}_days as (
    {%- if events %}
    select distinct user_id, event_date as activity_date
    from {{ ref('int_events_deduplicated') }}
    where event_date <= {{ as_of_date() }} and event_name in {{ sql_list(events) }}
    {%- else %}
    select user_id, activity_date from active_days
    {%- endif %}
),
{%- endfor %}

user_dimensions as (
    select users.user_id, 'all' as dimension, 'all' as dimension_value
    from {{ ref('users') }} as users
    union all
    select user_id, 'plan', coalesce(plan, 'unknown') from {{ ref('users') }}
    union all
    select user_id, 'acquisition_channel', coalesce(acquisition_channel, 'unknown')
    from {{ ref('users') }}
    union all
    select users.user_id, 'platform', coalesce(platforms.first_platform, 'unknown')
    from {{ ref('users') }} as users
    left join {{ ref('int_users_first_platform') }} as platforms
        on users.user_id = platforms.user_id
),

numbers as (
    with recursive n (period_number) as (
        select 0
        union all
        select period_number + 1 from n where period_number < {{ overall_max }}
    )
    select period_number from n
),

report_days as (
    {%- if report_start %}
    {{ date_spine("cast('" ~ report_start ~ "' as date)", as_of_date()) }}
    {%- else %}
    {{ date_spine('(select min(activity_date) from start_days)', as_of_date()) }}
    {%- endif %}
),

{%- for period in periods %}
{%- set as_of_period = period_start(period, as_of_date()) %}

cohort_periods_{{ period }} as (
    select distinct {{ period_start(period, 'date_day') }} as cohort_period
    from report_days
    where date_day <= {{ as_of_date() }}
),

starts_{{ period }} as (
    select distinct user_id, {{ period_start(period, 'activity_date') }} as period_start
    from start_days
),

returns_{{ period }} as (
    select distinct user_id, {{ period_start(period, 'activity_date') }} as period_start
    from return_days
),

{%- if horizon == 'as_of_date' %}

last_return_{{ period }} as (
    select user_id, max(period_start) as last_return_period
    from returns_{{ period }}
    group by user_id
),
{%- endif %}

cohorts_{{ period }} as (
    {%- if cohort_type == 'first_time' %}
    select user_id, min(period_start) as cohort_period
    from starts_{{ period }}
    group by user_id
    {%- else %}
    select user_id, period_start as cohort_period
    from starts_{{ period }}
    {%- endif %}
),

reported_cohorts_{{ period }} as (
    select user_id, cohort_period
    from cohorts_{{ period }}
    where cohort_period <= {{ as_of_period }}
    {%- if report_start %}
        and cohort_period >= {{ period_start(period, "cast('" ~ report_start ~ "' as date)") }}
    {%- endif %}
),

returned_on_{{ period }} as (
    select
        cohorts.user_id,
        cohorts.cohort_period,
        {{ periods_between(period, 'cohorts.cohort_period', 'returns.period_start') }} as period_number
    from reported_cohorts_{{ period }} as cohorts
    inner join returns_{{ period }} as returns
        on cohorts.user_id = returns.user_id
        and returns.period_start > cohorts.cohort_period
        and returns.period_start <= {{ period_add(period, max_periods[period], 'cohorts.cohort_period') }}
),

{#- Per cohort member who came back, the last period number that "on or after" counts them in
    (the others count in period 0 only, which is the cohort size anyway). -#}
last_return_numbers_{{ period }} as (
    {%- if horizon == 'last_reported_period' %}
    {#- returns in the reported periods only: returned_on stops at retention_max_* and, like
        every return, at the as-of date -#}
    select user_id, cohort_period, max(period_number) as last_return_number
    from returned_on_{{ period }}
    group by user_id, cohort_period
    {%- else %}
    {#- any return up to the as-of date: one past the last reported period counts in them all -#}
    select
        cohorts.user_id,
        cohorts.cohort_period,
        least(
            {{ periods_between(period, 'cohorts.cohort_period', 'last_return.last_return_period') }},
            {{ max_periods[period] }}
        ) as last_return_number
    from reported_cohorts_{{ period }} as cohorts
    inner join last_return_{{ period }} as last_return
        on cohorts.user_id = last_return.user_id
        and last_return.last_return_period > cohorts.cohort_period
    {%- endif %}
),

{#- A user is in a cohort once, and has one value per dimension, so plain counts are distinct
    counts. "On or after" N = users whose last counted return is at N or later: a histogram of
    the last return period, summed from N up. -#}
sizes_{{ period }} as (
    select cohorts.cohort_period, dims.dimension, dims.dimension_value, count(*) as cohort_size
    from reported_cohorts_{{ period }} as cohorts
    inner join user_dimensions as dims on cohorts.user_id = dims.user_id
    group by cohorts.cohort_period, dims.dimension, dims.dimension_value
),

dimension_values_{{ period }} as (
    select distinct dimension, dimension_value from sizes_{{ period }}
),

cohort_grid_{{ period }} as (
    select
        cohort_periods.cohort_period,
        dims.dimension,
        dims.dimension_value,
        coalesce(sizes.cohort_size, 0) as cohort_size
    from cohort_periods_{{ period }} as cohort_periods
    cross join dimension_values_{{ period }} as dims
    left join sizes_{{ period }} as sizes
        on cohort_periods.cohort_period = sizes.cohort_period
        and dims.dimension = sizes.dimension
        and dims.dimension_value = sizes.dimension_value
),

last_returns_{{ period }} as (
    select
        last_returns.cohort_period,
        dims.dimension,
        dims.dimension_value,
        last_returns.last_return_number,
        count(*) as users
    from last_return_numbers_{{ period }} as last_returns
    inner join user_dimensions as dims on last_returns.user_id = dims.user_id
    group by 1, 2, 3, 4
),

cells_{{ period }} as (
    select
        grid.cohort_period,
        grid.dimension,
        grid.dimension_value,
        numbers.period_number,
        grid.cohort_size
    from cohort_grid_{{ period }} as grid
    inner join numbers
        on numbers.period_number <= {{ max_periods[period] }}
        and {{ period_add(period, 'numbers.period_number', 'grid.cohort_period') }} <= {{ as_of_period }}
),

on_or_after_{{ period }} as (
    select
        cells.cohort_period,
        cells.dimension,
        cells.dimension_value,
        cells.period_number,
        sum(last_returns.users) as retained_users_on_or_after
    from cells_{{ period }} as cells
    inner join last_returns_{{ period }} as last_returns
        on cells.cohort_period = last_returns.cohort_period
        and cells.dimension = last_returns.dimension
        and cells.dimension_value = last_returns.dimension_value
        and last_returns.last_return_number >= cells.period_number
    group by 1, 2, 3, 4
),

on_counts_{{ period }} as (
    select
        returned.cohort_period,
        dims.dimension,
        dims.dimension_value,
        returned.period_number,
        count(*) as retained_users_on
    from returned_on_{{ period }} as returned
    inner join user_dimensions as dims on returned.user_id = dims.user_id
    group by 1, 2, 3, 4
),

retention_{{ period }} as (
    select
        '{{ period }}' as period_type,
        cells.cohort_period,
        cells.period_number,
        cells.dimension,
        cells.dimension_value,
        cells.cohort_size,
        case
            when cells.period_number = 0 then cells.cohort_size
            else coalesce(on_counts.retained_users_on, 0)
        end as retained_users_on,
        case
            when cells.period_number = 0 then cells.cohort_size
            else coalesce(on_or_after.retained_users_on_or_after, 0)
        end as retained_users_on_or_after
    from cells_{{ period }} as cells
    left join on_counts_{{ period }} as on_counts
        on cells.cohort_period = on_counts.cohort_period
        and cells.dimension = on_counts.dimension
        and cells.dimension_value = on_counts.dimension_value
        and cells.period_number = on_counts.period_number
    left join on_or_after_{{ period }} as on_or_after
        on cells.cohort_period = on_or_after.cohort_period
        and cells.dimension = on_or_after.dimension
        and cells.dimension_value = on_or_after.dimension_value
        and cells.period_number = on_or_after.period_number
),
{%- endfor %}

unioned as (
    {%- for period in periods %}
    select * from retention_{{ period }}
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
),

final as (
    select
        period_type,
        cohort_period,
        period_number,
        dimension,
        dimension_value,
        '{{ cohort_type }}' as cohort_type,
        cohort_size,
        retained_users_on,
        cast(retained_users_on as {{ dbt.type_float() }}) / nullif(cohort_size, 0)
            as retention_rate_on,
        retained_users_on_or_after,
        cast(retained_users_on_or_after as {{ dbt.type_float() }}) / nullif(cohort_size, 0)
            as retention_rate_on_or_after
    from unioned
)

select * from final
