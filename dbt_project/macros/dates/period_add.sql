{#- A date n periods after another (n may be negative). -#}
{% macro period_add(period, n, date_sql) -%}
    {%- if period == 'week' and n is string -%}
        cast({{ dbt.dateadd('day', '7 * (' ~ n ~ ')', date_sql) }} as date)
    {%- elif period == 'week' -%}
        cast({{ dbt.dateadd('day', 7 * n, date_sql) }} as date)
    {%- else -%}
        cast({{ dbt.dateadd(period, n, date_sql) }} as date)
    {%- endif -%}
{%- endmacro %}
