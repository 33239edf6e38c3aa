{#- Start (inclusive) of the incremental window of a date-grained model, as a SQL date literal,
    or none for a full build. Resolved once per run, before anything is deleted. start_date is
    chosen per run (Dagster passes the earliest day touched by new files), so it is a plain var;
    lookback_days is a setting. -#}
{% macro incremental_window_start(date_column) -%}
    {%- if not is_incremental() -%}
        {{ return(none) }}
    {%- elif run_var('start_date') and execute -%}
        {#- never after the day after the last built day: a later start would leave a gap (and
            break the models that carry values from the day before their window) -#}
        {%- set result = run_query(
            "select max(" ~ date_column ~ "), least(" ~ sql_date(run_var('start_date'), 'start_date') ~ ", max("
            ~ date_column ~ ") + 1) from " ~ this) -%}
        {%- if result.columns[0].values()[0] is none -%}
            {{ return(none) }}
        {%- endif -%}
        {{ return("cast('" ~ result.columns[1].values()[0] ~ "' as date)") }}
    {%- elif run_var('start_date') -%}
        {{ return(sql_date(run_var('start_date'), 'start_date')) }}
    {%- elif execute -%}
        {%- set result = run_query("select max(" ~ date_column ~ ") from " ~ this) -%}
        {%- set latest = result.columns[0].values()[0] -%}
        {%- if latest is none -%}
            {{ return(none) }}
        {%- endif -%}
        {{ return(dbt.dateadd('day', -1 * setting('lookback_days') | int, "cast('" ~ latest ~ "' as date)")) }}
    {%- else -%}
        {{ return(none) }}
    {%- endif -%}
{%- endmacro %}
