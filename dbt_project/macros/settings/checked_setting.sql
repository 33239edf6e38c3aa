{#- An explicit value checked against the default's type before any model pastes it into SQL
    (winback's command line and Dagster config check the same with winback.model_settings;
    this covers `dbt build --vars` on its own). -#}
{% macro checked_setting(name, value, default) %}
    {%- set choices = winback_setting_choices() -%}
    {%- set bad = none -%}
    {%- if name in choices and value not in choices[name] -%}
        {%- set bad = "one of " ~ choices[name] | join(', ') -%}
    {%- elif name.endswith('_date') -%}
        {%- do sql_date(value, name) -%}
    {%- elif name == 'reporting_timezone' and not modules.re.match('^[A-Za-z][A-Za-z0-9_+/-]*$', value | string) -%}
        {%- set bad = "an IANA timezone name" -%}
    {%- elif default is number and (value is not number or value is boolean) -%}
        {%- set bad = "a number" -%}
    {%- elif default is mapping and value is not mapping -%}
        {%- set bad = "a mapping" -%}
    {%- elif name.endswith('_events') and (value is string or value is not iterable or value is mapping) -%}
        {%- set bad = "a list of event names" -%}
    {%- elif name.endswith('_plans') and (value is string or value is not iterable or value is mapping) -%}
        {%- set bad = "a list of plan names" -%}
    {%- endif -%}
    {%- if bad -%}
        {{ exceptions.raise_compiler_error("setting " ~ name ~ " must be " ~ bad ~ ", not " ~ value) }}
    {%- endif -%}
    {{ return(value) }}
{% endmacro %}
