{#- An SQL predicate: the event counts as qualifying activity for churn. -#}
{% macro churn_qualifying(name_sql) -%}
    {%- set events = churn_activity_events() -%}
    {%- if events -%}
        {{ name_sql }} in {{ sql_list(events) }}
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}
