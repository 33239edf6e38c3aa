{# The as-of date as a SQL date expression: the `as_of_date` var, or the latest valid event
   date. Every mart filters on it, so a mart built for a past date ignores later events. #}
{% macro as_of_date() -%}
    {%- if var('as_of_date') -%}
        {{ sql_date(var('as_of_date'), 'as_of_date') }}
    {%- else -%}
        (select max(event_date) from {{ ref('stg_landing__events') }})
    {%- endif -%}
{%- endmacro %}

{# Start (inclusive) of the incremental window of a date-grained model, as a SQL date literal,
   or none for a full build. Resolved once per run, before anything is deleted. #}
{% macro incremental_window_start(date_column) -%}
    {%- if not is_incremental() -%}
        {{ return(none) }}
    {%- elif var('start_date') and execute -%}
        {#- never after the day after the last built day: a later start would leave a gap (and
            break the models that carry values from the day before their window) -#}
        {%- set result = run_query(
            "select max(" ~ date_column ~ "), least(" ~ sql_date(var('start_date'), 'start_date') ~ ", max("
            ~ date_column ~ ") + 1) from " ~ this) -%}
        {%- if result.columns[0].values()[0] is none -%}
            {{ return(none) }}
        {%- endif -%}
        {{ return("cast('" ~ result.columns[1].values()[0] ~ "' as date)") }}
    {%- elif var('start_date') -%}
        {{ return(sql_date(var('start_date'), 'start_date')) }}
    {%- elif execute -%}
        {%- set result = run_query("select max(" ~ date_column ~ ") from " ~ this) -%}
        {%- set latest = result.columns[0].values()[0] -%}
        {%- if latest is none -%}
            {{ return(none) }}
        {%- endif -%}
        {{ return(dbt.dateadd('day', -1 * var('lookback_days') | int, "cast('" ~ latest ~ "' as date)")) }}
    {%- else -%}
        {{ return(none) }}
    {%- endif -%}
{%- endmacro %}

{# A quoted SQL list from a list var: ('a', 'b'). #}
{% macro sql_list(values) -%}
    {%- if values is string or values is not iterable or values is mapping -%}
        {{ exceptions.raise_compiler_error("expected a list of names, not " ~ values) }}
    {%- endif -%}
    ({%- for v in values -%}{{ sql_string(v) }}{%- if not loop.last -%}, {% endif -%}{%- endfor -%})
{%- endmacro %}

{# A text value as an SQL string literal, quotes doubled. #}
{% macro sql_string(value) -%}
    '{{ (value | string) | replace("'", "''") }}'
{%- endmacro %}

{# A YYYY-MM-DD setting as an SQL date literal; anything else stops the build. #}
{% macro sql_date(value, name) -%}
    {%- if not modules.re.match('^[0-9]{4}-[0-9]{2}-[0-9]{2}$', value | string) -%}
        {{ exceptions.raise_compiler_error(name ~ " must be a date as YYYY-MM-DD, not " ~ value) }}
    {%- endif -%}
    {{ return("cast('" ~ value ~ "' as date)") }}
{%- endmacro %}

{# A number setting as an SQL literal; anything else stops the build. #}
{% macro sql_number(value, name) -%}
    {%- if value is not number or value is boolean -%}
        {{ exceptions.raise_compiler_error(name ~ " must be a number, not " ~ value) }}
    {%- endif -%}
    {{ return(value | string) }}
{%- endmacro %}
