{#- A YYYY-MM-DD setting as an SQL date literal; anything else stops the build. -#}
{% macro sql_date(value, name) -%}
    {%- if not modules.re.match('^[0-9]{4}-[0-9]{2}-[0-9]{2}$', value | string) -%}
        {{ exceptions.raise_compiler_error(name ~ " must be a date as YYYY-MM-DD, not " ~ value) }}
    {%- endif -%}
    {{ return("cast('" ~ value ~ "' as date)") }}
{%- endmacro %}
