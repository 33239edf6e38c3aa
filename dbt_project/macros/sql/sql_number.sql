{#- A number setting as an SQL literal; anything else stops the build. -#}
{% macro sql_number(value, name) -%}
    {%- if value is not number or value is boolean -%}
        {{ exceptions.raise_compiler_error(name ~ " must be a number, not " ~ value) }}
    {%- endif -%}
    {{ return(value | string) }}
{%- endmacro %}
