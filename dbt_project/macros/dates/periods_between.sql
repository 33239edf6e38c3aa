{#- Whole periods from one period start to another. -#}
{% macro periods_between(period, from_sql, to_sql) -%}
    {%- if period == 'week' -%}
        cast({{ dbt.datediff(from_sql, to_sql, 'day') }} / 7 as integer)
    {%- else -%}
        {{ dbt.datediff(from_sql, to_sql, period) }}
    {%- endif -%}
{%- endmacro %}
