{#- Every day from start to end inclusive, as a column `date_day` (both arguments are SQL date
    expressions). A recursive CTE: portable to Postgres and DuckDB. -#}
{% macro date_spine(start_date_sql, end_date_sql) -%}
    with recursive days (date_day) as (
        select cast({{ start_date_sql }} as date)
        union all
        select cast({{ dbt.dateadd('day', 1, 'date_day') }} as date)
        from days
        where date_day < {{ end_date_sql }}
    )
    select date_day from days where date_day is not null
{%- endmacro %}
