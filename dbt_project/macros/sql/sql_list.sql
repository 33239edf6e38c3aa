{#- A quoted SQL list from a list setting: ('a', 'b'). -#}
{% macro sql_list(values) -%}
    {%- if values is string or values is not iterable or values is mapping -%}
        {{ exceptions.raise_compiler_error("expected a list of names, not " ~ values) }}
    {%- endif -%}
    ({%- for v in values -%}{{ sql_string(v) }}{%- if not loop.last -%}, {% endif -%}{%- endfor -%})
{%- endmacro %}
