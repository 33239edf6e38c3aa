{#- A text value as an SQL string literal, quotes doubled. -#}
{% macro sql_string(value) -%}
    '{{ (value | string) | replace("'", "''") }}'
{%- endmacro %}
