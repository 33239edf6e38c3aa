{# The as-of date as a SQL date expression: the `as_of_date` var, or the latest valid event
   date. Every mart filters on it, so a mart built for a past date ignores later events. #}
{% macro as_of_date() -%}
    {%- if var('as_of_date') -%}
        cast('{{ var("as_of_date") }}' as date)
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
            "select max(" ~ date_column ~ "), least(cast('" ~ var('start_date') ~ "' as date), max("
            ~ date_column ~ ") + 1) from " ~ this) -%}
        {%- if result.columns[0].values()[0] is none -%}
            {{ return(none) }}
        {%- endif -%}
        {{ return("cast('" ~ result.columns[1].values()[0] ~ "' as date)") }}
    {%- elif var('start_date') -%}
        {{ return("cast('" ~ var('start_date') ~ "' as date)") }}
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
    ({%- for v in values -%}'{{ v }}'{%- if not loop.last -%}, {% endif -%}{%- endfor -%})
{%- endmacro %}
