{#- The health_weights setting, checked: a mapping of every health component to a float weight
    (a component left out weighs 0). Stops the build on an unknown component, a negative
    weight, or no positive weight on frequency, recency, breadth or depth (message engagement
    alone would leave users who received no message unscored). -#}
{% macro health_weights() %}
    {%- set weights = setting('health_weights') -%}
    {%- set components = health_components() -%}
    {%- for name in weights if name not in components -%}
        {{ exceptions.raise_compiler_error("health_weights: unknown component '" ~ name ~ "' (use " ~ components | join(', ') ~ ")") }}
    {%- endfor -%}
    {%- set w = {} -%}
    {%- for name in components %}{% do w.update({name: (weights.get(name, 0) | float)}) %}{% endfor -%}
    {%- if (w.values() | min) < 0 or w.frequency + w.recency + w.breadth + w.depth <= 0 -%}
        {{ exceptions.raise_compiler_error("health_weights must be non-negative, with a positive weight on frequency, recency, breadth or depth (message engagement alone leaves users without messages unscored), not " ~ weights) }}
    {%- endif -%}
    {{ return(w) }}
{% endmacro %}
