{#- The value of `value_sql` on the row with the smallest `order_sql` in a group. -#}
{% macro first_value_by(value_sql, order_sql) -%}
    {{ return(adapter.dispatch('first_value_by', 'winback')(value_sql, order_sql)) }}
{%- endmacro %}

{% macro default__first_value_by(value_sql, order_sql) -%}
    (array_agg({{ value_sql }} order by {{ order_sql }}))[1]
{%- endmacro %}

{% macro duckdb__first_value_by(value_sql, order_sql) -%}
    arg_min({{ value_sql }}, {{ order_sql }})
{%- endmacro %}
