{#- A setting that counts active days inside a window (substantial use in the long window,
    the last days before a stop in the short one), checked against that window's length: a
    count the window cannot hold stops the build. -#}
{% macro window_count_setting(name, window_name) %}
    {%- set value = setting(name) -%}
    {%- set window = setting(window_name) | int -%}
    {%- if value | int > window -%}
        {{ exceptions.raise_compiler_error("setting " ~ name ~ " (" ~ value ~ ") counts active days in a window of " ~ window_name ~ " (" ~ window ~ " days): it must be at most " ~ window) }}
    {%- endif -%}
    {{ return(value) }}
{% endmacro %}
