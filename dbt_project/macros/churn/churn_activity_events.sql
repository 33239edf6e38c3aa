{#- The events that count as qualifying activity for churn: the churn_activity_events setting,
    else the activity_events setting; an empty list (both unset) means every event. -#}
{% macro churn_activity_events() %}
    {{ return(setting('churn_activity_events') or setting('activity_events') or []) }}
{% endmacro %}

{#- An SQL predicate: the event counts as qualifying activity for churn. -#}
{% macro churn_qualifying(name_sql) -%}
    {%- set events = churn_activity_events() -%}
    {%- if events -%}
        {{ name_sql }} in {{ sql_list(events) }}
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}

{#- A list setting as a DuckDB list literal: ['a', 'b']. -#}
{% macro sql_array(values) -%}
    {%- do sql_list(values) -%}
    [{%- for v in values -%}{{ sql_string(v) }}{%- if not loop.last -%}, {% endif -%}{%- endfor -%}]
{%- endmacro %}
