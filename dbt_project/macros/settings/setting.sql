{#- The value of a winback setting. Resolution: an explicit dbt var (--vars '{week_start:
    sunday}'), checked by checked_setting, wins; else the preset chosen with the `preset` var;
    else the default in winback_setting_defaults. The per-run as_of_date and start_date are not
    settings: read them with run_var() (as_of_date(), incremental_window_start()). -#}
{% macro setting(name) %}
    {%- set defaults = winback_setting_defaults() -%}
    {%- if name in ['as_of_date', 'start_date', 'preset'] -%}
        {{ exceptions.raise_compiler_error("'" ~ name ~ "' is chosen per run, not a setting: read it as a plain dbt var") }}
    {%- elif name not in defaults -%}
        {{ exceptions.raise_compiler_error("unknown winback setting '" ~ name ~ "'") }}
    {%- endif -%}
    {%- set explicit = run_var(name) -%}
    {%- if explicit is not none -%}
        {{ return(checked_setting(name, explicit, defaults[name])) }}
    {%- endif -%}
    {%- set preset_name = run_var('preset') -%}
    {%- if preset_name -%}
        {%- set presets = winback_presets() -%}
        {%- if preset_name not in presets -%}
            {{ exceptions.raise_compiler_error("unknown preset '" ~ preset_name ~ "': use one of " ~ presets.keys() | list | join(', ')) }}
        {%- endif -%}
        {%- if name in presets[preset_name] -%}
            {{ return(presets[preset_name][name]) }}
        {%- endif -%}
    {%- endif -%}
    {{ return(defaults[name]) }}
{% endmacro %}
