{#- An SQL predicate: the event name is in the setting's event list. An empty or null list
    means every event (empty_means_all) or none (a signal switched off). -#}
{% macro event_in_setting(name_sql, setting_name, empty_means_all=true) -%}
    {%- set events = setting(setting_name) -%}
    {%- if events -%}
        {{ name_sql }} in {{ sql_list(events) }}
    {%- elif empty_means_all -%}
        true
    {%- else -%}
        false
    {%- endif -%}
{%- endmacro %}
