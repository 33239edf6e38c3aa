{#- The local calendar date of a UTC timestamp in the reporting timezone (DST included). -#}
{% macro local_date(utc_timestamp) -%}
    {{ return(adapter.dispatch('local_date', 'winback')(utc_timestamp)) }}
{%- endmacro %}

{% macro default__local_date(utc_timestamp) -%}
    cast(({{ utc_timestamp }} at time zone 'UTC') at time zone {{ sql_string(setting("reporting_timezone")) }} as date)
{%- endmacro %}

{% macro duckdb__local_date(utc_timestamp) -%}
    {%- if setting('reporting_timezone') | upper == 'UTC' -%}
        cast({{ utc_timestamp }} as date)
    {%- else -%}
        cast(timezone({{ sql_string(setting("reporting_timezone")) }}, cast({{ utc_timestamp }} as timestamptz)) as date)
    {%- endif -%}
{%- endmacro %}
