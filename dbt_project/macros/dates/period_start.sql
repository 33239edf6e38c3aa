{#- The first day of the period (day, week, month) containing a date, honouring week_start. -#}
{% macro period_start(period, date_sql) -%}
    {%- if period == 'day' -%}
        cast({{ date_sql }} as date)
    {%- elif period == 'week' and setting('week_start') == 'sunday' -%}
        cast({{ dbt.dateadd('day', -1, dbt.date_trunc('week', dbt.dateadd('day', 1, date_sql))) }} as date)
    {%- elif period == 'week' -%}
        cast({{ dbt.date_trunc('week', date_sql) }} as date)
    {%- elif period == 'month' -%}
        cast({{ dbt.date_trunc('month', date_sql) }} as date)
    {%- else -%}
        {{ exceptions.raise_compiler_error("period must be day, week or month, not " ~ period) }}
    {%- endif -%}
{%- endmacro %}
