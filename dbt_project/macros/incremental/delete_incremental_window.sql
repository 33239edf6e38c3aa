{#- The pre_hook of a date-grained incremental model (incremental_strategy='append'): delete the
    days from the window start on, and any day after the as-of date, so the run appends the
    half-open window [start, as-of + 1 day). Nothing on a full build. Use it as
    pre_hook="{{ delete_incremental_window('activity_date') }}". -#}
{% macro delete_incremental_window(date_column) -%}
    {%- set start = incremental_window_start(date_column) -%}
    {%- if start -%}
        delete from {{ this }} where {{ date_column }} >= {{ start }} or {{ date_column }} > {{ as_of_date() }}
    {%- endif -%}
{%- endmacro %}
