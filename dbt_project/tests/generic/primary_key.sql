{# The column is a primary key: no value twice, no null. dbt's `unique` and `not_null` in one
   scan (on a view, one evaluation of it instead of two): a row per value found more than once,
   and a row for the nulls. #}
{% test primary_key(model, column_name) %}
select {{ column_name }}, count(*) as n
from {{ model }}
group by {{ column_name }}
having count(*) > 1 or {{ column_name }} is null
{% endtest %}
