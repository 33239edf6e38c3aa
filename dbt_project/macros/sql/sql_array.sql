{#- A list setting as a DuckDB list literal: ['a', 'b']. -#}
{% macro sql_array(values) -%}
    {%- do sql_list(values) -%}
    [{%- for v in values -%}{{ sql_string(v) }}{%- if not loop.last -%}, {% endif -%}{%- endfor -%}]
{%- endmacro %}
