{#- The as-of date as a SQL date expression: the `as_of_date` var, or the latest valid event
    date. Every mart filters on it, so a mart built for a past date ignores later events.
    as_of_date is chosen per run (Dagster and `winback run` pass it), so it is a plain var
    rather than a setting(): no preset or default applies to it. -#}
{% macro as_of_date() -%}
    {%- if run_var('as_of_date') -%}
        {{ sql_date(run_var('as_of_date'), 'as_of_date') }}
    {%- else -%}
        (select max(event_date) from {{ ref('stg_landing__events') }})
    {%- endif -%}
{%- endmacro %}
