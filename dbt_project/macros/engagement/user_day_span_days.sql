{#- Each span's row on each of its days (column activity_date), or only on the days `on_days`
    lists: the part both kinds of rows share. -#}
{% macro user_day_span_days(on_days=none) %}
with spans as (
    select * from {{ ref('user_day_spans') }}
),

span_days as (
    {%- if on_days %}
    select spans.*, on_days.day as activity_date
    from spans
    inner join ({{ on_days }}) as on_days
        on on_days.day between spans.valid_from and spans.valid_to
    {%- else %}
    {#- a range join on a spine of days rather than an unnest of each span: a reader's filter
        on activity_date (one day, a month) reaches the spine, so it reads only the spans
        around those days instead of expanding them all #}
    select spans.*, spine.day as activity_date
    from spans
    inner join (
        select cast(unnest(generate_series(min(valid_from), max(valid_to), interval 1 day)) as date) as day
        from spans
    ) as spine
        on spine.day between spans.valid_from and spans.valid_to
    {%- endif %}
)

select * from span_days
{% endmacro %}
