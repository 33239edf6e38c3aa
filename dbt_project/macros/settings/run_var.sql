{#- A per-run value (as_of_date, start_date, preset, an explicit setting). Dagster and
    `winback run` pass them in the environment variable WINBACK_DBT_RUN_VARS (a JSON object),
    read only while executing: dbt parses the project again from scratch whenever --vars
    differ from the last run's, and the as-of date differs every day. A dbt var wins (`dbt
    build --vars` on its own, a unit test's overrides). -#}
{% macro run_var(name) -%}
    {%- set given = var(name, none) -%}
    {%- if given is none and execute -%}
        {%- set passed = env_var('WINBACK_DBT_RUN_VARS', '') -%}
        {%- if passed -%}
            {%- set values = fromjson(passed) -%}
            {%- if values is not mapping -%}
                {{ exceptions.raise_compiler_error("WINBACK_DBT_RUN_VARS must be a JSON object, not " ~ passed[:80]) }}
            {%- endif -%}
            {{ return(values.get(name)) }}
        {%- endif -%}
    {%- endif -%}
    {{ return(given) }}
{%- endmacro %}
